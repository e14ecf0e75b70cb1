"""Workflow state <-> bytes, without the (immutable, separately stored) specs.

The stored state is the exact ``orjson`` byte string of SpiffWorkflow's own dict form minus
``spec``/``subprocess_specs``; its SHA-256 is the event's state hash. We keep bytes, not JSONB:
SpiffWorkflow 3.2 stores task data as deltas against the parent task and restores them in the
order of the ``tasks`` mapping (notes/LIBRARIES.md §1.11), an order JSONB does not keep.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.spiff.specs.defaults import BusinessRuleTask

from engine.errors import ProcessError
from engine.runtime.dmn import RuleTaskConverter

# business rule tasks restore with the engine that honours the FIRST hit policy
_REGISTRY = BpmnWorkflowSerializer.configure({**SPIFF_CONFIG, BusinessRuleTask: RuleTaskConverter})
SERIALIZER = BpmnWorkflowSerializer(_REGISTRY)
SERIALIZER_VERSION: str = SERIALIZER.VERSION


def state_dict(wf: BpmnWorkflow) -> dict[str, Any]:
    """SpiffWorkflow's ``to_dict`` of a workflow, minus its specs (which never change)."""
    r = SERIALIZER.registry
    return {
        "data": r.convert(r.clean(wf.data)),
        "correlations": wf.correlations,
        "last_task": str(wf.last_task.id) if wf.last_task is not None else None,
        "success": wf.success,
        "completed": wf.completed,
        "tasks": {str(k): r.convert(v) for k, v in wf.tasks.items()},
        "root": str(wf.task_tree.id),
        "subprocesses": {str(k): r.convert(v) for k, v in wf.subprocesses.items()},
        "bpmn_events": r.convert(wf.bpmn_events),
        "typename": "BpmnWorkflow",
    }


def dump(wf: BpmnWorkflow) -> bytes:
    try:
        return orjson.dumps(state_dict(wf), option=orjson.OPT_PASSTHROUGH_DATETIME)
    except TypeError as exc:
        raise ProcessError(
            f"process data must be plain JSON values (text, numbers, lists, objects): {exc}; "
            "store dates with iso(...) and amounts with tnd(...)"
        ) from None


def state_hash(state: bytes) -> str:
    return hashlib.sha256(state).hexdigest()


def load(state: bytes, version: str, specs: dict[str, Any]) -> BpmnWorkflow:
    """Restore a workflow from stored bytes plus its definition's serialized specs."""
    dct = orjson.loads(state)
    if version != SERIALIZER_VERSION:
        dct[SERIALIZER.VERSION_KEY] = version
        dct["spec"] = specs["spec"]
        dct["subprocess_specs"] = specs["subprocess_specs"]
        SERIALIZER.migrate(dct)
    else:
        dct["spec"] = specs["spec"]
        dct["subprocess_specs"] = specs["subprocess_specs"]
    wf: BpmnWorkflow = SERIALIZER.from_dict(dct)
    return wf


# -- the same bytes, faster (replay) -------------------------------------------------------------

_R = SERIALIZER.registry
_TASK_TYPENAME = "Task"
_SUB_TYPENAME = "BpmnSubWorkflow"


def _registered(typename: str, converter: str) -> bool:
    found = _R.convert_to_dict.get(typename)
    to_dict = getattr(found, "args", (None, None))[1]
    return type(getattr(to_dict, "__self__", None)).__name__ == converter


#: ``fast_dump`` only when SpiffWorkflow's registry converts tasks and subworkflows with the
#: converters it copies (SpiffWorkflow 3.2); otherwise it is ``dump``.
_FAST = _registered(_TASK_TYPENAME, "TaskConverter") and _registered(
    _SUB_TYPENAME, "BpmnSubWorkflowConverter"
)


def _tasks(tasks: dict[Any, Any]) -> dict[str, Any]:
    """``{str(id): registry.convert(task)}`` with ``TaskConverter.to_dict`` inlined: the
    same keys, values and order, without the registry's per-object dispatch; ids are turned
    into text once per dump (tasks, parents and children share the UUID objects)."""
    names = {id(k): str(k) for k in tasks}
    out: dict[str, Any] = {}
    convert = _R.convert
    for k, task in tasks.items():
        if task.__class__.__name__ != "Task" or _R.typenames.get(task.__class__) != "Task":
            out[names[id(k)]] = convert(task)
            continue
        parent = task.parent
        if parent is None:
            data = task.data
            delta: dict[str, Any] = {}
        else:
            data = {}
            a, b = parent.data, task.data
            delta = {
                "updates": {key: b[key] for key in b if key not in a or b[key] != a[key]},
                "deletions": [key for key in a if key not in b],
            }
        tid, pid = task.id, task._parent
        internal = task.internal_data
        out[names[id(k)]] = {
            "id": names.get(id(tid)) or str(tid),
            "parent": (names.get(id(pid)) or str(pid)) if parent is not None else None,
            "children": [names.get(id(c)) or str(c) for c in task._children],
            "last_state_change": task.last_state_change,
            "state": task.state,
            "task_spec": task.task_spec.name,
            "triggered": task.triggered,
            "internal_data": convert(internal) if internal else internal,
            "data": data,
            "delta": delta,
            "typename": _TASK_TYPENAME,
        }
    return out


def _sub(sp: Any) -> Any:
    if _R.typenames.get(sp.__class__) != _SUB_TYPENAME:
        return _R.convert(sp)
    return {
        "data": _R.convert(_R.clean(sp.data)),
        "correlations": sp.correlations,
        "last_task": str(sp.last_task.id) if sp.last_task is not None else None,
        "success": sp.success,
        "completed": sp.completed,
        "tasks": _tasks(sp.tasks),
        "root": str(sp.task_tree.id),
        "parent_task_id": str(sp.parent_task_id),
        "spec": sp.spec.name,
        "typename": _SUB_TYPENAME,
    }


def fast_dump(wf: BpmnWorkflow) -> bytes:
    """Exactly ``dump(wf)``'s bytes, about twice as fast: replay serialises every changed
    workflow after every event to compare state hashes. Replay still falls back to ``dump``
    before reporting a difference, so this can only make a check faster, never weaker."""
    if not _FAST:
        return dump(wf)
    r = _R
    dct = {
        "data": r.convert(r.clean(wf.data)),
        "correlations": wf.correlations,
        "last_task": str(wf.last_task.id) if wf.last_task is not None else None,
        "success": wf.success,
        "completed": wf.completed,
        "tasks": _tasks(wf.tasks),
        "root": str(wf.task_tree.id),
        "subprocesses": {str(k): _sub(v) for k, v in wf.subprocesses.items()},
        "bpmn_events": r.convert(wf.bpmn_events),
        "typename": "BpmnWorkflow",
    }
    try:
        return orjson.dumps(dct, option=orjson.OPT_PASSTHROUGH_DATETIME)
    except TypeError:
        return dump(wf)  # the same error message as the live command
