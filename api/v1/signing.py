"""Signing over the API: the caller's pending signature requests, a fresh signing link, the
ceremony (see, get a code, consent, decline), a contract's requests, and the public check of a
signed PDF (``/api/v1/signatures``, ``/sign``, ``/verify``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import File, Request, UploadFile
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from api import ceremony
from api.auth import CallerDep, client_ip
from api.deps import AqdDep, ReadSession
from api.v1.schemas import AUTHED, IsoDateTime, Labels, Out, V1Router, errors
from engine.access import scope
from signing import requests, service

router = V1Router(tags=["signing"], responses=errors(400, 422))


def user_agent(request: Request) -> str:
    return request.headers.get("user-agent", "")[:300]


class SignatureRequest(Out):
    id: int
    contract: str = Field(description="the contract's number")
    contract_id: int
    party: str = Field(description="beneficiary, employer or office")
    round: int
    status: str
    document_id: int
    document_sha256: str
    created_at: IsoDateTime
    expires_at: IsoDateTime
    signer: str | None
    consented_at: IsoDateTime | None
    signed_at: IsoDateTime | None
    signed_document_id: int | None
    closed_reason: str | None


class SigningLink(Out):
    token: str
    url: str


class Ceremony(Out):
    """What the signer signs."""

    request: int
    contract: str
    party: str
    round: int
    status: str
    document_sha256: str
    expires_at: IsoDateTime
    code_sent: bool
    consent_version: str
    consent_sha256: str
    consent_text: Labels = Field(description="the consent text, in French and Arabic")


class CodeSent(Out):
    sent: bool
    channel: str = Field(description="sms, email or mailbox")


class CeremonyDone(Out):
    request: int
    status: str = Field(description="consented or declined")


class SignatureCheck(Out):
    field: str
    kind: str
    signer: str
    signed_at: str | None = Field(description="ISO 8601")
    intact: bool
    valid: bool
    trusted: bool
    modification: str
    ok: bool


class DocumentMatch(Out):
    contract: str
    document_id: int
    kind: str
    filename: str


class VerificationReport(Out):
    sha256: str
    size: int
    signatures: list[SignatureCheck]
    valid: bool
    error: str = Field(description="why the file cannot be read ('' if it can)")
    matches: list[DocumentMatch] = Field(description="Aqd documents with exactly these bytes")


@router.get("/signatures", response_model=list[SignatureRequest], responses=AUTHED)
def pending(caller: CallerDep, s: ReadSession) -> list[dict[str, Any]]:
    """The signature requests the caller may sign now (beneficiary, employer, office head)."""
    return requests.pending_for(s, caller.principal)


@router.post(
    "/signatures/{request_id}/link",
    response_model=SigningLink,
    responses=errors(401, 403, 404, 409, 422),
)
def new_link(request_id: int, caller: CallerDep, aqd: AqdDep) -> dict[str, str]:
    """A fresh single-use signing link for the caller's own request (the old one dies)."""
    token = ceremony.link(aqd, request_id, caller)
    return {"token": token, "url": f"/sign/{token}"}


@router.get("/sign/{token}", response_model=Ceremony, responses=errors(401, 403, 404, 409, 422))
def sign_view(token: str, caller: CallerDep, aqd: AqdDep) -> dict[str, Any]:
    """What the signer signs: the document's hash and the consent text with its version."""
    return ceremony.view(aqd, token, caller)


@router.post(
    "/sign/{token}/code", response_model=CodeSent, responses=errors(401, 403, 404, 409, 422, 429)
)
def sign_code(token: str, caller: CallerDep, aqd: AqdDep) -> dict[str, Any]:
    """Send a one-time code to the signer by SMS, e-mail or their Aqd mailbox, as their
    contact details allow (never in this response); ``channel`` says which."""
    return {"sent": True, "channel": ceremony.send_code(aqd, token, caller)}


@router.post(
    "/sign/{token}/consent",
    status_code=202,
    response_model=CeremonyDone,
    responses=errors(401, 403, 404, 409, 429),
)
def sign_consent(
    token: str, body: ceremony.ConsentBody, request: Request, caller: CallerDep, aqd: AqdDep
) -> dict[str, Any]:
    """Consent and sign: the signature is applied by the worker (202, then poll
    ``/signatures`` or the contract's signatures)."""
    request_id = ceremony.consent(aqd, token, caller, body, client_ip(request), user_agent(request))
    return {"request": request_id, "status": "consented"}


@router.post(
    "/sign/{token}/decline", response_model=CeremonyDone, responses=errors(401, 403, 404, 409)
)
def sign_decline(
    token: str, body: ceremony.DeclineBody, request: Request, caller: CallerDep, aqd: AqdDep
) -> dict[str, Any]:
    """Refuse to sign, with a reason; the counsellor reviews and re-issues or rejects."""
    rid = ceremony.decline(aqd, token, caller, body.reason, client_ip(request), user_agent(request))
    return {"request": rid, "status": "declined"}


@router.get(
    "/contracts/{ref}/signatures",
    response_model=list[SignatureRequest],
    responses=errors(401, 403, 404, 422),
)
def contract_signatures(ref: str, caller: CallerDep, s: ReadSession) -> list[dict[str, Any]]:
    """Every signature request of a contract, with its document versions."""
    contract = scope.visible_contract(s, caller.principal, ref)
    return requests.requests_of(s, contract.id)


@router.post("/verify", response_model=VerificationReport, responses=errors(422))
async def verify(
    aqd: AqdDep,
    file: Annotated[UploadFile, File(description="A signed PDF, 10 MB at most")],
) -> dict[str, Any]:
    """Anyone: each signature's signer, time, integrity, trust and modifications, and
    whether these exact bytes are a contract document of Aqd."""
    content = await ceremony.read_upload(file)
    return await run_in_threadpool(service.verify_pdf, aqd, content)
