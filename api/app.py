"""The HTTP application (``aqd serve``): the JSON API, the pages, health, readiness and metrics.

This module wires things together and maps errors; it holds no business logic (that is the
engine's, reached through its packages). The routes live in ``api/v1/<area>.py`` (the
JSON API) and ``api/pages/<area>.py`` (the pages), each a module-level router; what they
depend on (the engine, sessions, the caller, role guards) is in ``api/deps.py``. Every
response carries an ``X-Request-ID`` and each request is logged as one JSON line.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from sqlalchemy import text
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import pages, v1
from api.auth import resolve_caller
from api.deps import ReadSession
from api.i18n import reason_labels
from api.pages.common import error_page
from api.proxies import client_address
from engine import (
    Aqd,
    Busy,
    EngineError,
    InvalidInput,
    TooManyAttempts,
    Unauthenticated,
    logs,
)
from engine.access import accounts
from engine.audit import verification_runs
from engine.audit.anchors import create_anchor
from engine.commands.timers import run_due_timers
from engine.config import Network, proxy_networks
from engine.inbox.documents import expire_pending
from engine.notifications.escalations import escalate_overdue
from engine.outbox import runner as outbox
from engine.registry import RequestRefused as RegistryRefusal

log = logging.getLogger(__name__)
#: The embedded server escalates overdue tasks this often (the scheduler: every 15 minutes).
ESCALATE_EVERY_S = 300.0
#: ... and anchors the contracts' hash chains and deletes expired uploads this often (as the
#: scheduler does).
ANCHOR_EVERY_S = 3600.0
#: one poll fires due timers for at most this long, so the outbox runs in between
TIMER_BUDGET_S = 60.0
access_log = logs.get("access")
STATIC = Path(__file__).resolve().parent / "static"


#: Paths that answer errors in JSON besides ``/api/``: machine endpoints. Every other path is a
#: page and answers errors with the error page in the user's language.
_JSON_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json"})


def _wants_json(path: str) -> bool:
    return path.startswith("/api/") or path in _JSON_PATHS


def _is_api(request: Request) -> bool:
    return _wants_json(request.url.path)


class RequestRefused(EngineError):
    """A request refused before (or instead of) its route: its ``status_code`` is set per
    instance; its message is catalogued (the error page shows it in the user's language)."""

    def __init__(self, status_code: int, code: str, message: str, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.status_code = status_code
        self.code = code


#: Starlette's own refusals, as the error page says them (catalogued messages)
_HTTP_REFUSALS = {
    404: ("not_found", "this page does not exist"),
    405: ("method_not_allowed", "this page does not accept this kind of request"),
}


def _validation_fields(exc: RequestValidationError) -> dict[str, str]:
    fields: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        fields.setdefault("/".join(loc) or "(root)", str(err.get("msg", "invalid")))
    return fields


#: FastAPI's detail when it cannot decode a JSON body
BODY_PARSE_ERROR = "There was an error parsing the body"


def _invalid_json(request: Request, why: str) -> Response:
    """400 for a body that is not JSON, in the error shape every 4xx has (the error page for
    a page's route)."""
    if not _is_api(request):
        refused = RequestRefused(400, "invalid_json", "the request body could not be read")
        return error_page(request, _safe_caller(request), refused)
    detail = "the request body is not valid JSON" + (f" ({why})" if why else "")
    return JSONResponse(
        {
            "error": "invalid_json",
            "detail": detail,
            "fields": {"(body)": "not valid JSON"},
            "request_id": getattr(request.state, "request_id", ""),
        },
        status_code=400,
    )


def create_app(aqd: Aqd, run_timers: bool = False, timer_interval_s: float = 15.0) -> FastAPI:
    """The HTTP application over ``aqd``, an engine built by ``api.bootstrap.build`` (its
    plug-ins run the side effects of the in-process poller, ``run_timers``)."""
    stop = threading.Event()

    def timer_loop() -> None:
        # the first poll escalates and anchors at once (time.monotonic() may start near 0)
        escalated = anchored = float("-inf")
        while not stop.wait(timer_interval_s):
            try:
                run_due_timers(aqd, budget_s=TIMER_BUDGET_S)
                if time.monotonic() - escalated >= ESCALATE_EVERY_S:
                    escalate_overdue(aqd)
                    escalated = time.monotonic()
                if time.monotonic() - anchored >= ANCHOR_EVERY_S:
                    anchored = time.monotonic()
                    expire_pending(aqd)
                    report = create_anchor(aqd)
                    if report["error"]:
                        log.warning("%s", report["error"])
                outbox.run_once(aqd)
            except Exception:  # keep polling; the error is logged with its traceback
                log.exception("timer or outbox poll failed")

    # With the embedded broker no worker runs elsewhere: this process verifies the queued runs
    # on one thread (engine/audit/verification_runs.py); with a real broker, the worker does.
    verifier = (
        verification_runs.EmbeddedVerifier(aqd)
        if aqd.settings.broker_url.startswith("memory://")
        else None
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> Any:
        worker = threading.Thread(target=timer_loop, name="aqd-timers", daemon=True)
        if run_timers:
            worker.start()
        if verifier is not None:
            verifier.wake()  # resume runs a previous process left unfinished
        yield
        stop.set()

    app = FastAPI(
        title="Aqd",
        version="0.1.0",
        description="Contracts of Tunisia's active employment programmes. Authenticate with "
        "`POST /api/v1/tokens`, then send `Authorization: Bearer <token>`.",
        lifespan=lifespan,
    )
    app.state.aqd = aqd
    app.state.verifier = verifier
    registry = CollectorRegistry()
    requests_total = Counter(
        "aqd_http_requests", "HTTP requests", ["method", "route", "status"], registry=registry
    )
    latency = Histogram(
        "aqd_http_request_seconds", "HTTP request latency", ["route"], registry=registry
    )

    app.add_middleware(
        RequestContext,
        requests_total=requests_total,
        latency=latency,
        max_body=aqd.settings.max_body_kb * 1024,
        max_upload=aqd.settings.max_upload_mb * 1024 * 1024,
        trusted_proxies=proxy_networks(aqd.settings.trusted_proxies),
    )

    @app.exception_handler(EngineError)
    async def engine_error(request: Request, exc: EngineError) -> Response:
        headers = {}
        if isinstance(exc, TooManyAttempts | Busy):
            headers["Retry-After"] = str(exc.retry_after)
        if _is_api(request):
            body = {**exc.to_dict(), "request_id": getattr(request.state, "request_id", "")}
            if isinstance(exc, RegistryRefusal):  # the reason in both languages
                body["fields"] = {**body["fields"], "reason_label": reason_labels(exc.reason)}
            return JSONResponse(body, status_code=exc.status_code, headers=headers)
        if isinstance(exc, Unauthenticated):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
        page = error_page(request, _safe_caller(request), exc)
        page.headers.update(headers)
        return page

    @app.exception_handler(DataError)
    async def data_error(request: Request, exc: DataError) -> Response:
        # The database refused a value (NUL byte, number out of range…): the input is invalid.
        log.info("data refused by the database: %s", str(exc.orig)[:200])
        return await engine_error(
            request, InvalidInput("a value cannot be stored (invalid characters or range)")
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        broken = [e for e in exc.errors() if e.get("type") == "json_invalid"]
        if broken:  # not JSON at all: 400 (its "loc" is a character offset, not a field)
            return _invalid_json(request, str(broken[0].get("ctx", {}).get("error", "")))
        fields = _validation_fields(exc)
        if not _is_api(request):  # a page's path or query parameter
            refused = RequestRefused(
                422,
                "invalid_input",
                "the request does not match what this page expects",
                fields=dict.fromkeys(fields, "invalid value"),
            )
            return error_page(request, _safe_caller(request), refused)
        body = {
            "error": "invalid_input",
            "detail": "the request does not match the API: " + ", ".join(fields),
            "fields": fields,
            "request_id": getattr(request.state, "request_id", ""),
        }
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if isinstance(exc.__cause__, _BodyTooLarge):  # FastAPI wrapped it while parsing
            return _too_large(request, exc.__cause__.limit)
        if exc.status_code == 400 and exc.detail == BODY_PARSE_ERROR:
            # FastAPI's answer to a body that is not UTF-8, or a number too long to parse
            return _invalid_json(request, "not UTF-8, or a number too long")
        code, message = _HTTP_REFUSALS.get(
            exc.status_code, ("http_error", "the request could not be handled")
        )
        if _is_api(request):
            return JSONResponse(
                {
                    "error": code,
                    "detail": str(exc.detail),
                    "fields": {},
                    "request_id": getattr(request.state, "request_id", ""),
                },
                status_code=exc.status_code,
                headers=exc.headers,
            )
        refused = RequestRefused(exc.status_code, code, message)
        page = error_page(request, _safe_caller(request), refused)
        page.headers.update(exc.headers or {})
        return page

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], responses={503: {"description": "a dependency is down"}})
    def readyz(s: ReadSession) -> JSONResponse:
        """The database (and, when one is configured, the broker) answer.

        Each check says ``ok`` (``in-process`` for the embedded broker) or ``unavailable``;
        what went wrong goes to the log, not to whoever asks."""
        checks: dict[str, str] = {}
        try:
            s.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception:
            log.exception("readiness: the database does not answer")
            checks["database"] = "unavailable"
        checks["broker"] = _broker_check(aqd)
        ready = all(v in ("ok", "in-process") for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "unavailable", "checks": checks},
            status_code=200 if ready else 503,
        )

    @app.get("/metrics", tags=["ops"], response_class=Response)
    def metrics(request: Request) -> Response:
        """Prometheus metrics of this process: with ``Authorization: Bearer
        <AQD_METRICS_TOKEN>``, or from anyone when no token is set (development mode only)."""
        token = aqd.settings.metrics_token.get_secret_value()
        refusal = ""
        if token:
            given = request.headers.get("authorization", "").removeprefix("Bearer ")
            if not secrets.compare_digest(given.encode(), token.encode()):
                refusal = "metrics need the metrics token"
        elif aqd.settings.mode == "production":
            refusal = "metrics are off: set AQD_METRICS_TOKEN"
        if refusal:  # a scraper, not a person: 401 in the API's shape, never a sign-in page
            body = {**Unauthenticated(refusal).to_dict()}
            body["request_id"] = getattr(request.state, "request_id", "")
            return JSONResponse(body, status_code=401)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    accounts.dummy_hash()  # before the first login: an unknown user costs a wrong password
    for router in (*v1.routers, *pages.routers):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    return app


#: Scripts only from Aqd itself (no inline script, no other origin); pages framed only by Aqd's
#: own pages (the signing page frames the contract PDF); no plug-ins. Styles may be inline:
#: bpmn-js and dmn-js set style attributes on the diagram's SVG.
CONTENT_SECURITY_POLICY = (
    b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
    b"object-src 'none'; base-uri 'self'; frame-ancestors 'self'"
)
_SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY),
    (b"referrer-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
)


def _carries_credentials(scope: Scope) -> bool:
    """A session cookie or a bearer token: the answer is someone's own and is not cached."""
    for name, value in scope["headers"]:
        if name == b"authorization" or (name == b"cookie" and b"aqd_session=" in value):
            return True
    return False


#: FastAPI's API explorer pages run an inline script (and hold no user data)
_EXPLORER = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})


def _with_security_headers(
    headers: list[tuple[bytes, bytes]], signed_in: bool, path: str
) -> list[tuple[bytes, bytes]]:
    present = {name.lower() for name, _ in headers}
    extra = [
        (name, value)
        for name, value in _SECURITY_HEADERS
        if name not in present and not (name == b"content-security-policy" and path in _EXPLORER)
    ]
    if signed_in:  # no copy of a signed-in answer in the browser's or a proxy's cache
        headers = [(n, v) for n, v in headers if n.lower() != b"cache-control"]
        extra.append((b"cache-control", b"no-store"))
    return [*headers, *extra]


class _BodyTooLarge(Exception):
    """A body without a Content-Length grew past its limit while it was read."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"body larger than {limit} bytes")
        self.limit = limit


def _too_large(request: Request, limit: int) -> Response:
    """413 in the error shape (the error page for a page's route)."""
    if not _is_api(request):
        refused = RequestRefused(413, "too_large", "the request is too large")
        return error_page(request, _safe_caller(request), refused)
    size = f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{limit // 1024} KB"
    return JSONResponse(
        {
            "error": "too_large",
            "detail": f"the request body is larger than {size}",
            "fields": {"(body)": "too large"},
            "request_id": getattr(request.state, "request_id", ""),
        },
        status_code=413,
    )


def _nul_in_url(request: Request) -> Response:
    refused = RequestRefused(
        422,
        "invalid_input",
        "NUL characters are not allowed in a URL",
        fields={"(url)": "contains NUL"},
    )
    if not _is_api(request):
        return error_page(request, None, refused)
    body = {**refused.to_dict(), "request_id": getattr(request.state, "request_id", "")}
    return JSONResponse(body, status_code=422)


class RequestContext:
    """Request id (``X-Request-ID``, taken from the request when sane), metrics, one JSON log
    line per request, and NUL bytes in URLs refused. A plain ASGI middleware: Starlette's
    ``BaseHTTPMiddleware`` costs a task group per request."""

    def __init__(
        self,
        app: ASGIApp,
        requests_total: Counter,
        latency: Histogram,
        max_body: int,
        max_upload: int,
        trusted_proxies: tuple[Network, ...] = (),
    ) -> None:
        self.app = app
        self.requests_total = requests_total
        self.latency = latency
        self.max_body = max_body
        self.max_upload = max_upload
        self.trusted_proxies = trusted_proxies

    def _body_limit(self, scope: Scope) -> tuple[int, int | None]:
        """The largest body this request may send (uploads are multipart) and its declared
        length."""
        limit, declared = self.max_body, None
        for name, value in scope["headers"]:
            if name == b"content-type" and value.startswith(b"multipart/form-data"):
                limit = self.max_upload
            elif name == b"content-length" and value.isdigit():
                declared = int(value)
        return limit, declared

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        forwarded: list[str] = []
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
            elif name == b"x-forwarded-for":
                forwarded.append(value.decode("latin-1"))
        peer = scope.get("client")
        if peer is not None and forwarded and self.trusted_proxies:
            # the client behind the trusted proxies (api/proxies.py); the header is ignored
            # from any other peer
            scope["client"] = (client_address(peer[0], forwarded, self.trusted_proxies), peer[1])
        request_id = incoming if 0 < len(incoming) <= 64 else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        logs.request_id.set(request_id)  # every log line of this request carries it
        status = 500
        marker = (b"x-request-id", request_id.encode("latin-1"))

        answered = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status = int(message["status"])
                answered = True
                message["headers"] = _with_security_headers(
                    [*message.get("headers", []), marker], signed_in, scope["path"]
                )
            await send(message)

        limit, declared = self._body_limit(scope)
        signed_in = _carries_credentials(scope)
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge(limit)
            return message

        started = time.perf_counter()
        try:
            if declared is not None and declared > limit:
                await _too_large(Request(scope), limit)(scope, receive, send_with_id)
            elif b"%00" in scope.get("query_string", b"") or "\x00" in scope["path"]:
                await _nul_in_url(Request(scope))(scope, receive, send_with_id)
            else:
                try:
                    await self.app(scope, receive_within_limit, send_with_id)
                except _BodyTooLarge:
                    if answered:  # the answer had started: nothing more can be said
                        raise
                    await _too_large(Request(scope), limit)(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            self.requests_total.labels(scope["method"], route, str(status)).inc()
            self.latency.labels(route).observe(elapsed)
            if access_log.isEnabledFor(logging.INFO):
                caller = state.get("caller")
                access_log.info(
                    "request",
                    extra={
                        "event": "request",
                        "method": scope["method"],
                        "path": scope["path"],
                        "route": route,
                        "status": status,
                        "ms": round(elapsed * 1000, 2),
                        "user": caller.principal.username if caller else None,
                    },
                )


def _safe_caller(request: Request) -> Any:
    try:
        return resolve_caller(request)
    except EngineError:
        return None


def _broker_check(aqd: Aqd) -> str:
    url = aqd.settings.broker_url
    if url.startswith("memory://"):
        return "in-process"
    try:
        from kombu import Connection  # type: ignore[attr-defined]  # noqa: PLC0415 (kombu loads when a broker is configured)

        with Connection(url, connect_timeout=2) as conn:  # type: ignore[no-untyped-call]
            conn.ensure_connection(max_retries=1)
        return "ok"
    except Exception:
        log.exception("readiness: the broker does not answer")
        return "unavailable"
