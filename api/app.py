"""The HTTP application (``aqd serve``): the JSON API, the pages, health, readiness and metrics.

This module wires things together and maps errors; it holds no business logic (that is the
engine's, reached through ``engine.services``). The routes live in ``api/v1/<area>.py`` (the
JSON API) and ``api/pages/<area>.py`` (the pages), each a module-level router; what they
depend on (the engine, sessions, the caller, role guards) is in ``api/deps.py``. Every
response carries an ``X-Request-ID`` and each request is logged as one JSON line.
"""

from __future__ import annotations

import json
import logging
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
from api.pages.common import error_page
from engine import Aqd, EngineError, InvalidInput, TooManyAttempts, Unauthenticated
from engine.services import accounts, outbox
from engine.services.anchors import create_anchor
from engine.services.escalations import escalate_overdue
from engine.services.timers import run_due_timers
from signing import service as signing_service

log = logging.getLogger(__name__)
#: The embedded server escalates overdue tasks this often (the scheduler: every 15 minutes).
ESCALATE_EVERY_S = 300.0
#: ... and anchors the contracts' hash chains this often (as the scheduler does).
ANCHOR_EVERY_S = 3600.0
#: one poll fires due timers for at most this long, so the outbox runs in between
TIMER_BUDGET_S = 60.0
access_log = logging.getLogger("aqd.access")
STATIC = Path(__file__).resolve().parent / "static"


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _validation_fields(exc: RequestValidationError) -> dict[str, str]:
    fields: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        fields.setdefault("/".join(loc) or "(root)", str(err.get("msg", "invalid")))
    return fields


def create_app(aqd: Aqd, run_timers: bool = False, timer_interval_s: float = 15.0) -> FastAPI:
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
                    report = create_anchor(aqd)
                    if report["error"]:
                        log.warning("%s", report["error"])
                outbox.run_once(aqd)
            except Exception:  # keep polling; the error is logged with its traceback
                log.exception("timer or outbox poll failed")

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> Any:
        worker = threading.Thread(target=timer_loop, name="aqd-timers", daemon=True)
        if run_timers:
            worker.start()
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
    registry = CollectorRegistry()
    requests_total = Counter(
        "aqd_http_requests", "HTTP requests", ["method", "route", "status"], registry=registry
    )
    latency = Histogram(
        "aqd_http_request_seconds", "HTTP request latency", ["route"], registry=registry
    )

    app.add_middleware(RequestContext, requests_total=requests_total, latency=latency)

    @app.exception_handler(EngineError)
    async def engine_error(request: Request, exc: EngineError) -> Response:
        headers = {}
        if isinstance(exc, TooManyAttempts):
            headers["Retry-After"] = str(exc.retry_after)
        if _is_api(request):
            body = {**exc.to_dict(), "request_id": getattr(request.state, "request_id", "")}
            return JSONResponse(body, status_code=exc.status_code, headers=headers)
        if isinstance(exc, Unauthenticated):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
        return error_page(request, _safe_caller(request), exc)

    @app.exception_handler(DataError)
    async def data_error(request: Request, exc: DataError) -> Response:
        # The database refused a value (NUL byte, number out of range…): the input is invalid.
        log.info("data refused by the database: %s", str(exc.orig)[:200])
        return await engine_error(
            request, InvalidInput("a value cannot be stored (invalid characters or range)")
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        fields = _validation_fields(exc)
        body = {
            "error": "invalid_input",
            "detail": "the request does not match the API: " + ", ".join(fields),
            "fields": fields,
            "request_id": getattr(request.state, "request_id", ""),
        }
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        if _is_api(request) or exc.status_code not in (404, 405):
            return JSONResponse(
                {"error": code, "detail": str(exc.detail), "fields": {}},
                status_code=exc.status_code,
            )
        return error_page(
            request, _safe_caller(request), EngineError(str(exc.detail)), exc.status_code
        )

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], responses={503: {"description": "a dependency is down"}})
    def readyz(s: ReadSession) -> JSONResponse:
        """The database (and, when one is configured, the broker) answer."""
        checks: dict[str, str] = {}
        try:
            s.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = str(exc)[:200]
        checks["broker"] = _broker_check(aqd)
        ready = all(v in ("ok", "in-process") for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "unavailable", "checks": checks},
            status_code=200 if ready else 503,
        )

    @app.get("/metrics", tags=["ops"], response_class=Response)
    def metrics() -> Response:
        """Prometheus metrics of this process."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    signing_service.register()
    accounts.dummy_hash()  # before the first login: an unknown user costs a wrong password
    for router in (*v1.routers, *pages.routers):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    return app


class RequestContext:
    """Request id (``X-Request-ID``, taken from the request when sane), metrics, one JSON log
    line per request, and NUL bytes in URLs refused. A plain ASGI middleware: Starlette's
    ``BaseHTTPMiddleware`` costs a task group per request."""

    def __init__(self, app: ASGIApp, requests_total: Counter, latency: Histogram) -> None:
        self.app = app
        self.requests_total = requests_total
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
        request_id = incoming if 0 < len(incoming) <= 64 else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500
        marker = (b"x-request-id", request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", []), marker]
            await send(message)

        started = time.perf_counter()
        try:
            if b"%00" in scope.get("query_string", b"") or "\x00" in scope["path"]:
                refused = JSONResponse(
                    {
                        "error": "invalid_input",
                        "detail": "NUL characters are not allowed in a URL",
                        "fields": {"(url)": "contains NUL"},
                    },
                    status_code=422,
                )
                await refused(scope, receive, send_with_id)
            else:
                await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            self.requests_total.labels(scope["method"], route, str(status)).inc()
            self.latency.labels(route).observe(elapsed)
            if access_log.isEnabledFor(logging.INFO):
                caller = state.get("caller")
                access_log.info(
                    json.dumps(
                        {
                            "request_id": request_id,
                            "method": scope["method"],
                            "path": scope["path"],
                            "route": route,
                            "status": status,
                            "ms": round(elapsed * 1000, 2),
                            "user": caller.principal.username if caller else None,
                        }
                    )
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
        from kombu import Connection  # type: ignore[attr-defined]

        with Connection(url, connect_timeout=2) as conn:  # type: ignore[no-untyped-call]
            conn.ensure_connection(max_retries=1)
        return "ok"
    except Exception as exc:
        return str(exc)[:200]
