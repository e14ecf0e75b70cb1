"""The signing ceremony's steps as the pages and the API both run them: each is one engine
transaction (``signature_requests.ceremony``), so a refused step keeps only the facts that
must survive it (a wrong code, a link used by the wrong party). The rules live in
``signing.requests``; the cryptography in ``signing``."""

from __future__ import annotations

import re
from typing import Any

from fastapi import UploadFile
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile as StarletteUpload

from api.auth import Caller
from engine import Aqd, InvalidInput
from signing import requests

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


def view(aqd: Aqd, token: str, caller: Caller) -> dict[str, Any]:
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


def document(aqd: Aqd, token: str, caller: Caller) -> bytes:
    with requests.ceremony(aqd) as s:
        request, _contract = requests.open_request(aqd, s, token, caller.principal)
        return requests.document_of(s, request).content


def send_code(aqd: Aqd, token: str, caller: Caller) -> str:
    """Send a code; returns the channel it went by (sms, email or mailbox)."""
    with requests.ceremony(aqd) as s:
        request, _code = requests.send_code(aqd, s, token, caller.principal)
        return requests.code_channel(s, request)


def consent(aqd: Aqd, token: str, caller: Caller, body: ConsentBody, ip: str, ua: str) -> int:
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


def decline(aqd: Aqd, token: str, caller: Caller, reason: str, ip: str, ua: str) -> int:
    with requests.ceremony(aqd) as s:
        return requests.decline(aqd, s, token, caller.principal, reason, ip, ua).id


def link(aqd: Aqd, request_id: int, caller: Caller) -> str:
    with requests.ceremony(aqd) as s:
        _request, token = requests.rotate_link(aqd, s, request_id, caller.principal)
        return token


def sha_or_zero(value: str) -> str:
    """The hash the page posted back; a malformed one can match no document."""
    value = value.strip().lower()
    return value if re.fullmatch("[0-9a-f]{64}", value) else "0" * 64


async def read_upload(file: UploadFile | StarletteUpload | None) -> bytes:
    if file is None:
        raise InvalidInput("choose a PDF file", fields={"file": "required"})
    content = await file.read(MAX_PDF + 1)
    if len(content) > MAX_PDF:
        raise InvalidInput("the file is larger than 10 MB", fields={"file": "too large"})
    if not content:
        raise InvalidInput("the file is empty", fields={"file": "empty file"})
    return content
