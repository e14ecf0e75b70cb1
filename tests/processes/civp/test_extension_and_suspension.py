"""CIVP near its term: the extension decision (D2019-542, then the 2025 rule), and the
suspension of an active contract (payments held, resumed, or the contract ended when the
suspension lasts too long)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from engine.audit.replay import replay_contract
from engine.models import Contract, HumanTask, ProcessInstance
from tests.conftest import World
from tests.processes.helpers import decision

MONTH_KEY = "payment:CIVP-2025-{cid:06d}:{m}:beneficiary:stipend"
BASE: dict[str, Any] = {
    "graduate": True,
    "already_extended": False,
    "days_to_term": 30,
    "extension_requested_months": 6,
    "months_after_extension": 18,
}
CASES = [
    ("graduate near the term, 2019 rule", {}, None, True, "OK"),
    ("exactly 12 extra months", {"extension_requested_months": 12}, None, True, "OK"),
    ("13 extra months", {"extension_requested_months": 13}, None, False, "TOO_LONG"),
    ("exactly 24 months in total", {"months_after_extension": 24}, None, True, "OK"),
    ("25 months in total", {"months_after_extension": 25}, None, False, "DURATION_EXHAUSTED"),
    ("non-graduate", {"graduate": False}, None, False, "NOT_GRADUATE"),
    ("second extension", {"already_extended": True}, None, False, "ALREADY_EXTENDED"),
    ("exactly 60 days before the term", {"days_to_term": 60}, None, True, "OK"),
    ("61 days before the term", {"days_to_term": 61}, None, False, "TOO_EARLY"),
    ("no month asked", {"extension_requested_months": 0}, None, False, "NO_MONTHS"),
    ("last day of the 2019 rule", {}, "2025-09-30", True, "OK"),
    ("first day of the 2025 rule", {}, "2025-10-01", False, "EXTENSION_STOPPED"),
]


@pytest.mark.parametrize(("case", "changes", "on", "allowed", "reason"), CASES)
def test_extension_decision(
    case: str, changes: dict[str, Any], on: str | None, allowed: bool, reason: str
) -> None:
    from datetime import UTC, datetime

    when = datetime.fromisoformat(on).replace(tzinfo=UTC) if on else None
    out = decision("civp", "civp_extension", {**BASE, **changes}, when)
    assert (out["extension_allowed"], out["extension_reason"]) == (allowed, reason), case
    assert out["extension_legal_basis"], case


def contract(world: World, cid: int) -> Contract:
    with world.aqd.session() as s:
        found = s.get(Contract, cid)
        assert found is not None
        return found


def main_state(world: World, cid: int) -> bytes:
    with world.aqd.session() as s:
        state = s.scalar(
            select(ProcessInstance.state)
            .where(ProcessInstance.contract_id == cid)
            .order_by(ProcessInstance.id)
        )
        assert state is not None
        return bytes(state)


def replays(world: World, cid: int) -> None:
    with world.aqd.session() as s:
        report = replay_contract(world.aqd, s, cid)
    assert report.ok, report.problems


def test_extension_granted_continues_the_months(world: World) -> None:
    cid = world.start()
    world.activate(cid)
    for _ in range(11):
        world.run_month(cid)
    # a month before the term (31 March 2026) the employer asks for 13 more months (refused),
    # then for 2; the contract was requested in March 2025, so D2019-542 still applies to it
    world.message(cid, "request_extension", {"months": 13, "requested_by": "employer"})
    assert b'"extension_reason":"TOO_LONG"' in main_state(world, cid)
    world.message(cid, "request_extension", {"months": 2, "requested_by": "employer"})
    assert b'"extension_reason":"OK"' in main_state(world, cid)
    assert contract(world, cid).status == "active"
    for _ in range(2):
        world.run_month(cid)
    c = contract(world, cid)
    assert c.status == "active" and c.next_due_at is not None  # month 14 runs
    world.run_month(cid)
    keys = [key for key, _ in world.orders(cid)]
    assert keys == [MONTH_KEY.format(cid=cid, m=m) for m in range(1, 15)]
    world.complete(cid, "record_outcome", {"outcome": "hired_cdi"}, "counsellor")
    assert contract(world, cid).status == "ended"
    replays(world, cid)


def test_extension_refused_the_contract_ends_at_its_term(world: World) -> None:
    cid = world.start(prior_civp_months=12)  # 12 + 12 + 3 > 24 months
    world.activate(cid)
    for _ in range(11):
        world.run_month(cid)
    world.message(cid, "request_extension", {"months": 3, "requested_by": "counsellor"})
    assert b'"extension_reason":"DURATION_EXHAUSTED"' in main_state(world, cid)
    world.run_month(cid)
    c = contract(world, cid)
    assert c.next_due_at is None  # no 13th month
    assert world.task(cid, "record_outcome")
    assert len(world.orders(cid)) == 12
    world.complete(cid, "record_outcome", {"outcome": "none"}, "counsellor")
    assert contract(world, cid).status == "ended"
    replays(world, cid)


def test_extension_refused_too_early_then_under_the_2025_rule(world: World) -> None:
    cid = world.start()
    world.activate(cid)
    world.message(cid, "request_extension", {"months": 6, "requested_by": "counsellor"})
    assert b'"extension_reason":"TOO_EARLY"' in main_state(world, cid)
    assert contract(world, cid).status == "active"
    world.run_month(cid)  # the contract runs on, towards its normal term
    replays(world, cid)

    world.clock.set(world.clock.now().replace(year=2025, month=10, day=15))
    later = world.start(request_date="2025-10-15", start_date="2025-11-01")
    world.activate(later)
    world.message(later, "request_extension", {"months": 6, "requested_by": "employer"})
    assert b'"extension_reason":"EXTENSION_STOPPED"' in main_state(world, later)


def test_suspension_holds_the_month_and_resumption_restarts_it(world: World) -> None:
    cid = world.start()
    world.activate(cid)
    world.run_month(cid)  # April 2025 certified on its 26th, paid
    world.clock.set(world.clock.now() + timedelta(days=14))  # 10 May
    world.message(cid, "suspend_contract", {"reason": "sick_leave"})
    c = contract(world, cid)
    assert c.status == "suspended"
    # the only timer left is the suspension's limit (90 days), not May's end
    assert c.next_due_at is not None and c.next_due_at.date().isoformat() == "2025-08-08"
    world.clock.set(world.clock.now() + timedelta(days=30))  # 9 June: May is over
    assert not world.fire(cid)
    assert len(world.orders(cid)) == 1  # no payment order while suspended
    with world.aqd.session() as s:
        ready = s.scalars(
            select(HumanTask.bpmn_id).where(
                HumanTask.contract_id == cid, HumanTask.status == "ready"
            )
        ).all()
    assert ready == []
    world.message(cid, "resume_contract", {"note": "back to work"})
    c = contract(world, cid)
    assert c.status == "active"
    # month 2 restarts on the resumption day (9 June) and ends on 8 July: its attendance sheet
    # opens 4 days before, on 4 July
    assert c.next_due_at is not None and c.next_due_at.date().isoformat() == "2025-07-04"
    key = world.run_month(cid)
    assert key == MONTH_KEY.format(cid=cid, m=2)
    assert b'"suspended_days":30' in main_state(world, cid)
    replays(world, cid)


def test_suspension_longer_than_the_maximum_ends_the_contract(world: World) -> None:
    cid = world.start()
    world.activate(cid)
    world.run_month(cid)
    world.message(cid, "suspend_contract", {"reason": "maternity"})
    world.clock.set(world.clock.now() + timedelta(days=89))
    assert not world.fire(cid)
    world.clock.set(world.clock.now() + timedelta(days=2))
    assert world.fire(cid)
    c = contract(world, cid)
    assert (c.status, c.next_due_at) == ("terminated", None)
    assert b'"termination_reason":"SUSPENSION_EXCEEDED"' in main_state(world, cid)
    with world.aqd.session() as s:
        statuses = set(
            s.scalars(
                select(ProcessInstance.status).where(ProcessInstance.contract_id == cid)
            ).all()
        )
    assert statuses == {"completed"}
    assert len(world.orders(cid)) == 1
    replays(world, cid)


def test_terminated_while_suspended(world: World) -> None:
    cid = world.start()
    world.activate(cid)
    world.message(cid, "suspend_contract", {"reason": "sick_leave"})
    world.message(cid, "terminate_contract", {"reason": "beneficiary_left", "outcome": "none"})
    c = contract(world, cid)
    assert (c.status, c.next_due_at) == ("terminated", None)
    assert world.orders(cid) == []
    replays(world, cid)
