"""Bearer tokens, the caller, and employer sign-up (``/api/v1/tokens``, ``/me``,
``/employers``)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth import CallerDep, client_ip, forget_token
from api.deps import AqdDep
from api.v1.schemas import AUTHED, Out, Principal, V1Router, errors
from engine.access import accounts

router = V1Router(tags=["api"], responses=errors(400, 422))


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)
    name: str = Field(default="api", max_length=100)


class Token(Out):
    id: int
    token: str = Field(description="send as `Authorization: Bearer <token>`; shown once")
    expires_at: str = Field(description="ISO 8601")


class EmployerRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=2, max_length=200)
    matricule_fiscal: str = Field(min_length=8, max_length=32)
    cnss_number: str = Field(min_length=6, max_length=12)
    sector: str = Field(min_length=2, max_length=64)
    governorate: str = Field(min_length=2, max_length=64)
    office: str = Field(min_length=1, max_length=32)
    username: str = Field(
        min_length=3,
        max_length=60,
        description="the name chosen for the account, which is `<username>@<matricule fiscal in "
        "lower case, without separators>` (the answer's `username`)",
    )
    password: str = Field(min_length=10, max_length=1000)
    display_name: str = Field(default="", max_length=200)
    locale: Literal["ar", "fr"] = "fr"
    phone: str = Field(
        default="",
        max_length=32,
        description="the company's mobile phone: a code is sent to it, and it receives signing "
        "codes once the code is entered (`POST /api/v1/me/contact/confirm`)",
    )
    email: str = Field(
        default="",
        max_length=254,
        description="the company's e-mail address, verified the same way",
    )


@router.post("/tokens", status_code=201, response_model=Token, responses=errors(401, 422, 429))
def create_token(body: TokenRequest, request: Request, aqd: AqdDep) -> dict[str, Any]:
    """Exchange a username and password for a bearer token (throttled per user and IP)."""
    principal = accounts.authenticate(aqd, body.username, body.password, client_ip(request))
    return accounts.create_token(aqd, principal, body.name)


@router.delete("/tokens/current", status_code=204, responses=AUTHED)
def revoke_current(caller: CallerDep, aqd: AqdDep) -> Response:
    """Revoke the bearer token used for this call (any role)."""
    if caller.via == "token":
        accounts.revoke_token(aqd, caller.secret)
        forget_token(caller.secret)
    return Response(status_code=204)


@router.get("/me", response_model=Principal, responses=AUTHED)
def me(caller: CallerDep) -> dict[str, Any]:
    """The caller, their roles and scope (any role)."""
    return caller.principal.to_dict()


@router.post("/employers", status_code=201, response_model=Principal, responses=errors(409, 422))
def register(body: EmployerRegistration, aqd: AqdDep) -> dict[str, Any]:
    """Register a company and its first employer account (public). The company is pending
    until its office checks the proofs it sends (``POST /api/v1/employer/documents``); until
    then its contract requests answer 409 ``company_pending``."""
    principal = accounts.register_employer(aqd, body.model_dump())
    return principal.to_dict()
