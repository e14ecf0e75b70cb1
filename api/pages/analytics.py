"""Processing times per programme, office and step, lead times, the pilot's evidence against
the paper baseline, their CSV exports and the printable monthly report."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from api import reports
from api.auth import Caller, CallerDep
from api.deps import AqdDep, ReadSession
from api.pages.common import render
from engine import InvalidInput, analytics, inbox

router = APIRouter(include_in_schema=False)


def _scope(request: Request, caller: Caller) -> analytics.Scope:
    q = request.query_params
    return analytics.scope_for(
        caller.principal, (q.get("programme") or "")[:64], (q.get("office") or "")[:32]
    )


def _step_rows(
    request: Request, caller: Caller, s: Session
) -> tuple[analytics.Scope, list[dict[str, Any]]]:
    scope = analytics.resolve_scope(s, _scope(request, caller))
    return scope, analytics.step_report(s, scope)


@router.get("/analytics")
def analytics_page(request: Request, caller: CallerDep, aqd: AqdDep, s: ReadSession) -> Response:
    scope, rows = _step_rows(request, caller, s)
    longest = max((float(row["median_hours"]) for row in rows), default=0.0) or 1.0
    evidence = None
    if scope.programme and caller.principal.roles & analytics.ANALYSTS:
        try:
            evidence = analytics.evidence(s, scope.programme, resamples=300)
        except InvalidInput:
            evidence = None
    offices = inbox.offices(s)
    programmes = inbox.programmes_open_for_requests(s, aqd.clock.now())
    lead_times = analytics.lead_time_table(analytics.lead_time_report(s, scope))
    params = {k: v for k, v in request.query_params.items() if v}
    return render(
        request,
        "analytics.html",
        caller,
        rows=rows,
        longest=longest,
        lead_times=lead_times,
        longest_lead=max(
            (
                float(line[m]["median_days"])
                for line in lead_times
                for m in analytics.MILESTONES
                if line[m]
            ),
            default=0.0,
        )
        or 1.0,
        scope=scope,
        evidence=evidence,
        offices=offices,
        programmes=programmes,
        query=urlencode(params),
        report_month=(aqd.clock.now().replace(day=1) - timedelta(days=1)).strftime("%Y-%m"),
    )


@router.get("/analytics/report.pdf")
def analytics_report(request: Request, caller: CallerDep, aqd: AqdDep, s: ReadSession) -> Response:
    """The month's printable report, scoped as the analytics page."""
    scope = _scope(request, caller)
    month = (request.query_params.get("month") or "")[:7]
    pdf = reports.monthly_pdf(s, analytics.resolve_scope(s, scope), month, aqd.clock.now())
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="aqd-report-{month}.pdf"'},
    )


@router.get("/analytics.csv")
def analytics_csv(request: Request, caller: CallerDep, s: ReadSession) -> Response:
    _, rows = _step_rows(request, caller, s)
    return Response(
        analytics.steps_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="aqd-steps.csv"'},
    )


@router.get("/analytics/lead-times.csv")
def analytics_lead_times_csv(request: Request, caller: CallerDep, s: ReadSession) -> Response:
    scope = _scope(request, caller)
    rows = analytics.lead_time_report(
        s, analytics.resolve_scope(s, scope), by_month=request.query_params.get("by_month") == "1"
    )
    return Response(
        analytics.lead_times_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="aqd-lead-times.csv"'},
    )
