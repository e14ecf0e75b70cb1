"""The Celery application: JSON only, late acks, time limits, and a beat schedule that polls due
timers, relays the outbox and refreshes the analytics rollup. The database stays the source of
truth: a lost broker message only delays work until the next poll (timers re-read
``contract.next_due_at``; the outbox relay re-claims rows whose lease expired)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from celery import Celery

from engine.config import get_settings

if TYPE_CHECKING:
    from engine.services.commands import Aqd


@lru_cache(maxsize=1)
def _aqd() -> Aqd:
    """One engine per worker process (its caches stay hot across tasks)."""
    from engine.clock import clock_from_setting
    from engine.services.commands import Aqd

    settings = get_settings()
    return Aqd(settings.database_url, clock=clock_from_setting(settings.clock), settings=settings)


def make_celery(broker_url: str | None = None) -> Celery:
    settings = get_settings()
    app = Celery("aqd", broker=broker_url or settings.broker_url)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=300,
        task_soft_time_limit=240,
        broker_connection_retry_on_startup=True,
        task_default_queue=settings.celery_queue,
        beat_schedule={
            "fire-due-timers": {"task": "aqd.timers.run", "schedule": float(settings.timer_poll_s)},
            "relay-outbox": {"task": "aqd.outbox.relay", "schedule": 5.0},
            "refresh-analytics": {"task": "aqd.analytics.refresh", "schedule": 300.0},
            "escalate-overdue": {"task": "aqd.tasks.escalate", "schedule": 900.0},
        },
    )

    @app.task(name="aqd.timers.run")  # type: ignore[untyped-decorator]
    def timers_run() -> dict[str, Any]:
        from engine.services.timers import run_due_timers

        result = run_due_timers(_aqd())
        return {"fired": result.fired, "idle": result.idle, "failed": len(result.failed)}

    @app.task(name="aqd.outbox.relay")  # type: ignore[untyped-decorator]
    def outbox_relay() -> dict[str, Any]:
        from engine.services import outbox

        aqd = _aqd()
        reaped = outbox.reap(aqd)
        items = outbox.claim(aqd)
        for item in items:
            outbox_execute.apply_async(args=[item.id], task_id=item.idempotency_key)
        return {"reaped": reaped, "claimed": len(items)}

    @app.task(name="aqd.analytics.refresh")  # type: ignore[untyped-decorator]
    def analytics_refresh() -> dict[str, Any]:
        """Roll the steps completed since the last refresh into the analytics rollup."""
        from engine.services import analytics

        aqd = _aqd()
        with aqd.session() as session, session.begin():
            return analytics.refresh_rollup(session, aqd.clock.now())

    @app.task(name="aqd.tasks.escalate")  # type: ignore[untyped-decorator]
    def tasks_escalate() -> dict[str, Any]:
        """Escalate the tasks that became overdue (each once; safe on several schedulers)."""
        from engine.services.escalations import escalate_overdue

        result = escalate_overdue(_aqd())
        return {"tasks": result.tasks, "notices": result.notices}

    @app.task(name="aqd.outbox.execute")  # type: ignore[untyped-decorator]
    def outbox_execute(outbox_id: int) -> str:
        from engine.services import outbox

        item = outbox.dispatched_item(_aqd(), outbox_id)
        if item is None:
            return "skipped"  # already done, or re-claimed by another relay after a lease expiry
        return outbox.execute(_aqd(), item)

    return app


app = make_celery()
