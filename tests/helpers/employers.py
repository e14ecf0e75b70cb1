"""The office's check of a newly registered company (engine/employers/registration.py): its
account uploads its three proofs and a counsellor of its office records a private firm whose
tax and CNSS certificates are valid for years, and approves it."""

from __future__ import annotations

import io

from PIL import Image
from sqlalchemy import select

from engine import Aqd
from engine.access.accounts import principal_of
from engine.employers import registration
from engine.models import Employer, User, UserRole


def scan(text: str = "attestation") -> bytes:
    """A small PNG that decodes, standing for a scanned document."""
    buffer = io.BytesIO()
    Image.new("RGB", (60 + len(text), 40), "white").save(buffer, format="PNG")
    return buffer.getvalue()


TAX = {"reference": "AF-2025-118", "valid_from": "2020-01-01", "valid_until": "2099-12-31"}
CNSS = {"reference": "CN-2025-77", "valid_from": "2020-01-01", "valid_until": "2099-12-31"}
#: what the office records from the three proofs before approving
APPROVAL: dict[str, object] = {
    "decision": "approve",
    "legal_status": {"status": "PRIVATE_FIRM", "since": "2020-01-01"},
    "tax": TAX,
    "cnss": CNSS,
}


def check_company(aqd: Aqd, matricule_fiscal: str) -> None:
    """Upload the company's proofs (as its first account) and approve them (as a counsellor of
    its office), through the commands the pages call."""
    with aqd.session() as s:
        employer = s.scalar(select(Employer).where(Employer.matricule_fiscal == matricule_fiscal))
        assert employer is not None, matricule_fiscal
        account = s.scalars(
            select(User).where(User.employer_id == employer.id).order_by(User.id)
        ).first()
        checker = s.scalars(
            select(User)
            .join(UserRole, UserRole.user_id == User.id)
            .where(User.office_id == employer.office_id, UserRole.role == "counsellor")
            .order_by(User.id)
        ).first()
        assert account is not None and checker is not None
        company, counsellor, employer_id = (
            principal_of(s, account),
            principal_of(s, checker),
            employer.id,
        )
    uploads = [registration.CompanyUpload(k, f"{k}.png", scan(k)) for k in registration.KINDS]
    registration.upload_proofs(aqd, company, uploads)
    decided = registration.decide(aqd, counsellor, employer_id, APPROVAL)
    assert decided["registration"] == "checked", decided
