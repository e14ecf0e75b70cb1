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

from engine.analytics.baseline import import_baseline, source_name
from engine.analytics.evidence import evidence
from engine.analytics.histograms import (
    BUCKET_RATIO,
    ROLLUP_MARGIN,
    _merged,
    bucket_of,
    bucket_value,
    flat_percentiles,
    rollup_periods,
)
from engine.analytics.lead_times import (
    ACTIVATION_STEP,
    MILESTONES,
    lead_time_report,
    lead_time_table,
    lead_times_csv,
    refresh_lead_times,
)
from engine.analytics.report import monthly_report
from engine.analytics.rollup import refresh_rollup
from engine.analytics.scope import (
    ANALYSTS,
    Scope,
    month_scope,
    percentile,
    require_analyst,
    resolve_scope,
    scope_for,
)
from engine.analytics.statistics import Case, difference_in_differences, median_reduction
from engine.analytics.steps import step_report, steps_csv

__all__ = [
    "ACTIVATION_STEP",
    "ANALYSTS",
    "BUCKET_RATIO",
    "MILESTONES",
    "ROLLUP_MARGIN",
    "Case",
    "Scope",
    "_merged",
    "bucket_of",
    "bucket_value",
    "difference_in_differences",
    "evidence",
    "flat_percentiles",
    "import_baseline",
    "lead_time_report",
    "lead_time_table",
    "lead_times_csv",
    "median_reduction",
    "month_scope",
    "monthly_report",
    "percentile",
    "refresh_lead_times",
    "refresh_rollup",
    "require_analyst",
    "resolve_scope",
    "rollup_periods",
    "scope_for",
    "source_name",
    "step_report",
    "steps_csv",
]
