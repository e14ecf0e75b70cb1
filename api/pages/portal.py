"""The employer's and the job seeker's homes (their steps, contracts and contract requests),
the employer's contract request for a job seeker named by CIN and date of birth, and the job
seeker's acceptance or refusal of it."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from api.auth import Caller
from api.deps import AqdDep, BeneficiaryDep, EmployerDep, ReadSession
from api.forms_render import coerce, fields_of
from api.i18n import translator
from api.pages.common import form_dict, locale_of, redirect, render
from api.pages.companies import company_home
from engine import Aqd, EngineError, InvalidInput, NotFound, TooManyAttempts, inbox
from engine.employers import registration
from engine.registry import REGISTRY_FACTS, RequestRefused

router = APIRouter(include_in_schema=False)

# Start-form fields the employer never gives: the parties (from the account and the job
# seeker) and every fact the job-seeker registry owns (engine/registry).
AUTO_FILLED = frozenset({"office", "employer_mf", "beneficiary_cin", *REGISTRY_FACTS})


def _party_home(
    request: Request,
    caller: Caller,
    aqd: Aqd,
    s: Session,
    template: str,
    status_code: int = 200,
    error: EngineError | None = None,
) -> HTMLResponse:
    tasks = inbox.inbox(s, caller.principal, inbox.InboxFilter(per_page=100), aqd.clock.now())
    contracts = inbox.list_contracts(s, caller.principal, per_page=100)
    requests = (
        inbox.beneficiary_requests(s, caller.principal)
        if caller.principal.has("beneficiary")
        else inbox.employer_requests(s, caller.principal)
    )
    return render(
        request,
        template,
        caller,
        status_code,
        tasks=tasks,
        contracts=contracts,
        requests=requests,
        error=error,
    )


@router.get("/employer")
def employer_home(request: Request, caller: EmployerDep, aqd: AqdDep) -> Response:
    return company_home(request, caller, aqd)


@router.get("/me")
def beneficiary_home(
    request: Request, caller: BeneficiaryDep, aqd: AqdDep, s: ReadSession
) -> Response:
    return _party_home(request, caller, aqd, s, "me.html")


@router.post("/me/requests/{reference}/{decision}")
def beneficiary_decides(
    reference: str, decision: str, request: Request, caller: BeneficiaryDep, aqd: AqdDep
) -> Response:
    """The job seeker accepts or declines a company's request; a refusal by a duplicate or
    cumulation rule is shown on the page with its reason (409)."""
    if decision not in ("accept", "decline"):
        raise NotFound(f"no decision {decision}")
    try:
        row = inbox.decide_request(aqd, caller.principal, reference[:36], decision == "accept")
    except RequestRefused as exc:
        with aqd.read_session() as s:
            return _party_home(request, caller, aqd, s, "me.html", 409, exc)
    if row["contract_number"]:
        return redirect(f"/contracts/{row['contract_number']}?flash=accepted")
    return redirect("/me?flash=declined")


def request_page(
    request: Request,
    caller: Caller,
    aqd: Aqd,
    programme: str | None,
    status_code: int = 200,
    values: dict[str, Any] | None = None,
    error: EngineError | None = None,
) -> HTMLResponse:
    """The request form; also shown again, with the errors, after a refused request."""
    with aqd.read_session() as s:
        programmes = inbox.programmes_open_for_requests(s, aqd.clock.now())
    chosen = next((p for p in programmes if p["programme"] == programme), None)
    t = translator(locale_of(request, caller))
    form_fields = []
    if chosen is not None:
        schema = inbox.start_form_schema(chosen)
        form_fields = fields_of(
            schema, t, values, error.fields if error else None, skip=AUTO_FILLED
        )
    return render(
        request,
        "request.html",
        caller,
        status_code,
        programmes=programmes,
        chosen=chosen,
        fields=form_fields,
        values=values or {},
        error=error,
    )


@router.get("/employer/request")
def request_form(request: Request, caller: EmployerDep, aqd: AqdDep) -> Response:
    with aqd.read_session() as s:  # 409 while the office has not checked the company
        registration.ensure_can_request(s, caller.principal)
    return request_page(request, caller, aqd, request.query_params.get("programme"))


@router.post("/employer/request")
async def request_submit(request: Request, caller: EmployerDep, aqd: AqdDep) -> Response:
    form = form_dict(await request.form())
    programme = form.get("programme", "")
    with aqd.read_session() as s:
        registration.ensure_can_request(s, caller.principal)
        chosen = next(
            (
                p
                for p in inbox.programmes_open_for_requests(s, aqd.clock.now())
                if p["programme"] == programme
            ),
            None,
        )
    if chosen is None:
        raise NotFound(f"programme {programme} is not open for requests")
    schema = inbox.start_form_schema(chosen)
    data = coerce(
        {
            **schema,
            "properties": {
                k: v for k, v in schema.get("properties", {}).items() if k not in AUTO_FILLED
            },
        },
        form,
    )
    cin = form.get("beneficiary_cin", "").strip()
    number = form.get("registration_number", "").strip() or None
    try:
        born = date.fromisoformat(form.get("birth_date", "")) if form.get("birth_date") else None
    except ValueError:
        error = InvalidInput("invalid date", fields={"birth_date": "not a valid date (YYYY-MM-DD)"})
        return request_page(request, caller, aqd, programme, 422, {**form, **data}, error)
    try:
        inbox.create_request(aqd, caller.principal, programme, cin, born, number, data)
    except (InvalidInput, TooManyAttempts) as exc:
        status = 429 if isinstance(exc, TooManyAttempts) else 422
        return request_page(request, caller, aqd, programme, status, {**form, **data}, exc)
    return redirect("/employer?flash=request_sent")
