"""Two people completing the same task get one success and a clear conflict; a process killed in
the middle of a command leaves no trace, and the command then succeeds once."""

from __future__ import annotations

import multiprocessing
import os
import queue
import subprocess
import sys
import threading
from typing import Any

import pytest
from sqlalchemy import func, select

from engine.audit.replay import replay_contract
from engine.models import Contract, Event, HumanTask, Outbox, ProcessInstance, StepTiming
from tests.conftest import ROOT, World
from tests.helpers.workers import complete_once

N = 8


def snapshot(world: World, cid: int) -> dict[str, Any]:
    with world.aqd.session() as s:
        c = s.get(Contract, cid)
        assert c is not None
        return {
            "contract": (c.revision, c.last_seq, c.chain_head, c.status),
            "events": s.scalar(select(func.count()).select_from(Event)),
            "steps": s.scalar(select(func.count()).select_from(StepTiming)),
            "outbox": s.scalar(select(func.count()).select_from(Outbox)),
            "tasks": sorted(
                (t.task_guid, t.status, t.assignee)
                for t in s.scalars(select(HumanTask).where(HumanTask.contract_id == cid))
            ),
            "states": sorted(
                (i.key, i.revision, i.state_hash)
                for i in s.scalars(
                    select(ProcessInstance).where(ProcessInstance.contract_id == cid)
                )
            ),
        }


# The processes and the SIGKILL cases spawn interpreters that import the engine: make
# test-all only; threads racing on one contract stay in the fast tier.
@pytest.mark.parametrize("mode", ["threads", pytest.param("processes", marks=pytest.mark.slow)])
def test_concurrent_completion_one_winner(world: World, mode: str) -> None:
    cid = world.start()
    guid = world.task(cid, "employer_agreement")
    if mode == "threads":
        barrier: Any = threading.Barrier(N)
        results: Any = queue.Queue()
        workers = [
            threading.Thread(
                target=complete_once, args=(world.url, guid, barrier, results, f"u{i}")
            )
            for i in range(N)
        ]
    else:
        ctx = multiprocessing.get_context("spawn")
        barrier = ctx.Barrier(N)
        results = ctx.Queue()
        workers = [
            ctx.Process(target=complete_once, args=(world.url, guid, barrier, results, f"u{i}"))  # type: ignore[misc]
            for i in range(N)
        ]
    for w in workers:
        w.start()
    outcomes = [results.get(timeout=120) for _ in range(N)]
    for w in workers:
        w.join(timeout=60)
    kinds = sorted(o[0] for o in outcomes)
    assert kinds == ["conflict"] * (N - 1) + ["ok"], outcomes
    assert {o[1] for o in outcomes if o[0] == "conflict"} <= {
        "TaskNotReady",
        "StaleRevision",
        "Conflict",
    }
    after = snapshot(world, cid)
    assert after["contract"][:2] == (2, 2)
    ready = [t for t in after["tasks"] if t[1] == "ready"]
    assert len(ready) == 1
    with world.aqd.session() as s:
        assert replay_contract(world.aqd, s, cid).ok


@pytest.mark.slow
@pytest.mark.parametrize("point", ["mid_run", "before_commit"])
def test_sigkill_mid_command_leaves_previous_state(world: World, point: str) -> None:
    cid = world.start()
    guid = world.task(cid, "employer_agreement")
    before = snapshot(world, cid)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "tests.helpers.workers", world.url, guid, point],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == -9, proc.stderr
    assert "survived" not in proc.stdout
    assert snapshot(world, cid) == before
    world.complete(
        cid,
        "employer_agreement",
        {
            "agreed": True,
            "position_title": "Developer",
            "tutor_name": "Mr Tutor",
            "employer_complement": 200,
        },
    )
    after = snapshot(world, cid)
    assert after["contract"][:2] == (2, 2)
    with world.aqd.session() as s:
        assert replay_contract(world.aqd, s, cid).ok
