"""Moving a running workflow to a new version of its process (DESIGN.md invariant 6).

SpiffWorkflow 3.2 aligns the task specs of two versions (``SpiffWorkflow.bpmn.util.diff``: by
BPMN id first, then by structure) and ``migrate_workflow`` swaps the specs and re-predicts the
branches below READY and WAITING tasks. We keep its alignment but are stricter and keep more:

* every task that ran, runs or waits (completed, cancelled, ready, started, waiting) must find
  its BPMN id in the new version; a structural guess is accepted for *predicted* tasks only.
  A person's ready step never silently becomes another step;
* every running subprocess must find its process in the new version;
* waiting and ready tasks keep their state and internal data (a timer keeps the due time it was
  armed with: re-arming ``P14D`` at migration time would move a signature deadline); only the
  predictions below them are rebuilt from the new version.

:func:`check` answers without touching the workflow (the dry run); :func:`apply` changes it and
returns what it did. Both are deterministic, so a migration replays to the same state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import (
    BoundaryEvent as BoundaryEventMixin,
)
from SpiffWorkflow.bpmn.util.diff import SpecDiff
from SpiffWorkflow.util.task import TaskState

from engine.runtime.serializer import SERIALIZER
from engine.runtime.workflow import Specs

_STATE_NAMES = {
    TaskState.COMPLETED: "completed",
    TaskState.CANCELLED: "cancelled",
    TaskState.ERROR: "failed",
    TaskState.READY: "ready",
    TaskState.STARTED: "started",
    TaskState.WAITING: "waiting",
}
_ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED


@dataclass
class MigrationCheck:
    """What moving one workflow to the new version would do, or why it cannot."""

    problems: list[str] = field(default_factory=list)
    #: Steps the new version adds that still lie ahead of where the workflow stands.
    ahead: list[str] = field(default_factory=list)
    #: Waiting or ready steps whose predictions are rebuilt from the new version.
    repredicted: list[str] = field(default_factory=list)
    #: Predicted steps matched to a new step of another id (old id -> new id).
    renamed: dict[str, str] = field(default_factory=dict)
    #: Steps of the new version that differ from the old one (ids).
    changed: list[str] = field(default_factory=list)
    #: The ready or waiting tasks (ids) whose predictions must be rebuilt.
    tasks_to_repredict: list[Any] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        return not self.problems

    def mapping(self) -> dict[str, Any]:
        return {
            "ahead": self.ahead,
            "repredicted": self.repredicted,
            "renamed": self.renamed,
            "changed": self.changed,
        }


def _bpmn_id(spec: Any) -> str:
    return str(getattr(spec, "bpmn_id", None) or spec.name)


def _label(task: Any) -> str:
    spec = task.task_spec
    name = getattr(spec, "bpmn_name", None)
    bpmn_id = _bpmn_id(spec)
    return f"{bpmn_id} ({name})" if name and name != bpmn_id else bpmn_id


@dataclass(frozen=True)
class _NameDiff:
    """SpiffWorkflow's alignment of two process specs, by name (old name -> new name or None)."""

    alignment: dict[str, str | None]
    changed: frozenset[str]
    added: frozenset[str]


_DIFFS: dict[tuple[int, int], tuple[Any, Any, _NameDiff]] = {}


def _name_diff(old: Any, new: Any) -> _NameDiff:
    """``SpecDiff`` of two definition specs, once per pair (it converts every task spec)."""
    key = (id(old), id(new))
    found = _DIFFS.get(key)
    if found is not None and found[0] is old and found[1] is new:
        return found[2]
    diff = SpecDiff(SERIALIZER.registry, old, new)
    result = _NameDiff(
        alignment={o.name: (n.name if n is not None else None) for o, n in diff.alignment.items()},
        changed=frozenset(s.name for s in diff.changed),
        # By id: a step matched by structure to an old one of another id is still new here.
        added=frozenset(n for n in new.task_specs if n not in old.task_specs),
    )
    if len(_DIFFS) > 256:
        _DIFFS.clear()
    _DIFFS[key] = (old, new, result)
    return result


def _pairs(
    wf: BpmnWorkflow, old: Specs, new: Specs
) -> tuple[list[tuple[Any, Any, _NameDiff]], list[str]]:
    """(workflow or subworkflow, its spec in the new version, their diff) for the top workflow
    and every subprocess instance; plus the subprocesses that cannot be mapped."""
    pairs = [(wf, new.spec, _name_diff(old.spec, new.spec))]
    problems: list[str] = []
    for sub in wf.subprocesses.values():
        name = sub.spec.name
        target = new.subprocess_specs.get(name)
        before = old.subprocess_specs.get(name)
        if target is None or before is None:
            problems.append(
                f"subprocess {name} is running but the new version has no such "
                "subprocess (it cannot be mapped)"
            )
            continue
        pairs.append((sub, target, _name_diff(before, target)))
    return pairs, problems


def check(wf: BpmnWorkflow, old: Specs, new: Specs) -> MigrationCheck:
    """Can ``wf`` (running ``old``) move to ``new``? Leaves ``wf`` untouched."""
    pairs, problems = _pairs(wf, old, new)
    result = MigrationCheck(problems=problems)
    added: set[str] = set()
    for workflow, target, diff in pairs:
        added.update(diff.added)
        result.changed.extend(
            _bpmn_id(target.task_specs[n]) for n in diff.changed if n in target.task_specs
        )
        for task in workflow.get_tasks(skip_subprocesses=True):
            name = task.task_spec.name
            if name in target.task_specs:
                continue
            state = _STATE_NAMES.get(task.state)
            if state is None:  # predicted: rebuilt or matched by structure
                aligned = diff.alignment.get(name)
                if aligned is not None and aligned != name:
                    result.renamed[_bpmn_id(task.task_spec)] = _bpmn_id(target.task_specs[aligned])
                continue
            result.problems.append(
                f"the {state} step {_label(task)} is not in the new version"
                if state in ("ready", "waiting", "started")
                else f"the {state} step {_label(task)} is a path the new version lacks"
            )
        for task in workflow.get_tasks(
            state=TaskState.READY | TaskState.WAITING, skip_subprocesses=True
        ):
            if task.task_spec.name not in target.task_specs or not _stale(task, target):
                continue
            if isinstance(task.task_spec, BoundaryEventMixin):
                result.problems.append(
                    f"the waiting boundary event {_label(task)} leads to steps the new version "
                    "changed; it cannot be re-planned while it waits"
                )
                continue
            result.repredicted.append(_bpmn_id(task.task_spec))
            result.tasks_to_repredict.append(task.id)
    result.changed = sorted(set(result.changed))
    result.repredicted = sorted(set(result.repredicted))
    if result.ok:
        result.ahead = sorted(_ahead(pairs, added, new))
    return result


def _outputs(spec: Any) -> list[str]:
    return [o.name for o in spec.outputs]


def _stale(task: Any, target: Any) -> bool:
    """Do the predictions below ``task`` (or the task's own way out) differ in ``target``?"""
    for t in task:
        new = target.task_specs.get(t.task_spec.name)
        if new is None or _outputs(new) != _outputs(t.task_spec):
            return True
    return False


def _ahead(pairs: list[tuple[Any, Any, _NameDiff]], added: set[str], new: Specs) -> set[str]:
    """The added steps reachable, in the new version, from where each workflow stands."""
    found: set[str] = set()
    for workflow, target, _diff in pairs:
        todo = [
            target.task_specs[t.task_spec.name]
            for t in workflow.get_tasks(state=_ACTIVE, skip_subprocesses=True)
            if t.task_spec.name in target.task_specs
        ]
        seen: set[int] = set()
        while todo:
            spec = todo.pop()
            if id(spec) in seen:
                continue
            seen.add(id(spec))
            if spec.name in added and spec.name in target.task_specs:
                found.add(_bpmn_id(spec))
            todo.extend(spec.outputs)
            sub = getattr(spec, "spec", None)
            if isinstance(sub, str) and sub in new.subprocess_specs:
                todo.append(new.subprocess_specs[sub].start)
            child = getattr(spec, "task_spec", None)
            if isinstance(child, str) and child in target.task_specs:
                todo.append(target.task_specs[child])
    return found


def apply(wf: BpmnWorkflow, old: Specs, new: Specs) -> MigrationCheck:
    """Move ``wf`` from ``old`` to ``new``; a workflow :func:`check` refuses is not touched."""
    result = check(wf, old, new)
    if not result.ok:
        return result
    pairs, _ = _pairs(wf, old, new)
    for workflow, target, diff in pairs:
        workflow.spec = target
        for task in workflow.tasks.values():
            aligned = diff.alignment.get(task.task_spec.name)
            if aligned is not None:
                task.task_spec = target.task_specs[aligned]
        for task_id in result.tasks_to_repredict:
            task = workflow.tasks.get(task_id)
            if task is None:
                continue
            # Rebuild the predictions below the task from the new version; the task keeps its
            # own state and internal data (an armed timer keeps its due time).
            task._drop_children(force=True)
            task.task_spec._predict(
                task, mask=TaskState.PREDICTED_MASK | TaskState.FUTURE | task.state
            )
        if workflow.last_task is not None and workflow.last_task.id not in workflow.tasks:
            workflow.last_task = None
    wf.subprocess_specs = new.subprocess_specs
    stray = [
        _label(t)
        for workflow, target, _d in pairs
        for t in workflow.get_tasks(skip_subprocesses=True)
        if target.task_specs.get(t.task_spec.name) is not t.task_spec
    ]
    if stray:  # cannot happen after a passing check; refuse rather than store a broken state
        result.problems.append(f"steps {', '.join(stray)} could not be moved")
    return result


def step_ids(state: bytes) -> set[str]:
    """The task spec names a stored workflow state refers to (top workflow and subprocesses)."""
    dct = orjson.loads(state)
    names = {str(t["task_spec"]) for t in dct.get("tasks", {}).values()}
    for sub in dct.get("subprocesses", {}).values():
        names.update(str(t["task_spec"]) for t in sub.get("tasks", {}).values())
    return names


def subprocess_names(state: bytes) -> set[str]:
    dct = orjson.loads(state)
    return {str(sub.get("spec", "")) for sub in dct.get("subprocesses", {}).values()}


def spec_names(specs: Specs) -> set[str]:
    names = set(specs.spec.task_specs)
    for sub in specs.subprocess_specs.values():
        names.update(sub.task_specs)
    return names
