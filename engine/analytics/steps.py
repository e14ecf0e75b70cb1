"""Processing time per step: completed human tasks per programme, office and step, exact from the
raw rows or from the rollup's histograms (``rollup``), with their percentiles.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    select,
)
from sqlalchemy.orm import Session

from engine.analytics.histograms import _merged, flat_percentiles, rollup_periods
from engine.analytics.scope import PARTY_LANES, Scope, _hours, percentile
from engine.models import (
    HumanTask,
    Office,
    StepRollup,
    StepRollupState,
)


@dataclass
class _Step:
    programme: str
    office: str
    step: str
    lane: str
    total: list[float] = field(default_factory=list)
    waiting: list[float] = field(default_factory=list)
    working: list[float] = field(default_factory=list)
    with_due: int = 0
    breached: int = 0
    # From the rollup: exact count and sum, durations as log-bucket histograms (seconds).
    rolled: int = 0
    rolled_total_s: float = 0.0
    flats: list[list[list[int]]] = field(default_factory=list)  # per row: total, waiting, working


def _completed(session: Session, scope: Scope, after: datetime | None = None) -> Iterable[Any]:
    stmt = (
        select(
            HumanTask.programme,
            Office.code,
            HumanTask.bpmn_id,
            HumanTask.lane,
            HumanTask.ready_at,
            HumanTask.claimed_at,
            HumanTask.completed_at,
            HumanTask.due_at,
        )
        .join(Office, Office.id == HumanTask.office_id)
        .where(HumanTask.status == "completed", HumanTask.completed_at.is_not(None))
    )
    if scope.programme:
        stmt = stmt.where(HumanTask.programme == scope.programme)
    if scope.office:
        stmt = stmt.where(Office.code == scope.office)
    if scope.since:
        stmt = stmt.where(
            HumanTask.completed_at >= datetime.combine(scope.since, datetime.min.time())
        )
    if scope.until:
        stmt = stmt.where(
            HumanTask.completed_at < datetime.combine(scope.until, datetime.max.time())
        )
    if after is not None:
        stmt = stmt.where(HumanTask.completed_at >= after)
    return session.execute(stmt)


def _add_raw(steps: dict[tuple[str, str, str], _Step], rows: Iterable[Any]) -> None:
    for programme, office, step, lane, ready, claimed, completed, due in rows:
        key = (programme, office, step)
        s = steps.get(key)
        if s is None:
            s = steps[key] = _Step(programme, office, step, lane)
        total = _hours(ready, completed)
        if total is None:
            continue
        s.total.append(total)
        if lane in PARTY_LANES:
            s.waiting.append(total)
        else:
            s.waiting.append(_hours(ready, claimed or completed) or 0.0)
            s.working.append(_hours(claimed or ready, completed) or 0.0)
        if due is not None:
            s.with_due += 1
            s.breached += int(completed > due)


def step_report(session: Session, scope: Scope, *, exact: bool = False) -> list[dict[str, Any]]:
    """Per programme, office and step: counts, median and p90 of total, waiting and working
    hours, SLA breach rate; sorted by the total time the step consumed (bottlenecks first).

    Reads the rollup (``refresh_rollup``) for all time or whole months, plus the tasks completed
    since it was last refreshed; a step with no rolled-up rows is computed exactly from its
    tasks, one with rolled-up rows has its percentiles within 2 % (``BUCKET_RATIO``). Counts,
    sums and SLA breach rates are always exact. ``exact=True`` (or any other period) reads
    every task instead.
    """
    steps: dict[tuple[str, str, str], _Step] = {}
    periods = None if exact else rollup_periods(scope)
    state = session.get(StepRollupState, 1) if periods is not None else None
    if periods is None or state is None:
        _add_raw(steps, _completed(session, scope))
        return _rows(steps)
    stmt = select(
        StepRollup.programme,
        StepRollup.office_code,
        StepRollup.step,
        StepRollup.lane,
        StepRollup.count,
        StepRollup.total_s,
        StepRollup.with_due,
        StepRollup.breached,
        StepRollup.hist_total,
        StepRollup.hist_waiting,
        StepRollup.hist_working,
    ).where(StepRollup.period.in_(periods))
    if scope.programme:
        stmt = stmt.where(StepRollup.programme == scope.programme)
    if scope.office:
        stmt = stmt.where(StepRollup.office_code == scope.office)
    for (
        programme,
        office,
        step,
        lane,
        count,
        total_s,
        with_due,
        breached,
        *flats,
    ) in session.execute(stmt):
        key = (programme, office, step)
        s = steps.get(key)
        if s is None:
            s = steps[key] = _Step(programme, office, step, lane)
        s.rolled += count
        s.rolled_total_s += total_s
        s.with_due += with_due
        s.breached += breached
        s.flats.append(flats)
    _add_raw(steps, _completed(session, scope, after=state.rolled_up_to))
    return _rows(steps)


def _rows(steps: dict[tuple[str, str, str], _Step]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for s in steps.values():
        if not s.flats:
            if not s.total:
                continue
            count = len(s.total)
            median = statistics.median(s.total)
            p90 = percentile(s.total, 0.9)
            waiting = statistics.median(s.waiting)
            working = statistics.median(s.working) if s.working else 0.0
            total_hours = sum(s.total)
        else:
            count = s.rolled + len(s.total)
            hists = [
                _merged([f[m] for f in s.flats], values)
                for m, values in enumerate((s.total, s.waiting, s.working))
            ]
            median, p90 = (v / 3600 for v in flat_percentiles(hists[0], (0.5, 0.9)))
            waiting = flat_percentiles(hists[1], (0.5,))[0] / 3600
            working = flat_percentiles(hists[2], (0.5,))[0] / 3600 if hists[2] else 0.0
            total_hours = s.rolled_total_s / 3600 + sum(s.total)
        rows.append(
            {
                "programme": s.programme,
                "office": s.office,
                "step": s.step,
                "lane": s.lane,
                "waiting_on": "party" if s.lane in PARTY_LANES else "office",
                "count": count,
                "median_hours": round(median, 2),
                "p90_hours": round(p90, 2),
                "median_waiting_hours": round(waiting, 2),
                "median_working_hours": round(working, 2),
                "sla_breach_rate": round(s.breached / s.with_due, 3) if s.with_due else None,
                "total_hours": round(total_hours, 1),
            }
        )
    rows.sort(key=lambda r: (-float(r["total_hours"]), r["programme"], r["office"], r["step"]))
    return rows


def steps_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out.getvalue()
