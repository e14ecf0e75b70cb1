"""The HTTP entry point (``aqd serve``): health, readiness and a read-only JSON view of
contracts and inboxes. The counsellor/employer pages, authentication and roles arrive with the
web-app issue; this module holds no business logic, it calls the engine façade."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.orm import Session

from engine import Aqd, EngineError
from engine.services import outbox, queries
from engine.services.timers import run_due_timers

log = logging.getLogger(__name__)


def get_session(request: Request) -> Iterator[Session]:
    """A read session per request (writes arrive with the web issue, committed here)."""
    aqd: Aqd = request.app.state.aqd
    with aqd.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def create_app(aqd: Aqd, run_timers: bool = False, timer_interval_s: float = 15.0) -> FastAPI:
    stop = threading.Event()

    def timer_loop() -> None:
        while not stop.wait(timer_interval_s):
            try:
                run_due_timers(aqd)
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

    app = FastAPI(title="Aqd", version="0.1.0", lifespan=lifespan)
    app.state.aqd = aqd

    @app.exception_handler(EngineError)
    async def engine_error(_request: Request, exc: EngineError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=exc.status_code)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", responses={503: {"description": "database unreachable"}})
    def readyz(s: SessionDep) -> JSONResponse:
        try:
            s.execute(text("SELECT 1"))
        except Exception as exc:
            return JSONResponse(
                {"status": "unavailable", "detail": str(exc)[:200]}, status_code=503
            )
        return JSONResponse({"status": "ready"})

    @app.get("/api/contracts")
    def contracts(
        s: SessionDep,
        programme: str | None = None,
        status: str | None = None,
        office: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        return [
            queries.contract_summary(s, c)
            for c in queries.list_contracts(s, programme, status, office, limit)
        ]

    @app.get("/api/contracts/{ref}", responses={404: {"description": "no such contract"}})
    def contract(ref: str, s: SessionDep) -> dict[str, Any]:
        return queries.contract_summary(s, queries.find_contract(s, ref))

    @app.get("/api/tasks")
    def tasks(
        s: SessionDep,
        office: str | None = None,
        lane: str | None = None,
        status: str = "ready",
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        return [
            queries.task_summary(t)
            for t in queries.list_tasks(s, None, office, lane, status, None, limit)
        ]

    return app
