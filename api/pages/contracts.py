"""The contracts list, a contract's page with the actions its parties may take now (suspend,
resume, end early, ask for an extension…), and its contract document: the PDF, and the page
that shows it as images a phone can read."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.auth import Caller, CallerDep
from api.deps import AqdDep, ReadSession
from api.forms_render import coerce, fields_of
from api.i18n import Translator, translator
from api.pages.common import (
    form_dict,
    int_param,
    locale_of,
    page_image,
    page_images_of,
    pages_context,
    redirect,
    render,
)
from engine import Aqd, Conflict, EngineError, InvalidInput, NotFound, inbox
from engine.access import scope
from engine.commands import contract_actions
from forms import pdfpages
from signing import documents as contract_documents
from signing import requests as signature_requests

router = APIRouter(include_in_schema=False)


@router.get("/contracts")
def contracts_page(request: Request, caller: CallerDep, s: ReadSession) -> Response:
    q = request.query_params
    page = inbox.list_contracts(
        s,
        caller.principal,
        programme=q.get("programme") or None,
        status=q.get("status") or None,
        q=(q.get("q") or "")[:100] or None,
        page=int_param(q.get("page"), 1),
        per_page=25,
    )
    params = {k: v for k, v in q.items() if k != "page" and v}
    return render(request, "contracts.html", caller, page=page, q=q, base_query=urlencode(params))


def contract_view(
    request: Request,
    caller: Caller,
    aqd: Aqd,
    ref: str,
    status_code: int = 200,
    failed: str | None = None,
    values: dict[str, Any] | None = None,
    error: EngineError | None = None,
) -> HTMLResponse:
    """The contract's page; also shown again, with the action's errors, after a refusal."""
    with aqd.read_session() as s:
        found = scope.visible_contract(s, caller.principal, ref)
        detail = inbox.contract_detail(s, caller.principal, found, aqd.clock.now())
        detail["revision"] = found.revision
        signatures = signature_requests.requests_of(s, found.id)
        offered = contract_actions.available(s, caller.principal, found)
    t: Translator = translator(locale_of(request, caller))
    actions = [
        {
            **a,
            "title": t.label(a["form"], a["key"]),
            "open": a["key"] == (failed or request.query_params.get("open")),
            "error": error if a["key"] == failed else None,
            "fields": fields_of(
                a["form"],
                t,
                values if a["key"] == failed else None,
                error.fields if error is not None and a["key"] == failed else None,
            ),
        }
        for a in offered
    ]
    return render(
        request,
        "contract.html",
        caller,
        status_code,
        contract=detail,
        signatures=signatures,
        actions=actions,
        action_error=error if failed and failed not in {a["key"] for a in offered} else None,
    )


@router.get("/contracts/{ref}")
def contract_page(ref: str, request: Request, caller: CallerDep, aqd: AqdDep) -> Response:
    return contract_view(request, caller, aqd, ref)


@router.post("/contracts/{ref}/actions/{key}")
async def contract_action(
    ref: str, key: str, request: Request, caller: CallerDep, aqd: AqdDep
) -> Response:
    """Suspend, resume, end early or ask to extend a contract (its lifecycle messages)."""
    action = contract_actions.BY_KEY.get(key)
    if action is None:
        raise NotFound(f"no contract action {key!r}")
    async with request.form() as raw:
        form = form_dict(raw)
    schema = contract_actions.action_form(action)
    data = coerce(schema, form)
    revision = int_param(form.get("expected_revision"), -1)
    try:
        contract_actions.perform(
            aqd, caller.principal, ref, key, data, revision if revision >= 0 else None
        )
    except (InvalidInput, Conflict) as exc:
        return contract_view(
            request, caller, aqd, ref, exc.status_code, failed=key, values=data, error=exc
        )
    return redirect(f"/contracts/{quote(ref)}?flash=action_done")


@router.get("/contracts/{ref}/contract.pdf")
def contract_pdf(ref: str, caller: CallerDep, aqd: AqdDep) -> Response:
    # the session closes before the (slow) rendering
    with aqd.read_session() as s:
        terms = inbox.contract_terms(aqd, s, caller.principal, ref)
    document = contract_documents.render(terms)
    return Response(
        document.pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{terms["number"]}.pdf"',
            "X-Content-SHA256": document.sha256,
        },
    )


@router.get("/contracts/{ref}/document")
def contract_document_page(ref: str, request: Request, caller: CallerDep, aqd: AqdDep) -> Response:
    """The contract document as page images (readable on a phone), with the PDF to download."""
    with aqd.read_session() as s:
        terms = inbox.contract_terms(aqd, s, caller.principal, ref)
    document = contract_documents.render(terms)
    images = page_images_of(document.pdf, f"contract:{terms['number']}")
    base = f"/contracts/{quote(ref)}"
    return render(
        request,
        "document.html",
        caller,
        number=terms["number"],
        contract_url=base,
        pages=pages_context(images, f"{base}/document"),
        sha256=document.sha256,
    )


@router.get("/contracts/{ref}/document/{sha256}/{page}.png")
def contract_document_image(
    ref: str, sha256: str, page: int, caller: CallerDep, aqd: AqdDep
) -> Response:
    with aqd.read_session() as s:  # the caller's scope, checked for every image
        terms = inbox.contract_terms(aqd, s, caller.principal, ref)
    key = f"contract:{terms['number']}"
    images = pdfpages.cached(key, sha256)
    if images is None:  # drawn by another process, or dropped from memory since
        images = page_images_of(contract_documents.render(terms).pdf, key)
    if images is None:
        raise NotFound("the pages of this document cannot be drawn")
    return page_image(images, sha256, page)
