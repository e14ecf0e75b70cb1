"""The timer poller: fires due timers, one contract per transaction (``aqd timers run``).

A month end makes every active contract due within minutes, so one poll does not stop after a
page of contracts: it pages through everything due (keyset order on ``next_due_at, id``) until
nothing is left or its time budget is spent. Pollers may overlap — two Celery workers, two
machines, a poll that outlasts the beat interval — and share the work: each locks a contract
with ``SKIP LOCKED`` only while it is still due (``Store.lock_due``), so a timer fires once and
no poller waits on another.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, tuple_

from engine.commands.aqd import Aqd
from engine.errors import EngineError
from engine.models import Contract

log = logging.getLogger(__name__)


@dataclass
class TimerRun:
    fired: int = 0
    #: due when listed, then fired by another poller or no longer due under the lock
    idle: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)
    #: the contracts this run fired, in order (callers that continue with them, e.g. benches)
    fired_contracts: list[int] = field(default_factory=list)


def run_due_timers(
    aqd: Aqd, limit: int = 500, budget_s: float | None = None, pages: int | None = None
) -> TimerRun:
    """Fire every timer due now, ``limit`` contracts per page, until none is left, the
    ``budget_s`` seconds are spent or ``pages`` pages are done (the next poll continues).
    Safe to run on several machines at once."""
    now = aqd.clock.now()
    deadline = time.monotonic() + budget_s if budget_s is not None else None
    run = TimerRun()
    after: tuple[datetime, int] | None = None
    done = 0
    while pages is None or done < pages:
        page = _due_page(aqd, now, limit, after)
        done += 1
        for contract_id, due in page:
            _fire(aqd, contract_id, run)
            after = (due, contract_id)
            if deadline is not None and time.monotonic() > deadline:
                return run
        if len(page) < limit:
            break
    return run


def _due_page(
    aqd: Aqd, now: datetime, limit: int, after: tuple[datetime, int] | None
) -> list[tuple[int, datetime]]:
    stmt = select(Contract.id, Contract.next_due_at).where(
        Contract.next_due_at.is_not(None), Contract.next_due_at <= now
    )
    if after is not None:  # a contract fired in this run comes back only if due again later
        stmt = stmt.where(tuple_(Contract.next_due_at, Contract.id) > tuple_(*after))
    stmt = stmt.order_by(Contract.next_due_at, Contract.id).limit(limit)
    with aqd.session() as session:
        return [(row.id, row.next_due_at) for row in session.execute(stmt)]


def _fire(aqd: Aqd, contract_id: int, run: TimerRun) -> None:
    try:
        with aqd.session() as session, session.begin():
            event = aqd.fire_timers(session, contract_id, poll=True)
    except EngineError as exc:
        log.warning("timers of contract %s failed: %s", contract_id, exc)
        run.failed.append((contract_id, str(exc)))
        return
    if event is None:
        run.idle += 1
    else:
        run.fired += 1
        run.fired_contracts.append(contract_id)
