"""The employer's record as the eligibility decisions read it: its legal status and its tax and
CNSS regularity certificates, each with the dates it is valid and the proof a counsellor
checked (DESIGN.md invariant 11: facts come from their owner, never from the requester).

Rows of ``employer_fact`` are only added. On a day, the legal status in force is the latest one
recorded that holds from that day or before; a certificate counts if it was valid from that day
or before, and the one reaching furthest is kept. :func:`employer_standing` gives the decisions
what they compare (``programme.json``: ``"start_facts": ["employer_standing"]``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import InvalidInput, NotFound
from engine.files import MAX_BYTES, sniff
from engine.models import Employer, EmployerFact

#: What an employer is in law; the eligibility tables name them (docs/rules.md). ``UNKNOWN``:
#: nobody has checked it yet.
LEGAL_STATUSES = (
    "PRIVATE_FIRM",
    "LIBERAL_PROFESSION",
    "ASSOCIATION",
    "PUBLIC_ADMINISTRATION",
    "PUBLIC_ESTABLISHMENT_COMMERCIAL",
    "PUBLIC_TRAINING_ESTABLISHMENT",
)
UNKNOWN = "UNKNOWN"
#: certificate kinds: the tax administration's certificate of tax situation, the CNSS's
#: certificate of an up-to-date social-security account
CERTIFICATES = {"tax": "tax_certificate", "cnss": "cnss_certificate"}


@dataclass(frozen=True)
class Proof:
    """The scanned document a counsellor checked the fact against."""

    filename: str
    data: bytes


def _employer(session: Session, matricule_fiscal: str) -> Employer:
    found = session.scalar(
        select(Employer).where(Employer.matricule_fiscal == matricule_fiscal.strip().upper())
    )
    if found is None:
        raise NotFound(f"no employer with matricule fiscal {matricule_fiscal!r}")
    return found


def _proof_fields(proof: Proof) -> dict[str, Any]:
    if not proof.data:
        raise InvalidInput("the proof is empty", fields={"proof": "empty file"})
    if len(proof.data) > MAX_BYTES:
        raise InvalidInput("the proof is larger than 5 MB", fields={"proof": "larger than 5 MB"})
    content_type = sniff(proof.data)
    if content_type is None:
        raise InvalidInput(
            "a proof must be a PDF, PNG or JPEG file", fields={"proof": "PDF, PNG or JPEG only"}
        )
    name = proof.filename.replace("\\", "/").rsplit("/", 1)[-1].strip()[:200] or "proof"
    return {
        "proof_filename": name,
        "proof_content_type": content_type,
        "proof_sha256": hashlib.sha256(proof.data).hexdigest(),
        "proof": proof.data,
    }


def record_status(
    session: Session,
    matricule_fiscal: str,
    status: str,
    since: date,
    proof: Proof,
    actor: str,
    now: datetime,
    note: str = "",
) -> EmployerFact:
    """Record the employer's legal status from ``since``, as its proof shows it."""
    if status not in LEGAL_STATUSES:
        raise InvalidInput(
            f"unknown legal status {status!r} (one of {', '.join(LEGAL_STATUSES)})",
            fields={"status": "unknown"},
        )
    employer = _employer(session, matricule_fiscal)
    fact = EmployerFact(
        employer_id=employer.id,
        kind="legal_status",
        value=status,
        valid_from=since,
        valid_until=None,
        note=note[:500],
        recorded_by=actor,
        recorded_at=now,
        **_proof_fields(proof),
    )
    session.add(fact)
    session.flush()
    return fact


def record_certificate(
    session: Session,
    matricule_fiscal: str,
    kind: str,
    reference: str,
    valid_from: date,
    valid_until: date,
    proof: Proof,
    actor: str,
    now: datetime,
    note: str = "",
) -> EmployerFact:
    """Record a tax or CNSS certificate and the days it is valid (both included)."""
    if kind not in CERTIFICATES:
        raise InvalidInput(
            f"unknown certificate {kind!r} (tax or cnss)", fields={"kind": "tax or cnss"}
        )
    if not reference.strip():
        raise InvalidInput(
            "the certificate's reference is required", fields={"reference": "required"}
        )
    if valid_until < valid_from:
        raise InvalidInput(
            "a certificate cannot end before it starts",
            fields={"valid_until": "before valid_from"},
        )
    employer = _employer(session, matricule_fiscal)
    fact = EmployerFact(
        employer_id=employer.id,
        kind=CERTIFICATES[kind],
        value=reference.strip()[:100],
        valid_from=valid_from,
        valid_until=valid_until,
        note=note[:500],
        recorded_by=actor,
        recorded_at=now,
        **_proof_fields(proof),
    )
    session.add(fact)
    session.flush()
    return fact


def employer_standing(session: Session, employer_id: int | None, on: datetime) -> dict[str, Any]:
    """What the employer eligibility decisions read, as the record stands on ``on``'s day:
    ``legal_status`` (``UNKNOWN`` if none was checked), ``tax_certificate_until`` and
    ``cnss_certificate_until`` (the last day of the certificate valid from that day or before
    that reaches furthest, ISO; None if there is none) and ``checked_on`` (the day)."""
    day = on.date()
    standing: dict[str, Any] = {
        "legal_status": UNKNOWN,
        "tax_certificate_until": None,
        "cnss_certificate_until": None,
        "checked_on": day.isoformat(),
    }
    if employer_id is None:
        return standing
    facts = session.scalars(
        select(EmployerFact)
        .where(EmployerFact.employer_id == employer_id, EmployerFact.valid_from <= day)
        .order_by(EmployerFact.valid_from, EmployerFact.id)
    ).all()
    for fact in facts:
        if fact.kind == "legal_status":
            standing["legal_status"] = fact.value
        elif fact.valid_until is not None:
            key = f"{fact.kind}_until"
            until = fact.valid_until.isoformat()
            if standing[key] is None or until > standing[key]:
                standing[key] = until
    return standing


def checked_private_firm(on: datetime) -> dict[str, Any]:
    """The standing of a private firm whose certificates are valid on ``on``'s day: what a
    simulation assumes for its employer unless a case gives its own."""
    day = on.date().isoformat()
    return {
        "legal_status": "PRIVATE_FIRM",
        "tax_certificate_until": day,
        "cnss_certificate_until": day,
        "checked_on": day,
    }


def record_of(session: Session, matricule_fiscal: str) -> list[dict[str, Any]]:
    """Every fact recorded for the employer, oldest first (``aqd employers show``)."""
    employer = _employer(session, matricule_fiscal)
    return [
        {
            "kind": f.kind,
            "value": f.value,
            "valid_from": f.valid_from.isoformat(),
            "valid_until": f.valid_until.isoformat() if f.valid_until else None,
            "proof": {"filename": f.proof_filename, "sha256": f.proof_sha256},
            "note": f.note,
            "recorded_by": f.recorded_by,
            "recorded_at": f.recorded_at.isoformat(),
        }
        for f in session.scalars(
            select(EmployerFact)
            .where(EmployerFact.employer_id == employer.id)
            .order_by(EmployerFact.id)
        )
    ]


def record_checked_employer(
    session: Session,
    employer_id: int,
    status: str,
    valid_from: date,
    valid_until: date,
    proof: Proof,
    actor: str,
    now: datetime,
) -> None:
    """Record a status and both certificates at once, as a counsellor checking a new company's
    file does (the demo, the benchmarks and the tests seed their companies with it)."""
    employer = session.get(Employer, employer_id)
    if employer is None:
        raise NotFound(f"employer {employer_id} not found")
    record_status(session, employer.matricule_fiscal, status, valid_from, proof, actor, now)
    for kind in CERTIFICATES:
        record_certificate(
            session,
            employer.matricule_fiscal,
            kind,
            f"{kind.upper()}-{employer.matricule_fiscal}",
            valid_from,
            valid_until,
            proof,
            actor,
            now,
        )
