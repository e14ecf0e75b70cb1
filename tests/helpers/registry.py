"""A job seeker of the demo registry with an account of their own, for request tests."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from engine import Aqd
from engine.models import Beneficiary, Office, User, UserRole


def seeker_account(aqd: Aqd, office: str, username: str, now: datetime) -> tuple[str, str, int]:
    """An account (the demo password) for ``office``'s fourth demo job seeker, whose demo CIVP
    was refused, so that they hold no open contract, once the counsellor corrected their record
    (schooling reached, no job since school). Their CIN, date of birth and registry id."""
    with aqd.session() as s, s.begin():
        office_id = s.scalar(select(Office.id).where(Office.code == office))
        person = s.scalars(
            select(Beneficiary).where(Beneficiary.office_id == office_id).order_by(Beneficiary.id)
        ).all()[3]
        person.schooling_ok, person.months_worked_continuous = True, 0
        template = s.scalar(select(User).where(User.username == f"beneficiary.{office.lower()}"))
        assert template is not None and person.birth_date is not None
        user = User(
            username=username,
            display_name=f"{person.first_name} {person.last_name}",
            password_hash=template.password_hash,
            locale="fr",
            created_at=now,
            beneficiary_id=person.id,
        )
        s.add(user)
        s.flush()
        s.add(UserRole(user_id=user.id, role="beneficiary"))
        return person.cin, person.birth_date.isoformat(), person.id
