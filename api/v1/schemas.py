"""What every ``/api/v1`` module shares: the error shape, the router that serializes exactly
the keys a response carries, and the small response types used across areas.

Response models forbid keys they do not declare: a key the engine adds without the API
declaring it fails the tests (a 500 from FastAPI's response validation), instead of silently
changing what clients receive. Keys a response carries only sometimes (staff-only fields,
older stored rows) have defaults and are left out when absent (``V1Router``), so the JSON is
what the engine returned, now described in the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Protocol

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer


class Out(BaseModel):
    """Base of the response models: every key declared, none added."""

    model_config = ConfigDict(extra="forbid")


#: A date-time as the engine's dicts carry it before FastAPI encodes it (``isoformat()``:
#: ``+00:00``, not pydantic's ``Z``), so the JSON keeps its old spelling.
IsoDateTime = Annotated[
    datetime, PlainSerializer(lambda v: v.isoformat(), return_type=str, when_used="json")
]
#: ``{"fr": …, "ar": …}``
Labels = dict[str, str]


class ErrorBody(BaseModel):
    error: str = Field(description="stable error code, e.g. not_found, conflict")
    detail: str = Field(description="a sentence for humans")
    fields: dict[str, Any] = Field(default_factory=dict, description="per-field messages")
    request_id: str = Field(default="", description="the X-Request-ID of the request")


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {
        400: "malformed request (a body that cannot be parsed)",
        401: "not signed in, or bad credentials",
        403: "signed in but not allowed (or missing CSRF token)",
        404: "not found in the caller's scope",
        409: "conflict: the task or contract changed first (or an upload quota is reached, or "
        "a duplicate or cumulation rule refuses a request: `request_refused` with the reason "
        "code, its legal basis and its Arabic and French text)",
        422: "invalid input, with per-field details",
        429: "too many failed logins or job-seeker look-ups (Retry-After says when to retry)",
    }
    return {c: {"model": ErrorBody, "description": text[c]} for c in codes}


AUTHED = errors(401, 403, 422)


class V1Router(APIRouter):
    """An ``/api/v1`` router: its routes leave out the response fields the endpoint's data did
    not set (``response_model_exclude_unset``), so an optional key that was absent stays
    absent instead of becoming ``null``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "/api/v1")
        super().__init__(**kwargs)

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        kwargs["response_model_exclude_unset"] = True
        super().add_api_route(path, endpoint, **kwargs)


class Recorded(Out):
    """The event a command appended to the contract's history."""

    contract_id: int
    revision: int = Field(description="the contract's revision after the command")
    seq: int = Field(description="the event's sequence number in the contract's history")
    event: str = Field(description="the event's kind, e.g. task_claimed")


class _Command(Protocol):
    @property
    def contract_id(self) -> int: ...
    @property
    def revision(self) -> int: ...
    @property
    def seq(self) -> int: ...
    @property
    def kind(self) -> str: ...


def recorded(rec: _Command) -> dict[str, Any]:
    return {
        "contract_id": rec.contract_id,
        "revision": rec.revision,
        "seq": rec.seq,
        "event": rec.kind,
    }


class Principal(Out):
    """A user as the API shows them: roles and the scope they act in."""

    username: str
    display_name: str
    locale: str
    roles: list[str]
    office_id: int | None
    employer_id: int | None
    beneficiary_id: int | None
