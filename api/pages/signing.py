"""Signing in the web app: the signer's list, the ceremony page (see the PDF, get a one-time
code, consent to a versioned text, or decline with a reason), and the public verification page
anyone can upload a signed PDF to (``api/ceremony.py`` holds the steps the API shares)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from api import ceremony
from api.auth import Caller, CallerDep, OptionalCallerDep, client_ip
from api.deps import AqdDep, ReadSession
from api.pages.common import page_image, page_images_of, pages_context, redirect, render
from engine import Aqd, InvalidInput, NotFound
from engine.access import scope
from signing import requests, service

router = APIRouter(include_in_schema=False)


def user_agent(request: Request) -> str:
    return request.headers.get("user-agent", "")[:300]


def pdf_response(content: bytes, filename: str) -> Response:
    return Response(
        content,
        media_type="application/pdf",
        headers={
            "content-disposition": f'inline; filename="{filename}"',
            "x-content-type-options": "nosniff",
            "cache-control": "no-store",
        },
    )


@router.get("/me/signatures")
def my_signatures(request: Request, caller: CallerDep, s: ReadSession) -> Response:
    pending = requests.pending_for(s, caller.principal)
    return render(
        request,
        "signatures.html",
        caller,
        pending=pending,
        notice=request.query_params.get("notice", ""),
    )


@router.post("/me/signatures/{request_id}/open")
def open_signature(request_id: int, caller: CallerDep, aqd: AqdDep) -> Response:
    token = ceremony.link(aqd, request_id, caller)
    return redirect(f"/sign/{quote(token)}")


@router.get("/sign/{token}")
def ceremony_page(token: str, request: Request, caller: CallerDep, aqd: AqdDep) -> Response:
    view = ceremony.view(aqd, token, caller)
    return render(
        request,
        "sign.html",
        caller,
        view=view,
        token=token,
        notice=request.query_params.get("notice", ""),
        pages=_pages(aqd, token, caller),
    )


def _pages(aqd: Aqd, token: str, caller: Caller) -> list[dict[str, Any]]:
    """The document to sign as page images (drawn once per document)."""
    images = page_images_of(ceremony.document(aqd, token, caller), SIGNING_PAGES)
    return pages_context(images, f"/sign/{quote(token)}/pages")


#: The key the signing pages' images are kept under: the bytes they are drawn from were read
#: under the signer's link, and the images are found again only from those bytes' SHA-256.
SIGNING_PAGES = "signing"


@router.get("/sign/{token}/document.pdf")
def ceremony_document(token: str, caller: CallerDep, aqd: AqdDep) -> Response:
    return pdf_response(ceremony.document(aqd, token, caller), "contract.pdf")


@router.get("/sign/{token}/pages/{sha256}/{page}.png")
def ceremony_page_image(
    token: str, sha256: str, page: int, caller: CallerDep, aqd: AqdDep
) -> Response:
    images = page_images_of(ceremony.document(aqd, token, caller), SIGNING_PAGES)
    if images is None:
        raise NotFound("the pages of this document cannot be drawn")
    return page_image(images, sha256, page)


@router.post("/sign/{token}/code")
def ceremony_code(token: str, caller: CallerDep, aqd: AqdDep) -> Response:
    channel = ceremony.send_code(aqd, token, caller)
    notice = "code_sent" if channel == "mailbox" else f"code_sent_{channel}"
    return redirect(f"/sign/{quote(token)}?notice={notice}")


@router.post("/sign/{token}/consent")
async def ceremony_consent(
    token: str, request: Request, caller: CallerDep, aqd: AqdDep
) -> Response:
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        body = ceremony.ConsentBody(
            code=values.get("code", "").strip() or "-",
            accepted=values.get("consent") == "yes",
            consent_version=values.get("consent_version", "")[:32],
            document_sha256=ceremony.sha_or_zero(values.get("document_sha256", "")),
        )
        await run_in_threadpool(
            ceremony.consent, aqd, token, caller, body, client_ip(request), user_agent(request)
        )
    except InvalidInput as exc:
        view = await run_in_threadpool(ceremony.view, aqd, token, caller)
        pages = await run_in_threadpool(_pages, aqd, token, caller)
        return render(
            request,
            "sign.html",
            caller,
            422,
            view=view,
            token=token,
            error=exc,
            notice="",
            pages=pages,
        )
    return redirect("/me/signatures?notice=signed")


@router.post("/sign/{token}/decline")
async def ceremony_decline(
    token: str, request: Request, caller: CallerDep, aqd: AqdDep
) -> Response:
    form = await request.form()
    reason = form.get("reason")
    try:
        await run_in_threadpool(
            ceremony.decline,
            aqd,
            token,
            caller,
            reason if isinstance(reason, str) else "",
            client_ip(request),
            user_agent(request),
        )
    except InvalidInput as exc:
        view = await run_in_threadpool(ceremony.view, aqd, token, caller)
        pages = await run_in_threadpool(_pages, aqd, token, caller)
        return render(
            request,
            "sign.html",
            caller,
            422,
            view=view,
            token=token,
            error=exc,
            notice="",
            pages=pages,
        )
    return redirect("/me/signatures?notice=declined")


@router.get("/verify")
def verify_page(request: Request, caller: OptionalCallerDep) -> Response:
    return render(request, "verify.html", caller, report=None)


@router.post("/verify")
async def verify_upload(request: Request, caller: OptionalCallerDep, aqd: AqdDep) -> Response:
    async with request.form() as form:
        upload = form.get("file")
        try:
            content = await ceremony.read_upload(upload if not isinstance(upload, str) else None)
        except InvalidInput as exc:
            return render(request, "verify.html", caller, 422, report=None, error=exc)
    report = await run_in_threadpool(service.verify_pdf, aqd, content)
    return render(request, "verify.html", caller, report=report)


@router.get("/contracts/{ref}/documents/{document_id}/verify")
def verify_stored(
    ref: str, document_id: int, request: Request, caller: CallerDep, aqd: AqdDep
) -> Response:
    """The same report as /verify, for a document Aqd holds (auditors, the parties)."""
    with aqd.read_session() as s:
        contract = scope.visible_contract(s, caller.principal, ref)
        content = next(
            (d.content for d in requests.contract_documents(s, contract.id) if d.id == document_id),
            None,
        )
    if content is None:
        raise NotFound(f"document {document_id} not found")
    report = service.verify_pdf(aqd, content)
    return render(request, "verify.html", caller, report=report)


@router.get("/contracts/{ref}/documents/signed.pdf")
def signed_pdf(ref: str, caller: CallerDep, s: ReadSession) -> Response:
    contract = scope.visible_contract(s, caller.principal, ref)
    document = requests.latest_signed(s, contract.id)
    if document is None:
        return RedirectResponse(f"/contracts/{quote(contract.number)}", status_code=303)
    return pdf_response(document.content, document.filename)
