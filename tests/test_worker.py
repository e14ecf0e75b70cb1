"""The production worker path: a real Celery worker process on a real Redis broker fires due
timers when the periodic task reaches it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta

from celery import Celery
from sqlalchemy import select

from engine.access.accounts import Principal
from engine.audit import verification_runs
from engine.models import Contract, HumanTask, VerificationRun
from tests.conftest import ROOT, SQLITE_IN_TEST_ALL, World

BROKER = os.environ.get("AQD_TEST_BROKER_URL", "redis://127.0.0.1:6379/15")


@SQLITE_IN_TEST_ALL
def test_worker_fires_due_timers(world: World) -> None:
    cid = world.start()
    world.activate(cid)
    with world.aqd.session() as s:
        due = s.get(Contract, cid).next_due_at  # type: ignore[union-attr]
    assert due is not None
    queue = f"aqd-test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "AQD_DATABASE_URL": world.url,
        "AQD_BROKER_URL": BROKER,
        "AQD_CELERY_QUEUE": queue,
        "AQD_CLOCK": (due + timedelta(hours=1)).isoformat(),
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "api.worker",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "WARNING",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        client = Celery("aqd-test", broker=BROKER)
        client.send_task("aqd.timers.run", queue=queue)
        client.close()
        deadline = time.monotonic() + 60
        fired = False
        while time.monotonic() < deadline and not fired:
            time.sleep(0.5)
            with world.aqd.session() as s:
                fired = (
                    s.scalar(
                        select(HumanTask.id).where(
                            HumanTask.contract_id == cid, HumanTask.bpmn_id == "attendance"
                        )
                    )
                    is not None
                )
            assert worker.poll() is None, worker.stdout.read() if worker.stdout else ""
        assert fired, "the worker did not fire the due month timer"
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        if worker.stdout is not None:
            worker.stdout.close()


@SQLITE_IN_TEST_ALL
def test_worker_runs_queued_verifications(world: World) -> None:
    """Verification runs go through the worker queue: the relay claims a queued run and the
    worker verifies it (issue 18: each run was a thread of the web process)."""
    for _ in range(2):
        world.start()
    auditor = Principal(1, "auditor", "Auditor", "fr", frozenset({"auditor"}))
    run_id = verification_runs.request_run(world.aqd, auditor)
    queue = f"aqd-test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "AQD_DATABASE_URL": world.url,
        "AQD_BROKER_URL": BROKER,
        "AQD_CELERY_QUEUE": queue,
    }
    worker = subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "api.worker", "worker", "--pool", "solo"),
            *("--loglevel", "WARNING", "--without-heartbeat", "--without-gossip"),
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        client = Celery("aqd-test", broker=BROKER)
        client.send_task("aqd.verification.relay", queue=queue)
        client.close()
        deadline = time.monotonic() + 60
        status = "queued"
        while time.monotonic() < deadline and status != "done":
            time.sleep(0.5)
            with world.aqd.session() as s:
                run = s.get(VerificationRun, run_id)
                assert run is not None
                status, checked = run.status, run.checked
            assert worker.poll() is None, worker.stdout.read() if worker.stdout else ""
        assert status == "done" and checked == 2, "the worker did not verify the queued run"
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        if worker.stdout is not None:
            worker.stdout.close()
