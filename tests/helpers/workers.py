"""Child-process entry points for concurrency and crash tests (spawned with multiprocessing or
``python -m``)."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from engine import Conflict, FrozenClock, Settings, bootstrap

AGREEMENT = {
    "agreed": True,
    "position_title": "Developer",
    "tutor_name": "Mr Tutor",
    "employer_complement": 200,
}


def complete_once(url: str, guid: str, barrier: Any, results: Any, who: str) -> None:
    """Wait at the barrier, then try to complete the task; report 'ok' or the conflict."""
    aqd = bootstrap.build(
        Settings(database_url=url), clock=FrozenClock("2025-03-03T09:00:00+00:00")
    )
    barrier.wait()
    try:
        with aqd.session() as session, session.begin():
            aqd.complete_task(session, guid, AGREEMENT, who)
        results.put(("ok", who))
    except Conflict as exc:
        results.put(("conflict", type(exc).__name__))
    except Exception as exc:
        results.put(("error", f"{type(exc).__name__}: {exc}"))


def crash_during_command(url: str, guid: str, point: str) -> None:
    """Complete ``guid`` but SIGKILL this process at ``point`` of the command."""
    from engine.kernel import store
    from engine.runtime import workflow

    def die() -> None:
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    if point == "mid_run":
        original_complete = workflow.Runner.complete

        def complete(self: Any, wf: Any, task_guid: str, data: dict[str, Any]) -> Any:
            original_complete(self, wf, task_guid, data)
            die()

        workflow.Runner.complete = complete  # type: ignore[method-assign]
    elif point == "before_commit":
        original_write = store.Store.write

        def write(self: Any, plan: Any) -> dict[str, int]:
            original_write(self, plan)  # every row of the command is written, not committed
            die()
            raise AssertionError("unreachable: die() ends the process")

        store.Store.write = write  # type: ignore[method-assign]
    aqd = bootstrap.build(
        Settings(database_url=url), clock=FrozenClock("2025-03-03T09:00:00+00:00")
    )
    with aqd.session() as session, session.begin():
        aqd.complete_task(session, guid, AGREEMENT, "crasher")
    print("survived")


if __name__ == "__main__":
    crash_during_command(sys.argv[1], sys.argv[2], sys.argv[3])
