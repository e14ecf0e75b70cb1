"""The outbox runner: the database is the source of truth for side effects (invariant 2).

Handlers come from the engine's plug-ins (``aqd.plugins``, see ``engine.outbox.handlers``).

* **claim** (the relay): in one short transaction and one statement (``WITH taken AS (SELECT …
  FOR UPDATE SKIP LOCKED) UPDATE … RETURNING``), take due ``pending`` rows of the kinds that
  have a handler (``SKIP LOCKED`` on PostgreSQL, so several relays never take the same row),
  mark them ``dispatched`` with a lease, count the attempt;
* **execute**: call the handler outside any transaction (no lock is held during I/O or
  cryptography), then record the result as a command (``record_side_effect``), which delivers
  the reply message to the contract and is a no-op if the result was already recorded;
* **retry**: a retryable failure puts the row back with exponential backoff; a final failure,
  or too many attempts, records the failure (``reply_failed`` message, event);
* **await**: a handler whose effect has a late outcome (a bank transfer) returns
  ``awaiting``; the row waits in status ``awaiting`` (neither claimed nor reaped) until the
  outcome is recorded with ``record_side_effect`` (the payments reconciliation);
* **reap**: a row whose lease expired (its worker died) goes back to ``pending``;
* **batch** (``run_once``): the claimed rows are grouped by kind; a kind with a batch handler
  (``payment_order``) runs its rows together: the handler's writes and the ``awaiting`` marks
  of the rows it handed over commit in **one transaction**; the rows it leaves (rejections,
  re-issues, …) go through ``execute`` one by one, and if the batch fails its transaction rolls
  back and every row goes through ``execute``, so one bad row never blocks the others.

Delivery is at least once; handlers are idempotent on the business key and the result is
recorded once, so the effect happens exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, literal, select, update
from sqlalchemy.orm import Session

from engine.commands.aqd import Aqd
from engine.errors import EngineError
from engine.logs import get as get_logger
from engine.logs import timed
from engine.models import Outbox
from engine.outbox.handlers import OutboxItem, SideEffectError

log = get_logger("outbox")

LEASE = timedelta(minutes=5)  # default of AQD_OUTBOX_LEASE_S
MAX_ATTEMPTS = 8
BATCH_MAX = 500  # rows per batch transaction (keeps a multi-row INSERT under the bind limits)


@dataclass
class OutboxRun:
    claimed: int = 0
    done: int = 0
    retried: int = 0
    failed: int = 0
    awaiting: int = 0
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)


def backoff(attempts: int) -> timedelta:
    """2, 4, 8 … seconds, capped at one hour."""
    return timedelta(seconds=min(2 ** max(attempts, 1), 3600))


def claim(aqd: Aqd, limit: int = 50, kinds: list[str] | None = None) -> list[OutboxItem]:
    """Take up to ``limit`` due side effects (one short transaction, one statement)."""
    kinds = aqd.plugins.handled_kinds() if kinds is None else kinds
    if not kinds:
        return []
    now = aqd.clock.now()
    lease = timedelta(seconds=aqd.settings.outbox_lease_s)
    table: Any = Outbox.__table__
    with aqd.session() as session, session.begin():
        due = (
            select(table.c.id)
            .where(
                table.c.status == "pending",
                table.c.available_at <= now,
                table.c.kind.in_(kinds),
            )
            # the index (status, available_at, id) serves this order: a claim reads its page
            # only, even when a month's end makes every order due at the same instant
            .order_by(table.c.available_at, table.c.id)
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        taken = due.cte("taken")
        rows = session.execute(
            update(table)
            .where(table.c.id == taken.c.id)
            .values(status="dispatched", attempts=table.c.attempts + 1, lease_until=now + lease)
            .returning(
                table.c.id,
                table.c.contract_id,
                table.c.kind,
                table.c.idempotency_key,
                table.c.payload,
                table.c.attempts,
            )
        ).all()
    items = [
        OutboxItem(
            id=oid,
            contract_id=contract_id,
            kind=kind,
            idempotency_key=key,
            payload=dict(payload),
            attempts=attempts,
        )
        for oid, contract_id, kind, key, payload, attempts in rows
    ]
    return sorted(items, key=lambda item: item.id)


def reap(aqd: Aqd) -> int:
    """Put back side effects whose lease expired (their worker died or hung)."""
    now = aqd.clock.now()
    with aqd.session() as session, session.begin():
        result = session.execute(
            update(Outbox)
            .where(Outbox.status == "dispatched", Outbox.lease_until < now)
            .values(status="pending", available_at=now, lease_until=None)
        )
        count: int = getattr(result, "rowcount", 0) or 0
    if count:
        log.warning("reaped %d side effects with expired leases", count)
    return count


#: the log line's event for a side effect's kind (``side_effect`` for the others)
LOG_EVENTS = {"signing.apply": "signature", "payment_order": "payment"}


def execute(aqd: Aqd, item: OutboxItem, run: OutboxRun | None = None) -> str:
    """Run one claimed side effect and record its outcome; returns what happened. One log line
    (``signature``, ``payment`` or ``side_effect``) names it, its contract, duration and
    outcome."""
    with timed(
        log,
        LOG_EVENTS.get(item.kind, "side_effect"),
        kind=item.kind,
        key=item.idempotency_key,
        contract_id=item.contract_id,
        attempt=item.attempts,
    ) as line:
        line["outcome"] = _execute(aqd, item, run or OutboxRun())
        return str(line["outcome"])


def _execute(aqd: Aqd, item: OutboxItem, run: OutboxRun) -> str:
    handler = aqd.plugins.handler_for(item.kind)
    if handler is None:
        _release(aqd, item, f"no handler for {item.kind}", retry_in=backoff(item.attempts))
        run.retried += 1
        return "retried"
    try:
        outcome = handler(aqd, item)
    except SideEffectError as exc:
        if exc.retryable and item.attempts < MAX_ATTEMPTS:
            _release(aqd, item, str(exc), retry_in=backoff(item.attempts))
            run.retried += 1
            return "retried"
        return _record(aqd, item, ok=False, result={"error": str(exc)}, run=run)
    except Exception as exc:  # a bug in a handler: retry, then fail for good; never lose it
        log.exception("side effect %s raised", item.idempotency_key)
        if item.attempts < MAX_ATTEMPTS:
            _release(aqd, item, f"{type(exc).__name__}: {exc}", retry_in=backoff(item.attempts))
            run.retried += 1
            return "retried"
        return _record(aqd, item, ok=False, result={"error": str(exc)}, run=run)
    if outcome.awaiting:
        return _await(aqd, item, outcome.result, run)
    return _record(aqd, item, ok=True, result=outcome.result, run=run)


def _await(aqd: Aqd, item: OutboxItem, result: dict[str, Any], run: OutboxRun) -> str:
    """The effect was handed over; its outcome will be recorded later by another command."""
    with aqd.session() as session, session.begin():
        done = session.execute(
            update(Outbox)
            .where(Outbox.id == item.id, Outbox.status == "dispatched")
            .values(status="awaiting", lease_until=None, last_error=None, result=result)
        )
    if not (getattr(done, "rowcount", 0) or 0):
        run.duplicates += 1  # another delivery of the same row got there first
        return "duplicate"
    run.awaiting += 1
    return "awaiting"


def execute_batch(aqd: Aqd, items: list[OutboxItem], run: OutboxRun | None = None) -> OutboxRun:
    """Run claimed side effects of one kind through its batch handler (one transaction: the
    handler's writes and the ``awaiting`` marks), then the items it left through ``execute``.
    A failing batch rolls back and every item goes through ``execute``: nothing is lost."""
    run = run or OutboxRun()
    kinds = {item.kind for item in items}
    batch = (
        aqd.plugins.batch_handler_for(items[0].kind) if len(kinds) == 1 else None
    )  # not for mixed kinds
    if batch is None:
        for item in items:
            execute(aqd, item, run)
        return run
    handed: dict[int, dict[str, Any]] = {}
    marked: set[int] = set()
    try:
        with aqd.session() as session, session.begin():
            outcome = batch(aqd, session, list(items))
            handed = {i.id: outcome.awaiting[i.id] for i in items if i.id in outcome.awaiting}
            marked = _mark_awaiting(session, handed)
    except Exception:
        log.exception("a batch of %d %s failed: running them one by one", len(items), kinds)
        handed, marked = {}, set()
    run.awaiting += len(marked)
    run.duplicates += len(handed) - len(marked)  # another delivery got there first
    if handed:
        log.info(
            "batch of side effects",
            extra={
                "event": LOG_EVENTS.get(items[0].kind, "side_effect") + "s",
                "kind": items[0].kind,
                "items": len(items),
                "outcome": "awaiting",
                "awaiting": len(marked),
                "duplicates": len(handed) - len(marked),
            },
        )
    for item in items:
        if item.id not in handed:
            execute(aqd, item, run)
    return run


def _mark_awaiting(session: Session, results: dict[int, dict[str, Any]]) -> set[int]:
    """Mark the still-dispatched rows among ``results`` awaiting, each with its result, in one
    statement; return the ids marked (a row no longer dispatched was done by another delivery)."""
    if not results:
        return set()
    table: Any = Outbox.__table__
    ids = sorted(results)
    value = case({oid: literal(results[oid], table.c.result.type) for oid in ids}, value=table.c.id)
    done = session.execute(
        update(table)
        .where(table.c.id.in_(ids), table.c.status == "dispatched")
        .values(status="awaiting", lease_until=None, last_error=None, result=value)
        .returning(table.c.id)
    )
    return set(done.scalars())


def _record(aqd: Aqd, item: OutboxItem, ok: bool, result: dict[str, Any], run: OutboxRun) -> str:
    if item.contract_id is None:
        return _record_alone(aqd, item, ok, result, run)
    try:
        with aqd.session() as session, session.begin():
            recorded = aqd.record_side_effect(
                session, item.idempotency_key, ok, result, actor="worker"
            )
    except EngineError as exc:
        # e.g. the contract no longer waits for the reply: keep the row for an admin
        run.errors.append(f"{item.idempotency_key}: {exc}")
        _release(aqd, item, str(exc), retry_in=backoff(item.attempts), final=True)
        run.failed += 1
        return "failed"
    if recorded is None:
        run.duplicates += 1
        return "duplicate"
    if ok:
        run.done += 1
        return "done"
    run.failed += 1
    return "failed"


def _record_alone(
    aqd: Aqd, item: OutboxItem, ok: bool, result: dict[str, Any], run: OutboxRun
) -> str:
    """A side effect of no contract (a contact's confirmation code): its outcome stays on its
    outbox row, since there is no contract history to record it in."""
    now: datetime = aqd.clock.now()
    with aqd.session() as session, session.begin():
        done = session.execute(
            update(Outbox)
            .where(Outbox.id == item.id, Outbox.status == "dispatched")
            .values(
                status="completed" if ok else "failed",
                result=result,
                completed_at=now,
                lease_until=None,
                last_error=None if ok else str(result.get("error", ""))[:2000],
            )
        )
    if not (getattr(done, "rowcount", 0) or 0):
        run.duplicates += 1
        return "duplicate"
    if ok:
        run.done += 1
        return "done"
    run.failed += 1
    return "failed"


def _release(
    aqd: Aqd, item: OutboxItem, error: str, retry_in: timedelta, final: bool = False
) -> None:
    now: datetime = aqd.clock.now()
    with aqd.session() as session, session.begin():
        _set_pending(session, item.id, error, now + retry_in, final)


def _set_pending(
    session: Session, outbox_id: int, error: str, available_at: datetime, final: bool
) -> None:
    session.execute(
        update(Outbox)
        .where(Outbox.id == outbox_id, Outbox.status == "dispatched")
        .values(
            status="failed" if final else "pending",
            available_at=available_at,
            lease_until=None,
            last_error=error[:2000],
        )
    )


def dispatched_item(aqd: Aqd, outbox_id: int) -> OutboxItem | None:
    """A claimed side effect by id (for a worker that got it from the broker), or None."""
    with aqd.session() as session:
        row = session.get(Outbox, outbox_id)
        if row is None or row.status != "dispatched":
            return None
        return _item(row)


def dispatched_items(aqd: Aqd, outbox_ids: list[int]) -> list[OutboxItem]:
    """The claimed side effects among ``outbox_ids`` (one query), in id order."""
    if not outbox_ids:
        return []
    with aqd.session() as session:
        query = (
            select(Outbox)
            .where(Outbox.id.in_(outbox_ids), Outbox.status == "dispatched")
            .order_by(Outbox.id)
        )
        return [_item(row) for row in session.scalars(query)]


def _item(row: Outbox) -> OutboxItem:
    return OutboxItem(
        id=row.id,
        contract_id=row.contract_id,
        kind=row.kind,
        idempotency_key=row.idempotency_key,
        payload=dict(row.payload),
        attempts=row.attempts,
    )


def execute_all(aqd: Aqd, items: list[OutboxItem], run: OutboxRun | None = None) -> OutboxRun:
    """Run claimed side effects: grouped by kind, through the kind's batch handler when it has
    one (``execute_batch``, at most ``BATCH_MAX`` rows a transaction), one by one otherwise."""
    run = run or OutboxRun()
    by_kind: dict[str, list[OutboxItem]] = {}
    for item in items:
        by_kind.setdefault(item.kind, []).append(item)
    for kind, group in by_kind.items():
        if aqd.plugins.batch_handler_for(kind) is None:
            for item in group:
                execute(aqd, item, run)
            continue
        for start in range(0, len(group), BATCH_MAX):
            execute_batch(aqd, group[start : start + BATCH_MAX], run)
    return run


def run_once(aqd: Aqd, limit: int = 50) -> OutboxRun:
    """Reap, claim and execute in this process (the embedded default and ``aqd outbox run``)."""
    run = OutboxRun()
    reap(aqd)
    items = claim(aqd, limit)
    run.claimed = len(items)
    return execute_all(aqd, items, run)
