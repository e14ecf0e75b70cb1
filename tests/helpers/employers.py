"""The office's check of a newly registered company (engine/employers): a private firm whose
tax and CNSS certificates are valid for years, each with a scanned proof."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from engine import Aqd
from engine.employers import Proof, record_checked_employer
from engine.models import Employer

PROOF = Proof("attestation.pdf", b"%PDF-1.4 scan of the certificate")


def check_company(aqd: Aqd, matricule_fiscal: str, counsellor: str = "counsellor") -> None:
    with aqd.session() as s, s.begin():
        employer = s.scalar(
            select(Employer.id).where(Employer.matricule_fiscal == matricule_fiscal)
        )
        assert employer is not None, matricule_fiscal
        record_checked_employer(
            s,
            employer,
            "PRIVATE_FIRM",
            date(2020, 1, 1),
            date(2099, 12, 31),
            PROOF,
            counsellor,
            aqd.clock.now(),
        )
