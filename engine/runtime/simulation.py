"""Run one sample case through a workflow in memory (simulation, issue 7): start it, play the
scripted steps, and report the path, the decisions and where it stopped. No database here; the
caller validates form data (``check_task``) and keeps everything it needs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.errors import EngineError, InvalidInput
from engine.runtime import context
from engine.runtime.durations import add_iso_duration
from engine.runtime.workflow import Outcome, Runner, Specs

SCALARS = (str, int, float, bool, type(None))


def run_case(
    runner: Runner,
    specs: Specs,
    start: dict[str, Any],
    steps: list[Any],
    *,
    check_task: Callable[[str, dict[str, Any]], dict[str, Any]],
    elements: set[str],
    at: datetime,
    seed: str,
) -> dict[str, Any]:
    """``steps``: ``{"task": bpmn_id, "data": {...}}`` (a person completes a ready task) or
    ``{"message": name, "payload": ...}`` (a message arrives) or ``{"wait": "P5D"}`` (time
    passes on the simulated clock and due timers fire). ``path`` keeps the BPMN elements
    of ``elements`` in the order they ran; the case stops at the first error."""
    out: dict[str, Any] = {
        "path": [],
        "thrown": [],
        "status": "error",
        "error": None,
        "element": None,
        "decisions": [],
        "waiting_tasks": [],
        "waiting_messages": [],
        "data": {},
    }

    def record(outcome: Outcome) -> None:
        out["path"] += [s.bpmn_id for s in outcome.steps if s.bpmn_id in elements]
        out["thrown"] += [t.name for t in outcome.thrown]

    wf: BpmnWorkflow | None = None
    now = at
    try:
        with context.command_context(now, seed):
            wf, outcome = runner.new(specs, start)
        record(outcome)
        for number, step in enumerate(steps, start=1):
            if isinstance(step, dict) and "wait" in step:
                # time passes on the simulated clock; timers due by then fire
                try:
                    now = add_iso_duration(now, str(step["wait"]))
                except (ValueError, OverflowError):  # not a duration, or past the year 9999
                    wait = step["wait"]
                    raise InvalidInput(f"step {number}: wait {wait!r} is not like P5D") from None
                with context.command_context(now, f"{seed}:{number}"):
                    record(runner.fire_timers(wf))
                continue
            with context.command_context(now, f"{seed}:{number}"):
                record(_play(runner, wf, step, number, check_task))
        out["status"] = "completed" if wf.completed else "waiting"
    except EngineError as exc:
        out["error"] = exc.message
        out["element"] = getattr(exc, "element", None) or None
    out["ended_on"] = now.date().isoformat()
    if wf is not None:
        inspection = runner.inspect(wf)
        out["waiting_tasks"] = [t.bpmn_id for t in inspection.ready]
        out["waiting_messages"] = inspection.waiting_messages
        out["decisions"] = decisions(wf)
        out["data"] = {k: v for k, v in runner.current_data(wf).items() if isinstance(v, SCALARS)}
    return out


def _play(
    runner: Runner,
    wf: BpmnWorkflow,
    step: Any,
    number: int,
    check_task: Callable[[str, dict[str, Any]], dict[str, Any]],
) -> Outcome:
    if not isinstance(step, dict):
        raise InvalidInput(f"step {number}: an object with a task or a message")
    if "message" in step:
        name = str(step["message"])
        outcome = runner.send_message(wf, name, step.get("payload", {}))
        if outcome is None:
            raise InvalidInput(f"step {number}: the process is not waiting for message {name}")
        return outcome
    bpmn_id = str(step.get("task", ""))
    data = step.get("data", {})
    if not isinstance(data, dict):
        raise InvalidInput(f"step {number}: data must be an object")
    ready = runner.inspect(wf).ready
    found = [t for t in ready if t.bpmn_id == bpmn_id]
    if not found:
        waiting = ", ".join(t.bpmn_id for t in ready) or "none"
        raise InvalidInput(f"step {number}: task {bpmn_id} is not ready (ready: {waiting})")
    return runner.complete(wf, found[0].task_guid, check_task(bpmn_id, data))


def decisions(wf: BpmnWorkflow) -> list[dict[str, Any]]:
    """Every business rule task that ran, in run order, with its decision table's outputs."""
    ran = []
    for task in wf.get_tasks(state=TaskState.COMPLETED):
        engine = getattr(task.task_spec, "dmnEngine", None)
        table = getattr(engine, "decision_table", None)
        if table is None:
            continue
        outputs = {o.name: task.data.get(o.name) for o in table.outputs if o.name}
        ran.append(
            (
                task.last_state_change,
                {
                    "element": task.task_spec.bpmn_id,
                    "table": table.id,
                    "outputs": {k: v for k, v in outputs.items() if isinstance(v, SCALARS)},
                },
            )
        )
    return [entry for _, entry in sorted(ran, key=lambda pair: pair[0])]
