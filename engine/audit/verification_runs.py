"""Batch verification (issue 8): replay a sample or all contracts of an office, programme or
period in the background, with progress and a summary an auditor can come back to.

A run is a row (``verification_run``) holding its contract list, so it can be resumed where it
stopped; progress is written every few contracts. The web process runs it on a background
thread (the embedded default); ``aqd verify-contracts`` does the same in the foreground.
"""

from __future__ import annotations

import random
import threading
import time
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.access.accounts import Principal
from engine.audit.verification import verify_batch
from engine.commands.aqd import Aqd
from engine.dates import check_date
from engine.errors import InvalidInput, NotFound, NotPermitted
from engine.models import Contract, Office, VerificationRun

MAX_CONTRACTS = 100_000
STALE_AFTER = timedelta(minutes=5)
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


def execute_run(aqd: Aqd, run_id: int) -> dict[str, Any]:
    """Verify the run's contracts from where it stopped, writing progress as it goes."""
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
    last_write = time.monotonic()
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
        if done or time.monotonic() - last_write >= PROGRESS_EVERY_S:
            _progress(aqd, run_id, checked, passed, failed, done=done)
            last_write = time.monotonic()
    if not ids:
        _progress(aqd, run_id, checked, passed, failed, done=True)
    with aqd.read_session() as session:
        finished = session.get(VerificationRun, run_id)
        if finished is None:
            raise NotFound(f"verification run {run_id} was deleted while it ran")
        return run_summary(finished, aqd.clock.now())


def _progress(
    aqd: Aqd, run_id: int, checked: int, passed: int, failed: list[dict[str, Any]], done: bool
) -> None:
    with aqd.session() as session, session.begin():
        run = session.get(VerificationRun, run_id, with_for_update=True)
        if run is None:
            raise NotFound(f"verification run {run_id} was deleted while it ran")
        run.checked, run.passed, run.failed = checked, passed, list(failed)
        run.updated_at = aqd.clock.now()
        if done:
            run.status = "done"
            run.finished_at = aqd.clock.now()


def start_in_background(aqd: Aqd, run_id: int) -> threading.Thread:
    """Run on a daemon thread of this process (the embedded default)."""
    thread = threading.Thread(
        target=execute_run, args=(aqd, run_id), name=f"aqd-verify-{run_id}", daemon=True
    )
    thread.start()
    return thread


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
