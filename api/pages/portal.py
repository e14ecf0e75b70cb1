"""The employer's and the job seeker's homes (their steps and contracts) and the employer's
contract request for a registered job seeker."""

from __future__ import annotations

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
from engine import Aqd, EngineError, InvalidInput, NotFound, inbox
from engine.employers import registration

router = APIRouter(include_in_schema=False)

# Start-form fields the portal fills itself (from the account, the candidate and the date).
AUTO_FILLED = frozenset({"office", "employer_mf", "beneficiary_cin", "request_date"})


def _party_home(
    request: Request, caller: Caller, aqd: Aqd, s: Session, template: str
) -> HTMLResponse:
    tasks = inbox.inbox(s, caller.principal, inbox.InboxFilter(per_page=100), aqd.clock.now())
    contracts = inbox.list_contracts(s, caller.principal, per_page=100)
    return render(request, template, caller, tasks=tasks, contracts=contracts)


@router.get("/employer")
def employer_home(request: Request, caller: EmployerDep, aqd: AqdDep) -> Response:
    return company_home(request, caller, aqd)


@router.get("/me")
def beneficiary_home(
    request: Request, caller: BeneficiaryDep, aqd: AqdDep, s: ReadSession
) -> Response:
    return _party_home(request, caller, aqd, s, "me.html")


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
    data["beneficiary_cin"] = form.get("beneficiary_cin", "").strip()
    try:
        created = inbox.request_contract(aqd, caller.principal, programme, data)
    except InvalidInput as exc:
        return request_page(request, caller, aqd, programme, 422, data, exc)
    return redirect(f"/contracts/{created['id']}?flash=requested")
