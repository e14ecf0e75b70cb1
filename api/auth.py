"""Who is calling: bearer tokens for the API, session cookies (with CSRF) for the browser.

Unsafe requests authenticated by cookie must carry the session's CSRF token (form field
``csrf_token`` or header ``X-CSRF-Token``); anonymous forms (login, registration) use a
double-submit cookie. Bearer-token requests carry no ambient credential, so need no CSRF token.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from engine import Aqd, NotPermitted, Unauthenticated
from engine.access import accounts
from engine.access.accounts import Principal

SESSION_COOKIE = "aqd_session"
ANON_CSRF_COOKIE = "aqd_csrf"
LANG_COOKIE = "aqd_lang"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_FORM_PART = 6 * 1024 * 1024  # a 5 MB proof plus multipart overhead


@dataclass(frozen=True)
class Caller:
    principal: Principal
    via: str  # "session" or "token"
    csrf_token: str = ""
    secret: str = ""


class CsrfFailed(NotPermitted):
    code = "csrf_failed"


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


class _TokenCache:
    """Bearer tokens seen in the last few seconds, for read-only requests: an API client
    polling its inbox costs no token query. Writes always check the token in the database
    (and refresh this cache), and a revocation here evicts at once; another server process
    notices a revoked token, a deactivated account or new roles within ``TTL``."""

    TTL = 5.0  # seconds of wall time (the engine's clock may be frozen)
    MAX = 10_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[Principal, float]] = {}

    def get(self, token: str) -> Principal | None:
        key = accounts.digest(token)
        with self._lock:
            found = self._seen.get(key)
        if found is None or time.monotonic() - found[1] > self.TTL:
            return None
        return found[0]

    def put(self, token: str, principal: Principal) -> None:
        with self._lock:
            if len(self._seen) >= self.MAX:
                self._seen.clear()
            self._seen[accounts.digest(token)] = (principal, time.monotonic())

    def evict(self, token: str) -> None:
        with self._lock:
            self._seen.pop(accounts.digest(token), None)


_tokens = _TokenCache()


def forget_token(token: str) -> None:
    """Called when a token is revoked in this process."""
    _tokens.evict(token)


def resolve_caller(request: Request) -> Caller | None:
    """The authenticated caller, or None; raises Unauthenticated for a bad bearer token."""
    cached: Caller | None = getattr(request.state, "caller", None)
    if cached is not None:
        return cached
    aqd: Aqd = request.app.state.aqd
    now = aqd.clock.now()
    token = _bearer(request)
    caller: Caller | None = None
    if token is not None and request.method in SAFE_METHODS:
        principal = _tokens.get(token)
        if principal is not None:
            caller = Caller(principal, "token", secret=token)
            request.state.caller = caller
            return caller
    with aqd.read_session() as session:
        if token is not None:
            principal = accounts.token_principal(session, token, now)
            _tokens.put(token, principal)
            caller = Caller(principal, "token", secret=token)
        else:
            secret = request.cookies.get(SESSION_COOKIE)
            if secret:
                try:
                    principal, csrf = accounts.session_principal(session, secret, now)
                    caller = Caller(principal, "session", csrf, secret)
                except Unauthenticated:
                    caller = None
    request.state.caller = caller
    return caller


async def _submitted_csrf(request: Request) -> str:
    header = request.headers.get("x-csrf-token")
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        # the parsed form is cached on the request: allow the largest upload a page takes
        form = await request.form(max_part_size=MAX_FORM_PART)
        value = form.get("csrf_token")
        return value if isinstance(value, str) else ""
    return ""


async def check_csrf(request: Request, caller: Caller | None) -> None:
    if request.method in SAFE_METHODS or (caller is not None and caller.via == "token"):
        return
    submitted = await _submitted_csrf(request)
    expected = (
        caller.csrf_token if caller is not None else request.cookies.get(ANON_CSRF_COOKIE, "")
    )
    if not expected or not hmac.compare_digest(submitted.encode(), expected.encode()):
        raise CsrfFailed("missing or wrong CSRF token; reload the page and try again")


async def require_caller(request: Request) -> Caller:
    caller = resolve_caller(request)
    if caller is None:
        raise Unauthenticated("please sign in")
    await check_csrf(request, caller)
    return caller


async def optional_caller(request: Request) -> Caller | None:
    caller = resolve_caller(request)
    await check_csrf(request, caller)
    return caller


def anon_csrf(request: Request) -> str:
    """The double-submit token of an anonymous browser (set as a cookie by the page)."""
    token = request.cookies.get(ANON_CSRF_COOKIE) or getattr(request.state, "new_anon_csrf", "")
    if not token:
        token = secrets.token_urlsafe(32)
        request.state.new_anon_csrf = token
    return token


CallerDep = Annotated[Caller, Depends(require_caller)]
OptionalCallerDep = Annotated[Caller | None, Depends(optional_caller)]
