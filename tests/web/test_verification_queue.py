"""Batch verification runs are queued work with a cap (issue 18: every verification request
started a new thread of the web process, with no cap): the worker claims them (the embedded
server: one thread), a request past ``AQD_VERIFICATION_MAX_PENDING`` is refused with 429, and a
run verified in slices resumes where it stopped."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from engine.audit import verification_runs as verification
from engine.models import Contract, VerificationRun
from tests.web.conftest import PASSWORD, Web, csrf_of

QUEUE_FULL_FR = "trop de vérifications sont en attente ; réessayez quand"


def _queued_only(web: Web) -> TestClient:
    """The application as deployed with a real broker: no verification thread in the web
    process, so requested runs stay queued until a worker claims them."""
    web.aqd.settings.broker_url = "redis://127.0.0.1:6379/15"
    app = create_app(web.aqd)
    assert app.state.verifier is None
    return TestClient(app, follow_redirects=False)


def test_runs_past_the_cap_are_refused_until_one_has_finished(web: Web) -> None:
    c = _queued_only(web)
    auditor = {"Authorization": web.token("auditor")["Authorization"]}
    started = [c.post("/api/v1/verifications", headers=auditor, json={}) for _ in range(3)]
    assert [r.status_code for r in started] == [202] * 3
    assert {r.json()["status"] for r in started} == {"queued"}
    refused = c.post("/api/v1/verifications", headers=auditor, json={"sample": 1})
    assert refused.status_code == 429 and refused.headers["retry-after"] == "60"
    body = refused.json()
    assert body["error"] == "busy" and body["request_id"] == refused.headers["x-request-id"]
    assert body["detail"] == verification.QUEUE_FULL
    # the page says it in the user's language
    page = TestClient(c.app, follow_redirects=False)
    token = csrf_of(page.get("/login").text)
    page.post("/login", data={"username": "auditor", "password": PASSWORD, "csrf_token": token})
    csrf = csrf_of(page.get("/verifications").text)
    answer = page.post("/verifications", data={"csrf_token": csrf})
    assert answer.status_code == 429 and QUEUE_FULL_FR in answer.text
    with web.aqd.session() as s:
        assert s.scalar(select(func.count()).select_from(VerificationRun)) == 3
    # the worker claims one at a time (AQD_VERIFICATION_CONCURRENCY = 1) and finishes it
    first = verification.claim_runs(web.aqd)
    assert first == [started[0].json()["id"]]
    assert verification.claim_runs(web.aqd) == []  # one is held
    assert verification.execute_run(web.aqd, first[0])["status"] == "done"
    assert c.post("/api/v1/verifications", headers=auditor, json={}).status_code == 202


def test_a_run_verified_in_slices_resumes_where_it_stopped(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the Celery task does: a slice per claim, the run put back in between."""
    monkeypatch.setattr(verification, "CHUNK", 5)
    c = _queued_only(web)
    auditor = web.token("auditor")
    run_id = c.post("/api/v1/verifications", headers=auditor, json={}).json()["id"]
    with web.aqd.session() as s:
        total = int(s.scalar(select(func.count()).select_from(Contract)) or 0)
    assert total > 10
    slices = 0
    while True:
        assert verification.claim_runs(web.aqd) == [run_id]
        summary = verification.execute_run(web.aqd, run_id, budget_s=0)
        slices += 1
        if summary["status"] == "done":
            break
        assert summary["status"] == "running" and summary["checked"] == 5 * slices
        with web.aqd.session() as s:
            held = s.get(VerificationRun, run_id)
            assert held is not None and held.lease_until is None  # put back for the next claim
    assert slices == -(-total // 5)
    assert summary["checked"] == summary["passed"] == total and summary["failed"] == []


def test_a_run_whose_worker_died_is_claimed_again_once_its_lease_expires(web: Web) -> None:
    c = _queued_only(web)
    run_id = c.post("/api/v1/verifications", headers=web.token("auditor"), json={}).json()["id"]
    assert verification.claim_runs(web.aqd) == [run_id]
    web.clock.advance(minutes=4)
    assert verification.claim_runs(web.aqd) == []
    web.clock.advance(minutes=2)
    assert verification.claim_runs(web.aqd) == [run_id]


def test_the_embedded_server_verifies_on_one_thread(web: Web) -> None:
    c = web.client()
    auditor = web.token("auditor")
    seen: set[int] = set()
    stop = threading.Event()

    def count_threads() -> None:
        while not stop.is_set():
            alive = [t for t in threading.enumerate() if t.name.startswith("aqd-verif")]
            seen.add(len(alive))
            time.sleep(0.001)

    watcher = threading.Thread(target=count_threads)
    watcher.start()
    try:
        ids = [
            c.post("/api/v1/verifications", headers=auditor, json={}).json()["id"] for _ in range(3)
        ]
        verifier: Any = getattr(c.app, "state").verifier  # noqa: B009
        assert verifier.idle(120)
    finally:
        stop.set()
        watcher.join()
    assert max(seen) == 1
    for run_id in ids:
        run = c.get(f"/api/v1/verifications/{run_id}", headers=auditor).json()
        assert run["status"] == "done", run
