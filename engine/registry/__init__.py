"""The job-seeker registry as the one source of the facts eligibility and amounts read
(DESIGN.md invariant 11, issue 19 items 3 and 4).

* :data:`REGISTRY_FACTS`: the start-form fields the registry owns. An employer's request names
  the job seeker and gives the position and terms; a request that carries one of these fields is
  refused with 422 naming it (:func:`refuse_registry_facts`), never stored.
* :func:`registry_facts`: the facts of a registry record on a day, as the programme's start form
  names them; the request date is the engine's clock, not the requester's.
* :func:`check_cumulation`: the duplicate and cumulation rules checked before a request becomes
  a contract, each refusal a reason code (``reason:CODE`` in both catalogues) with its legal
  basis and the confidence the notes give it. The caller holds the job seeker's row lock
  (:func:`lock_beneficiary`), so two concurrent requests cannot both pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import Conflict, InvalidInput, NotFound
from engine.models import Beneficiary, Contract

#: start-form fields whose value belongs to the registry (or to the engine: the request date)
REGISTRY_FACTS = (
    "nationality",
    "registered_at_office",
    "diploma_level",
    "diploma_date",
    "disabled",
    "schooling_ok",
    "months_worked_continuous",
    "months_worked_total",
    "cnss_quarters_since_diploma",
    "prior_civp_months",
    "prior_subsidy_same_firm",
    "last_job_end_date",
    "residence_governorate",
    "job_loss_reason",
    "permanent_worker",
    "years_in_last_firm",
    "request_date",
)
#: start-form fields the engine fills from the parties (the office is the job seeker's)
PARTY_FIELDS = ("office", "employer_mf", "beneficiary_cin")
#: contract statuses after which a contract is neither open nor active
CLOSED = frozenset({"rejected", "expired", "ended", "terminated", "cancelled"})
#: statuses of a contract that ran (signed): it counts as an earlier subsidised contract
RAN = frozenset({"active", "suspended", "ended", "terminated"})
#: ANETI stops CIVP prolongations within the same firm from this day (notes §2.1, [S38][S39])
CIVP_SAME_FIRM_FROM = date(2025, 10, 1)


@dataclass(frozen=True)
class Rule:
    """A duplicate or cumulation rule: its reason code, legal basis and confidence."""

    code: str
    legal_basis: str
    confidence: str


DUPLICATE = Rule(
    "DUPLICATE_CONTRACT",
    "one open or active contract per job seeker and programme (agency rule, issue 19; "
    "no text in the notes)",
    "assumed",
)
KARAMA_SAME_FIRM = Rule(
    "KARAMA_PRIOR_SUBSIDY_SAME_FIRM",
    "D2019-542, Karama: no earlier subsidised contract (e.g. SIVP/CIVP) with the same firm [S14]",
    "M",
)
CIVP_SAME_FIRM = Rule(
    "CIVP_SAME_FIRM_AGAIN",
    "ANETI, end of CIVP prolongation within the same firm from 2025-10-01 [S38][S39]",
    "M",
)
RULES = (DUPLICATE, KARAMA_SAME_FIRM, CIVP_SAME_FIRM)


class RequestRefused(Conflict):
    """A duplicate or cumulation rule refuses the request (409); ``reason`` is the code the
    pages and the API show in Arabic and French."""

    code = "request_refused"

    def __init__(self, rule: Rule, contract: str | None = None) -> None:
        super().__init__(
            f"refused: {rule.code}",
            fields={
                "reason": rule.code,
                "legal_basis": rule.legal_basis,
                "confidence": rule.confidence,
            },
        )
        self.reason = rule.code
        self.rule = rule
        self.contract = contract


def refuse_registry_facts(terms: dict[str, Any]) -> None:
    """422 naming every field of ``terms`` the registry or the engine owns."""
    owned = sorted(k for k in terms if k in REGISTRY_FACTS or k in ("office", "employer_mf"))
    if owned:
        raise InvalidInput(
            "a request cannot set a fact of the job-seeker registry",
            fields=dict.fromkeys(owned, "kept by the job-seeker registry"),
        )


def lock_beneficiary(session: Session, beneficiary_id: int) -> Beneficiary:
    """The registry record, locked for the rest of the transaction (``FOR UPDATE`` on
    PostgreSQL; SQLite's transactions start with ``BEGIN IMMEDIATE``, one writer at a time)."""
    found = session.scalar(
        select(Beneficiary).where(Beneficiary.id == beneficiary_id).with_for_update()
    )
    if found is None:
        raise NotFound(f"job seeker {beneficiary_id} not found")
    return found


def _months(start: datetime, end: datetime) -> int:
    months = (end.year - start.year) * 12 + end.month - start.month
    return max(0, months - (1 if end.day < start.day else 0))


def civp_months(session: Session, beneficiary: Beneficiary, on: datetime) -> int:
    """CIVP months done: those the registry records from before Aqd, plus every Aqd CIVP
    contract that ran, from its request to its end (or ``on``)."""
    rows = session.execute(
        select(Contract.started_at, Contract.ended_at).where(
            Contract.beneficiary_id == beneficiary.id,
            Contract.programme == "civp",
            Contract.status.in_(RAN),
        )
    ).all()
    return beneficiary.prior_civp_months + sum(_months(s, e or on) for s, e in rows)


def _ran_with(session: Session, beneficiary_id: int, employer_id: int | None) -> list[str]:
    """Programmes of the contracts that ran with this employer."""
    if employer_id is None:
        return []
    return list(
        session.scalars(
            select(Contract.programme).where(
                Contract.beneficiary_id == beneficiary_id,
                Contract.employer_id == employer_id,
                Contract.status.in_(RAN),
            )
        )
    )


def registry_facts(
    session: Session,
    beneficiary: Beneficiary,
    employer_id: int | None,
    on: datetime,
    fields: set[str],
) -> dict[str, Any]:
    """The registry's facts the start form names (``fields``), on ``on``. A fact the form
    requires but the record lacks is left out: the form's validation then names it."""

    def day(value: date | None) -> str | None:
        return value.isoformat() if value is not None else None

    facts: dict[str, Any] = {
        "nationality": beneficiary.nationality,
        "registered_at_office": True,  # a registry record is a registration at an office
        "diploma_level": beneficiary.diploma_level,
        "diploma_date": day(beneficiary.diploma_date),
        "disabled": bool(beneficiary.disabled),
        "schooling_ok": bool(beneficiary.schooling_ok),
        "months_worked_continuous": beneficiary.months_worked_continuous,
        "months_worked_total": beneficiary.months_worked_total,
        "cnss_quarters_since_diploma": beneficiary.cnss_quarters_since_diploma,
        "last_job_end_date": day(beneficiary.last_job_end_date),
        "residence_governorate": beneficiary.residence_governorate,
        "job_loss_reason": beneficiary.job_loss_reason,
        "permanent_worker": bool(beneficiary.permanent_worker),
        "years_in_last_firm": beneficiary.years_in_last_firm,
        "request_date": on.date().isoformat(),
    }
    if "prior_civp_months" in fields:
        facts["prior_civp_months"] = civp_months(session, beneficiary, on)
    if "prior_subsidy_same_firm" in fields:
        facts["prior_subsidy_same_firm"] = bool(_ran_with(session, beneficiary.id, employer_id))
    return {k: v for k, v in facts.items() if k in fields and v is not None}


def check_cumulation(
    session: Session,
    beneficiary_id: int,
    employer_id: int | None,
    programme: str,
    on: datetime,
) -> None:
    """Raise :class:`RequestRefused` with the first rule the request breaks. The caller holds
    the job seeker's lock (:func:`lock_beneficiary`)."""
    open_one = session.scalar(
        select(Contract.number).where(
            Contract.beneficiary_id == beneficiary_id,
            Contract.programme == programme,
            Contract.status.not_in(CLOSED),
        )
    )
    if open_one is not None:
        raise RequestRefused(DUPLICATE, open_one)
    earlier = _ran_with(session, beneficiary_id, employer_id)
    if programme == "karama" and earlier:
        raise RequestRefused(KARAMA_SAME_FIRM)
    if programme == "civp" and "civp" in earlier and on.date() >= CIVP_SAME_FIRM_FROM:
        raise RequestRefused(CIVP_SAME_FIRM)


__all__ = [
    "CLOSED",
    "PARTY_FIELDS",
    "REGISTRY_FACTS",
    "RULES",
    "RequestRefused",
    "Rule",
    "check_cumulation",
    "lock_beneficiary",
    "refuse_registry_facts",
    "registry_facts",
]
