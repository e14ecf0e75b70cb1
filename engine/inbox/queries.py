"""Read-side queries (no locks, no writes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import NotFound
from engine.models import Contract, Event, HumanTask, Office, ProcessInstance


def find_contract(session: Session, ref: str | int) -> Contract:
    """A contract by numeric id or business number."""
    text = str(ref).strip()
    contract = None
    if text.isdigit():
        contract = session.get(Contract, int(text))
    if contract is None:
        contract = session.scalar(select(Contract).where(Contract.number == text))
    if contract is None:
        raise NotFound(f"contract {text} not found")
    return contract


def list_contracts(
    session: Session,
    programme: str | None = None,
    status: str | None = None,
    office: str | None = None,
    limit: int = 100,
) -> list[Contract]:
    stmt = select(Contract).order_by(Contract.id)
    if programme:
        stmt = stmt.where(Contract.programme == programme)
    if status:
        stmt = stmt.where(Contract.status == status)
    if office:
        stmt = stmt.join(Office, Office.id == Contract.office_id).where(Office.code == office)
    return list(session.scalars(stmt.limit(limit)))


def list_tasks(
    session: Session,
    contract_id: int | None = None,
    office: str | None = None,
    lane: str | None = None,
    status: str = "ready",
    assignee: str | None = None,
    limit: int = 100,
) -> list[HumanTask]:
    stmt = select(HumanTask).order_by(HumanTask.due_at, HumanTask.id)
    if status:
        stmt = stmt.where(HumanTask.status == status)
    if contract_id is not None:
        stmt = stmt.where(HumanTask.contract_id == contract_id)
    if lane:
        stmt = stmt.where(HumanTask.lane == lane)
    if assignee:
        stmt = stmt.where(HumanTask.assignee == assignee)
    if office:
        stmt = stmt.join(Office, Office.id == HumanTask.office_id).where(Office.code == office)
    return list(session.scalars(stmt.limit(limit)))


def contract_events(session: Session, contract_id: int) -> list[Event]:
    return list(
        session.scalars(select(Event).where(Event.contract_id == contract_id).order_by(Event.seq))
    )


def contract_summary(session: Session, contract: Contract) -> dict[str, Any]:
    instances = session.scalars(
        select(ProcessInstance).where(ProcessInstance.contract_id == contract.id)
    )
    return {
        "id": contract.id,
        "number": contract.number,
        "programme": contract.programme,
        "definition_id": contract.definition_id,
        "status": contract.status,
        "outcome": contract.outcome,
        "revision": contract.revision,
        "next_due_at": _iso(contract.next_due_at),
        "started_at": _iso(contract.started_at),
        "ended_at": _iso(contract.ended_at),
        "instances": [
            {
                "key": i.key,
                "process": i.process_id,
                "status": i.status,
                "waiting_for": i.waiting_messages,
                "next_due_at": _iso(i.next_due_at),
            }
            for i in instances
        ],
    }


def task_summary(task: HumanTask) -> dict[str, Any]:
    return {
        "task": task.task_guid,
        "contract_id": task.contract_id,
        "bpmn_id": task.bpmn_id,
        "name": task.name,
        "lane": task.lane,
        "form_key": task.form_key,
        "status": task.status,
        "assignee": task.assignee,
        "due_at": _iso(task.due_at),
        "ready_at": _iso(task.ready_at),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
