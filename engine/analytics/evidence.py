"""The pilot's evidence: digital against paper processing times per step, with intervals."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import (
    select,
)
from sqlalchemy.orm import Session

from engine.analytics.lead_times import MILESTONES, _step_order, milestone_hours
from engine.analytics.scope import Scope, _hours
from engine.analytics.statistics import (
    Case,
    Interval,
    _capped,
    difference_in_differences,
    median_reduction,
)
from engine.errors import InvalidInput
from engine.models import (
    BaselineDuration,
    HumanTask,
    Office,
)


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
