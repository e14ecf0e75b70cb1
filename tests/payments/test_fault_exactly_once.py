"""Fault test (issue 6): every payment order exactly once, none missing, under crashes.

Real PostgreSQL, a real Redis broker that this test starts (and stops and restarts) on a port
of its own, real Celery worker processes (``--pool solo``: the process that runs the payment
is the one killed) and two real ``celery beat`` schedulers. During the run:

* a killer SIGKILLs a running worker (and starts a new one) each time another 4% of the
  orders has been written, so kills land while payments are flowing (at least 20 kills);
* the broker is stopped (its queued messages are lost: it keeps nothing on disk) and
  restarted in the middle of the run;
* two relays in this process and the relay task the two schedulers send reap, claim and
  publish concurrently, and every claimed side effect is published **twice** (duplicate
  deliveries), so two workers often run the same payment at once.

The 1,000 orders come from **real contracts**: 100 CIVP contracts run 10 months each in this
process before the workers start (start, agreement, validation, signature, then per month the
timer and the attendance: ~2,400 commands, ~25 s), so every order is thrown by the BPMN and its
outcome goes back to a real month instance. That is cheaper than 1,000 contracts of one month
(~6,000 commands) and keeps what matters: 1,000 distinct business keys the workers race on.
Afterwards the orders are batched into a pain.001 file, the development bank pays them all,
and the camt.054 is imported twice at once; then every order exists exactly once and is paid,
and each contract's event log holds exactly one ``side_effect_recorded`` event per order, with
the same key, status and amount as the payments table. PostgreSQL only (``FOR UPDATE SKIP LOCKED``
across processes is the point).
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery
from sqlalchemy import func, select

from engine import Aqd, Settings, bootstrap
from engine.clock import SystemClock
from engine.models import Event, Outbox, ProcessInstance
from engine.models.payments import PaymentOrder
from engine.outbox import runner as outbox
from engine.payments import devbank
from engine.payments.batches import create_batch, debtor_account, open_periods
from engine.payments.orders import format_millimes
from engine.payments.reconcile import reconcile
from tests.conftest import ROOT, World, _truncate, make_world
from tests.helpers.payments import with_account

CONTRACTS = 100
MONTHS = 10
ORDERS = CONTRACTS * MONTHS
MIN_KILLS = 20
IN_FLIGHT = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Redis:
    """A redis-server of our own (no persistence: a restart loses every queued message)."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.tmp = tmp
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.tmp)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None


class Fleet:
    """Celery worker and beat processes on the test's broker and queue."""

    def __init__(self, env: dict[str, str], tmp: Path) -> None:
        self.env = env
        self.tmp = tmp
        self.workers: list[tuple[subprocess.Popen[bytes], float]] = []
        self.beats: list[subprocess.Popen[bytes]] = []
        self.kills = 0
        self.started = 0
        self.lock = threading.Lock()

    def _celery(self, *args: str) -> subprocess.Popen[bytes]:
        self.started += 1
        with open(self.tmp / f"celery-{self.started}.log", "wb") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "api.worker", *args],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start_worker(self) -> None:
        proc = self._celery(
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "WARNING",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "-n",
            f"w{uuid.uuid4().hex[:6]}@%h",
        )
        with self.lock:
            self.workers.append((proc, time.monotonic()))

    def start_beat(self, n: int) -> None:
        self.beats.append(
            self._celery("beat", "--loglevel", "ERROR", "-s", str(self.tmp / f"beat{n}"))
        )

    def kill_one(self) -> bool:
        """SIGKILL a worker that has been up for a while (so it is consuming), start another."""
        with self.lock:
            ready = [(p, t) for p, t in self.workers if time.monotonic() - t > 1.0]
            if not ready:
                return False
            proc, started = random.choice(ready)
            self.workers.remove((proc, started))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        self.kills += 1
        self.start_worker()
        return True

    def stop(self) -> None:
        for proc in [p for p, _ in self.workers] + self.beats:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture
def pg_world(pg_url: str) -> World:
    _truncate(pg_url)
    return make_world(pg_url)


def build_orders(world: World) -> set[str]:
    """250 active contracts, 4 worked months each: 1,000 pending payment_order rows."""
    with_account(world)
    ids = []
    for _ in range(CONTRACTS):
        cid = world.start()
        world.activate(cid)
        ids.append(cid)
    for _ in range(MONTHS):
        world.month_end(*ids)
        for cid in ids:
            world.complete(cid, "attendance", {"days_present": 20}, "employer")
    with world.aqd.session() as s:
        keys = set(s.scalars(select(Outbox.idempotency_key).where(Outbox.kind == "payment_order")))
    assert len(keys) == ORDERS
    return keys


def counts(aqd: Aqd) -> dict[str, int]:
    with aqd.session() as s:
        rows = s.execute(
            select(Outbox.status, func.count())
            .where(Outbox.kind == "payment_order")
            .group_by(Outbox.status)
        ).all()
    return {str(status): int(n) for status, n in rows}


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Redis]:
    redis = Redis(tmp_path)
    redis.start()
    yield redis
    redis.stop()


@pytest.mark.slow  # real broker, worker processes and 20 SIGKILLs: about a minute of both cores
def test_payment_orders_exactly_once_under_faults(
    pg_world: World, broker: Redis, tmp_path: Path
) -> None:
    world = pg_world
    t0 = time.monotonic()
    expected = build_orders(world)
    built = time.monotonic() - t0
    print(f"\n{ORDERS} orders built in {built:.1f}s")

    queue = f"aqd-fault-{uuid.uuid4().hex[:8]}"
    broker_url = f"redis://127.0.0.1:{broker.port}/0"
    env = {
        **os.environ,
        "AQD_DATABASE_URL": world.url,
        "AQD_BROKER_URL": broker_url,
        "AQD_CELERY_QUEUE": queue,
        "AQD_OUTBOX_LEASE_S": "4",
        "AQD_TIMER_POLL_S": "1",
    }
    env.pop("AQD_CLOCK", None)
    fleet = Fleet(env, tmp_path)
    # the relays in this process run on the system clock, like the workers (leases expire)
    live = bootstrap.build(Settings(database_url=world.url, outbox_lease_s=4), clock=SystemClock())
    stop = threading.Event()
    published = Counter[str]()
    reaped: list[int] = []
    broker_down = threading.Event()

    def relay(n: int) -> None:
        client = Celery(f"relay{n}", broker=broker_url)
        client.conf.broker_connection_retry_on_startup = True
        while not stop.is_set():
            try:
                if broker_down.is_set():
                    time.sleep(0.2)
                    continue
                reaped.append(outbox.reap(live))
                if counts(live).get("dispatched", 0) >= IN_FLIGHT:
                    time.sleep(0.1)  # a bounded window, as a relay that follows its workers
                    continue
                for item in outbox.claim(live, limit=10, kinds=["payment_order"]):
                    for _ in range(2):  # every delivery is duplicated on purpose
                        client.send_task(
                            "aqd.outbox.execute",
                            args=[item.id],
                            task_id=item.idempotency_key,
                            queue=queue,
                        )
                        published[item.idempotency_key] += 1
            except Exception:  # the broker is down for a moment: the leases bring rows back
                time.sleep(0.2)
            time.sleep(0.1)
        client.close()

    for _ in range(2):
        fleet.start_worker()
    for n in range(2):
        fleet.start_beat(n)
    relays = [threading.Thread(target=relay, args=(n,), daemon=True) for n in range(2)]
    started = time.monotonic()
    try:
        for thread in relays:
            thread.start()
        restarted = False
        deadline = started + 150
        done_at_kill = 0
        while time.monotonic() < deadline:
            time.sleep(0.1)
            state = counts(live)
            done = state.get("awaiting", 0)
            if done - done_at_kill >= ORDERS // 25 or (done == ORDERS and fleet.kills < MIN_KILLS):
                if fleet.kill_one():
                    done_at_kill = done
            if not restarted and done >= ORDERS // 3:
                broker_down.set()
                broker.stop()
                time.sleep(1.0)
                broker.start()
                broker_down.clear()
                restarted = True
            if done == ORDERS and fleet.kills >= MIN_KILLS:
                break
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        for thread in relays:
            thread.join(timeout=10)
        fleet.stop()

    state = counts(live)
    assert state == {"awaiting": ORDERS}, state
    assert fleet.kills >= MIN_KILLS and restarted
    assert sum(reaped) > 0, "no claimed payment was ever lost by a killed worker or the broker"

    # every order exactly once, none missing
    with world.aqd.session() as s:
        keys = list(s.scalars(select(PaymentOrder.idempotency_key)))
    assert len(keys) == len(set(keys)) == ORDERS
    assert set(keys) == expected

    # month-end: batch, the bank pays everything, the result is imported twice at once
    with world.aqd.session() as s:
        periods = open_periods(s)
    files = []
    for office, period in periods:
        with world.aqd.session() as s, s.begin():
            batch = create_batch(
                s, office, period, world.clock.now(), "test", debtor_account(world.aqd.settings)
            )
        assert batch is not None
        files.append(devbank.answer(batch.xml, world.clock.now()))
    reports = []

    def importer(data: bytes) -> None:
        reports.append(reconcile(world.aqd, data))

    for data in files:
        threads = [threading.Thread(target=importer, args=(data,)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sum(r.paid for r in reports) == ORDERS
    assert sum(r.duplicates for r in reports) == ORDERS
    assert all(not r.errors for r in reports)

    # the payments table and each contract's event log agree
    with world.aqd.session() as s:
        orders = {
            o.idempotency_key: (o.contract_id, o.status, format_millimes(o.amount_millimes))
            for o in s.scalars(select(PaymentOrder))
        }
        events = [  # the signing steps' requests are recorded side effects too
            e
            for e in s.scalars(
                select(Event).where(Event.kind == "side_effect_recorded").order_by(Event.id)
            )
            if str(e.payload["key"]).startswith("payment:")
        ]
        months_open = s.scalar(
            select(func.count())
            .select_from(ProcessInstance)
            .where(ProcessInstance.process_id == "civp_month", ProcessInstance.status == "running")
        )
    recorded = Counter(e.payload["key"] for e in events)
    assert recorded == Counter(orders.keys())  # exactly one event per order, no other
    for e in events:
        contract_id, status, amount = orders[e.payload["key"]]
        assert (e.contract_id, e.payload["ok"]) == (contract_id, True)
        assert (e.payload["result"]["status"], e.payload["result"]["amount"]) == (status, amount)
        assert status == "paid"
    assert months_open == CONTRACTS  # months 1-4 closed by their payment; month 5 runs
    duplicates = sum(n - 1 for n in published.values())
    print(
        f"\nfault test: {ORDERS} orders from {CONTRACTS} contracts built in {built:.1f}s; "
        f"{fleet.kills} worker kills, 1 broker restart, {sum(reaped)} leases reaped, "
        f"{duplicates} duplicate deliveries, orders done in {elapsed:.1f}s"
    )
