"""What a command writes besides the workflow state: the chained event's constants and record,
the inbox rows of the tasks that became ready (with their due dates), the deferral of a thrown
side effect, and the programme parameters in force on a date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from engine.config import get_settings
from engine.errors import InvalidInput
from engine.kernel.store import Locked, NewInstance
from engine.runtime.durations import add_iso_duration
from engine.runtime.workdays import calendar
from engine.runtime.workflow import ReadyTask

if TYPE_CHECKING:
    pass


GENESIS = "0" * 64


MAIN = "main"


EMPTY_HASH = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@dataclass(frozen=True)
class Recorded:
    """The event a command appended."""

    contract_id: int
    seq: int
    kind: str
    hash: str
    revision: int


def not_before(payload: dict[str, Any], key: str, at: datetime) -> datetime:
    """When a thrown side effect may run: ``at``, or later if the model deferred it with
    ``"not_before": "<ISO 8601 date-time with offset>"`` in the message payload (e.g. a month's
    payment order, decided when the proof arrives, is paid at the month's end). The outbox runner
    claims a row only once ``available_at`` has passed."""
    value = payload.get("not_before")
    if value is None:
        return at
    when: datetime | None = None
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            when = None
    if when is None or when.tzinfo is None:
        raise InvalidInput(
            f"side effect {key}: not_before {value!r} is not an ISO 8601 date-time with an "
            "offset (e.g. 2025-03-31T18:00:00+01:00)",
            fields={"not_before": "ISO 8601 date-time with offset"},
        )
    return max(at, when.astimezone(UTC))


def ready_task_row(
    contract: Locked,
    instance_id: int | NewInstance,
    task: ReadyTask,
    processes: dict[str, Any],
    at: datetime,
) -> dict[str, Any]:
    info = user_task_info(processes, task.bpmn_id)
    due_in = info.get("due_in", "")
    working_days = int(info.get("due_working_days") or 0)
    due_at = (
        calendar(get_settings().holidays_file).due_after(at, working_days)
        if working_days
        else add_iso_duration(at, due_in)
        if due_in
        else None
    )
    return {
        "contract_id": contract.id,
        "instance_id": instance_id,
        "task_guid": task.task_guid,
        "bpmn_id": task.bpmn_id,
        "name": task.name,
        "programme": contract.programme,
        "lane": info.get("lane") or task.lane,
        "candidate_group": info.get("candidate_group") or task.lane,
        "office_id": contract.office_id,
        "form_key": info.get("form_key", ""),
        "status": "ready",
        "assignee": None,
        "due_at": due_at,
        "ready_at": at,
        "claimed_at": None,
        "completed_at": None,
        "completed_by": None,
    }


def user_task_info(processes: dict[str, Any], bpmn_id: str) -> dict[str, Any]:
    for proc in processes.values():
        info = proc["user_tasks"].get(bpmn_id)
        if info is not None:
            return dict(info)
    return {}


def resolve_parameters(parameters: dict[str, Any], at: datetime) -> dict[str, Any]:
    """Pick each parameter's value in force on ``at`` (``parameters.json`` of the programme).

    Format: ``{"parameters": {"name": [{"value": 200, "valid_from": "2019-06-01",
    "valid_to": null, "legal_basis": "D2019-542 art.4"}, ...]}}``.
    """
    day = at.date().isoformat()
    resolved: dict[str, Any] = {}
    for name, versions in parameters.get("parameters", {}).items():
        for version in versions:
            start = version.get("valid_from") or "0000-01-01"
            end = version.get("valid_to") or "9999-12-31"
            if start <= day <= end:
                resolved[name] = version["value"]
                break
    return resolved
