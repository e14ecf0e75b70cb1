"""The analytics rollup: completed steps folded into log-bucketed histograms per programme, office,
step and month, refreshed incrementally, so reports read a few rows instead of every task.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import (
    Float,
    cast,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from engine.analytics.histograms import (
    _EPOCH,
    _LOG_RATIO,
    ROLLUP_MARGIN,
    _flat,
    _merge_flat,
    bucket_of,
)
from engine.analytics.lead_times import refresh_lead_times
from engine.analytics.scope import PARTY_LANES
from engine.models import (
    HumanTask,
    Office,
    StepRollup,
    StepRollupState,
)


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
