"""Who may see and do what (DESIGN.md §5): the one place of the rule that a user never sees
another office's or company's data.

Every scoped read takes the acting :class:`Principal` and filters by its scope: office staff see
their office, an employer its company's contracts, a beneficiary their own. Something outside a
principal's scope is reported as *not found* (never "forbidden"), so ids cannot be probed.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from engine.access.accounts import Principal
from engine.errors import NotFound, NotPermitted
from engine.models import (
    Contract,
    HumanTask,
)

CONTRACT_NUMBER = re.compile(r"^[A-Z]+-\d{4}-\d+$")


# Which task lanes a role may act on. Office roles act within their office only.
LANES_BY_ROLE: dict[str, frozenset[str]] = {
    "counsellor": frozenset({"counsellor"}),
    "office_head": frozenset({"counsellor", "office_head"}),
    "finance": frozenset({"finance"}),
    "employer": frozenset({"employer"}),
    "beneficiary": frozenset({"beneficiary"}),
}


def lanes_of(principal: Principal) -> frozenset[str]:
    lanes: set[str] = set()
    for role in principal.roles:
        lanes |= LANES_BY_ROLE.get(role, frozenset())
    return frozenset(lanes)


def contract_scope(principal: Principal) -> Any:
    """A SQL condition on ``Contract`` limiting rows to what the principal may read."""
    if principal.reads_everything:
        return True
    conditions = []
    if principal.is_office_staff:
        conditions.append(Contract.office_id == principal.office_id)
    if principal.has("employer") and principal.employer_id is not None:
        conditions.append(Contract.employer_id == principal.employer_id)
    if principal.has("beneficiary") and principal.beneficiary_id is not None:
        conditions.append(Contract.beneficiary_id == principal.beneficiary_id)
    return or_(*conditions) if conditions else False


def task_scope(principal: Principal) -> Any:
    """Tasks a principal may see in an inbox: their lanes, in their office or their contracts."""
    if principal.reads_everything and not lanes_of(principal):
        return True
    conditions = []
    lanes = lanes_of(principal)
    if principal.is_office_staff:
        office_lanes = lanes & {"counsellor", "office_head", "finance"}
        if office_lanes:
            conditions.append(
                and_(HumanTask.office_id == principal.office_id, HumanTask.lane.in_(office_lanes))
            )
    if "employer" in lanes and principal.employer_id is not None:
        conditions.append(
            and_(HumanTask.lane == "employer", Contract.employer_id == principal.employer_id)
        )
    if "beneficiary" in lanes and principal.beneficiary_id is not None:
        conditions.append(
            and_(
                HumanTask.lane == "beneficiary",
                Contract.beneficiary_id == principal.beneficiary_id,
            )
        )
    return or_(*conditions) if conditions else False


def can_read_contract(principal: Principal, contract: Contract) -> bool:
    if principal.reads_everything:
        return True
    if principal.is_office_staff and contract.office_id == principal.office_id:
        return True
    if principal.has("employer") and contract.employer_id is not None:
        if contract.employer_id == principal.employer_id:
            return True
    return bool(
        principal.has("beneficiary")
        and contract.beneficiary_id is not None
        and contract.beneficiary_id == principal.beneficiary_id
    )


def can_act(principal: Principal, task: HumanTask, contract: Contract) -> bool:
    """May this principal complete (or claim) this task?"""
    if task.lane not in lanes_of(principal):
        return False
    if task.lane in ("counsellor", "office_head", "finance"):
        office = task.office_id if task.office_id is not None else contract.office_id
        return principal.is_office_staff and office == principal.office_id
    if task.lane == "employer":
        return contract.employer_id is not None and contract.employer_id == principal.employer_id
    if task.lane == "beneficiary":
        return (
            contract.beneficiary_id is not None
            and contract.beneficiary_id == principal.beneficiary_id
        )
    return False


def visible_task(session: Session, principal: Principal, guid: str) -> tuple[HumanTask, Contract]:
    row = session.execute(
        select(HumanTask, Contract)
        .join(Contract, Contract.id == HumanTask.contract_id)
        .where(HumanTask.task_guid == guid)
    ).one_or_none()
    if row is None:
        raise NotFound(f"task {guid} not found")
    task, contract = row.HumanTask, row.Contract
    if not (can_act(principal, task, contract) or can_read_contract(principal, contract)):
        raise NotFound(f"task {guid} not found")
    return task, contract


def visible_contract(session: Session, principal: Principal, ref: str | int) -> Contract:
    text = str(ref).strip()
    contract = None
    if text.isdigit() and len(text) < 19:
        contract = session.get(Contract, int(text))
    if contract is None:
        contract = session.scalar(select(Contract).where(Contract.number == text.upper()))
    if contract is None or not can_read_contract(principal, contract):
        raise NotFound(f"contract {text} not found")
    return contract


AUDIT_ROLES = frozenset({"auditor", "programme_manager", "admin"})


def audit_contract(session: Session, principal: Principal, ref: str | int) -> Contract:
    """A contract whose full history (workflow data, replay) this principal may inspect:
    auditors, programme managers and admins everywhere, office staff in their office."""
    contract = visible_contract(session, principal, ref)
    if principal.roles & AUDIT_ROLES:
        return contract
    if principal.is_office_staff and contract.office_id == principal.office_id:
        return contract
    raise NotPermitted("the audit history is for auditors and the office's staff")
