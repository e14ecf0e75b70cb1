"""Every programme scenario also checks the engine's fast walk of the task tree against
SpiffWorkflow's own, at every engine pass and inspection (``engine.runtime.workflow``)."""

from __future__ import annotations

from typing import Any

import pytest

from engine.runtime import workflow


@pytest.fixture(autouse=True)
def same_walk_as_spiffworkflow(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    fast = workflow.ready_tasks
    checked: list[int] = []

    def checking(wf: Any) -> list[Any]:
        mine = fast(wf)
        theirs = workflow._spiff_ready(wf)
        assert [t.id for t in mine] == [t.id for t in theirs]
        checked.append(len(mine))
        return mine

    monkeypatch.setattr(workflow, "ready_tasks", checking)
    return checked
