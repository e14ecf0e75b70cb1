"""The outbox runner: claim with leases, execute outside transactions, record once, retry with
backoff, reap expired leases; concurrent relays never share a row."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from engine import Aqd
from engine.errors import InvalidInput
from engine.kernel.planning import not_before
from engine.models import Event, Outbox, ProcessInstance
from engine.outbox import runner as outbox
from engine.outbox.handlers import (
    HandlerResult,
    OutboxItem,
    SideEffectError,
)
from tests.conftest import World


class Bank:
    """A local payment adapter: pays each idempotency key once, counts every call."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.paid: dict[str, str] = {}
        self.fail_next: list[SideEffectError] = []
        self.lock = threading.Lock()

    def __call__(self, aqd: Aqd, item: OutboxItem) -> HandlerResult:
        with self.lock:
            self.calls.append(item.idempotency_key)
            if self.fail_next:
                raise self.fail_next.pop(0)
            ref = self.paid.setdefault(item.idempotency_key, f"TX{len(self.paid) + 1:05d}")
        return HandlerResult({"bank_ref": ref, "amount": item.payload["amount"]})


@pytest.fixture
def bank(world: World) -> Bank:
    adapter = Bank()  # instead of the payments adapter's own handler, for this engine
    world.aqd.plugins.register_handler("payment_order", adapter)
    return adapter


def month_one(world: World) -> int:
    cid = world.start()
    world.activate(cid)
    world.month_end(cid)
    world.complete(cid, "attendance", {"days_present": 20}, "employer")
    return cid


def outbox_rows(world: World) -> list[Outbox]:
    with world.aqd.session() as s:
        query = select(Outbox).where(Outbox.kind == "payment_order").order_by(Outbox.id)
        return list(s.scalars(query))


def payment_events(world: World, cid: int) -> list[Event]:
    """The contract's recorded payment results (its signature requests are recorded too)."""
    with world.aqd.session() as s:
        events = s.scalars(
            select(Event)
            .where(Event.contract_id == cid, Event.kind == "side_effect_recorded")
            .order_by(Event.seq)
        )
        return [e for e in events if str(e.payload["key"]).startswith("payment:")]


def recorded(world: World, cid: int) -> int:
    return len(payment_events(world, cid))


def test_payment_runs_once_and_the_month_closes(world: World, bank: Bank) -> None:
    cid = month_one(world)
    run = outbox.run_once(world.aqd)
    assert (run.claimed, run.done) == (1, 1)
    [row] = outbox_rows(world)
    assert row.status == "completed" and row.attempts == 1 and row.lease_until is None
    assert row.result == {"bank_ref": "TX00001", "amount": "200.000"}
    assert outbox.run_once(world.aqd).claimed == 0
    with world.aqd.session() as s:
        first_month = s.scalar(
            select(ProcessInstance.status).where(ProcessInstance.key == "civp_month#2")
        )
    assert first_month == "completed"
    assert recorded(world, cid) == 1


def test_duplicate_delivery_records_once(world: World, bank: Bank) -> None:
    cid = month_one(world)
    [item] = outbox.claim(world.aqd)
    assert outbox.execute(world.aqd, item) == "done"
    assert outbox.execute(world.aqd, item) == "duplicate"
    assert bank.calls == [item.idempotency_key] * 2 and len(bank.paid) == 1
    assert recorded(world, cid) == 1


def test_unhandled_kinds_wait(world: World) -> None:
    world.aqd.plugins.unregister_handler("payment_order")  # as if no payments adapter
    month_one(world)
    assert outbox.run_once(world.aqd).claimed == 0
    assert [r.status for r in outbox_rows(world)] == ["pending"]


def test_expired_lease_is_reaped_and_run_once(world: World, bank: Bank) -> None:
    cid = month_one(world)
    [item] = outbox.claim(world.aqd)  # this worker dies before executing
    assert outbox.run_once(world.aqd).claimed == 0  # lease still held
    # The lease is the setting AQD_OUTBOX_LEASE_S: held one second before it ends, reaped after.
    lease = timedelta(seconds=world.aqd.settings.outbox_lease_s)
    world.clock.advance(lease - timedelta(seconds=1))
    assert outbox.run_once(world.aqd).claimed == 0
    world.clock.advance(seconds=2)
    run = outbox.run_once(world.aqd)
    assert (run.claimed, run.done) == (1, 1)
    [row] = outbox_rows(world)
    assert row.attempts == 2 and row.status == "completed"
    assert outbox.execute(world.aqd, item) == "duplicate"  # the dead worker comes back
    assert recorded(world, cid) == 1


def test_retryable_failure_backs_off_then_succeeds(world: World, bank: Bank) -> None:
    month_one(world)
    bank.fail_next.append(SideEffectError("bank timeout"))
    assert outbox.run_once(world.aqd).retried == 1
    [row] = outbox_rows(world)
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "bank timeout")
    assert outbox.run_once(world.aqd).claimed == 0  # backing off
    world.clock.advance(seconds=3)
    assert outbox.run_once(world.aqd).done == 1
    assert outbox_rows(world)[0].status == "completed"


def test_final_failure_is_recorded_in_the_history(world: World, bank: Bank) -> None:
    cid = month_one(world)
    bank.fail_next.append(SideEffectError("account closed", retryable=False))
    assert outbox.run_once(world.aqd).failed == 1
    [row] = outbox_rows(world)
    assert row.status == "failed" and row.result == {"error": "account closed"}
    [ev] = payment_events(world, cid)
    assert ev.payload["ok"] is False


def test_two_relays_never_claim_the_same_row(world: World, bank: Bank) -> None:
    cid = world.start()
    now = world.clock.now()
    with world.aqd.session() as s, s.begin():
        for n in range(60):
            s.add(
                Outbox(
                    contract_id=cid,
                    kind="payment_order",
                    payload={"amount": "1.000"},
                    idempotency_key=f"race:{n}",
                    status="pending",
                    attempts=0,
                    available_at=now,
                    created_at=now,
                )
            )
    claimed: list[list[int]] = [[], []]
    barrier = threading.Barrier(2)

    def relay(slot: int) -> None:
        barrier.wait()
        for _ in range(10):
            claimed[slot].extend(item.id for item in outbox.claim(world.aqd, limit=7))

    threads = [threading.Thread(target=relay, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not set(claimed[0]) & set(claimed[1])
    assert len(claimed[0]) + len(claimed[1]) == 60


def test_a_deferred_side_effect_needs_a_date_time_with_an_offset() -> None:
    """``not_before`` in a thrown payload defers the outbox row (never earlier than the
    command); anything but an ISO 8601 date-time with an offset is refused with the key."""
    at = datetime(2025, 4, 27, 9, tzinfo=UTC)
    assert not_before({}, "k", at) == at
    assert not_before({"not_before": "2025-04-30T18:00:00+01:00"}, "k", at) == datetime(
        2025, 4, 30, 17, tzinfo=UTC
    )
    assert not_before({"not_before": "2025-04-01T18:00:00+01:00"}, "k", at) == at
    for bad in ("2025-04-30T18:00:00", "end of month", 20250430, ""):
        with pytest.raises(InvalidInput, match="side effect k: not_before"):
            not_before({"not_before": bad}, "k", at)
