"""A self-registered company's proofs and its office's check (``engine/employers/registration``):
the company uploads from its home page, the office's counsellors and heads check on
``/companies``."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api.auth import Caller, CallerDep
from api.deps import AqdDep, CompanyCheckerDep, EmployerDep, ReadSession
from api.pages.common import form_dict, redirect, render
from engine import Aqd, EngineError, InvalidInput, inbox
from engine.employers import LEGAL_STATUSES, record_of
from engine.employers import registration as companies
from engine.inbox import documents

router = APIRouter(include_in_schema=False)
#: a row id (a larger number is no id, and SQLite cannot even compare it)
RowId = Annotated[int, Path(ge=1, le=2**62)]


async def company_uploads(request: Request) -> tuple[dict[str, str], list[companies.CompanyUpload]]:
    """The form's text fields and the proofs it carries (a file input per kind, named after it;
    or ``file`` with a ``kind`` field)."""
    uploads = []
    async with request.form(max_part_size=documents.MAX_BYTES + 1) as raw:
        form = form_dict(raw)
        for name, value in raw.multi_items():
            if isinstance(value, UploadFile) and value.filename:
                kind = form.get("kind", "") if name == "file" else name
                content = await value.read(documents.MAX_BYTES + 1)
                uploads.append(companies.CompanyUpload(kind, value.filename, content))
    return form, uploads


def company_home(
    request: Request,
    caller: Caller,
    aqd: Aqd,
    status_code: int = 200,
    error: EngineError | None = None,
) -> HTMLResponse:
    """The company's home: its file with its office, its steps, its contract requests and its
    contracts."""
    with aqd.read_session() as s:
        now = aqd.clock.now()
        tasks = inbox.inbox(s, caller.principal, inbox.InboxFilter(per_page=100), now)
        contracts = inbox.list_contracts(s, caller.principal, per_page=100)
        requests = inbox.employer_requests(s, caller.principal)
        company = companies.own_file(s, caller.principal, now.date())
    return render(
        request,
        "employer.html",
        caller,
        status_code,
        tasks=tasks,
        contracts=contracts,
        requests=requests,
        company=company,
        kinds=companies.KINDS,
        error=error,
    )


@router.post("/employer/documents")
async def upload(request: Request, caller: EmployerDep, aqd: AqdDep) -> Response:
    _form, uploads = await company_uploads(request)
    try:
        await run_in_threadpool(companies.upload_proofs, aqd, caller.principal, uploads)
    except InvalidInput as exc:  # shown next to the upload form
        return company_home(request, caller, aqd, exc.status_code, exc)
    return redirect("/employer?flash=uploaded")


@router.get("/company-documents/{upload_id}")
def document(upload_id: RowId, caller: CallerDep, s: ReadSession) -> Response:
    """One uploaded proof, for the company's accounts and the staff of its office."""
    row = companies.upload_of(s, caller.principal, upload_id)
    return Response(
        row.data,
        media_type=row.content_type,
        headers={
            "Content-Disposition": f'inline; filename="{quote(row.filename)}"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
        },
    )


@router.get("/companies")
def to_check(request: Request, caller: CompanyCheckerDep, s: ReadSession) -> Response:
    return render(
        request, "companies.html", caller, rows=companies.companies_to_check(s, caller.principal)
    )


def check_page(
    request: Request,
    caller: Caller,
    aqd: Aqd,
    employer_id: int,
    status_code: int = 200,
    values: dict[str, str] | None = None,
    error: EngineError | None = None,
) -> HTMLResponse:
    with aqd.read_session() as s:
        employer = companies.office_company(s, caller.principal, employer_id)
        company = companies.company_file(s, employer, aqd.clock.now().date())
        facts = record_of(s, employer.matricule_fiscal)
    return render(
        request,
        "company.html",
        caller,
        status_code,
        company=company,
        facts=facts,
        statuses=LEGAL_STATUSES,
        values=values or {},
        error=error,
    )


@router.get("/companies/{employer_id}")
def company(
    employer_id: RowId, request: Request, caller: CompanyCheckerDep, aqd: AqdDep
) -> Response:
    return check_page(request, caller, aqd, employer_id)


def decision_of(form: dict[str, str]) -> dict[str, Any]:
    """The check form's fields (``tax.reference``, …) as :func:`companies.decide` reads them."""
    data: dict[str, Any] = {
        "decision": form.get("decision", ""),
        "reason": form.get("reason", ""),
    }
    for name, value in form.items():
        kind, _dot, field = name.partition(".")
        if field and kind in companies.KINDS:
            data.setdefault(kind, {})[field] = value.strip()
    return data


@router.post("/companies/{employer_id}/check")
async def check(
    employer_id: RowId, request: Request, caller: CompanyCheckerDep, aqd: AqdDep
) -> Response:
    form = form_dict(await request.form())
    try:
        companies.decide(aqd, caller.principal, employer_id, decision_of(form))
    except InvalidInput as exc:  # the form again, with each message next to its field
        return check_page(request, caller, aqd, employer_id, exc.status_code, form, exc)
    return redirect("/companies?flash=company_checked")
