"""The monthly report's figures (the steering committee's PDF is rendered by ``api.reports``)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from sqlalchemy import (
    select,
)
from sqlalchemy.orm import Session

from engine.analytics.lead_times import (
    MILESTONES,
    _scope_window,
    _step_order,
    lead_time_report,
    lead_time_table,
    milestone_hours,
)
from engine.analytics.scope import Scope, _hours, _utc, month_scope
from engine.analytics.statistics import Interval, _capped, median_reduction
from engine.analytics.steps import _completed, step_report
from engine.models import (
    BaselineDuration,
    Office,
)
from engine.models.anchors import ChainAnchor


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
