"""A self-registered company's check by its office (issue 19 item 2).

A company that registers on the web is **pending**: it uploads its proofs (the legal status
document, the tax certificate, the CNSS certificate; each parsed as contract uploads are, by the
checks registered in :class:`engine.plugins.Plugins`), and a counsellor or office head of its
office reads them against its matricule fiscal and CNSS number, records the facts the
eligibility decisions read (:mod:`engine.employers`, each upload being its fact's proof) and
**approves** it, or **refuses** it with a reason the company reads. Only a checked company
requests contracts (:func:`require_checked`: 409 ``company_pending`` otherwise), so a request is
never started for the decisions to refuse with ``EMPLOYER_STATUS_UNKNOWN``.

A checked company whose certificate expires uploads the new one the same way; the office checks
it on the same page (the company stays checked meanwhile: what the decisions read is its record
on the request day). Every decision is an ``employer_check`` row (who, when, what, why), every
fact names its proof, and the company's accounts are told in their mailbox (and by e-mail or
SMS through the outbox when they gave an address) in the decision's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from engine.access import accounts
from engine.access.accounts import Principal
from engine.employers import (
    LEGAL_STATUSES,
    UNKNOWN,
    Proof,
    employer_standing,
    record_certificate,
    record_status,
)
from engine.errors import Conflict, InvalidInput, NotFound, NotPermitted
from engine.inbox.documents import Checked, Upload, check
from engine.models import Employer, EmployerCheck, EmployerFact, EmployerUpload, Office, User
from engine.notifications.notify import channel_for, notify

if TYPE_CHECKING:
    from engine.commands.aqd import Aqd

PENDING = "pending"
CHECKED = "checked"
REFUSED = "refused"
#: what a company uploads, in the order the pages list them
KINDS = ("legal_status", "tax", "cnss")
SUBMITTED = "submitted"
#: staff of the company's office who check it
CHECKERS = ("counsellor", "office_head")

PENDING_MESSAGE = (
    "your company can request contracts once its employment office has checked its documents"
)
NOT_CHECKER = "only a counsellor or office head of the company's office checks it"
NOTHING_TO_CHECK = "this company has no uploaded document to check"
APPROVE_INCOMPLETE = (
    "a company is approved with its legal status and tax and CNSS certificates valid today"
)


class CompanyPending(Conflict):
    """The company's office has not checked it (pending) or refused it: it cannot request."""

    code = "company_pending"


@dataclass(frozen=True)
class CompanyUpload:
    """One proof as the company sends it: ``kind`` is one of :data:`KINDS`."""

    kind: str
    filename: str
    data: bytes


def check_uploads(aqd: Aqd, uploads: list[CompanyUpload]) -> list[tuple[str, Checked]]:
    """Parse every file before any transaction opens (parsing takes time and holds no lock)."""
    checked = []
    for upload in uploads:
        if upload.kind not in KINDS:
            raise InvalidInput("unknown document kind", fields={"kind": "unknown"})
        file = Upload(upload.kind, upload.filename, upload.data)
        checked.append((upload.kind, check(aqd.plugins, file)))
    return checked


def store_uploads(
    session: Session,
    aqd: Aqd,
    employer: Employer,
    checked: list[tuple[str, Checked]],
    actor: str,
) -> list[EmployerUpload]:
    """Store checked uploads (in the caller's transaction). An upload replaces the submitted one
    of its kind nobody checked yet; a refused company that sends new proofs is pending again."""
    now = aqd.clock.now()
    stored = []
    for kind, c in checked:
        session.execute(
            delete(EmployerUpload).where(
                EmployerUpload.employer_id == employer.id,
                EmployerUpload.kind == kind,
                EmployerUpload.status == SUBMITTED,
            )
        )
        row = EmployerUpload(
            employer_id=employer.id,
            kind=kind,
            filename=c.filename,
            content_type=c.content_type,
            size=len(c.upload.data),
            sha256=c.sha256,
            data=c.upload.data,
            status=SUBMITTED,
            uploaded_by=actor,
            uploaded_at=now,
        )
        session.add(row)
        stored.append(row)
    if checked and employer.registration == REFUSED:
        employer.registration = PENDING
    session.flush()
    return stored


def upload_proofs(aqd: Aqd, principal: Principal, uploads: list[CompanyUpload]) -> list[int]:
    """The company's account uploads proofs for its office to check (one transaction)."""
    if not principal.has("employer") or principal.employer_id is None:
        raise NotPermitted("only a company's account uploads its proofs")
    if not uploads:
        raise InvalidInput("choose a file", fields={"file": "required"})
    checked = check_uploads(aqd, uploads)
    with aqd.session() as session, session.begin():
        employer = session.get(Employer, principal.employer_id, with_for_update=True)
        if employer is None:
            raise NotFound("company not found")
        stored = store_uploads(session, aqd, employer, checked, principal.username)
        return [row.id for row in stored]


def register(
    aqd: Aqd, data: dict[str, Any], uploads: list[CompanyUpload] | None = None
) -> Principal:
    """Sign up a company (pending) and its first account, with the proofs it sends along, in
    one transaction; the files are parsed before it opens."""
    checked = check_uploads(aqd, uploads or [])

    def store(session: Session, employer: Employer, username: str) -> None:
        store_uploads(session, aqd, employer, checked, username)

    return accounts.register_employer(aqd, data, with_company=store if checked else None)


def require_checked(employer: Employer) -> None:
    """Refuse a contract request from a company its office has not checked."""
    if employer.registration != CHECKED:
        raise CompanyPending(PENDING_MESSAGE)  # pending or refused: GET its file to see which


def ensure_can_request(session: Session, principal: Principal) -> None:
    """Refuse the request page and the request API to a company its office has not checked."""
    if principal.employer_id is None:
        return
    employer = session.get(Employer, principal.employer_id)
    if employer is not None:
        require_checked(employer)


def _upload_dict(row: EmployerUpload) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "filename": row.filename,
        "content_type": row.content_type,
        "size": row.size,
        "sha256": row.sha256,
        "status": row.status,
        "uploaded_by": row.uploaded_by,
        "uploaded_at": row.uploaded_at.isoformat(),
    }


def company_file(session: Session, employer: Employer, on: date) -> dict[str, Any]:
    """What the company and its office see of its file: its registration, what is missing
    (a kind with neither a fact valid on ``on`` nor a submitted upload), its uploads, its
    office's last refusal, and what the decisions would read on ``on``."""
    moment = datetime(on.year, on.month, on.day, 12, tzinfo=UTC)
    standing = employer_standing(session, employer.id, moment)
    uploads = list(
        session.scalars(
            select(EmployerUpload)
            .where(EmployerUpload.employer_id == employer.id)
            .order_by(EmployerUpload.id.desc())
        )
    )
    submitted = {u.kind for u in uploads if u.status == SUBMITTED}
    valid = {
        "legal_status": standing["legal_status"] != UNKNOWN,
        "tax": (standing["tax_certificate_until"] or "") >= on.isoformat(),
        "cnss": (standing["cnss_certificate_until"] or "") >= on.isoformat(),
    }
    last = session.scalars(
        select(EmployerCheck)
        .where(EmployerCheck.employer_id == employer.id)
        .order_by(EmployerCheck.id.desc())
        .limit(1)
    ).first()
    office = session.get(Office, employer.office_id)
    return {
        "id": employer.id,
        "name": employer.name,
        "matricule_fiscal": employer.matricule_fiscal,
        "cnss_number": employer.cnss_number,
        "sector": employer.sector,
        "governorate": employer.governorate,
        "office": office.code if office else "",
        "registration": employer.registration,
        "missing": [k for k in KINDS if not valid[k] and k not in submitted],
        "to_check": [k for k in KINDS if k in submitted],
        "uploads": [_upload_dict(u) for u in uploads],
        "refusal": (last.reason if last is not None and last.decision == "refused" else None),
        "standing": standing,
    }


def own_file(session: Session, principal: Principal, on: date) -> dict[str, Any]:
    """The company's own file (its accounts)."""
    if principal.employer_id is None:
        raise NotPermitted("only a company's account has a company file")
    employer = session.get(Employer, principal.employer_id)
    if employer is None:
        raise NotFound("company not found")
    return company_file(session, employer, on)


def _is_checker(principal: Principal) -> bool:
    return principal.office_id is not None and principal.has(*CHECKERS)


def office_company(session: Session, principal: Principal, employer_id: int) -> Employer:
    """A company of the principal's office (404 for any other: ids cannot be probed)."""
    if not _is_checker(principal):
        raise NotPermitted(NOT_CHECKER)
    employer = session.get(Employer, employer_id)
    if employer is None or employer.office_id != principal.office_id:
        raise NotFound(f"company {employer_id} not found")
    return employer


def companies_to_check(session: Session, principal: Principal) -> list[dict[str, Any]]:
    """Companies of the principal's office that are pending or have uploads to check, oldest
    upload first."""
    if not _is_checker(principal):
        raise NotPermitted(NOT_CHECKER)
    waiting = (
        select(
            EmployerUpload.employer_id,
            func.min(EmployerUpload.uploaded_at).label("since"),
            func.count(EmployerUpload.id).label("documents"),
        )
        .where(EmployerUpload.status == SUBMITTED)
        .group_by(EmployerUpload.employer_id)
        .subquery()
    )
    rows = session.execute(
        select(Employer, waiting.c.since, waiting.c.documents)
        .outerjoin(waiting, waiting.c.employer_id == Employer.id)
        .where(
            Employer.office_id == principal.office_id,
            (Employer.registration == PENDING) | (waiting.c.documents > 0),
        )
        .order_by(waiting.c.since.is_(None), waiting.c.since, Employer.id)
    ).all()
    return [
        {
            "id": e.id,
            "name": e.name,
            "matricule_fiscal": e.matricule_fiscal,
            "cnss_number": e.cnss_number,
            "registration": e.registration,
            "documents": int(documents or 0),
            "since": since.isoformat() if since is not None else None,
        }
        for e, since, documents in rows
    ]


def count_to_check(session: Session, principal: Principal) -> int:
    """How many companies wait for the principal's office (0 for anyone else)."""
    if not _is_checker(principal):
        return 0
    return len(companies_to_check(session, principal))


def upload_of(session: Session, principal: Principal, upload_id: int) -> EmployerUpload:
    """One upload, for the company's accounts and the staff who check it."""
    row = session.get(EmployerUpload, upload_id)
    if row is None:
        raise NotFound(f"document {upload_id} not found")
    if principal.employer_id is not None and principal.employer_id == row.employer_id:
        return row
    if _is_checker(principal):
        office_company(session, principal, row.employer_id)
        return row
    raise NotFound(f"document {upload_id} not found")


def _day(value: Any, field: str) -> date:
    try:
        day = date.fromisoformat(str(value or ""))
    except ValueError:
        raise InvalidInput(
            "not a valid date (YYYY-MM-DD)", fields={field: "not a valid date (YYYY-MM-DD)"}
        ) from None
    if not date(1900, 1, 1) <= day <= date(2100, 12, 31):
        raise InvalidInput(
            "the date must be between 1900-01-01 and 2100-12-31",
            fields={field: "the date must be between 1900-01-01 and 2100-12-31"},
        )
    return day


def _submitted(session: Session, employer: Employer, kind: str) -> EmployerUpload:
    row = session.scalars(
        select(EmployerUpload).where(
            EmployerUpload.employer_id == employer.id,
            EmployerUpload.kind == kind,
            EmployerUpload.status == SUBMITTED,
        )
    ).first()
    if row is None:
        raise InvalidInput(NOTHING_TO_CHECK, fields={kind: "no document to check"})
    return row


def decide(
    aqd: Aqd, principal: Principal, employer_id: int, data: dict[str, Any]
) -> dict[str, Any]:
    """The office's check of a company's uploads, as one command.

    ``data["decision"]`` is ``approve`` or ``refuse``. To approve, each submitted upload the
    checker read is recorded as its fact with the upload as proof: ``legal_status`` →
    ``{"status", "since"}``, ``tax`` and ``cnss`` → ``{"reference", "valid_from",
    "valid_until"}``; the company is then checked if its record holds a legal status and both
    certificates valid today. To refuse, ``reason`` is required; every submitted upload is
    refused and a company not yet checked is refused (it may send new proofs)."""
    decision = str(data.get("decision") or "")
    if decision not in ("approve", "refuse"):
        raise InvalidInput("choose approve or refuse", fields={"decision": "required"})
    reason = str(data.get("reason") or "").strip()
    if decision == "refuse" and not reason:
        raise InvalidInput("a reason is required", fields={"reason": "a reason is required"})
    now = aqd.clock.now()
    with aqd.session() as session, session.begin():
        session.execute(select(Employer.id).where(Employer.id == employer_id).with_for_update())
        employer = office_company(session, principal, employer_id)
        actor = principal.username
        decided = EmployerCheck(
            employer_id=employer.id,
            decision="approved" if decision == "approve" else "refused",
            reason=reason[:1000],
            decided_by=actor,
            decided_at=now,
        )
        session.add(decided)
        session.flush()
        if decision == "refuse":
            rows = session.scalars(
                select(EmployerUpload).where(
                    EmployerUpload.employer_id == employer.id,
                    EmployerUpload.status == SUBMITTED,
                )
            ).all()
            if not rows and employer.registration != PENDING:
                raise InvalidInput(NOTHING_TO_CHECK, fields={"decision": "no document to check"})
            for row in rows:
                row.status, row.check_id = REFUSED, decided.id
            if employer.registration != CHECKED:
                employer.registration = REFUSED
        else:
            _approve(session, employer, data, decided, actor, now)
        _tell_company(session, employer, decided, aqd)
        session.flush()
        return {
            "id": decided.id,
            "decision": decided.decision,
            "registration": employer.registration,
        }


def _approve(
    session: Session,
    employer: Employer,
    data: dict[str, Any],
    decided: EmployerCheck,
    actor: str,
    now: Any,
) -> None:
    recorded = 0
    for kind in KINDS:
        given = data.get(kind)
        if not isinstance(given, dict) or not any(str(v).strip() for v in given.values()):
            continue
        row = _submitted(session, employer, kind)
        proof = Proof(row.filename, row.data)
        fact: EmployerFact
        if kind == "legal_status":
            status = str(given.get("status") or "")
            if status not in LEGAL_STATUSES:
                raise InvalidInput(
                    "unknown legal status", fields={"legal_status.status": "required"}
                )
            since = _day(given.get("since"), "legal_status.since")
            fact = record_status(
                session, employer.matricule_fiscal, status, since, proof, actor, now
            )
        else:
            reference = str(given.get("reference") or "").strip()
            if not reference:
                raise InvalidInput(
                    "the certificate's reference is required",
                    fields={f"{kind}.reference": "required"},
                )
            start = _day(given.get("valid_from"), f"{kind}.valid_from")
            end = _day(given.get("valid_until"), f"{kind}.valid_until")
            if end < start:
                raise InvalidInput(
                    "a certificate cannot end before it starts",
                    fields={f"{kind}.valid_until": "before the first day"},
                )
            fact = record_certificate(
                session,
                employer.matricule_fiscal,
                kind,
                reference,
                start,
                end,
                proof,
                actor,
                now,
            )
        row.status, row.fact_id, row.check_id = CHECKED, fact.id, decided.id
        recorded += 1
    if recorded == 0:
        raise InvalidInput(NOTHING_TO_CHECK, fields={"decision": "no document to check"})
    if employer.registration == CHECKED:  # a renewed certificate: the company stays checked
        return
    file = company_file(session, employer, now.date())
    missing = [k for k in KINDS if k in file["missing"] or k in file["to_check"]]
    if missing:
        raise InvalidInput(APPROVE_INCOMPLETE, fields=dict.fromkeys(missing, "missing or expired"))
    employer.registration = CHECKED


#: template per decision (engine/notifications/notify.py)
_TEMPLATES = {"approved": "company_checked", "refused": "company_refused"}


def _tell_company(session: Session, employer: Employer, decided: EmployerCheck, aqd: Aqd) -> None:
    users = session.scalars(
        select(User).where(User.employer_id == employer.id, User.active.is_(True))
    ).all()
    template = _TEMPLATES[decided.decision]
    for user in users:
        notify(
            session,
            key=f"{template}:{decided.id}:{user.username}",
            recipient=user.username,
            locale=user.locale,
            template=template,
            params={
                "company": employer.name,
                "reason": decided.reason or "—",
                "link": aqd.settings.public_url.rstrip("/") + "/employer",
            },
            now=decided.decided_at,
            contact=(user.email, user.phone),
            channel=channel_for(template, user.email, user.phone),
        )


__all__ = [
    "CHECKED",
    "KINDS",
    "PENDING",
    "REFUSED",
    "CompanyPending",
    "CompanyUpload",
    "check_uploads",
    "companies_to_check",
    "company_file",
    "count_to_check",
    "decide",
    "ensure_can_request",
    "office_company",
    "own_file",
    "register",
    "require_checked",
    "store_uploads",
    "upload_of",
    "upload_proofs",
]
