"""Counsellors keep the job-seeker registry: they read a job seeker's record and correct one
fact at a time, each change with its reason and, when they have one, the proof they checked it
against (issue 19 item 3, DESIGN.md invariant 11).

* :data:`EDITABLE`: the facts a counsellor may set, each with the values it takes (the
  enumerations are the ones the start forms and the decision tables use; a test keeps them
  equal).
* :func:`change_fact`: validate the value (422 naming the field), lock the record, write the
  new value and append one ``beneficiary_fact_change`` row (who, when, field, before, after,
  reason, proof). Rows are only added: the history is never edited.
* :func:`card`: the record and its history, for the office's staff only.

Who may do what: the staff of the job seeker's office read the card, its counsellors and office
head change it; the roles that read everything (auditor, programme manager, admin) read it.
Anyone else is answered as if the CIN did not exist (404), so a CIN's office is not revealed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.access.accounts import Principal
from engine.dates import check_date
from engine.errors import InvalidInput, NotFound, NotPermitted
from engine.inbox import documents
from engine.models import Beneficiary, BeneficiaryFactChange, Office
from engine.registry import lock_beneficiary
from forms.registry import NOT_A_DATE

if TYPE_CHECKING:
    from engine.commands.aqd import Aqd
    from engine.plugins import Plugins

#: the roles of an office's staff who may change its registry records
EDITORS = frozenset({"counsellor", "office_head"})
NATIONALITIES = ("TN", "OTHER")
DIPLOMA_LEVELS = ("HIGHER_ED", "BTS", "OTHER")
JOB_LOSS_REASONS = ("ECONOMIC", "TECHNICAL", "CLOSURE", "OTHER")
GOVERNORATES = (
    "TUNIS", "ARIANA", "BEN_AROUS", "MANOUBA", "NABEUL", "ZAGHOUAN", "BIZERTE", "BEJA",
    "JENDOUBA", "KEF", "SILIANA", "SOUSSE", "MONASTIR", "MAHDIA", "SFAX", "KAIROUAN",
    "KASSERINE", "SIDI_BOUZID", "GABES", "MEDENINE", "TATAOUINE", "GAFSA", "TOZEUR", "KEBILI",
)  # fmt: skip

#: the messages of a refused change (Arabic and French in api/locales)
INVALID = "invalid value for a fact of the job-seeker registry"
UNKNOWN_FACT = "not a fact the registry keeps"
NOT_ALLOWED = "not one of the allowed values"
YES_OR_NO = "yes or no"
WHOLE_NUMBER = "a whole number from 0 to the field's limit"
REQUIRED = "required"
UNCHANGED = "the record already holds this value"
REASON_REQUIRED = "a reason is required"
NOT_FOUND = "no job seeker with this CIN in your office"
NOT_EDITOR = "only the counsellors and the head of the job seeker's office change the registry"


@dataclass(frozen=True)
class Fact:
    """What a fact's value may be: ``enum`` (one of ``values``), ``bool``, ``int`` (0 to
    ``maximum``) or ``date`` (1900-2100); ``nullable`` facts may be emptied."""

    kind: str
    values: tuple[str, ...] = ()
    nullable: bool = False
    maximum: int = 0


EDITABLE: dict[str, Fact] = {
    "nationality": Fact("enum", NATIONALITIES),
    "birth_date": Fact("date"),
    "registered_on": Fact("date", nullable=True),
    "diploma_level": Fact("enum", DIPLOMA_LEVELS),
    "diploma_date": Fact("date", nullable=True),
    "disabled": Fact("bool"),
    "schooling_ok": Fact("bool"),
    "months_worked_continuous": Fact("int", maximum=600),
    "months_worked_total": Fact("int", maximum=600),
    "cnss_quarters_since_diploma": Fact("int", maximum=200),
    "prior_civp_months": Fact("int", maximum=600),
    "last_job_end_date": Fact("date", nullable=True),
    "job_loss_reason": Fact("enum", JOB_LOSS_REASONS, nullable=True),
    "permanent_worker": Fact("bool"),
    "years_in_last_firm": Fact("int", maximum=80),
    "residence_governorate": Fact("enum", GOVERNORATES, nullable=True),
}
_TRUE = frozenset({"true", "yes", "1", "oui"})
_FALSE = frozenset({"false", "no", "0", "non"})


def parse_value(field: str, raw: str) -> Any:
    """The typed value of ``raw`` for ``field``; InvalidInput naming the field otherwise."""
    fact = EDITABLE.get(field)
    if fact is None:
        raise InvalidInput(INVALID, fields={"field": UNKNOWN_FACT})
    text = raw.strip()
    if not text:
        if fact.nullable:
            return None
        raise InvalidInput(INVALID, fields={field: REQUIRED})
    if fact.kind == "enum":
        if text.upper() not in fact.values:
            raise InvalidInput(INVALID, fields={field: NOT_ALLOWED})
        return text.upper()
    if fact.kind == "bool":
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise InvalidInput(INVALID, fields={field: YES_OR_NO})
    if fact.kind == "int":
        if not text.isascii() or not text.isdigit() or int(text) > fact.maximum:
            raise InvalidInput(INVALID, fields={field: WHOLE_NUMBER})
        return int(text)
    try:
        day = date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise InvalidInput(INVALID, fields={field: NOT_A_DATE})
    return check_date(day, field)


def as_text(value: Any) -> str | None:
    """A fact's value as the history keeps it (and the forms show it)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _visible(session: Session, principal: Principal, cin: str) -> Beneficiary:
    person = session.scalar(select(Beneficiary).where(Beneficiary.cin == cin.strip()))
    if person is None or not (
        principal.reads_everything
        or (principal.is_office_staff and principal.office_id == person.office_id)
    ):
        raise NotFound(NOT_FOUND)
    return person


def can_edit(principal: Principal, person: Beneficiary) -> bool:
    return bool(principal.roles & EDITORS) and principal.office_id == person.office_id


def change_fact(
    plugins: Plugins,
    session: Session,
    principal: Principal,
    cin: str,
    field: str,
    raw: str,
    reason: str,
    proof: documents.Upload | None,
    now: datetime,
) -> BeneficiaryFactChange:
    """Set one fact of the record, under its row lock, and append the change to its history.
    The caller commits (one transaction per command)."""
    value = parse_value(field, raw)
    if not reason.strip():
        raise InvalidInput(REASON_REQUIRED, fields={"reason": REASON_REQUIRED})
    checked = documents.check(plugins, proof) if proof is not None else None
    person = lock_beneficiary(session, _visible(session, principal, cin).id)
    if not can_edit(principal, person):
        raise NotPermitted(NOT_EDITOR)
    before = as_text(getattr(person, field))
    after = as_text(value)
    if before == after:
        raise InvalidInput(UNCHANGED, fields={field: UNCHANGED})
    setattr(person, field, value)
    change = BeneficiaryFactChange(
        beneficiary_id=person.id,
        field=field,
        before=before,
        after=after,
        reason=reason.strip()[:500],
        proof_filename=checked.filename if checked else None,
        proof_content_type=checked.content_type if checked else None,
        proof_sha256=checked.sha256 if checked else None,
        proof=checked.upload.data if checked else None,
        changed_by=principal.username,
        changed_at=now,
    )
    session.add(change)
    session.flush()
    return change


def correct(
    aqd: Aqd,
    principal: Principal,
    cin: str,
    field: str,
    raw: str,
    reason: str,
    proof: documents.Upload | None,
) -> dict[str, str | None]:
    """:func:`change_fact` as one command in its own transaction (the pages' use case)."""
    with aqd.session() as session, session.begin():
        change = change_fact(
            aqd.plugins, session, principal, cin, field, raw, reason, proof, aqd.clock.now()
        )
        return {"field": change.field, "before": change.before, "after": change.after}


def card(session: Session, principal: Principal, cin: str) -> dict[str, Any]:
    """The job seeker's record, the facts a counsellor may change and their history (newest
    first)."""
    person = _visible(session, principal, cin)
    office = session.get(Office, person.office_id)
    changes = session.scalars(
        select(BeneficiaryFactChange)
        .where(BeneficiaryFactChange.beneficiary_id == person.id)
        .order_by(BeneficiaryFactChange.id.desc())
    ).all()
    return {
        "cin": person.cin,
        "name": f"{person.first_name} {person.last_name}",
        "office": office.code if office else None,
        "registration_number": person.registration_number,
        "editable": can_edit(principal, person),
        "facts": [
            {
                "name": name,
                "kind": fact.kind,
                "choices": list(fact.values),
                "nullable": fact.nullable,
                "value": as_text(getattr(person, name)),
            }
            for name, fact in EDITABLE.items()
        ],
        "history": [
            {
                "id": c.id,
                "field": c.field,
                "before": c.before,
                "after": c.after,
                "reason": c.reason,
                "proof": c.proof_filename,
                "proof_sha256": c.proof_sha256,
                "by": c.changed_by,
                "at": c.changed_at.isoformat(),
            }
            for c in changes
        ],
    }


def proof_of(
    session: Session, principal: Principal, cin: str, change_id: int
) -> tuple[str, str, bytes]:
    """The proof of one change of the record: file name, content type, bytes."""
    person = _visible(session, principal, cin)
    change = session.get(BeneficiaryFactChange, change_id)
    if change is None or change.beneficiary_id != person.id or change.proof is None:
        raise NotFound("no such proof")
    return change.proof_filename or "proof", change.proof_content_type or "", change.proof


__all__ = [
    "EDITABLE",
    "Fact",
    "as_text",
    "card",
    "change_fact",
    "correct",
    "parse_value",
    "proof_of",
]
