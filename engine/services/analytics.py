"""Processing-time analytics and the pilot's evidence (issue 8).

Durations come from the inbox projection: every completed task has ``ready_at`` (the step
became possible), ``claimed_at`` and ``completed_at``. For office staff, *waiting* is ready →
claimed and *working* is claimed → completed; a step in the employer's or the beneficiary's lane
is time spent *waiting on that party* as a whole.

The evidence compares these with a **baseline** of pre-digital durations (one row per case
processed on paper, imported from CSV: ``office,programme,step,date,hours``):

- *reduction* per step and overall: 1 - median(digital) / median(baseline), with a percentile
  bootstrap 95 % confidence interval (both samples resampled);
- *difference in differences*: pilot offices vs the others, before vs after each pilot office's
  go-live date, on log durations, so a change that hit every office (a season, a backlog) is not
  counted as the effect of Aqd. The effect is reported as a fraction of time saved,
  1 - exp(DiD), with a bootstrap interval.

At national volumes (10 million tasks) the step report reads a **rollup** (``step_rollup``: per
programme, office, step and month, plus all time) refreshed by a periodic job
(``refresh_rollup``, ``aqd analytics refresh``), and merges the tasks completed since the last
refresh; see ``step_report`` for what stays exact and what is within 2 %.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import random
import statistics
import time
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from itertools import accumulate
from typing import Any

from sqlalchemy import (
    Float,
    cast,
    delete,
    func,
    insert,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session, aliased

from engine.errors import InvalidInput, NotPermitted
from engine.models import (
    BaselineDuration,
    Contract,
    HumanTask,
    Office,
    PaymentOrder,
    StepRollup,
    StepRollupState,
    StepTiming,
)
from engine.models.analytics import LeadTimeRollup, LeadTimeRollupState
from engine.models.anchors import ChainAnchor
from engine.services.accounts import Principal

PARTY_LANES = frozenset({"employer", "beneficiary"})
BASELINE_COLUMNS = ("office", "programme", "step", "date", "hours")
MAX_BASELINE_HOURS = 24 * 366


@dataclass(frozen=True)
class Scope:
    programme: str | None = None
    office: str | None = None
    since: date | None = None
    until: date | None = None


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..1) of a non-empty sequence."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = q * (len(ordered) - 1)
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _hours(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds() / 3600)


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


# -- the rollup ----------------------------------------------------------------------------------

#: Durations are counted in buckets [r^b, r^(b+1)) seconds and read back as r^(b+0.5), so a
#: percentile read from a histogram is within sqrt(1.04) - 1 < 2 % of the exact order
#: statistics it interpolates; durations under a second count as 0 (bucket -1).
BUCKET_RATIO = 1.04
_LOG_RATIO = math.log(BUCKET_RATIO)
#: Tasks completed in the last minutes may still be committing; the rollup stops short of now.
ROLLUP_MARGIN = timedelta(minutes=5)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def bucket_of(seconds: float) -> int:
    return int(math.log(seconds) / _LOG_RATIO) if seconds >= 1.0 else -1


def bucket_value(bucket: int) -> float:
    return float(BUCKET_RATIO ** (bucket + 0.5)) if bucket >= 0 else 0.0


def flat_percentiles(flat: Sequence[int], qs: Sequence[float]) -> list[float]:
    """The linear-interpolated percentiles (as ``percentile``) of the values a histogram holds
    (``[bucket, count, bucket, count, ...]`` by increasing bucket), each value read as its
    bucket's middle (seconds)."""
    cumulative = list(accumulate(flat[1::2]))
    n = cumulative[-1] if cumulative else 0
    if n == 0:
        return [0.0 for _ in qs]
    out = []
    for q in qs:
        pos = q * (n - 1)
        rank = math.floor(pos)
        # the value of rank r (from 0) is in the first bucket holding more than r values
        below = bucket_value(flat[2 * bisect_right(cumulative, rank)])
        above = bucket_value(flat[2 * bisect_right(cumulative, min(rank + 1, n - 1))])
        out.append(below + (above - below) * (pos - rank))
    return out


def _merged(flats: list[list[int]], hours: Sequence[float]) -> list[int]:
    """One flat histogram from the rollup rows' and the raw tail's durations."""
    if len(flats) == 1:
        if not hours:
            return flats[0]
        # the usual case: one all-time row and a few steps completed since the refresh
        flat = list(flats[0])
        buckets = flat[0::2]
        for h in hours:
            b = bucket_of(h * 3600)
            i = bisect_left(buckets, b)
            if i < len(buckets) and buckets[i] == b:
                flat[2 * i + 1] += 1
            else:
                buckets.insert(i, b)
                flat[2 * i : 2 * i] = [b, 1]
        return flat
    hist: dict[int, int] = {}
    for flat in flats:
        _merge_flat(hist, flat)
    for h in hours:
        b = bucket_of(h * 3600)
        hist[b] = hist.get(b, 0) + 1
    return _flat(hist)


def _merge_flat(hist: dict[int, int], flat: Sequence[int]) -> None:
    for i in range(0, len(flat), 2):
        b = flat[i]
        hist[b] = hist.get(b, 0) + flat[i + 1]


def _flat(hist: Mapping[int, int]) -> list[int]:
    return [v for b in sorted(hist) for v in (b, hist[b])]


def rollup_periods(scope: Scope) -> list[str] | None:
    """The rollup periods that answer ``scope`` exactly: all time, or whole months."""
    if scope.since is None and scope.until is None:
        return ["all"]
    if scope.since is None or scope.until is None or scope.since.day != 1:
        return None
    if (scope.until + timedelta(days=1)).day != 1 or scope.until < scope.since:
        return None
    periods = []
    year, month = scope.since.year, scope.since.month
    while (year, month) <= (scope.until.year, scope.until.month):
        periods.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return periods


def month_scope(month: str, programme: str | None = None, office: str | None = None) -> Scope:
    """The scope of one calendar month (``YYYY-MM``)."""
    try:
        first = date.fromisoformat(f"{month}-01")
    except ValueError:
        raise InvalidInput(
            f"not a month: {month!r} (YYYY-MM)", fields={"month": "YYYY-MM"}
        ) from None
    nxt = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return Scope(programme, office, first, nxt - timedelta(days=1))


@dataclass
class _Roll:
    lane: str
    count: int = 0
    total_s: float = 0.0
    with_due: int = 0
    breached: int = 0
    hists: tuple[dict[int, int], dict[int, int], dict[int, int]] = field(
        default_factory=lambda: ({}, {}, {})
    )


def _epoch_seconds(session: Session, column: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.extract("epoch", column), Float)
    return (func.julianday(column) - 2440587.5) * 86400.0


_Key = tuple[str, str, str, str, str]  # period, programme, office, step, lane


def refresh_rollup(session: Session, now: datetime, batch: int = 20_000) -> dict[str, Any]:
    """Add the tasks completed since the last refresh (up to ``now - ROLLUP_MARGIN``) to the
    rollup, and the milestones reached to the lead-time rollup (``refresh_lead_times``). One
    refresh at a time (the state row is locked); the caller commits.

    PostgreSQL aggregates in SQL (the bucket is the same ``floor(ln(s) / ln(r))``, computed by
    the same C library); SQLite (the embedded, small case) in Python."""
    lead_times = refresh_lead_times(session, now)
    state = session.get(StepRollupState, 1, with_for_update=True)
    if state is None:
        state = StepRollupState(id=1, rolled_up_to=_EPOCH, refreshed_at=now)
        session.add(state)
        session.flush()
    start, upto = state.rolled_up_to, now - ROLLUP_MARGIN
    if upto <= start:
        return {
            "tasks": 0,
            "rows": 0,
            "rolled_up_to": start.isoformat(),
            "lead_times": lead_times,
        }
    if session.get_bind().dialect.name == "postgresql":
        rolls, tasks = _aggregate_sql(session, start, upto)
    else:
        rolls, tasks = _aggregate_python(session, start, upto, batch)
    _write_rolls(session, rolls)
    session.execute(
        update(StepRollupState)
        .where(StepRollupState.id == 1)
        .values(rolled_up_to=upto, refreshed_at=now)
    )
    return {
        "tasks": tasks,
        "rows": len(rolls),
        "rolled_up_to": upto.isoformat(),
        "lead_times": lead_times,
    }


_ROLLUP_SQL = """
WITH t AS (
    SELECT to_char(h.completed_at AT TIME ZONE 'UTC', 'YYYY-MM') AS month, h.programme,
           o.code, h.bpmn_id AS step, h.lane,
           greatest(0, extract(epoch FROM h.completed_at - h.ready_at))::float8 AS total,
           CASE WHEN h.lane IN ('employer', 'beneficiary')
                THEN greatest(0, extract(epoch FROM h.completed_at - h.ready_at))::float8
                ELSE greatest(0, extract(epoch FROM coalesce(h.claimed_at, h.completed_at)
                                                    - h.ready_at))::float8 END AS waiting,
           CASE WHEN h.lane IN ('employer', 'beneficiary') THEN NULL
                ELSE greatest(0, extract(epoch FROM h.completed_at
                                                    - coalesce(h.claimed_at, h.ready_at)))::float8
           END AS working,
           h.due_at IS NOT NULL AS has_due, h.completed_at > h.due_at AS late
    FROM human_task h JOIN office o ON o.id = h.office_id
    WHERE h.status = 'completed' AND h.completed_at >= :start AND h.completed_at < :upto
), sums AS (
    SELECT month AS period, programme, code, step, lane, count(*) AS n,
           sum(total) AS total_s, count(*) FILTER (WHERE has_due) AS with_due,
           count(*) FILTER (WHERE late) AS breached
    FROM t GROUP BY month, programme, code, step, lane
), buckets AS (
    SELECT month AS period, programme, code, step, lane, m, b, count(*) AS n
    FROM (SELECT t.month, t.programme, t.code, t.step, t.lane, v.m,
                 CASE WHEN v.x < 1 THEN -1 ELSE floor(ln(v.x) / :log_ratio)::int END AS b
          FROM t, LATERAL (VALUES (0, t.total), (1, t.waiting), (2, t.working)) v(m, x)
          WHERE v.x IS NOT NULL) u
    GROUP BY month, programme, code, step, lane, m, b
)
SELECT period, programme, code, step, lane, -1 AS m, ARRAY[n, with_due, breached], total_s
FROM sums
UNION ALL
SELECT period, programme, code, step, lane, m,
       array_agg(b ORDER BY b) || array_agg(n ORDER BY b), NULL
FROM buckets GROUP BY period, programme, code, step, lane, m
"""


def _aggregate_sql(
    session: Session, start: datetime, upto: datetime
) -> tuple[dict[_Key, _Roll], int]:
    """Month by month (each month's rows sort in memory; the first refresh of a national
    database has tens of millions of (step, bucket) rows), the all-time rows summed here."""
    rolls: dict[_Key, _Roll] = {}
    tasks = 0
    session.execute(text("SET LOCAL work_mem = '256MB'"))
    first = session.scalar(
        select(func.min(HumanTask.completed_at)).where(
            HumanTask.completed_at >= start, HumanTask.completed_at < upto
        )
    )
    window = max(start, first) if first is not None else upto
    while window < upto:
        month_end = datetime(window.year + window.month // 12, window.month % 12 + 1, 1, tzinfo=UTC)
        end = min(month_end, upto)
        result = session.execute(
            text(_ROLLUP_SQL), {"start": window, "upto": end, "log_ratio": _LOG_RATIO}
        )
        for period, programme, office, step, lane, m, values, total_s in result:
            key = (period, programme, office, step, lane)
            roll = rolls.get(key)
            if roll is None:
                roll = rolls[key] = _Roll(lane)
            if m < 0:
                roll.count, roll.with_due, roll.breached = values
                roll.total_s = float(total_s)
                tasks += roll.count
            else:
                half = len(values) // 2
                roll.hists[m].update(zip(values[:half], values[half:], strict=True))
        window = end
    for (_period, programme, office, step, lane), roll in list(rolls.items()):
        key = ("all", programme, office, step, lane)
        total = rolls.get(key)
        if total is None:
            total = rolls[key] = _Roll(lane)
        total.count += roll.count
        total.total_s += roll.total_s
        total.with_due += roll.with_due
        total.breached += roll.breached
        for into, hist in zip(total.hists, roll.hists, strict=True):
            for b, n in hist.items():
                into[b] = into.get(b, 0) + n
    return rolls, tasks


def _aggregate_python(
    session: Session, start: datetime, upto: datetime, batch: int
) -> tuple[dict[_Key, _Roll], int]:
    ep = partial(_epoch_seconds, session)
    stmt = (
        select(
            HumanTask.programme,
            Office.code,
            HumanTask.bpmn_id,
            HumanTask.lane,
            ep(HumanTask.ready_at),
            ep(HumanTask.claimed_at),
            ep(HumanTask.completed_at),
            ep(HumanTask.due_at),
        )
        .join(Office, Office.id == HumanTask.office_id)
        .where(
            HumanTask.status == "completed",
            HumanTask.completed_at >= start,
            HumanTask.completed_at < upto,
        )
        .execution_options(yield_per=batch)
    )
    rolls: dict[_Key, _Roll] = {}
    months: dict[int, str] = {}
    tasks = 0
    for programme, office, step, lane, ready, claimed, completed, due in session.execute(stmt):
        tasks += 1
        total = max(0.0, completed - ready)
        if lane in PARTY_LANES:
            durations: tuple[float | None, ...] = (total, total, None)
        else:
            durations = (
                total,
                max(0.0, (claimed if claimed is not None else completed) - ready),
                max(0.0, completed - (claimed if claimed is not None else ready)),
            )
        day = int(completed // 86400)
        month = months.get(day)
        if month is None:
            month = months[day] = time.strftime("%Y-%m", time.gmtime(completed))
        breached = due is not None and completed > due
        for period in (month, "all"):
            key = (period, programme, office, step, lane)
            roll = rolls.get(key)
            if roll is None:
                roll = rolls[key] = _Roll(lane)
            roll.count += 1
            roll.total_s += total
            if due is not None:
                roll.with_due += 1
                roll.breached += breached
            for hist, value in zip(roll.hists, durations, strict=True):
                if value is not None:
                    b = bucket_of(value)
                    hist[b] = hist.get(b, 0) + 1
    return rolls, tasks


def _write_rolls(session: Session, rolls: dict[_Key, _Roll]) -> None:
    existing: dict[_Key, StepRollup] = {}
    touched = sorted({k[0] for k in rolls})
    for i in range(0, len(touched), 500):
        for row in session.scalars(
            select(StepRollup).where(StepRollup.period.in_(touched[i : i + 500]))
        ):
            existing[(row.period, row.programme, row.office_code, row.step, row.lane)] = row
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for key, roll in rolls.items():
        old = existing.get(key)
        hists = roll.hists
        values: dict[str, Any] = {
            "count": roll.count,
            "total_s": roll.total_s,
            "with_due": roll.with_due,
            "breached": roll.breached,
        }
        if old is not None:
            values = {
                "id": old.id,
                "count": old.count + roll.count,
                "total_s": old.total_s + roll.total_s,
                "with_due": old.with_due + roll.with_due,
                "breached": old.breached + roll.breached,
            }
            for hist, flat in zip(
                hists, (old.hist_total, old.hist_waiting, old.hist_working), strict=True
            ):
                _merge_flat(hist, flat)
        values |= {
            "hist_total": _flat(hists[0]),
            "hist_waiting": _flat(hists[1]),
            "hist_working": _flat(hists[2]),
        }
        if old is None:
            period, programme, office, step, lane = key
            values |= {
                "period": period,
                "programme": programme,
                "office_code": office,
                "step": step,
                "lane": lane,
            }
            inserts.append(values)
        else:
            updates.append(values)
    session.expunge_all()
    for i in range(0, len(inserts), 2000):
        session.execute(insert(StepRollup), inserts[i : i + 2000])
    for i in range(0, len(updates), 2000):
        session.execute(update(StepRollup), updates[i : i + 2000])


# -- baseline ------------------------------------------------------------------------------------


def import_baseline(session: Session, text: str, source: str, now: datetime) -> int:
    """Load a baseline CSV (header ``office,programme,step,date,hours``); an import with the
    same source name replaces the previous one. Every bad line is reported, nothing is half
    loaded."""
    reader = csv.DictReader(io.StringIO(text))
    header = tuple(reader.fieldnames or ())
    if header[: len(BASELINE_COLUMNS)] != BASELINE_COLUMNS:
        raise InvalidInput(
            "the baseline CSV must start with the header " + ",".join(BASELINE_COLUMNS),
            fields={"(header)": ",".join(header)},
        )
    offices = set(session.scalars(select(Office.code)))
    rows: list[BaselineDuration] = []
    problems: dict[str, str] = {}
    for line, rec in enumerate(reader, start=2):
        try:
            hours = float(rec["hours"])
            day = date.fromisoformat(rec["date"])
            if not 0 <= hours <= MAX_BASELINE_HOURS:
                raise ValueError(f"hours out of range: {hours}")
            if rec["office"] not in offices:
                raise ValueError(f"unknown office {rec['office']!r}")
            if not rec["programme"] or not rec["step"]:
                raise ValueError("programme and step are required")
        except (TypeError, ValueError) as exc:
            problems[f"line {line}"] = str(exc)
            if len(problems) >= 20:
                break
            continue
        rows.append(
            BaselineDuration(
                office_code=rec["office"],
                programme=rec["programme"],
                step=rec["step"],
                day=day,
                hours=hours,
                source=source[:200],
                imported_at=now,
            )
        )
    if problems:
        raise InvalidInput(f"{len(problems)} bad line(s) in the baseline", fields=problems)
    if not rows:
        raise InvalidInput("the baseline CSV has no rows")
    session.execute(delete(BaselineDuration).where(BaselineDuration.source == source[:200]))
    session.add_all(rows)
    session.flush()
    return len(rows)


def source_name(filename: str, text: str) -> str:
    return f"{filename}#{hashlib.sha256(text.encode()).hexdigest()[:12]}"


# -- statistics ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        return {
            "estimate": round(self.estimate, 4),
            "ci_low": round(self.low, 4),
            "ci_high": round(self.high, 4),
        }


def _resample(rng: random.Random, values: Sequence[float]) -> list[float]:
    return rng.choices(values, k=len(values))


def median_reduction(
    baseline: Sequence[float], digital: Sequence[float], resamples: int = 1000, seed: int = 1
) -> Interval:
    """1 - median(digital)/median(baseline) with a percentile bootstrap 95 % interval."""
    if not baseline or not digital:
        raise ValueError("both samples must be non-empty")

    def reduction(b: Sequence[float], d: Sequence[float]) -> float:
        mb = statistics.median(b)
        return 1 - statistics.median(d) / mb if mb > 0 else 0.0

    rng = random.Random(seed)  # noqa: S311 (bootstrap resampling, reproducible on purpose)
    boots = [reduction(_resample(rng, baseline), _resample(rng, digital)) for _ in range(resamples)]
    return Interval(
        reduction(baseline, digital), percentile(boots, 0.025), percentile(boots, 0.975)
    )


@dataclass(frozen=True)
class Case:
    """One processed case for the difference in differences."""

    office: str
    pilot: bool
    after: bool
    hours: float


def difference_in_differences(
    cases: Sequence[Case], resamples: int = 1000, seed: int = 1
) -> dict[str, Any]:
    """The pilot's effect on log durations, net of what changed in every office.

    Returns the time saved as a fraction (1 - exp(DiD)) with a bootstrap interval (cases
    resampled within each of the four groups), the naive before/after change in the pilot
    offices for comparison, and the group sizes.
    """
    groups: dict[tuple[bool, bool], list[float]] = defaultdict(list)
    for c in cases:
        groups[(c.pilot, c.after)].append(math.log(max(c.hours, 1e-3)))
    sizes = {
        f"{'pilot' if p else 'others'}_{'after' if a else 'before'}": len(v)
        for (p, a), v in groups.items()
    }
    missing = [
        k for k in ((True, False), (True, True), (False, False), (False, True)) if not groups[k]
    ]
    if missing:
        raise ValueError(f"a group has no cases: {missing}")

    def estimate(g: Mapping[tuple[bool, bool], Sequence[float]]) -> tuple[float, float]:
        m = {k: statistics.fmean(v) for k, v in g.items()}
        pilot_change = m[(True, True)] - m[(True, False)]
        did = pilot_change - (m[(False, True)] - m[(False, False)])
        return 1 - math.exp(did), 1 - math.exp(pilot_change)

    effect, naive = estimate(groups)
    rng = random.Random(seed)  # noqa: S311 (bootstrap resampling, reproducible on purpose)
    # national volumes: resample at most REPORT_BOOTSTRAP_CASES per group (a wider interval,
    # never a narrower one); the estimate above uses every case
    sampled = {k: _capped(v, seed) for k, v in groups.items()}
    boots = [
        estimate({k: _resample(rng, v) for k, v in sampled.items()})[0] for _ in range(resamples)
    ]
    return {
        "time_saved": Interval(
            effect, percentile(boots, 0.025), percentile(boots, 0.975)
        ).to_dict(),
        "naive_before_after": round(naive, 4),
        "cases": sizes,
    }


# -- the evidence report -------------------------------------------------------------------------


def _digital_hours(
    session: Session, programme: str, step: str | None
) -> list[tuple[str, date, float]]:
    stmt = (
        select(Office.code, HumanTask.ready_at, HumanTask.completed_at)
        .join(Office, Office.id == HumanTask.office_id)
        .where(
            HumanTask.status == "completed",
            HumanTask.programme == programme,
            HumanTask.completed_at.is_not(None),
        )
    )
    if step:
        stmt = stmt.where(HumanTask.bpmn_id == step)
    return [
        (code, ready.date(), _hours(ready, done) or 0.0)
        for code, ready, done in session.execute(stmt)
    ]


def evidence(
    session: Session, programme: str, step: str | None = None, resamples: int = 1000
) -> dict[str, Any]:
    """Reduction per step (baseline vs Aqd) and the difference in differences for
    ``programme`` (one step, or all steps pooled)."""
    baseline_rows = session.execute(
        select(
            BaselineDuration.office_code,
            BaselineDuration.step,
            BaselineDuration.day,
            BaselineDuration.hours,
        ).where(BaselineDuration.programme == programme)
    ).all()
    if not baseline_rows:
        raise InvalidInput(
            f"no baseline imported for {programme}", fields={"programme": "no baseline"}
        )
    offices = {o.code: o for o in session.scalars(select(Office))}
    per_step: dict[str, dict[str, list[float]]] = defaultdict(lambda: {"b": [], "d": []})
    for _office, s, _day, hours in baseline_rows:
        per_step[s]["b"].append(hours)
    digital = session.execute(
        select(HumanTask.bpmn_id, HumanTask.ready_at, HumanTask.completed_at).where(
            HumanTask.status == "completed", HumanTask.programme == programme
        )
    ).all()
    for s, ready, done in digital:
        if s in per_step and s not in MILESTONES:
            per_step[s]["d"].append(_hours(ready, done) or 0.0)
    for milestone in MILESTONES:
        if milestone in per_step:
            per_step[milestone]["d"] = [
                h for _o, _d, h in milestone_hours(session, milestone, Scope(programme=programme))
            ]
    steps = []
    for s, samples in sorted(per_step.items(), key=lambda item: _step_order(item[0])):
        if step and s != step:
            continue
        row: dict[str, Any] = {
            "step": s,
            "milestone": s in MILESTONES,
            "baseline_cases": len(samples["b"]),
            "digital_cases": len(samples["d"]),
            "baseline_median_hours": round(statistics.median(samples["b"]), 2),
        }
        if samples["d"]:
            row["digital_median_hours"] = round(statistics.median(samples["d"]), 2)
            point = median_reduction(samples["b"], samples["d"], resamples=1).estimate
            interval = median_reduction(
                _capped(samples["b"], 1), _capped(samples["d"], 2), resamples
            )
            row["reduction"] = Interval(point, interval.low, interval.high).to_dict()
        steps.append(row)
    go_lives = [o.go_live for o in offices.values() if o.pilot and o.go_live]
    result: dict[str, Any] = {"programme": programme, "steps": steps}
    if not go_lives:
        result["difference_in_differences"] = None
        return result
    control_cut = min(go_lives)
    cases: list[Case] = []
    for code, s, day, hours in baseline_rows:
        # One step, or every step pooled; an end-to-end lead time is never pooled with steps.
        if (step and s != step) or (not step and s in MILESTONES):
            continue
        o = offices.get(code)
        if o is None:
            continue
        cut = o.go_live if o.pilot and o.go_live else control_cut
        cases.append(Case(code, bool(o.pilot), day >= cut, hours))
    after_go_live = (
        milestone_hours(session, step, Scope(programme=programme))
        if step is not None and step in MILESTONES
        else _digital_hours(session, programme, step)
    )
    for code, day, hours in after_go_live:
        o = offices.get(code)
        if o is not None and o.pilot and o.go_live and day >= o.go_live:
            cases.append(Case(code, True, True, hours))
    try:
        result["difference_in_differences"] = difference_in_differences(cases, resamples)
    except ValueError as exc:
        result["difference_in_differences"] = {"unavailable": str(exc)}
    return result


# -- who may see what ----------------------------------------------------------------------------

ANALYSTS = frozenset({"programme_manager", "auditor", "admin"})


def scope_for(principal: Principal, programme: str | None, office: str | None) -> Scope:
    """Analysts see every office; an office head sees their own office only."""
    if principal.roles & ANALYSTS:
        return Scope(programme=programme or None, office=office or None)
    if principal.has("office_head") and principal.office_id is not None:
        return Scope(programme=programme or None, office=f"#{principal.office_id}")
    raise NotPermitted("processing-time reports are for office heads and analysts")


def resolve_scope(session: Session, scope: Scope) -> Scope:
    """Turn an office id placeholder (``#<id>``) into its code."""
    if scope.office and scope.office.startswith("#"):
        code = session.scalar(select(Office.code).where(Office.id == int(scope.office[1:])))
        return Scope(scope.programme, code, scope.since, scope.until)
    return scope


def require_analyst(principal: Principal, *, write: bool = False) -> None:
    allowed = {"programme_manager", "admin"} if write else ANALYSTS
    if not principal.roles & allowed:
        raise NotPermitted("this report is for programme managers, auditors and admins")


def steps_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out.getvalue()


# -- the monthly report --------------------------------------------------------------------------

#: Bootstrap intervals of the monthly report resample at most this many cases per side (the
#: point estimate uses them all): enough for a stable 95 % interval, fast at national volumes.
REPORT_BOOTSTRAP_CASES = 2000


def _capped(values: list[float], seed: int) -> list[float]:
    if len(values) <= REPORT_BOOTSTRAP_CASES:
        return values
    return random.Random(seed).sample(values, REPORT_BOOTSTRAP_CASES)  # noqa: S311


def monthly_report(
    session: Session, scope: Scope, month: str, resamples: int = 300
) -> dict[str, Any]:
    """The month's processing times per office and programme (the step report of that month),
    and the reduction against the baseline with its bootstrap 95 % interval for every step
    that has one (the month's cases against all of the baseline's, of the office in scope if
    it has its own)."""
    scope = month_scope(month, scope.programme, scope.office)
    rows = step_report(session, scope)
    offices = {o.code: o for o in session.scalars(select(Office))}
    grouped: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for row in sorted(rows, key=lambda r: (r["office"], r["programme"], -r["total_hours"])):
        grouped[row["office"]][row["programme"]].append(row)
    report_offices = []
    for code, programmes in sorted(grouped.items()):
        office = offices.get(code)
        report_offices.append(
            {
                "code": code,
                "name_fr": office.name_fr if office else code,
                "name_ar": office.name_ar if office else code,
                "pilot": bool(office and office.pilot),
                "programmes": [
                    {"programme": p, "cases": sum(r["count"] for r in steps), "steps": steps}
                    for p, steps in sorted(programmes.items())
                ],
            }
        )
    with_due = [r for r in rows if r["sla_breach_rate"] is not None]
    # The contracts signed, and first paid, in the month: their days from the request.
    lead_times = lead_time_table(lead_time_report(session, scope))
    for line in lead_times:
        office = offices.get(line["office"] or "")
        line["name_fr"] = office.name_fr if office else line["office"]
        line["name_ar"] = office.name_ar if office else line["office"]
    return {
        "month": month,
        "programme": scope.programme,
        "office": scope.office,
        "cases": sum(r["count"] for r in rows),
        "sla_breach_rate": (
            round(
                sum(r["sla_breach_rate"] * r["count"] for r in with_due)
                / sum(r["count"] for r in with_due),
                3,
            )
            if with_due
            else None
        ),
        "offices": report_offices,
        "lead_times": lead_times,
        "anchor": _month_anchor(session, scope),
        "reductions": _month_reductions(
            session,
            scope,
            {r["programme"] for r in rows} | {line["programme"] for line in lead_times},
            resamples,
        ),
    }


def _month_anchor(session: Session, scope: Scope) -> dict[str, Any] | None:
    """The last time-stamped anchor of the contracts' hash chains before the month's end: the
    printed report keeps its root outside Aqd, so deleting later anchors cannot go unnoticed."""
    _lo, hi = _scope_window(scope)
    stmt = select(ChainAnchor.id, ChainAnchor.anchored_at, ChainAnchor.root, ChainAnchor.tsa)
    if hi is not None:
        stmt = stmt.where(ChainAnchor.anchored_at < hi)
    found = session.execute(
        stmt.where(ChainAnchor.token.is_not(None)).order_by(ChainAnchor.id.desc()).limit(1)
    ).first()
    if found is None:
        return None
    anchor_id, at, root, tsa = found
    return {
        "id": anchor_id,
        "anchored_at": _utc(at).strftime("%Y-%m-%d %H:%M UTC"),
        "root": root,
        "tsa": tsa,
    }


def _month_reductions(
    session: Session, scope: Scope, programmes: set[str], resamples: int
) -> list[dict[str, Any]]:
    stmt = select(
        BaselineDuration.programme,
        BaselineDuration.step,
        BaselineDuration.office_code,
        BaselineDuration.hours,
    ).where(BaselineDuration.programme.in_(sorted(programmes)))
    baseline: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for programme, step, office, hours in session.execute(stmt):
        baseline[(programme, step)][office].append(hours)
    if not baseline:
        return []
    digital: dict[tuple[str, str], list[float]] = defaultdict(list)
    for programme, _office, step, _lane, ready, _claimed, completed, _due in _completed(
        session, scope
    ):
        if (programme, step) in baseline and step not in MILESTONES:
            digital[(programme, step)].append(_hours(ready, completed) or 0.0)
    lo, hi = _scope_window(scope)
    for programme, step in baseline:
        if step in MILESTONES:  # the contracts that reached it in the month
            digital[(programme, step)] = [
                h
                for _o, _d, h in milestone_hours(
                    session, step, Scope(programme=programme, office=scope.office), lo, hi
                )
            ]
    out = []
    for (programme, step), by_office in sorted(
        baseline.items(), key=lambda item: (item[0][0], _step_order(item[0][1]))
    ):
        paper = by_office.get(scope.office or "") or [h for v in by_office.values() for h in v]
        cases = digital.get((programme, step), [])
        row: dict[str, Any] = {
            "programme": programme,
            "step": step,
            "milestone": step in MILESTONES,
            "baseline_cases": len(paper),
            "baseline_median_hours": round(statistics.median(paper), 2),
            "digital_cases": len(cases),
        }
        if cases:
            row["digital_median_hours"] = round(statistics.median(cases), 2)
            point = median_reduction(paper, cases, resamples=1).estimate
            interval = median_reduction(_capped(paper, 1), _capped(cases, 2), resamples)
            row["reduction"] = Interval(point, interval.low, interval.high).to_dict()
        out.append(row)
    return out


# -- lead times ----------------------------------------------------------------------------------

#: The BPMN id of every programme's script task that activates a contract once all its parties
#: have signed (``contract_status = "active"``): its first step timing is when the contract
#: was signed.
ACTIVATION_STEP = "activate"
#: ``signed``: request → all parties signed and the contract activated (the first
#: ``activate`` step timing); ``first_payment``: request → the contract's first payment order
#: **paid** (``payment_order.settled_at`` of the first order the bank's result file reported
#: paid; an order only issued, batched, sent or rejected is not a payment yet, and a
#: rejected-then-reissued order counts when its reissue is paid). The request is the
#: contract's start (``contract.started_at``: the employer's request started it).
MILESTONES = ("signed", "first_payment")


@dataclass
class _Lead:
    count: int = 0
    total_s: float = 0.0
    hist: dict[int, int] = field(default_factory=dict)


@dataclass
class _LeadGroup:
    values: list[float] = field(default_factory=list)  # seconds, raw
    rolled: int = 0
    rolled_total_s: float = 0.0
    flats: list[list[int]] = field(default_factory=list)


def _milestone_rows(
    session: Session,
    milestone: str,
    scope: Scope,
    lo: datetime | None,
    hi: datetime | None,
    stream: bool = False,
) -> Any:
    """``(programme, office, reached_at, requested_at)`` of every contract that reached
    ``milestone`` for the first time in ``[lo, hi)`` (and in ``scope``'s programme and
    office); ``stream`` reads them in batches (a server-side cursor: in a transaction)."""
    # Literal constants, not parameters, so PostgreSQL matches the partial indexes.
    m: Any
    e: Any
    if milestone == "signed":
        m, e = aliased(StepTiming), aliased(StepTiming)
        at, other_at = m.started_at, e.started_at
        mine = m.bpmn_id == literal_column(f"'{ACTIVATION_STEP}'")
        theirs = e.bpmn_id == literal_column(f"'{ACTIVATION_STEP}'")
    else:
        m, e = aliased(PaymentOrder), aliased(PaymentOrder)
        at, other_at = m.settled_at, e.settled_at
        mine = m.status == literal_column("'paid'")
        theirs = e.status == literal_column("'paid'")
    # The contract's first milestone row, as a correlated subquery: PostgreSQL runs it per
    # row found (an index lookup by contract), where NOT EXISTS became a hash anti-join over
    # every milestone ever reached (0.5 s per query at a million contracts).
    first = (
        select(e.id)
        .where(e.contract_id == m.contract_id, theirs)
        .order_by(other_at, e.id)
        .limit(1)
        .scalar_subquery()
    )
    stmt = (
        select(Contract.programme, func.coalesce(Office.code, ""), at, Contract.started_at)
        .select_from(m)
        .join(Contract, Contract.id == m.contract_id)
        .outerjoin(Office, Office.id == Contract.office_id)
        .where(mine, m.id == first)
    )
    if lo is not None:
        stmt = stmt.where(at >= lo)
    if hi is not None:
        stmt = stmt.where(at < hi)
    if scope.programme:
        stmt = stmt.where(Contract.programme == scope.programme)
    if scope.office:
        stmt = stmt.where(Office.code == scope.office)
    return session.execute(stmt.execution_options(yield_per=20_000) if stream else stmt)


def milestone_hours(
    session: Session,
    milestone: str,
    scope: Scope,
    lo: datetime | None = None,
    hi: datetime | None = None,
) -> list[tuple[str, date, float]]:
    """``(office, day of the request, hours from the request)`` of every contract in
    ``scope`` that reached ``milestone`` for the first time in ``[lo, hi)``: the Aqd side of
    an end-to-end baseline (a baseline row whose step is a milestone)."""
    return [
        (office, _utc(requested).date(), _lead_seconds(reached, requested) / 3600)
        for _programme, office, reached, requested in _milestone_rows(
            session, milestone, scope, lo, hi
        )
    ]


def _step_order(step: str) -> tuple[int, str]:
    """End-to-end milestones first (in ``MILESTONES`` order), then the steps by name."""
    return (MILESTONES.index(step), "") if step in MILESTONES else (len(MILESTONES), step)


def _lead_seconds(reached: datetime, requested: datetime) -> float:
    return max(0.0, (_utc(reached) - _utc(requested)).total_seconds())


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _scope_window(scope: Scope) -> tuple[datetime | None, datetime | None]:
    """``[since 00:00, the day after until 00:00)`` in UTC."""
    lo = datetime.combine(scope.since, datetime.min.time(), UTC) if scope.since else None
    end = scope.until + timedelta(days=1) if scope.until else None
    return lo, datetime.combine(end, datetime.min.time(), UTC) if end else None


def refresh_lead_times(session: Session, now: datetime) -> dict[str, Any]:
    """Add the milestones reached since the last refresh (up to ``now - ROLLUP_MARGIN``) to
    the lead-time rollup; one refresh at a time (the state row is locked), the caller commits."""
    state = session.get(LeadTimeRollupState, 1, with_for_update=True)
    if state is None:
        state = LeadTimeRollupState(id=1, rolled_up_to=_EPOCH, refreshed_at=now)
        session.add(state)
        session.flush()
    start, upto = state.rolled_up_to, now - ROLLUP_MARGIN
    if upto <= start:
        return {"contracts": 0, "rows": 0, "rolled_up_to": start.isoformat()}
    rolls: dict[tuple[str, str, str, str], _Lead] = {}
    reached_count = 0
    for milestone in MILESTONES:
        for programme, office, reached, requested in _milestone_rows(
            session, milestone, Scope(), start, upto, stream=True
        ):
            reached_count += 1
            seconds = _lead_seconds(reached, requested)
            b = bucket_of(seconds)
            for period in (_utc(reached).strftime("%Y-%m"), "all"):
                key = (period, programme, office, milestone)
                roll = rolls.get(key)
                if roll is None:
                    roll = rolls[key] = _Lead()
                roll.count += 1
                roll.total_s += seconds
                roll.hist[b] = roll.hist.get(b, 0) + 1
    existing: dict[tuple[str, str, str, str], LeadTimeRollup] = {}
    touched = sorted({k[0] for k in rolls})
    for i in range(0, len(touched), 500):
        for row in session.scalars(
            select(LeadTimeRollup).where(LeadTimeRollup.period.in_(touched[i : i + 500]))
        ):
            existing[(row.period, row.programme, row.office_code, row.milestone)] = row
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for key, roll in rolls.items():
        old = existing.get(key)
        if old is None:
            period, programme, office, milestone = key
            inserts.append(
                {
                    "period": period,
                    "programme": programme,
                    "office_code": office,
                    "milestone": milestone,
                    "count": roll.count,
                    "total_s": roll.total_s,
                    "hist": _flat(roll.hist),
                }
            )
        else:
            _merge_flat(roll.hist, old.hist)
            updates.append(
                {
                    "id": old.id,
                    "count": old.count + roll.count,
                    "total_s": old.total_s + roll.total_s,
                    "hist": _flat(roll.hist),
                }
            )
    session.expunge_all()
    for i in range(0, len(inserts), 2000):
        session.execute(insert(LeadTimeRollup), inserts[i : i + 2000])
    for i in range(0, len(updates), 2000):
        session.execute(update(LeadTimeRollup), updates[i : i + 2000])
    session.execute(
        update(LeadTimeRollupState)
        .where(LeadTimeRollupState.id == 1)
        .values(rolled_up_to=upto, refreshed_at=now)
    )
    return {"contracts": reached_count, "rows": len(rolls), "rolled_up_to": upto.isoformat()}


def lead_time_report(
    session: Session,
    scope: Scope,
    *,
    exact: bool = False,
    by_month: bool = False,
    by_office: bool = True,
) -> list[dict[str, Any]]:
    """Lead times per programme (and office, and month the milestone was reached, as asked):
    count, median, 90th percentile and mean days from request to ``signed`` and to
    ``first_payment`` (``MILESTONES``), counting the contracts that reached the milestone in
    ``scope``'s period.

    Like ``step_report``: all time or whole months read the rollup plus the milestones
    reached since its last refresh (counts and means exact, percentiles within 2 %); other
    periods, or ``exact=True``, read every contract's milestones."""
    groups: dict[tuple[str, str, str, str], _LeadGroup] = {}

    def group(programme: str, office: str, milestone: str, period: str) -> _LeadGroup:
        key = (programme, office if by_office else "", period if by_month else "", milestone)
        found = groups.get(key)
        if found is None:
            found = groups[key] = _LeadGroup()
        return found

    def add_raw(lo: datetime | None, hi: datetime | None) -> None:
        for milestone in MILESTONES:
            for programme, office, reached, requested in _milestone_rows(
                session, milestone, scope, lo, hi
            ):
                month = _utc(reached).strftime("%Y-%m")
                group(programme, office, milestone, month).values.append(
                    _lead_seconds(reached, requested)
                )

    periods = None if exact else rollup_periods(scope)
    state = session.get(LeadTimeRollupState, 1) if periods is not None else None
    if periods is None or state is None:
        add_raw(*_scope_window(scope))
    else:
        stmt = select(
            LeadTimeRollup.programme,
            LeadTimeRollup.office_code,
            LeadTimeRollup.milestone,
            LeadTimeRollup.period,
            LeadTimeRollup.count,
            LeadTimeRollup.total_s,
            LeadTimeRollup.hist,
        )
        if by_month and periods == ["all"]:
            stmt = stmt.where(LeadTimeRollup.period != "all")
        else:
            stmt = stmt.where(LeadTimeRollup.period.in_(periods))
        if scope.programme:
            stmt = stmt.where(LeadTimeRollup.programme == scope.programme)
        if scope.office:
            stmt = stmt.where(LeadTimeRollup.office_code == scope.office)
        for programme, office, milestone, period, count, total_s, hist in session.execute(stmt):
            g = group(programme, office, milestone, period)
            g.rolled += count
            g.rolled_total_s += total_s
            g.flats.append(hist)
        lo, hi = _scope_window(scope)
        add_raw(max(lo, state.rolled_up_to) if lo else state.rolled_up_to, hi)
    rows = []
    for (programme, office, period, milestone), g in groups.items():
        if not g.flats:
            count = len(g.values)
            median, p90 = percentile(g.values, 0.5), percentile(g.values, 0.9)
            total = sum(g.values)
        else:
            count = g.rolled + len(g.values)
            flat = _merged(g.flats, [v / 3600 for v in g.values])
            median, p90 = flat_percentiles(flat, (0.5, 0.9))
            total = g.rolled_total_s + sum(g.values)
        if not count:
            continue
        rows.append(
            {
                "programme": programme,
                "office": office if by_office else None,
                "period": period if by_month else None,
                "milestone": milestone,
                "count": count,
                "median_days": round(median / 86400, 2),
                "p90_days": round(p90 / 86400, 2),
                "mean_days": round(total / count / 86400, 2),
            }
        )
    order = {m: i for i, m in enumerate(MILESTONES)}
    rows.sort(
        key=lambda r: (
            str(r["programme"]),
            str(r["office"] or ""),
            str(r["period"] or ""),
            order[str(r["milestone"])],
        )
    )
    return rows


def lead_time_table(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The report's rows side by side: one line per programme, office and period with its
    ``signed`` and ``first_payment`` figures (None where no contract reached one)."""
    lines: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in rows:
        key = (r["programme"], r["office"] or "", r["period"] or "")
        line = lines.setdefault(
            key,
            {
                "programme": r["programme"],
                "office": r["office"],
                "period": r["period"],
                **dict.fromkeys(MILESTONES),
            },
        )
        line[r["milestone"]] = r
    return list(lines.values())


def lead_times_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(
        out,
        fieldnames=[
            "programme",
            "office",
            "period",
            "milestone",
            "count",
            "median_days",
            "p90_days",
            "mean_days",
        ],
    )
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
