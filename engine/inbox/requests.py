"""Contract requests: an employer names a job seeker by CIN and date of birth (or registration
number) and gives the position and terms; the job seeker accepts or declines in their account
(issue 19 item 5).

Until the job seeker accepts, the employer learns nothing about the person: every look-up,
matched or not, is answered alike (a reference, ``awaiting_acceptance``), stored alike, listed
alike and counted alike by the per-employer rate limit (``AQD_REQUEST_LOOKUPS_PER_HOUR``). When
the job seeker accepts, the contract starts on the registry's facts (``Aqd.request_contract``),
after the duplicate and cumulation checks; a refusal is recorded on the request (the employer
sees its reason code) and answered with 409.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from uuid import uuid4

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import forms_bridge
from engine.access.accounts import Principal
from engine.commands.aqd import Aqd
from engine.employers import registration
from engine.errors import Conflict, InvalidInput, NotFound, NotPermitted, TooManyAttempts
from engine.inbox.contracts import programmes_open_for_requests
from engine.models import Beneficiary, Contract, ContractRequest, Employer
from engine.registry import PARTY_FIELDS, RequestRefused, refuse_registry_facts

AWAITING = "awaiting_acceptance"
REQUEST_STATUSES = (AWAITING, "accepted", "declined", "refused")


def _terms(programme: str, terms: dict[str, Any], open_: list[dict[str, Any]]) -> dict[str, Any]:
    """The position and terms, checked against the start form's other fields."""
    refuse_registry_facts(terms)
    chosen = next((p for p in open_ if p["programme"] == programme), None)
    if chosen is None:
        raise InvalidInput(
            f"unknown programme {programme!r}", fields={"programme": "not open for requests"}
        )
    props = forms_bridge.schema(programme, str(chosen["start_form"])).get("properties", {})
    unknown = sorted(k for k in terms if k not in props or k in PARTY_FIELDS)
    if unknown:
        raise InvalidInput(
            "the request has fields its form does not know",
            fields=dict.fromkeys(unknown, "unknown field"),
        )
    clean = {k: v for k, v in terms.items() if v not in (None, "")}
    try:  # the terms' own values now; the registry's facts join them on acceptance
        forms_bridge.validate(programme, str(chosen["start_form"]), clean)
    except InvalidInput as exc:
        own = {k: v for k, v in exc.fields.items() if k.split("/")[0] in clean}
        if own:
            raise InvalidInput(exc.message, fields=own) from None
    return clean


def create_request(
    aqd: Aqd,
    principal: Principal,
    programme: str,
    cin: str,
    birth_date: date | None,
    registration_number: str | None,
    terms: dict[str, Any],
) -> dict[str, Any]:
    """Store an employer's request; the answer is the same whether or not anyone matched."""
    if not principal.has("employer") or principal.employer_id is None:
        raise NotPermitted("only an employer account can request a contract")
    cin = cin.strip()
    number = (registration_number or "").strip()
    now = aqd.clock.now()
    with aqd.session() as session, session.begin():
        # 409 company_pending before anything else, while its office has not checked it
        registration.ensure_can_request(session, principal)
        if not number and not (cin.isdigit() and len(cin) == 8):
            raise InvalidInput("invalid CIN", fields={"beneficiary_cin": "8 digits"})
        if not number and birth_date is None:
            raise InvalidInput(
                "the CIN goes with the date of birth", fields={"birth_date": "required"}
            )
        clean = _terms(programme, terms, programmes_open_for_requests(session, now))
        employer = session.scalar(
            select(Employer.id).where(Employer.id == principal.employer_id).with_for_update()
        )
        if employer is None:
            raise NotPermitted("only an employer account can request a contract")
        recent = session.scalar(
            select(func.count())
            .select_from(ContractRequest)
            .where(
                ContractRequest.employer_id == employer,
                ContractRequest.created_at > now - timedelta(hours=1),
            )
        )
        if (recent or 0) >= aqd.settings.request_lookups_per_hour:
            oldest = session.scalar(
                select(func.min(ContractRequest.created_at)).where(
                    ContractRequest.employer_id == employer,
                    ContractRequest.created_at > now - timedelta(hours=1),
                )
            )
            wait = int(((oldest or now) + timedelta(hours=1) - now).total_seconds()) + 1
            raise TooManyAttempts("too many job-seeker look-ups; try again later", retry_after=wait)
        match = (
            Beneficiary.registration_number == number
            if number
            else (Beneficiary.cin == cin) & (Beneficiary.birth_date == birth_date)
        )
        beneficiary_id = session.scalar(select(Beneficiary.id).where(match))
        reference = str(uuid4())
        session.add(
            ContractRequest(
                reference=reference,
                employer_id=employer,
                beneficiary_id=beneficiary_id,
                programme=programme,
                terms=clean,
                status=AWAITING,
                requested_by=principal.username,
                created_at=now,
            )
        )
    return {"reference": reference, "programme": programme, "status": AWAITING}


def _row(r: ContractRequest, number: str | None, employer: str | None) -> dict[str, Any]:
    return {
        "reference": r.reference,
        "programme": r.programme,
        "status": r.status,
        "reason": r.reason,
        "terms": dict(r.terms or {}),
        "created_at": r.created_at.isoformat(),
        "decided_at": r.decided_at.isoformat() if r.decided_at else None,
        "contract_number": number,
        "employer": employer,
    }


def employer_requests(session: Session, principal: Principal) -> list[dict[str, Any]]:
    """The employer's requests, newest first: who the person is shows only through the contract
    once they accepted (the request itself never names them)."""
    if not principal.has("employer") or principal.employer_id is None:
        raise NotPermitted("only an employer account has contract requests")
    rows = session.execute(
        select(ContractRequest, Contract.number)
        .outerjoin(Contract, Contract.id == ContractRequest.contract_id)
        .where(ContractRequest.employer_id == principal.employer_id)
        .order_by(ContractRequest.created_at.desc(), ContractRequest.id.desc())
        .limit(200)
    ).all()
    return [_row(r, number, None) for r, number in rows]


def beneficiary_requests(session: Session, principal: Principal) -> list[dict[str, Any]]:
    """The requests addressed to the job seeker, newest first, with the employer's name."""
    if not principal.has("beneficiary") or principal.beneficiary_id is None:
        raise NotPermitted("only a job seeker's account receives contract requests")
    rows = session.execute(
        select(ContractRequest, Contract.number, Employer.name)
        .join(Employer, Employer.id == ContractRequest.employer_id)
        .outerjoin(Contract, Contract.id == ContractRequest.contract_id)
        .where(ContractRequest.beneficiary_id == principal.beneficiary_id)
        .order_by(ContractRequest.created_at.desc(), ContractRequest.id.desc())
        .limit(200)
    ).all()
    return [_row(r, number, name) for r, number, name in rows]


def decide_request(aqd: Aqd, principal: Principal, reference: str, accept: bool) -> dict[str, Any]:
    """The job seeker accepts (the contract starts) or declines their request. A duplicate or
    cumulation rule that refuses it is recorded on the request, then raised (409)."""
    if not principal.has("beneficiary") or principal.beneficiary_id is None:
        raise NotPermitted("only the job seeker decides on a request addressed to them")
    refused: RequestRefused | None = None
    with aqd.session() as session, session.begin():
        request = session.scalar(
            select(ContractRequest)
            .where(
                ContractRequest.reference == reference,
                ContractRequest.beneficiary_id == principal.beneficiary_id,
            )
            .with_for_update()
        )
        if request is None:
            raise NotFound(f"request {reference} not found")
        if request.status != AWAITING:
            raise Conflict(f"request {reference} is already {request.status}")
        now = aqd.clock.now()
        request.decided_at = now
        if not accept:
            request.status = "declined"
        else:
            try:  # a refusal is raised before the command writes anything
                contract = aqd.request_contract(
                    session,
                    request.programme,
                    principal.beneficiary_id,
                    request.employer_id,
                    dict(request.terms or {}),
                    request.requested_by,
                )
                request.status, request.contract_id = "accepted", contract.id
            except RequestRefused as exc:
                refused = exc
                request.status, request.reason = "refused", exc.reason
        session.flush()
        number = session.scalar(select(Contract.number).where(Contract.id == request.contract_id))
        out = _row(request, number, None)
    if refused is not None:
        raise refused
    return out
