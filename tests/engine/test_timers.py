"""The timer poller drains a month end page by page, and overlapping pollers share the work:
each due timer fires once, and no poller waits on a contract another one holds."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import func, select, text

from engine.commands.timers import run_due_timers
from engine.models import Contract, Event
from tests.conftest import World


def _active(world: World, n: int) -> list[int]:
    ids = []
    for _ in range(n):
        cid = world.start()
        world.activate(cid)
        ids.append(cid)
    with world.aqd.session() as s:
        due = s.scalar(select(func.max(Contract.next_due_at)).where(Contract.id.in_(ids)))
    assert due is not None
    world.clock.set(due + timedelta(minutes=5))  # every month-1 timer is due
    return ids


def _fired_events(world: World, ids: list[int]) -> dict[int, int]:
    with world.aqd.session() as s:
        rows = s.execute(
            select(Event.contract_id, func.count())
            .where(Event.contract_id.in_(ids), Event.kind == "timers_fired")
            .group_by(Event.contract_id)
        )
        return {row[0]: row[1] for row in rows}


def test_one_poll_pages_through_everything_due(world: World) -> None:
    ids = _active(world, 5)
    run = run_due_timers(world.aqd, limit=2)
    assert run.fired == 5 and not run.failed
    assert sorted(run.fired_contracts) == ids
    assert _fired_events(world, ids) == dict.fromkeys(ids, 1)
    again = run_due_timers(world.aqd, limit=2)
    assert (again.fired, again.idle) == (0, 0)  # the next month's timers are not due yet


def test_pages_and_budget_stop_a_poll_early_and_the_next_one_continues(world: World) -> None:
    ids = _active(world, 5)
    first = run_due_timers(world.aqd, limit=2, pages=1)
    assert first.fired == 2
    second = run_due_timers(world.aqd, limit=2, budget_s=0)
    assert second.fired == 1  # the budget is checked after each contract
    rest = run_due_timers(world.aqd, limit=2)
    assert rest.fired == 2
    assert _fired_events(world, ids) == dict.fromkeys(ids, 1)


def test_overlapping_pollers_fire_each_timer_once(world: World) -> None:
    ids = _active(world, 8)
    runs = []
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def poll() -> None:
        try:
            start.wait()
            runs.append(run_due_timers(world.aqd, limit=3))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=poll) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(runs) == 3
    assert sum(r.fired for r in runs) == 8
    assert not any(r.failed for r in runs)
    assert sorted(c for r in runs for c in r.fired_contracts) == ids
    assert _fired_events(world, ids) == dict.fromkeys(ids, 1)


def test_a_poller_skips_a_contract_someone_holds_instead_of_waiting(world: World) -> None:
    if not world.url.startswith("postgresql"):
        return  # SQLite has one writer at a time: there is no row lock to skip
    held, free = _active(world, 2)
    outcome = []
    with world.aqd.session() as holder, holder.begin():
        holder.execute(text("SELECT id FROM contract WHERE id = :id FOR UPDATE"), {"id": held})
        poller = threading.Thread(target=lambda: outcome.append(run_due_timers(world.aqd)))
        poller.start()
        poller.join(30)
        assert not poller.is_alive(), "the poller waited on the held contract"
    (run,) = outcome
    assert run.fired_contracts == [free] and run.idle == 1
    later = run_due_timers(world.aqd)  # released: the next poll fires it
    assert later.fired_contracts == [held]
    assert _fired_events(world, [held, free]) == {held: 1, free: 1}
