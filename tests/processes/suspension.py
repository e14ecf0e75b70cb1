"""Suspension and resumption, the same in every programme: a suspension holds the running month
(no payment order while suspended), the resumption restarts it, a suspension longer than
``max_suspension`` ends the contract."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from engine.audit.replay import replay_contract
from engine.models import Contract, ProcessInstance
from tests.conftest import World


def _contract(world: World, cid: int) -> Contract:
    with world.aqd.session() as s:
        c = s.get(Contract, cid)
        assert c is not None
        s.expunge(c)
        return c


def _replays(world: World, cid: int) -> None:
    with world.aqd.session() as s:
        report = replay_contract(world.aqd, s, cid)
    assert report.ok, report.problems


def suspend_and_resume(world: World, cid: int, task: str, data: dict[str, object]) -> None:
    """Month 1 paid; suspended 40 days into month 2: no order; resumed: month 2 paid."""
    world.run_month(cid, task=task, data=data)
    world.clock.set(world.clock.now() + timedelta(days=10))
    world.message(cid, "suspend_contract", {"reason": "maternity"})
    assert _contract(world, cid).status == "suspended"
    world.clock.set(world.clock.now() + timedelta(days=30))
    assert not world.fire(cid)  # month 2's end passed: nothing happens while suspended
    assert len(world.orders(cid)) == 1
    world.message(cid, "resume_contract", {})
    assert _contract(world, cid).status == "active"
    key = world.run_month(cid, task=task, data=data)
    assert key.split(":")[2] == "2", key
    assert len(world.orders(cid)) == 2
    _replays(world, cid)


def suspend_too_long(world: World, cid: int) -> None:
    """A suspension longer than max_suspension (P90D) terminates the contract."""
    world.message(cid, "suspend_contract", {"reason": "sick_leave"})
    world.clock.set(world.clock.now() + timedelta(days=91))
    assert world.fire(cid)
    c = _contract(world, cid)
    assert (c.status, c.next_due_at) == ("terminated", None)
    with world.aqd.session() as s:
        statuses = set(
            s.scalars(
                select(ProcessInstance.status).where(ProcessInstance.contract_id == cid)
            ).all()
        )
    assert statuses == {"completed"}
    assert world.orders(cid) == []
    _replays(world, cid)
