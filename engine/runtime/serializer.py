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

from engine.errors import ProcessError

_REGISTRY = BpmnWorkflowSerializer.configure(SPIFF_CONFIG)
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
