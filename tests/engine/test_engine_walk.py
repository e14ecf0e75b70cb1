"""The engine lists ready tasks with its own walk of the task tree (``ready_tasks``): the same
tasks in the same order as SpiffWorkflow's iterator, which every programme scenario checks
(tests/processes/conftest.py); here, the walk on a contract's whole life and its fallback."""

from __future__ import annotations

from typing import Any

import pytest

from engine.audit.replay import replay_contract
from engine.runtime import workflow
from tests.conftest import World
from tests.helpers.replay import busy_contract


def _checking(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    fast = workflow.ready_tasks
    checked: list[int] = []

    def checking(wf: Any) -> list[Any]:
        mine = fast(wf)
        assert [t.id for t in mine] == [t.id for t in workflow._spiff_ready(wf)]
        checked.append(len(mine))
        return mine

    monkeypatch.setattr(workflow, "ready_tasks", checking)
    return checked


def test_the_walk_matches_spiffworkflow_through_a_contract_life(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked = _checking(monkeypatch)
    cid = busy_contract(world)
    world.run_month(cid)
    with world.aqd.session() as s:
        report = replay_contract(world.aqd, s, cid)
    assert report.ok, report.problems
    assert len(checked) > 50 and any(n > 1 for n in checked)  # ready lists of several tasks


def test_large_workflows_use_spiffworkflows_walk(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workflow, "_WALK_LIMIT", 1)
    walked: list[int] = []
    own = workflow._spiff_ready

    def counting(wf: Any) -> list[Any]:
        walked.append(1)
        return own(wf)

    monkeypatch.setattr(workflow, "_spiff_ready", counting)
    cid = busy_contract(world)
    assert walked
    with world.aqd.session() as s:
        assert replay_contract(world.aqd, s, cid).ok
