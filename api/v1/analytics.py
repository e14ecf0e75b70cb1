"""Processing times, lead times, the pilot's evidence and the paper baseline
(``/api/v1/analytics``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field

from api.auth import CallerDep
from api.deps import AnalystDep, AqdDep, BaselineWriterDep, ReadSession, WriteSession
from api.v1.contracts import SHORT
from api.v1.schemas import AUTHED, Out, V1Router, errors
from engine import analytics

router = V1Router(tags=["api"], responses=errors(400, 422))


class BaselineUpload(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filename: str = Field(min_length=1, max_length=150, description="names the import")
    csv: str = Field(
        min_length=1, max_length=20_000_000, description="office,programme,step,date,hours"
    )


class StepTimes(Out):
    programme: str
    office: str | None
    step: str
    lane: str
    waiting_on: str = Field(description="party (employer, job seeker) or office")
    count: int
    median_hours: float
    p90_hours: float
    median_waiting_hours: float
    median_working_hours: float
    sla_breach_rate: float | None = Field(description="None: no step had a due date")
    total_hours: float


class LeadTimes(Out):
    programme: str
    office: str | None
    period: str | None = Field(description="YYYY-MM with by_month, else None")
    milestone: str = Field(description="signed or first_payment")
    count: int
    median_days: float
    p90_days: float
    mean_days: float


class Interval(Out):
    estimate: float
    ci_low: float
    ci_high: float


class StepEvidence(Out):
    step: str
    milestone: bool = Field(description="an end-to-end lead time rather than one step")
    baseline_cases: int
    digital_cases: int
    baseline_median_hours: float
    digital_median_hours: float | None = Field(default=None, description="with digital cases")
    reduction: Interval | None = Field(
        default=None, description="of the median, with a bootstrap 95 % interval"
    )


class DifferenceInDifferences(Out):
    time_saved: Interval | None = Field(default=None, description="a fraction of the time")
    naive_before_after: float | None = None
    cases: dict[str, int] = Field(default_factory=dict, description="group sizes")
    unavailable: str | None = Field(default=None, description="why it cannot be computed")


class Evidence(Out):
    programme: str
    steps: list[StepEvidence]
    difference_in_differences: DifferenceInDifferences | None = Field(
        description="None without pilot offices that went live"
    )


class BaselineImported(Out):
    source: str = Field(description="the import's name (file name and content hash)")
    cases: int


@router.get("/analytics/steps", response_model=list[StepTimes], responses=AUTHED)
def analytics_steps(
    caller: CallerDep, s: ReadSession, programme: SHORT = None, office: SHORT = None
) -> list[dict[str, Any]]:
    """Processing time per programme, office and step (office head: own office;
    programme manager, auditor, admin: all)."""
    scope = analytics.scope_for(caller.principal, programme, office)
    return analytics.step_report(s, analytics.resolve_scope(s, scope))


@router.get("/analytics/lead-times", response_model=list[LeadTimes], responses=AUTHED)
def analytics_lead_times(
    caller: CallerDep,
    s: ReadSession,
    programme: SHORT = None,
    office: SHORT = None,
    month: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")] = None,
    by_month: bool = False,
) -> list[dict[str, Any]]:
    """Days from request to signed contract and to first payment (count, median, p90,
    mean) per programme and office, for all time or one month (``YYYY-MM``), optionally
    per month; scoped as ``/analytics/steps``."""
    scope = analytics.scope_for(caller.principal, programme, office)
    if month:
        scope = analytics.month_scope(month, scope.programme, scope.office)
    return analytics.lead_time_report(s, analytics.resolve_scope(s, scope), by_month=by_month)


@router.get("/analytics/evidence", response_model=Evidence, responses=AUTHED)
def analytics_evidence(
    caller: AnalystDep,
    s: ReadSession,
    programme: Annotated[str, Query(min_length=1, max_length=64)],
    step: SHORT = None,
) -> dict[str, Any]:
    """Reduction vs the baseline and difference in differences (analysts)."""
    return analytics.evidence(s, programme, step)


@router.post(
    "/analytics/baseline", status_code=201, response_model=BaselineImported, responses=AUTHED
)
def analytics_baseline(
    body: BaselineUpload, caller: BaselineWriterDep, aqd: AqdDep, s: WriteSession
) -> dict[str, Any]:
    """Import pre-digital durations (programme manager, admin); same file name and content
    replaces the earlier import."""
    source = analytics.source_name(body.filename, body.csv)
    count = analytics.import_baseline(s, body.csv, source, aqd.clock.now())
    return {"source": source, "cases": count}
