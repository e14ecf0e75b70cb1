"""The run loop around SpiffWorkflow: the only module that drives workflows (no database here).

Each public function takes a workflow, changes it, and returns plain data the services persist:
step timings, ready human tasks, thrown events, waiting messages and the next timer due.
"""

from __future__ import annotations

import importlib.metadata
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.exceptions import SpiffWorkflowException, WorkflowException
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from engine.errors import ProcessError, SandboxViolation, TaskNotReady
from engine.runtime import context
from engine.runtime.sandbox import Sandbox
from engine.runtime.serializer import SERIALIZER, SERIALIZER_VERSION, load


class _SandboxEnvironment(BasePythonScriptEngineEnvironment):  # type: ignore[misc]
    """Routes every SpiffWorkflow evaluation through the restricted sandbox."""

    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__({})
        self.sandbox = sandbox

    def evaluate(
        self,
        expression: str,
        context: dict[str, Any],
        external_context: dict[str, Any] | None = None,
    ) -> Any:
        scope = {**context, **external_context} if external_context else context
        return self.sandbox.evaluate(expression, scope)

    def execute(
        self, script: str, context: dict[str, Any], external_context: dict[str, Any] | None = None
    ) -> bool:
        self.sandbox.execute(script, context)
        return True

    def call_service(self, context: dict[str, Any], **kwargs: Any) -> str:
        raise ProcessError("service tasks are not executed in-line; throw a message instead")


class ScriptEngine(PythonScriptEngine):  # type: ignore[misc]
    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__(environment=_SandboxEnvironment(sandbox))

    def call_service(self, task: Task, **kwargs: Any) -> str:
        # SpiffWorkflow 3.2's own version hides errors behind a NameError (LIBRARIES.md §1.10).
        raise ProcessError(
            "service tasks are not executed in-line; throw a message instead",
            element=task.task_spec.bpmn_id or "",
        )


@dataclass
class Step:
    """One engine step: a task that ran, with its measured duration."""

    task_guid: str
    bpmn_id: str
    spec_type: str
    started_at: datetime
    duration_us: int


@dataclass
class ReadyTask:
    """A human task waiting in the inbox, as the projection stores it."""

    task_guid: str
    bpmn_id: str
    name: str
    lane: str


@dataclass
class Thrown:
    """A message thrown by the process that nothing inside it caught."""

    name: str
    payload: Any


@dataclass
class Outcome:
    """What one command did to one workflow."""

    steps: list[Step] = field(default_factory=list)
    thrown: list[Thrown] = field(default_factory=list)


@dataclass
class Inspection:
    """What the persistence layer needs to know about a workflow, from one walk of its tree."""

    completed: bool
    ready: list[ReadyTask]
    waiting_messages: list[str]
    next_due: datetime | None


class Specs:
    """A definition's restored spec objects for one process, plus the dict form for loading."""

    def __init__(self, spec_dicts: dict[str, Any]) -> None:
        self.dicts_bytes = orjson.dumps(spec_dicts)
        restored = orjson.loads(self.dicts_bytes)
        self.spec = SERIALIZER.registry.restore(restored["spec"])
        self.subprocess_specs = {
            k: SERIALIZER.registry.restore(v) for k, v in restored["subprocess_specs"].items()
        }

    def fresh_dicts(self) -> dict[str, Any]:
        loaded: dict[str, Any] = orjson.loads(self.dicts_bytes)
        return loaded

    def restore(self, state: bytes, version: str) -> BpmnWorkflow:
        """A stored workflow, restored onto these already restored spec objects.

        ``serializer.load`` restores the specs from their dict form every time, which costs
        more than half of a load. Running a workflow never changes its specs, so workflows may
        share them, as workflows started by ``Runner.new`` always have. States written by an
        older serializer go the long way, through SpiffWorkflow's migrations."""
        if version != SERIALIZER_VERSION:
            return load(state, version, self.fresh_dicts())
        dct = orjson.loads(state)
        conv = _WORKFLOW_CONVERTER
        wf = BpmnWorkflow(self.spec, self.subprocess_specs, deserializing=True)
        wf.tasks = conv.mapping_from_dict(dct["tasks"], UUID, workflow=wf)
        wf.task_tree = wf.tasks.get(UUID(dct["root"]))
        conv.set_default_attributes(wf, dct)
        conv.subprocesses_from_dict(dct["subprocesses"], wf)
        wf.bpmn_events = SERIALIZER.registry.restore(dct.pop("bpmn_events", []))
        return wf


_WORKFLOW_CONVERTER = SERIALIZER.registry.convert_from_dict["BpmnWorkflow"].args[0].__self__


# -- SpiffWorkflow's engine loop, with a cheaper walk ----------------------------------------------
#
# ``BpmnWorkflow.do_engine_steps`` lists the ready tasks with ``get_tasks(state=READY)`` after
# every task it runs: a ``BpmnTaskIterator`` walk whose bookkeeping (``list.pop(0)``, a children
# list built per task, a depth counter fixed up through parent lookups) costs more than a sixth
# of a command. ``ready_tasks`` is the same walk — depth first, children after the subprocess
# they start, the same tasks in the same order — without that bookkeeping. The iterator stops
# descending at a depth counter of 1,000, which it increments at most once per task visited, so
# on a workflow of fewer tasks the walks are identical; larger ones (never ours: DESIGN.md
# invariant 7) and other SpiffWorkflow versions use SpiffWorkflow's own.

_FAST_WALK = importlib.metadata.version("SpiffWorkflow") == "3.2.0"
_WALK_LIMIT = 1000
_READY = TaskState.READY
_FUTURE = TaskState.FUTURE
_FINISHED = TaskState.FINISHED_MASK


def _task_count(wf: Any) -> int:
    top = wf.top_workflow
    return len(top.tasks) + sum(len(sp.tasks) for sp in top.subprocesses.values())


def _spiff_ready(wf: Any) -> list[Task]:
    return list(wf.get_tasks(state=_READY))


def ready_tasks(wf: Any) -> list[Task]:
    """``wf.get_tasks(state=TaskState.READY)``: the same tasks, in the same order, faster."""
    if not _FAST_WALK or _task_count(wf) >= _WALK_LIMIT:
        return _spiff_ready(wf)
    subprocesses = wf.top_workflow.subprocesses
    found: list[Task] = []
    stack = [wf.task_tree]
    while stack:
        task = stack.pop()
        state = task._state
        if state & _READY:
            found.append(task)
        sub = subprocesses.get(task.id)
        children = task._children
        if (children or sub is not None) and (state >= _FUTURE or sub is not None):
            tasks = task.workflow.tasks
            stack.extend(tasks[c] for c in reversed(children))
            if sub is not None and not (state >= _FINISHED and _READY <= _FINISHED):
                stack.append(sub.task_tree)
    return found


def _do_engine_steps(wf: BpmnWorkflow, will: Any, did: Any) -> None:
    """``BpmnWorkflow.do_engine_steps`` (SpiffWorkflow 3.2), listing tasks with ``ready_tasks``."""
    if not _FAST_WALK:
        wf.do_engine_steps(will_complete_task=will, did_complete_task=did)
        return
    while _engine_pass(wf, will, did):
        pass
    wf.refresh_timers()


def _engine_pass(wf: BpmnWorkflow, will: Any, did: Any) -> bool:
    def update_workflow(sub: Any) -> int:
        count = 0
        for task in ready_tasks(sub):
            if not task.task_spec.manual:
                will(task)
                task.run()
                count += 1
                did(task)
        return count

    active = wf.get_active_subprocesses()
    for sub in sorted(active, key=lambda v: v.depth, reverse=True):
        while update_workflow(sub) > 0:
            pass
        if sub.parent_task_id is not None:
            task = wf.get_task_from_id(sub.parent_task_id)
            task.task_spec._update(task)
    count = update_workflow(wf)
    return count > 0 or len(wf.get_active_subprocesses()) > len(active)


class Runner:
    """Creates, advances and inspects workflows under the sandboxed script engine."""

    def __init__(self, sandbox: Sandbox, record_decisions: bool = False) -> None:
        self.sandbox = sandbox
        self.script_engine = ScriptEngine(sandbox)
        #: With ``record_decisions``, each DMN decision evaluated is appended here (inputs,
        #: matched rules, outputs) — for the auditor's history, never on the command path.
        self.decisions: list[dict[str, Any]] | None = [] if record_decisions else None

    # -- lifecycle ------------------------------------------------------------------------------

    def new(self, specs: Specs, data: dict[str, Any]) -> tuple[BpmnWorkflow, Outcome]:
        wf = BpmnWorkflow(specs.spec, specs.subprocess_specs, script_engine=self.script_engine)
        start = wf.get_tasks(state=TaskState.READY)[0]
        start.set_data(**data)
        outcome = Outcome()
        self._advance(wf, outcome)
        return wf, outcome

    def attach(self, wf: BpmnWorkflow) -> BpmnWorkflow:
        wf.script_engine = self.script_engine
        return wf

    def complete(self, wf: BpmnWorkflow, task_guid: str, data: dict[str, Any]) -> Outcome:
        task = self._ready_task(wf, task_guid)
        outcome = Outcome()
        started, t0 = context.now(), time.perf_counter()
        task.data.update(data)
        try:
            task.run()
        except SpiffWorkflowException as exc:
            raise _process_error(exc) from None
        outcome.steps.append(_step(task, started, t0))
        self._advance(wf, outcome)
        return outcome

    def send_message(self, wf: BpmnWorkflow, name: str, payload: Any) -> Outcome | None:
        """Deliver a message; return None if the workflow is not waiting for it."""
        for task in list(wf.event_manager.tasks.values()):
            definition = getattr(task.task_spec, "event_definition", None)
            if isinstance(definition, MessageEventDefinition) and definition.name == name:
                event = BpmnEvent(definition.__class__(name), payload)
                break
        else:
            return None
        outcome = Outcome()
        try:
            wf.send_event(event)
        except WorkflowException:
            return None
        self._advance(wf, outcome)
        return outcome

    def fire_timers(self, wf: BpmnWorkflow) -> Outcome:
        outcome = Outcome()
        self._advance(wf, outcome)
        return outcome

    def _advance(self, wf: BpmnWorkflow, outcome: Outcome) -> None:
        marks: dict[Any, tuple[datetime, float]] = {}

        decisions = self.decisions

        def will(task: Task) -> None:
            marks[task.id] = (context.now(), time.perf_counter())
            if decisions is not None and hasattr(task.task_spec, "dmnEngine"):
                decisions.append(_decision(task))

        def did(task: Task) -> None:
            started, t0 = marks.pop(task.id, (context.now(), time.perf_counter()))
            outcome.steps.append(_step(task, started, t0))

        try:
            wf.refresh_timers()
            _do_engine_steps(wf, will, did)
        except SpiffWorkflowException as exc:
            raise _process_error(exc) from None
        except SandboxViolation as exc:
            raise ProcessError(exc.message) from None
        for event in wf.get_events():
            outcome.thrown.append(Thrown(event.event_definition.name, event.payload))

    # -- inspection -----------------------------------------------------------------------------

    def _ready_task(self, wf: BpmnWorkflow, task_guid: str) -> Task:
        try:
            task = wf.get_task_from_id(UUID(task_guid))
        except (ValueError, KeyError, WorkflowException):
            task = None
        if task is None or task.state != TaskState.READY or not task.task_spec.manual:
            raise TaskNotReady(f"task {task_guid} is not waiting for a person")
        return task

    def inspect(self, wf: BpmnWorkflow) -> Inspection:
        """Ready human tasks (one walk of the tree), waited messages and the next timer (from
        SpiffWorkflow's event manager, which holds every waiting catch event)."""
        if wf.completed:
            return Inspection(True, [], [], None)
        ready = [
            ReadyTask(
                task_guid=str(task.id),
                bpmn_id=task.task_spec.bpmn_id or task.task_spec.name,
                name=task.task_spec.bpmn_name or task.task_spec.name,
                lane=task.task_spec.lane or "",
            )
            for task in ready_tasks(wf)
            if task.task_spec.manual
        ]
        messages, due = _waiting(wf)
        return Inspection(False, ready, messages, due)

    def waiting_messages(self, wf: BpmnWorkflow) -> list[str]:
        return _waiting(wf)[0]

    def element_states(self, wf: BpmnWorkflow) -> dict[str, str]:
        """Per BPMN element of the workflow's top process: ``completed``, ``ready``,
        ``waiting`` or ``cancelled`` (the last run of a looped element wins; elements not
        reached yet are absent)."""
        names = {
            TaskState.COMPLETED: "completed",
            TaskState.READY: "ready",
            TaskState.STARTED: "ready",
            TaskState.WAITING: "waiting",
            TaskState.CANCELLED: "cancelled",
        }
        out: dict[str, str] = {}
        for task in wf.get_tasks_iterator():
            state = names.get(task.state)
            bpmn_id = getattr(task.task_spec, "bpmn_id", None)
            if state is None or not bpmn_id or task.workflow is not wf:
                continue
            if out.get(bpmn_id) in ("ready", "waiting") and state == "completed":
                continue
            out[bpmn_id] = state
        return out

    def current_data(self, wf: BpmnWorkflow) -> dict[str, Any]:
        """The data the workflow carries now: its final data once completed, else the data of
        the task it stands at (a ready or waiting task inherits everything before it)."""
        if wf.completed:
            return dict(wf.data)
        merged: dict[str, Any] = {}
        for task in wf.get_tasks_iterator(state=TaskState.READY | TaskState.WAITING):
            for key, value in task.data.items():
                merged.setdefault(key, value)
        if not merged and wf.last_task is not None:
            merged = dict(wf.last_task.data)
        return merged

    def result_data(self, wf: BpmnWorkflow, ran: Sequence[str] = ()) -> dict[str, Any]:
        """The data of the last completed task, so that a ``contract_status`` set inside a
        subprocess (a suspension recorded inside the running contract's loop) reaches the
        contract row.

        ``ran`` lists the ids of the tasks this command completed, in order: the last of them
        still in the tree is the newest. Without it (or when none is left), the newest of the
        process's and its subprocesses' last tasks by state-change time; a frozen clock gives
        them all the same time, which is why the command's own order comes first."""
        if wf.completed:
            return dict(wf.data)
        for guid in reversed(ran):
            found = _find_task(wf, UUID(guid))
            if found is not None:
                return dict(found.data)
        last = wf.last_task
        for sub in wf.subprocesses.values():
            task = sub.last_task
            if task is not None and (
                last is None or task.last_state_change > last.last_state_change
            ):
                last = task
        return dict(last.data) if last is not None else {}


def _plain(value: Any) -> Any:
    """A JSON value (dates and other objects as text) for the history page and the API."""
    return orjson.loads(orjson.dumps(value, default=str))


def _decision(task: Task) -> dict[str, Any]:
    """A business rule task about to run: its decision's inputs as evaluated on the task's
    data, the rules that match (with their annotation, which cites the legal basis) and the
    outputs — the same evaluation SpiffWorkflow is about to make (pure, sandboxed)."""
    engine = task.task_spec.dmnEngine
    table = engine.decision_table
    scripts = task.workflow.script_engine
    inputs = []
    for column in table.inputs:
        try:
            value = _plain(scripts.evaluate(task, column.expression))
        except Exception as exc:  # shown to the auditor; the run itself reports the error
            value = f"(error: {exc})"
        inputs.append(
            {
                "label": column.label or column.name or "",
                "expression": column.expression,
                "value": value,
            }
        )
    try:
        matched = engine.decide(task)
        outputs = _plain(engine.result(task))
    except Exception as exc:  # the same: the run reports it
        return {
            "step": task.task_spec.bpmn_id,
            "decision": table.id,
            "inputs": inputs,
            "matched": [],
            "outputs": {},
            "error": str(exc).splitlines()[0],
        }
    return {
        "step": task.task_spec.bpmn_id,
        "name": task.task_spec.bpmn_name or "",
        "decision": table.id,
        "table": table.name or "",
        "hit_policy": str(table.hit_policy),
        "inputs": inputs,
        "matched": [
            {"rule": r.id, "row": r.row_number, "description": r.description or ""} for r in matched
        ],
        "outputs": outputs,
    }


def _find_task(wf: BpmnWorkflow, task_id: UUID) -> Task | None:
    if task_id in wf.tasks:
        return wf.tasks[task_id]
    for sub in wf.subprocesses.values():
        if task_id in sub.tasks:
            return sub.tasks[task_id]
    return None


def _waiting(wf: BpmnWorkflow) -> tuple[list[str], datetime | None]:
    messages: set[str] = set()
    due: list[datetime] = []
    for task in wf.event_manager.tasks.values():
        definition = getattr(task.task_spec, "event_definition", None)
        for single in getattr(definition, "event_definitions", None) or [definition]:
            if isinstance(single, MessageEventDefinition) and single.name:
                messages.add(single.name)
            elif isinstance(single, TimerEventDefinition):
                value = single.details(task).value
                if isinstance(value, str):
                    when = datetime.fromisoformat(value)
                    due.append(when if when.tzinfo else when.replace(tzinfo=UTC))
    return sorted(messages), (min(due) if due else None)


def _step(task: Task, started: datetime, t0: float) -> Step:
    return Step(
        task_guid=str(task.id),
        bpmn_id=task.task_spec.bpmn_id or task.task_spec.name,
        spec_type=type(task.task_spec).__name__,
        started_at=started,
        duration_us=int((time.perf_counter() - t0) * 1_000_000),
    )


def sandbox_cause(exc: BaseException) -> SandboxViolation | None:
    """The sandbox's refusal (a time or memory limit, a policy) behind a SpiffWorkflow error."""
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, SandboxViolation):
        cause = cause.__cause__ or getattr(cause, "exception", None) or cause.__context__
    return cause


def _process_error(exc: SpiffWorkflowException) -> ProcessError:
    task = getattr(exc, "task", None)
    element = ""
    if task is not None:
        element = task.task_spec.bpmn_id or task.task_spec.name
    cause = sandbox_cause(exc)
    message = cause.message if cause is not None else str(exc).splitlines()[0]
    line = getattr(exc, "line_number", 0) or 0
    where = f" in {element}" if element else ""
    return ProcessError(f"{message}{where}", element=element, line=int(line))
