"""Facts the engine computes from its own tables for a programme's decisions at contract start.

Scripts and DMN cannot read the database (invariant 5), so a programme names the facts it needs
in ``programme.json`` (``"start_facts": ["employer_record", "employer_standing"]``: the
insertion-rate history and the employer's checked status and certificates, engine/employers);
the engine computes them when the contract starts and puts them in the start data, where the
event log keeps them for replay.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.employers import employer_standing
from engine.errors import InvalidInput
from engine.models import Contract

#: Outcomes that count as an insertion (décret 2023-461 art. 11: hired by the firm, even before
#: the end of the contract, placed in another firm, or self-employed).
INSERTED = frozenset({"hired_cdi", "hired_cdd", "placed_elsewhere", "self_employed"})


def employer_record(
    session: Session, employer_id: int | None, programme: str, on: datetime, window_years: int = 3
) -> dict[str, Any]:
    """The employer's record with this programme before ``on``.

    ``completed``: contracts that ended in the window (the term reached, or ended early because
    the beneficiary was hired); ``inserted``: those with an insertion outcome; ``rate``:
    inserted / completed (None without history); ``months_since_last_end``: whole months since
    the last contract of the programme ended (None if none did).
    """
    if employer_id is None:
        return {"completed": 0, "inserted": 0, "rate": None, "months_since_last_end": None}
    try:
        since = on.replace(year=on.year - window_years)
    except ValueError:  # 29 February
        since = on.replace(year=on.year - window_years, day=28)
    rows = session.execute(
        select(Contract.status, Contract.outcome, Contract.ended_at).where(
            Contract.employer_id == employer_id,
            Contract.programme == programme,
            Contract.ended_at.is_not(None),
            Contract.ended_at < on,
        )
    ).all()
    completed = inserted = 0
    last_end: datetime | None = None
    for status, outcome, ended_at in rows:
        if ended_at is None:
            continue
        last_end = ended_at if last_end is None or ended_at > last_end else last_end
        if ended_at < since:
            continue
        counted = status == "ended" or (status == "terminated" and outcome in INSERTED)
        if counted:
            completed += 1
            inserted += outcome in INSERTED
    months = None
    if last_end is not None:
        months = (on.year - last_end.year) * 12 + on.month - last_end.month
        if on.day < last_end.day:
            months -= 1
    return {
        "completed": completed,
        "inserted": inserted,
        "rate": round(inserted / completed, 4) if completed else None,
        "months_since_last_end": months,
    }


def start_facts(
    session: Session,
    names: list[str],
    programme: str,
    parties: dict[str, Any],
    on: datetime,
) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for name in names:
        if name == "employer_record":
            facts[name] = employer_record(session, parties.get("employer_id"), programme, on)
        elif name == "employer_standing":
            facts[name] = employer_standing(session, parties.get("employer_id"), on)
        else:
            raise InvalidInput(f"programme asks for an unknown start fact {name!r}")
    return facts
