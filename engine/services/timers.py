"""The timer poller: fires due timers, one contract per transaction (``aqd timers run``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import select

from engine.errors import EngineError
from engine.models import Contract
from engine.services.commands import Aqd

log = logging.getLogger(__name__)


@dataclass
class TimerRun:
    fired: int = 0
    idle: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)


def run_due_timers(aqd: Aqd, limit: int = 500) -> TimerRun:
    """Fire every timer due now. Safe to run on several machines: each contract is locked and
    re-checked under its lock, so a timer fires once however many pollers see it."""
    now = aqd.clock.now()
    with aqd.session() as session:
        ids = list(
            session.scalars(
                select(Contract.id)
                .where(Contract.next_due_at.is_not(None), Contract.next_due_at <= now)
                .order_by(Contract.next_due_at)
                .limit(limit)
            )
        )
    run = TimerRun()
    for contract_id in ids:
        try:
            with aqd.session() as session, session.begin():
                event = aqd.fire_timers(session, contract_id)
        except EngineError as exc:
            log.warning("timers of contract %s failed: %s", contract_id, exc)
            run.failed.append((contract_id, str(exc)))
            continue
        if event is None:
            run.idle += 1
        else:
            run.fired += 1
    return run
