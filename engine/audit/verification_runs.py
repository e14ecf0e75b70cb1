"""Batch verification (issue 8): replay a sample or all contracts of an office, programme or
period in the background, with progress and a summary an auditor can come back to.

A run is a row (``verification_run``) holding its contract list, so it can be resumed where it
stopped; progress is written every few contracts. The table is also the runs' queue (issue 18:
each request used to start a thread of the web process, with no cap):

* ``request_run`` stores a ``queued`` run, and refuses one more (``Busy``, 429) while
  ``AQD_VERIFICATION_MAX_PENDING`` runs are queued or running;
* ``claim_runs`` takes runnable runs (queued, or running with an expired or released lease),
  at most ``AQD_VERIFICATION_CONCURRENCY`` held at once, and leases them;
* ``execute_run`` verifies a claimed run from where it stopped, extending its lease with each
  progress write; with a time budget it puts the run back after its slice (a Celery task may
  not run longer than its time limit) and the next claim resumes it.

The Celery beat's ``aqd.verification.relay`` claims and sends each run to
``aqd.verification.execute`` (``engine/worker/celery_app.py``); with the embedded broker the web
process has one :class:`EmbeddedVerifier` thread doing the same. ``aqd verify-contracts``
verifies in the foreground.
"""

from __future__ import annotations

import random
import threading
import time
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from engine.access.accounts import Principal
from engine.audit.verification import verify_batch
from engine.commands.aqd import Aqd
from engine.dates import check_date
from engine.errors import Busy, InvalidInput, NotFound, NotPermitted
from engine.logs import get as get_logger
from engine.models import Contract, Office, VerificationRun

log = get_logger("verification")

MAX_CONTRACTS = 100_000
STALE_AFTER = timedelta(minutes=5)
#: A claimed run is held this long past its last progress write.
LEASE = timedelta(minutes=5)
#: What a refused request says (catalogued in api/locales), and when to ask again.
QUEUE_FULL = "too many verification runs are waiting; try again when one has finished"
RETRY_AFTER_S = 60
UNFINISHED = ("queued", "running")
PROGRESS_EVERY_S = 1.0
#: Contracts whose histories are read together (three queries), between progress writes.
CHUNK = 50
AUDITORS = frozenset({"auditor", "programme_manager", "admin"})


def _office_scope(principal: Principal, office: str | None) -> str | None:
    if principal.roles & AUDITORS:
        return office or None
    if principal.has("office_head") and principal.office_id is not None:
        return f"#{principal.office_id}"
    raise NotPermitted("batch verification is for auditors and office heads")


def request_run(
    aqd: Aqd,
    principal: Principal,
    *,
    office: str | None = None,
    programme: str | None = None,
    since: date | None = None,
    until: date | None = None,
    sample: int | None = None,
    seed: int = 0,
    signatures: bool = False,
) -> int:
    """Select the contracts and store a queued run; returns its id. ``signatures``: also
    validate the signatures of every signed document (slower: each one's bytes are read)."""
    office_scope = _office_scope(principal, office)
    for field, day in (("since", since), ("until", until)):
        if day is not None:
            check_date(day, field)
    if sample is not None and sample < 1:
        raise InvalidInput("the sample must be at least 1", fields={"sample": ">= 1"})
    if signatures:
        aqd.plugins.require_validators()
    with aqd.session() as session, session.begin():
        pending = session.scalar(
            select(func.count())
            .select_from(VerificationRun)
            .where(VerificationRun.status.in_(UNFINISHED))
        )
        if (pending or 0) >= aqd.settings.verification_max_pending:
            raise Busy(QUEUE_FULL, retry_after=RETRY_AFTER_S)
        stmt = select(Contract.id).order_by(Contract.id)
        if office_scope and office_scope.startswith("#"):
            stmt = stmt.where(Contract.office_id == int(office_scope[1:]))
        elif office_scope:
            office_id = session.scalar(select(Office.id).where(Office.code == office_scope))
            if office_id is None:
                raise InvalidInput(f"unknown office {office_scope}", fields={"office": "unknown"})
            stmt = stmt.where(Contract.office_id == office_id)
        if programme:
            stmt = stmt.where(Contract.programme == programme)
        if since:
            stmt = stmt.where(Contract.started_at >= datetime.combine(since, datetime.min.time()))
        if until:
            stmt = stmt.where(Contract.started_at < datetime.combine(until, datetime.max.time()))
        ids = list(session.scalars(stmt.limit(MAX_CONTRACTS + 1)))
        if len(ids) > MAX_CONTRACTS and sample is None:
            raise InvalidInput(
                f"more than {MAX_CONTRACTS} contracts: narrow the scope or take a sample",
                fields={"sample": "required for this scope"},
            )
        if sample is not None and sample < len(ids):
            ids = sorted(random.Random(seed).sample(ids, sample))  # noqa: S311 (audit sample)
        run = VerificationRun(
            requested_by=principal.username,
            requested_at=aqd.clock.now(),
            scope={
                "office": office_scope,
                "programme": programme,
                "since": since.isoformat() if since else None,
                "until": until.isoformat() if until else None,
                "sample": sample,
                "seed": seed,
                "signatures": signatures,
            },
            contract_ids=ids,
            total=len(ids),
            checked=0,
            passed=0,
            failed=[],
            status="queued",
        )
        session.add(run)
        session.flush()
        return run.id


def _runnable(now: datetime) -> Any:
    return or_(
        VerificationRun.status == "queued",
        and_(
            VerificationRun.status == "running",
            or_(VerificationRun.lease_until.is_(None), VerificationRun.lease_until <= now),
        ),
    )


def claim_runs(aqd: Aqd, limit: int | None = None) -> list[int]:
    """Lease runnable runs (oldest first), keeping at most ``AQD_VERIFICATION_CONCURRENCY``
    held at once (``limit`` lowers it); returns their ids. One short transaction."""
    now = aqd.clock.now()
    with aqd.session() as session, session.begin():
        held = session.scalar(
            select(func.count())
            .select_from(VerificationRun)
            .where(VerificationRun.status == "running", VerificationRun.lease_until > now)
        )
        room = aqd.settings.verification_concurrency - (held or 0)
        if limit is not None:
            room = min(room, limit)
        if room <= 0:
            return []
        due = select(VerificationRun.id).where(_runnable(now)).order_by(VerificationRun.id)
        if session.get_bind().dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        ids = list(session.scalars(due.limit(room)))
        if ids:
            session.execute(
                update(VerificationRun)
                .where(VerificationRun.id.in_(ids))
                .values(status="running", lease_until=now + LEASE, updated_at=now)
            )
    return ids


def execute_run(aqd: Aqd, run_id: int, budget_s: float | None = None) -> dict[str, Any]:
    """Verify the run's contracts from where it stopped, writing progress as it goes. With
    ``budget_s``, stop after the chunk that used it up and put the run back (released lease)
    for the next claim to resume."""
    began = time.monotonic()
    with aqd.session() as session, session.begin():
        run = session.get(VerificationRun, run_id, with_for_update=True)
        if run is None:
            raise NotFound(f"verification run {run_id} not found")
        if run.status == "done":
            return run_summary(run, aqd.clock.now())
        ids = list(run.contract_ids)[run.checked :]
        checked, passed, failed = run.checked, run.passed, list(run.failed)
        signatures = bool(run.scope.get("signatures"))
        run.status = "running"
        run.started_at = run.started_at or aqd.clock.now()
        run.updated_at = aqd.clock.now()
        run.lease_until = aqd.clock.now() + LEASE
    last_write = time.monotonic()
    done = not ids
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        results = verify_batch(aqd, chunk, signatures=signatures)
        for contract_id, result in zip(chunk, results, strict=True):
            checked += 1
            if result is None:
                failed.append(
                    {
                        "contract": str(contract_id),
                        "first_divergent_seq": None,
                        "problem": "contract deleted",
                    }
                )
            elif result.ok:
                passed += 1
            else:
                failed.append(
                    {
                        "contract": result.number,
                        "first_divergent_seq": result.first_divergent_seq,
                        "problem": result.problems[0],
                    }
                )
        done = start + CHUNK >= len(ids)
        out_of_time = budget_s is not None and time.monotonic() - began >= budget_s
        if done or out_of_time or time.monotonic() - last_write >= PROGRESS_EVERY_S:
            _progress(aqd, run_id, checked, passed, failed, done=done, release=out_of_time)
            last_write = time.monotonic()
        if out_of_time:
            break
    if not ids:
        _progress(aqd, run_id, checked, passed, failed, done=True, release=False)
    with aqd.read_session() as session:
        finished = session.get(VerificationRun, run_id)
        if finished is None:
            raise NotFound(f"verification run {run_id} was deleted while it ran")
        return run_summary(finished, aqd.clock.now())


def _progress(
    aqd: Aqd,
    run_id: int,
    checked: int,
    passed: int,
    failed: list[dict[str, Any]],
    done: bool,
    release: bool,
) -> None:
    now = aqd.clock.now()
    with aqd.session() as session, session.begin():
        run = session.get(VerificationRun, run_id, with_for_update=True)
        if run is None:
            raise NotFound(f"verification run {run_id} was deleted while it ran")
        run.checked, run.passed, run.failed = checked, passed, list(failed)
        run.updated_at = now
        run.lease_until = None if done or release else now + LEASE
        if done:
            run.status = "done"
            run.finished_at = now


class EmbeddedVerifier:
    """The embedded server's worker for verification runs: one thread of the web process,
    started when a run is queued (and at start-up, to resume interrupted runs), which claims
    and verifies runs one at a time and ends when none is left. However many runs are
    requested, this process verifies one at a time on one thread."""

    def __init__(self, aqd: Aqd) -> None:
        self.aqd = aqd
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="aqd-verifier", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            with self._lock:
                try:
                    ids = claim_runs(self.aqd, limit=1)
                except Exception:
                    log.exception("claiming verification runs failed")
                    ids = []
                if not ids:
                    self._thread = None
                    return
            try:
                execute_run(self.aqd, ids[0])
            except Exception:  # the run stays claimable once its lease expires
                log.exception("verification run %s failed", ids[0])
                return self._stop()

    def _stop(self) -> None:
        with self._lock:
            self._thread = None

    def idle(self, timeout_s: float) -> bool:
        """Wait until the thread has nothing left to do (tests, shutdown)."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
        return not (thread is not None and thread.is_alive())


def run_summary(run: VerificationRun, now: datetime) -> dict[str, Any]:
    status = run.status
    if status == "running" and run.updated_at and now - run.updated_at > STALE_AFTER:
        status = "interrupted"  # its process stopped; execute_run resumes it
    return {
        "id": run.id,
        "status": status,
        "requested_by": run.requested_by,
        "requested_at": run.requested_at.isoformat(),
        "scope": run.scope,
        "total": run.total,
        "checked": run.checked,
        "passed": run.passed,
        "failed": run.failed,
        "progress": round(run.checked / run.total, 4) if run.total else 1.0,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


def get_run(session: Session, principal: Principal, run_id: int, now: datetime) -> dict[str, Any]:
    run = session.get(VerificationRun, run_id)
    if run is None or not _may_see(principal, run):
        raise NotFound(f"verification run {run_id} not found")
    return run_summary(run, now)


def list_runs(session: Session, principal: Principal, now: datetime) -> list[dict[str, Any]]:
    runs = session.scalars(
        select(VerificationRun).order_by(VerificationRun.id.desc()).limit(50)
    ).all()
    return [run_summary(r, now) for r in runs if _may_see(principal, r)]


def _may_see(principal: Principal, run: VerificationRun) -> bool:
    if principal.roles & AUDITORS:
        return True
    return run.scope.get("office") == f"#{principal.office_id}" and principal.has("office_head")


def count_runs(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(VerificationRun)) or 0)
