"""The counsellor's inbox (filters, bulk claim and reassign) and the task pages (claim,
release, reassign, complete with uploaded proofs), plus the download of a stored document."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from api.auth import Caller, CallerDep
from api.deps import AqdDep, OfficeReaderDep, ReadSession
from api.forms_render import coerce, fields_of
from api.i18n import Translator, translator
from api.pages.common import (
    choice,
    date_param,
    form_dict,
    home_of,
    int_param,
    locale_of,
    redirect,
    render,
    safe_next,
)
from engine import Aqd, EngineError, InvalidInput, QuotaExceeded, inbox
from engine.access import scope
from engine.commands import contract_actions
from engine.employers import registration
from engine.inbox import documents

router = APIRouter(include_in_schema=False)


@router.get("/inbox")
def inbox_page(request: Request, caller: OfficeReaderDep, aqd: AqdDep, s: ReadSession) -> Response:
    p = caller.principal
    q = request.query_params
    f = inbox.InboxFilter(
        programme=q.get("programme") or None,
        step=q.get("step") or None,
        due_before=date_param(q.get("due_before"), "due_before"),
        overdue=q.get("overdue") == "1",
        assigned=choice(q.get("assigned"), ("any", "me", "unassigned", "others"), "any"),
        q=(q.get("q") or "")[:100] or None,
        sort=choice(q.get("sort"), ("due", "ready", "-ready", "contract"), "due"),
        page=int_param(q.get("page"), 1),
        per_page=int_param(q.get("per_page"), 25),
    )
    page = inbox.inbox(s, p, f, aqd.clock.now())
    facets = inbox.inbox_facets(s, p)
    team = (
        inbox.office_counsellors(s, p.office_id)
        if p.has("office_head") and p.office_id is not None
        else []
    )
    params = {k: v for k, v in q.items() if k != "page" and v}
    template = "inbox_table.html" if request.headers.get("hx-request") else "inbox.html"
    return render(
        request,
        template,
        caller,
        page=page,
        f=f,
        facets=facets,
        team=team,
        base_query=urlencode(params),
        companies_waiting=registration.count_to_check(s, p),
    )


@router.post("/inbox/bulk")
async def inbox_bulk(request: Request, caller: CallerDep, aqd: AqdDep) -> Response:
    form = await request.form()
    guids = [g for g in form.getlist("guid") if isinstance(g, str)][:200]
    action = form.get("action")
    done, failed = 0, 0
    for guid in guids:
        try:
            if action == "claim":
                inbox.claim(aqd, caller.principal, guid)
            elif action == "reassign":
                inbox.reassign(
                    aqd,
                    caller.principal,
                    guid,
                    str(form.get("assignee") or "") or None,
                    str(form.get("reason") or ""),
                )
            else:
                raise InvalidInput("unknown action", fields={"action": "claim or reassign"})
            done += 1
        except EngineError:
            failed += 1
    back = safe_next(str(form.get("next") or ""), "/inbox")
    sep = "&" if "?" in back else "?"
    return redirect(f"{back}{sep}flash=bulk&done={done}&failed={failed}")


def task_page(
    request: Request,
    caller: Caller,
    aqd: Aqd,
    guid: str,
    status_code: int = 200,
    values: dict[str, Any] | None = None,
    error: EngineError | None = None,
) -> HTMLResponse:
    """The task's page; also shown again, with the errors, after a refused completion."""
    with aqd.read_session() as s:
        detail = inbox.task_detail(s, caller.principal, guid, aqd.clock.now())
        p = caller.principal
        team = (
            inbox.office_counsellors(s, p.office_id)
            if p.has("office_head") and p.office_id is not None
            else []
        )
        found = scope.visible_contract(s, p, detail["contract"]["id"])
        # The employer may refuse the offer instead of filling the agreement.
        can_decline = any(
            a["key"] == "employer_decline" for a in contract_actions.available(s, p, found)
        )
    t: Translator = translator(locale_of(request, caller))
    task = detail["task"]
    form_fields = (
        fields_of(
            task["form"],
            t,
            values if values is not None else task["data"],
            error.fields if error is not None else None,
        )
        if task["form"]
        else []
    )
    return render(
        request,
        "task.html",
        caller,
        status_code,
        task=task,
        contract=detail["contract"],
        registry=detail.get("registry"),
        fields=form_fields,
        error=error,
        team=team,
        can_decline=can_decline,
    )


@router.get("/tasks/{guid}")
def task_view(guid: str, request: Request, caller: CallerDep, aqd: AqdDep) -> Response:
    return task_page(request, caller, aqd, guid)


@router.post("/tasks/{guid}/claim")
def task_claim(guid: str, caller: CallerDep, aqd: AqdDep) -> Response:
    inbox.claim(aqd, caller.principal, guid)
    return redirect(f"/tasks/{quote(guid)}?flash=claimed")


@router.post("/tasks/{guid}/release")
def task_release(guid: str, caller: CallerDep, aqd: AqdDep) -> Response:
    inbox.claim(aqd, caller.principal, guid, release=True)
    return redirect(f"/tasks/{quote(guid)}?flash=released")


@router.post("/tasks/{guid}/reassign")
async def task_reassign(guid: str, request: Request, caller: CallerDep, aqd: AqdDep) -> Response:
    form = form_dict(await request.form())
    inbox.reassign(
        aqd,
        caller.principal,
        guid,
        form.get("assignee") or None,
        form.get("reason", ""),
    )
    return redirect(f"/tasks/{quote(guid)}?flash=reassigned")


@router.post("/tasks/{guid}/complete")
async def task_complete(guid: str, request: Request, caller: CallerDep, aqd: AqdDep) -> Response:
    uploads = []
    async with request.form(max_part_size=documents.MAX_BYTES + 1) as raw:
        form = form_dict(raw)
        for name, value in raw.multi_items():
            if isinstance(value, UploadFile) and value.filename:
                content = await value.read(documents.MAX_BYTES + 1)
                uploads.append(documents.Upload(name, value.filename, content))
    with aqd.read_session() as s:
        detail = inbox.task_detail(s, caller.principal, guid, aqd.clock.now())
    schema = detail["task"]["form"] or {}
    data = coerce(schema, form)
    revision = int_param(form.get("expected_revision"), -1)
    try:
        inbox.complete(
            aqd,
            caller.principal,
            guid,
            data,
            revision if revision >= 0 else None,
            uploads=uploads,
        )
    except (InvalidInput, QuotaExceeded) as exc:  # shown next to the field, nothing typed lost
        return task_page(request, caller, aqd, guid, exc.status_code, values=data, error=exc)
    return redirect(f"{home_of(caller.principal)}?flash=completed")


@router.get("/documents/{document_id}")
def document_download(document_id: int, caller: CallerDep, s: ReadSession) -> Response:
    doc = documents.get(s, caller.principal, document_id)
    return Response(
        doc.content,
        media_type=doc.content_type,
        headers={
            "Content-Disposition": f'inline; filename="{quote(doc.filename)}"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
        },
    )
