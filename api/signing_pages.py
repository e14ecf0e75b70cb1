"""Signing in the web app and the API: the signer's list and mailbox, the ceremony page (see the
PDF, get a one-time code, consent to a versioned text, or decline with a reason), and the
public verification page anyone can upload a signed PDF to. The rules live in
``signing.requests``; the cryptography in ``signing``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Request, Response, UploadFile
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as StarletteUpload

from api import web
from api.auth import CallerDep, OptionalCallerDep, client_ip
from api.rest import AUTHED, errors
from engine import Aqd, InvalidInput, NotFound
from engine.access import scope
from engine.notifications import notify as notifications
from signing import requests, service

MAX_PDF = 10 * 1024 * 1024


class ConsentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=12, description="The one-time code received")
    accepted: bool = Field(description="The signer accepts the consent text")
    consent_version: str = Field(max_length=32, description="Version of the text shown")
    document_sha256: str = Field(
        pattern="^[0-9a-f]{64}$", description="SHA-256 of the document the signer saw"
    )


class DeclineBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=1000)


def _aqd(request: Request) -> Aqd:
    aqd: Aqd = request.app.state.aqd
    return aqd


def _ua(request: Request) -> str:
    return request.headers.get("user-agent", "")[:300]


def _view(aqd: Aqd, token: str, caller: Any) -> dict[str, Any]:
    with requests.ceremony(aqd) as s:
        request, contract = requests.open_request(aqd, s, token, caller.principal)
        return {
            "request": request.id,
            "contract": contract.number,
            "party": request.party,
            "round": request.round,
            "status": request.status,
            "document_sha256": request.document_sha256,
            "expires_at": request.expires_at,
            "code_sent": request.status == "code_sent",
            "consent_version": requests.CONSENT_VERSION,
            "consent_sha256": requests.CONSENT_SHA256,
            "consent_text": requests.CONSENT_TEXT,
        }


def _document(aqd: Aqd, token: str, caller: Any) -> bytes:
    with requests.ceremony(aqd) as s:
        request, _contract = requests.open_request(aqd, s, token, caller.principal)
        return requests.document_of(s, request).content


def _send_code(aqd: Aqd, token: str, caller: Any) -> str:
    """Send a code; returns the channel it went by (sms, email or mailbox)."""
    with requests.ceremony(aqd) as s:
        request, _code = requests.send_code(aqd, s, token, caller.principal)
        return requests.code_channel(s, request)


def _consent(aqd: Aqd, token: str, caller: Any, body: ConsentBody, ip: str, ua: str) -> int:
    with requests.ceremony(aqd) as s:
        done = requests.consent(
            aqd,
            s,
            token,
            caller.principal,
            code=body.code,
            accepted=body.accepted,
            consent_version=body.consent_version,
            document_sha256=body.document_sha256,
            client_ip=ip,
            user_agent=ua,
        )
        return done.id


def _decline(aqd: Aqd, token: str, caller: Any, reason: str, ip: str, ua: str) -> int:
    with requests.ceremony(aqd) as s:
        return requests.decline(aqd, s, token, caller.principal, reason, ip, ua).id


def _link(aqd: Aqd, request_id: int, caller: Any) -> str:
    with requests.ceremony(aqd) as s:
        _request, token = requests.rotate_link(aqd, s, request_id, caller.principal)
        return token


def _sha_or_zero(value: str) -> str:
    """The hash the page posted back; a malformed one can match no document."""
    value = value.strip().lower()
    return value if re.fullmatch("[0-9a-f]{64}", value) else "0" * 64


def _pdf_response(content: bytes, filename: str) -> Response:
    return Response(
        content,
        media_type="application/pdf",
        headers={
            "content-disposition": f'inline; filename="{filename}"',
            "x-content-type-options": "nosniff",
            "cache-control": "no-store",
        },
    )


async def _read_upload(file: UploadFile | StarletteUpload | None) -> bytes:
    if file is None:
        raise InvalidInput("choose a PDF file", fields={"file": "required"})
    content = await file.read(MAX_PDF + 1)
    if len(content) > MAX_PDF:
        raise InvalidInput("the file is larger than 10 MB", fields={"file": "too large"})
    if not content:
        raise InvalidInput("the file is empty", fields={"file": "empty file"})
    return content


def build_web_router() -> APIRouter:
    r = APIRouter(include_in_schema=False)

    @r.get("/me/signatures")
    def my_signatures(request: Request, caller: CallerDep) -> Response:
        with _aqd(request).read_session() as s:
            pending = requests.pending_for(s, caller.principal)
        return web.render(
            request,
            "signatures.html",
            caller,
            pending=pending,
            notice=request.query_params.get("notice", ""),
        )

    @r.post("/me/signatures/{request_id}/open")
    def open_signature(request_id: int, request: Request, caller: CallerDep) -> Response:
        token = _link(_aqd(request), request_id, caller)
        return web.redirect(f"/sign/{quote(token)}")

    @r.get("/me/mailbox")
    def mailbox(request: Request, caller: CallerDep) -> Response:
        aqd = _aqd(request)
        with aqd.session() as s, s.begin():
            notes = notifications.mailbox(s, caller.principal.username)
            notifications.mark_read(s, caller.principal.username, aqd.clock.now())
        return web.render(request, "mailbox.html", caller, notes=notes)

    @r.get("/sign/{token}")
    def ceremony(token: str, request: Request, caller: CallerDep) -> Response:
        view = _view(_aqd(request), token, caller)
        return web.render(
            request,
            "sign.html",
            caller,
            view=view,
            token=token,
            notice=request.query_params.get("notice", ""),
        )

    @r.get("/sign/{token}/document.pdf")
    def ceremony_document(token: str, request: Request, caller: CallerDep) -> Response:
        return _pdf_response(_document(_aqd(request), token, caller), "contract.pdf")

    @r.post("/sign/{token}/code")
    def ceremony_code(token: str, request: Request, caller: CallerDep) -> Response:
        channel = _send_code(_aqd(request), token, caller)
        notice = "code_sent" if channel == "mailbox" else f"code_sent_{channel}"
        return web.redirect(f"/sign/{quote(token)}?notice={notice}")

    @r.post("/sign/{token}/consent")
    async def ceremony_consent(token: str, request: Request, caller: CallerDep) -> Response:
        form = await request.form()
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        aqd = _aqd(request)
        try:
            body = ConsentBody(
                code=values.get("code", "").strip() or "-",
                accepted=values.get("consent") == "yes",
                consent_version=values.get("consent_version", "")[:32],
                document_sha256=_sha_or_zero(values.get("document_sha256", "")),
            )
            await run_in_threadpool(
                _consent, aqd, token, caller, body, client_ip(request), _ua(request)
            )
        except InvalidInput as exc:
            view = await run_in_threadpool(_view, aqd, token, caller)
            return web.render(
                request, "sign.html", caller, 422, view=view, token=token, error=exc, notice=""
            )
        return web.redirect("/me/signatures?notice=signed")

    @r.post("/sign/{token}/decline")
    async def ceremony_decline(token: str, request: Request, caller: CallerDep) -> Response:
        form = await request.form()
        reason = form.get("reason")
        aqd = _aqd(request)
        try:
            await run_in_threadpool(
                _decline,
                aqd,
                token,
                caller,
                reason if isinstance(reason, str) else "",
                client_ip(request),
                _ua(request),
            )
        except InvalidInput as exc:
            view = await run_in_threadpool(_view, aqd, token, caller)
            return web.render(
                request, "sign.html", caller, 422, view=view, token=token, error=exc, notice=""
            )
        return web.redirect("/me/signatures?notice=declined")

    @r.get("/verify")
    def verify_page(request: Request, caller: OptionalCallerDep) -> Response:
        return web.render(request, "verify.html", caller, report=None)

    @r.post("/verify")
    async def verify_upload(request: Request, caller: OptionalCallerDep) -> Response:
        async with request.form() as form:
            upload = form.get("file")
            try:
                content = await _read_upload(upload if not isinstance(upload, str) else None)
            except InvalidInput as exc:
                return web.render(request, "verify.html", caller, 422, report=None, error=exc)
        report = await run_in_threadpool(service.verify_pdf, _aqd(request), content)
        return web.render(request, "verify.html", caller, report=report)

    @r.get("/contracts/{ref}/documents/{document_id}/verify")
    def verify_stored(ref: str, document_id: int, request: Request, caller: CallerDep) -> Response:
        """The same report as /verify, for a document Aqd holds (auditors, the parties)."""
        aqd = _aqd(request)
        with aqd.read_session() as s:
            contract = scope.visible_contract(s, caller.principal, ref)
            content = next(
                (
                    d.content
                    for d in requests.contract_documents(s, contract.id)
                    if d.id == document_id
                ),
                None,
            )
        if content is None:
            raise NotFound(f"document {document_id} not found")
        report = service.verify_pdf(aqd, content)
        return web.render(request, "verify.html", caller, report=report)

    @r.get("/contracts/{ref}/documents/signed.pdf")
    def signed_pdf(ref: str, request: Request, caller: CallerDep) -> Response:
        aqd = _aqd(request)
        with aqd.read_session() as s:
            contract = scope.visible_contract(s, caller.principal, ref)
            document = requests.latest_signed(s, contract.id)
            if document is None:
                return RedirectResponse(f"/contracts/{quote(contract.number)}", status_code=303)
            return _pdf_response(document.content, document.filename)

    return r


def build_api_router() -> APIRouter:
    r = APIRouter(prefix="/api/v1", tags=["signing"], responses=errors(400, 422))

    @r.get("/signatures", responses=AUTHED)
    def pending(request: Request, caller: CallerDep) -> list[dict[str, Any]]:
        """The signature requests the caller may sign now (beneficiary, employer, office head)."""
        with _aqd(request).read_session() as s:
            return requests.pending_for(s, caller.principal)

    @r.post("/signatures/{request_id}/link", responses=errors(401, 403, 404, 409, 422))
    def new_link(request_id: int, request: Request, caller: CallerDep) -> dict[str, str]:
        """A fresh single-use signing link for the caller's own request (the old one dies)."""
        token = _link(_aqd(request), request_id, caller)
        return {"token": token, "url": f"/sign/{token}"}

    @r.get("/sign/{token}", responses=errors(401, 403, 404, 409, 422))
    def sign_view(token: str, request: Request, caller: CallerDep) -> dict[str, Any]:
        """What the signer signs: the document's hash and the consent text with its version."""
        return _view(_aqd(request), token, caller)

    @r.post("/sign/{token}/code", responses=errors(401, 403, 404, 409, 422, 429))
    def sign_code(token: str, request: Request, caller: CallerDep) -> dict[str, Any]:
        """Send a one-time code to the signer by SMS, e-mail or their Aqd mailbox, as their
        contact details allow (never in this response); ``channel`` says which."""
        return {"sent": True, "channel": _send_code(_aqd(request), token, caller)}

    @r.post("/sign/{token}/consent", status_code=202, responses=errors(401, 403, 404, 409, 429))
    def sign_consent(
        token: str, body: ConsentBody, request: Request, caller: CallerDep
    ) -> dict[str, Any]:
        """Consent and sign: the signature is applied by the worker (202, then poll
        ``/signatures`` or the contract's signatures)."""
        request_id = _consent(_aqd(request), token, caller, body, client_ip(request), _ua(request))
        return {"request": request_id, "status": "consented"}

    @r.post("/sign/{token}/decline", responses=errors(401, 403, 404, 409))
    def sign_decline(
        token: str, body: DeclineBody, request: Request, caller: CallerDep
    ) -> dict[str, Any]:
        """Refuse to sign, with a reason; the counsellor reviews and re-issues or rejects."""
        rid = _decline(_aqd(request), token, caller, body.reason, client_ip(request), _ua(request))
        return {"request": rid, "status": "declined"}

    @r.get("/contracts/{ref}/signatures", responses=errors(401, 403, 404, 422))
    def contract_signatures(ref: str, request: Request, caller: CallerDep) -> list[dict[str, Any]]:
        """Every signature request of a contract, with its document versions."""
        with _aqd(request).read_session() as s:
            contract = scope.visible_contract(s, caller.principal, ref)
            return requests.requests_of(s, contract.id)

    @r.get("/me/mailbox", responses=AUTHED)
    def my_mailbox(request: Request, caller: CallerDep) -> list[dict[str, Any]]:
        """The caller's notifications (the embedded default's e-mail and SMS)."""
        with _aqd(request).read_session() as s:
            return notifications.mailbox(s, caller.principal.username)

    @r.post("/verify", responses=errors(422))
    async def verify(
        request: Request,
        file: Annotated[UploadFile, File(description="A signed PDF, 10 MB at most")],
    ) -> dict[str, Any]:
        """Anyone: each signature's signer, time, integrity, trust and modifications, and
        whether these exact bytes are a contract document of Aqd."""
        content = await _read_upload(file)
        return await run_in_threadpool(service.verify_pdf, _aqd(request), content)

    return r
