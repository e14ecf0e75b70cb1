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

Percentiles are computed in Python over the rows of the requested scope; that is fine for the
pilot's offices. National volumes need the pre-aggregated path (not built yet, see the issue's
benchmark).
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import random
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from engine.errors import InvalidInput, NotPermitted
from engine.models import BaselineDuration, HumanTask, Office
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


def _completed(session: Session, scope: Scope) -> Iterable[Any]:
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
    return session.execute(stmt)


def step_report(session: Session, scope: Scope) -> list[dict[str, Any]]:
    """Per programme, office and step: counts, median and p90 of total, waiting and working
    hours, SLA breach rate; sorted by the total time the step consumed (bottlenecks first)."""
    steps: dict[tuple[str, str, str], _Step] = {}
    for programme, office, step, lane, ready, claimed, completed, due in _completed(session, scope):
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
    rows: list[dict[str, Any]] = []
    for s in steps.values():
        rows.append(
            {
                "programme": s.programme,
                "office": s.office,
                "step": s.step,
                "lane": s.lane,
                "waiting_on": "party" if s.lane in PARTY_LANES else "office",
                "count": len(s.total),
                "median_hours": round(statistics.median(s.total), 2),
                "p90_hours": round(percentile(s.total, 0.9), 2),
                "median_waiting_hours": round(statistics.median(s.waiting), 2),
                "median_working_hours": round(statistics.median(s.working), 2)
                if s.working
                else 0.0,
                "sla_breach_rate": round(s.breached / s.with_due, 3) if s.with_due else None,
                "total_hours": round(sum(s.total), 1),
            }
        )
    rows.sort(key=lambda r: (-float(r["total_hours"]), r["programme"], r["office"], r["step"]))
    return rows


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
    boots = [
        estimate({k: _resample(rng, v) for k, v in groups.items()})[0] for _ in range(resamples)
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
        if s in per_step:
            per_step[s]["d"].append(_hours(ready, done) or 0.0)
    steps = []
    for s, samples in sorted(per_step.items()):
        if step and s != step:
            continue
        row: dict[str, Any] = {
            "step": s,
            "baseline_cases": len(samples["b"]),
            "digital_cases": len(samples["d"]),
            "baseline_median_hours": round(statistics.median(samples["b"]), 2),
        }
        if samples["d"]:
            row["digital_median_hours"] = round(statistics.median(samples["d"]), 2)
            row["reduction"] = median_reduction(samples["b"], samples["d"], resamples).to_dict()
        steps.append(row)
    go_lives = [o.go_live for o in offices.values() if o.pilot and o.go_live]
    result: dict[str, Any] = {"programme": programme, "steps": steps}
    if not go_lives:
        result["difference_in_differences"] = None
        return result
    control_cut = min(go_lives)
    cases: list[Case] = []
    for code, s, day, hours in baseline_rows:
        if step and s != step:
            continue
        o = offices.get(code)
        if o is None:
            continue
        cut = o.go_live if o.pilot and o.go_live else control_cut
        cases.append(Case(code, bool(o.pilot), day >= cut, hours))
    for code, day, hours in _digital_hours(session, programme, step):
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
