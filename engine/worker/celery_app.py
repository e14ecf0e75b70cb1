"""The Celery application: JSON only, late acks, time limits, and a beat schedule that polls due
timers. The database stays the source of truth: a lost broker message only delays a timer until
the next poll (the poller re-reads ``contract.next_due_at``)."""

from __future__ import annotations

from typing import Any

from celery import Celery

from engine.config import get_settings


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
        },
    )

    @app.task(name="aqd.timers.run")  # type: ignore[untyped-decorator]
    def timers_run() -> dict[str, Any]:
        from engine.clock import clock_from_setting
        from engine.services.commands import Aqd
        from engine.services.timers import run_due_timers

        aqd = Aqd(
            settings.database_url, clock=clock_from_setting(settings.clock), settings=settings
        )
        result = run_due_timers(aqd)
        return {"fired": result.fired, "idle": result.idle, "failed": len(result.failed)}

    return app


app = make_celery()
