"""The Celery application: JSON only, late acks, time limits, and a beat schedule that polls due
timers, relays the outbox and the queued verification runs, and refreshes the analytics rollup.
The database stays the source of truth: a lost broker message only delays work until the next
poll (timers re-read ``contract.next_due_at``; the outbox relay re-claims rows whose lease
expired, and so does the verification relay). The relay sends
each claimed side effect as its own ``aqd.outbox.execute`` task, except the kinds with a batch
handler (payment orders), whose claimed rows go together in one ``aqd.outbox.execute_many``
task (one transaction for the lot, see ``engine.outbox.handlers``).

:func:`make_celery` takes the composition root the worker builds its engine with (one engine
per worker process, built on first use): ``api.worker`` (``celery -A api.worker``) and
``aqd worker``/``aqd scheduler`` hand it ``api.bootstrap.build``, so the worker runs every
plug-in's side effects, signing's included."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from celery import Celery

from engine import analytics
from engine.audit import verification_runs
from engine.audit.anchors import create_anchor
from engine.commands.aqd import Aqd
from engine.commands.timers import run_due_timers
from engine.config import get_settings
from engine.inbox.documents import expire_pending
from engine.notifications.escalations import escalate_overdue
from engine.outbox import runner as outbox
from engine.plugins import EngineRoot

#: one timer poll runs at most this long, under the task's soft time limit (240 s)
TIMER_BUDGET_S = 200.0
#: one slice of a verification run, under the same limit; the next relay resumes the run
VERIFY_BUDGET_S = 200.0


def make_celery(build: EngineRoot, broker_url: str | None = None) -> Celery:
    """The Celery application whose tasks run on the engine ``build`` makes from the settings.

    Its tasks are not shared with other Celery applications of the process (``shared=False``):
    each application runs its own engine."""
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
        # engine/logs.py configured the process (one JSON line a record); Celery keeps it
        worker_hijack_root_logger=False,
        task_default_queue=settings.celery_queue,
        beat_schedule={
            "fire-due-timers": {"task": "aqd.timers.run", "schedule": float(settings.timer_poll_s)},
            "relay-outbox": {"task": "aqd.outbox.relay", "schedule": 5.0},
            "refresh-analytics": {"task": "aqd.analytics.refresh", "schedule": 300.0},
            "escalate-overdue": {"task": "aqd.tasks.escalate", "schedule": 900.0},
            "anchor-chains": {"task": "aqd.anchors.create", "schedule": 3600.0},
            "expire-uploads": {"task": "aqd.documents.expire", "schedule": 3600.0},
            "relay-verifications": {"task": "aqd.verification.relay", "schedule": 5.0},
        },
    )

    @lru_cache(maxsize=1)
    def engine() -> Aqd:
        """One engine per worker process (its caches stay hot across tasks)."""
        return build(get_settings())

    @app.task(name="aqd.timers.run", shared=False)  # type: ignore[untyped-decorator]
    def timers_run() -> dict[str, Any]:
        # a month end takes longer than one task may run: the next beat continues it
        result = run_due_timers(engine(), budget_s=TIMER_BUDGET_S)
        return {"fired": result.fired, "idle": result.idle, "failed": len(result.failed)}

    @app.task(name="aqd.outbox.relay", shared=False)  # type: ignore[untyped-decorator]
    def outbox_relay() -> dict[str, Any]:
        aqd: Aqd = engine()
        reaped = outbox.reap(aqd)
        items = outbox.claim(aqd)
        batches: dict[str, list[int]] = {}
        for item in items:
            if aqd.plugins.batch_handler_for(item.kind) is None:
                outbox_execute.apply_async(args=[item.id], task_id=item.idempotency_key)
            else:  # kinds with a batch handler (payment orders): one task, one transaction
                batches.setdefault(item.kind, []).append(item.id)
        for ids in batches.values():
            outbox_execute_many.apply_async(args=[ids])
        return {"reaped": reaped, "claimed": len(items)}

    @app.task(name="aqd.analytics.refresh", shared=False)  # type: ignore[untyped-decorator]
    def analytics_refresh() -> dict[str, Any]:
        """Roll the steps completed since the last refresh into the analytics rollup."""
        aqd: Aqd = engine()
        with aqd.session() as session, session.begin():
            return analytics.refresh_rollup(session, aqd.clock.now())

    @app.task(name="aqd.tasks.escalate", shared=False)  # type: ignore[untyped-decorator]
    def tasks_escalate() -> dict[str, Any]:
        """Escalate the tasks that became overdue (each once; safe on several schedulers)."""
        result = escalate_overdue(engine())
        return {"tasks": result.tasks, "notices": result.notices}

    @app.task(name="aqd.anchors.create", shared=False)  # type: ignore[untyped-decorator]
    def anchors_create() -> dict[str, Any]:
        """Anchor the chain heads that moved in the last hour, time-stamped (a failed stamp is
        retried by the next run)."""
        return create_anchor(engine())

    @app.task(name="aqd.documents.expire", shared=False)  # type: ignore[untyped-decorator]
    def documents_expire() -> dict[str, int]:
        """Delete the pending uploads that expired (safe on several schedulers)."""
        return expire_pending(engine())

    @app.task(name="aqd.verification.relay", shared=False)  # type: ignore[untyped-decorator]
    def verification_relay() -> dict[str, Any]:
        """Lease the queued verification runs (at most ``AQD_VERIFICATION_CONCURRENCY`` held
        at once) and send each to ``aqd.verification.execute``."""
        ids = verification_runs.claim_runs(engine())
        for run_id in ids:
            verification_execute.apply_async(args=[run_id])
        return {"claimed": len(ids)}

    @app.task(name="aqd.verification.execute", shared=False)  # type: ignore[untyped-decorator]
    def verification_execute(run_id: int) -> dict[str, Any]:
        """One slice of a claimed run (``VERIFY_BUDGET_S``); an unfinished run is put back and
        the next relay resumes it where it stopped."""
        summary = verification_runs.execute_run(engine(), int(run_id), budget_s=VERIFY_BUDGET_S)
        return {"status": summary["status"], "checked": summary["checked"]}

    @app.task(name="aqd.outbox.execute", shared=False)  # type: ignore[untyped-decorator]
    def outbox_execute(outbox_id: int) -> str:
        aqd: Aqd = engine()
        item = outbox.dispatched_item(aqd, outbox_id)
        if item is None:
            return "skipped"  # already done, or re-claimed by another relay after a lease expiry
        return outbox.execute(aqd, item)

    @app.task(name="aqd.outbox.execute_many", shared=False)  # type: ignore[untyped-decorator]
    def outbox_execute_many(outbox_ids: list[int]) -> dict[str, int]:
        """Claimed side effects of a kind with a batch handler, run together
        (``outbox.execute_all``); the ids no longer dispatched are skipped, as by
        ``aqd.outbox.execute``."""
        aqd: Aqd = engine()
        items = outbox.dispatched_items(aqd, [int(i) for i in outbox_ids])
        run = outbox.execute_all(aqd, items)
        return {
            "skipped": len(outbox_ids) - len(items),
            "awaiting": run.awaiting,
            "done": run.done,
            "retried": run.retried,
            "failed": run.failed,
            "duplicates": run.duplicates,
        }

    return app
