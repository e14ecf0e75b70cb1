"""The step report's rollup (national volumes) against the exact report on the same tasks."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from engine import analytics
from engine.analytics import Scope
from engine.models import HumanTask, Office, ProcessInstance, StepRollup
from tests.conftest import World

# step, lane, median hours, SLA hours (0: none)
STEPS = (
    ("employer_agreement", "employer", 30.0, 168),
    ("counsellor_validation", "counsellor", 6.0, 24),
    ("office_head_approval", "office_head", 12.0, 0),
)
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def add_tasks(world: World, n: int, first: datetime, days: int, seed: int) -> None:
    """``n`` completed tasks over two offices, two programmes and the steps above, completed
    between ``first`` and ``first + days``; log-normal waiting and working times, some tasks
    never claimed, some instantly done."""
    rng = random.Random(seed)
    cid = world.start()
    with world.aqd.session() as s, s.begin():
        instance = s.scalar(select(ProcessInstance.id).where(ProcessInstance.contract_id == cid))
        offices = {o.code: o.id for o in s.scalars(select(Office))}
        if "KEF" not in offices:
            kef = Office(code="KEF", name_fr="Le Kef", name_ar="الكاف", governorate="Le Kef")
            s.add(kef)
            s.flush()
            offices["KEF"] = kef.id
        base = s.scalar(select(func.count()).select_from(HumanTask)) or 0
        for i in range(n):
            step, lane, median, sla = STEPS[i % len(STEPS)]
            office = ("TUN", "KEF")[(i // 3) % 2]
            programme = ("civp", "karama")[(i // 6) % 2]
            ready = first + timedelta(seconds=rng.uniform(0, days * 86400))
            wait_h = median * math.exp(rng.gauss(0, 0.7)) * (0.6 if office == "KEF" else 1)
            work_h = 0.0 if lane == "employer" else median / 5 * math.exp(rng.gauss(0, 0.5))
            if i % 17 == 0:
                wait_h = 0.0  # done at once
            claimed = None
            if lane != "employer" and i % 5:
                claimed = ready + timedelta(hours=wait_h)
            completed = ready + timedelta(hours=wait_h + work_h)
            s.add(
                HumanTask(
                    contract_id=cid,
                    instance_id=instance,
                    task_guid=f"rollup-{seed}-{base + i}",
                    bpmn_id=step,
                    name=step,
                    programme=programme,
                    lane=lane,
                    candidate_group=lane,
                    office_id=offices[office],
                    form_key=step,
                    status="completed",
                    due_at=ready + timedelta(hours=sla) if sla else None,
                    ready_at=ready,
                    claimed_at=claimed,
                    completed_at=completed,
                    completed_by="u",
                )
            )


def by_key(rows: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(r["programme"], r["office"], r["step"]): r for r in rows}


def assert_close(fast: list[dict[str, Any]], exact: list[dict[str, Any]]) -> None:
    """Counts and breach rates exact, sums to rounding; percentiles within the buckets' 2 %."""
    f, e = by_key(fast), by_key(exact)
    assert set(f) == set(e)
    for key, want in e.items():
        got = f[key]
        for name in ("count", "sla_breach_rate", "lane", "waiting_on"):
            assert got[name] == want[name], (key, name)
        assert got["total_hours"] == pytest.approx(want["total_hours"], abs=0.11)
        for name in ("median_hours", "p90_hours", "median_waiting_hours", "median_working_hours"):
            # sqrt(1.04) - 1 < 1.99 %, plus both sides' rounding to 0.01 h
            assert abs(got[name] - want[name]) <= 0.0199 * want[name] + 0.0101, (key, name)


SCOPES = (
    Scope(),
    Scope(programme="karama"),
    Scope(office="KEF"),
    analytics.month_scope("2025-02"),
    Scope(programme="civp", since=date(2025, 1, 1), until=date(2025, 2, 28)),
)


def test_rollup_and_tail_match_the_exact_report(world: World) -> None:
    add_tasks(world, 900, T0, 75, seed=1)
    with world.aqd.session() as s:
        exact = analytics.step_report(s, Scope(), exact=True)
        # nothing rolled up yet: the report is the exact one, value for value
        assert analytics.step_report(s, Scope()) == exact
    assert sum(r["count"] for r in exact) == 900

    with world.aqd.session() as s, s.begin():
        done = analytics.refresh_rollup(s, T0 + timedelta(days=40))
    assert 300 < done["tasks"] < 700  # completed before 40 days minus the margin
    with world.aqd.session() as s:
        rolled = s.scalar(select(func.sum(StepRollup.count)).where(StepRollup.period == "all"))
        months = s.scalar(select(func.sum(StepRollup.count)).where(StepRollup.period != "all"))
        assert rolled == months == done["tasks"]
        for scope in SCOPES:  # rollup + raw tail
            assert_close(
                analytics.step_report(s, scope), analytics.step_report(s, scope, exact=True)
            )

    # more tasks complete; an incremental refresh adds them to the same rows
    add_tasks(world, 300, T0 + timedelta(days=60), 20, seed=2)
    with world.aqd.session() as s, s.begin():
        again = analytics.refresh_rollup(s, T0 + timedelta(days=200))
        assert analytics.refresh_rollup(s, T0 + timedelta(days=200))["tasks"] == 0
    assert done["tasks"] + again["tasks"] == 1200
    with world.aqd.session() as s:
        for scope in SCOPES:
            assert_close(
                analytics.step_report(s, scope), analytics.step_report(s, scope, exact=True)
            )
        # a period that is not whole months is read exactly
        partial = Scope(since=date(2025, 1, 10), until=date(2025, 2, 20))
        assert analytics.rollup_periods(partial) is None
        assert analytics.step_report(s, partial) == analytics.step_report(s, partial, exact=True)


def test_histogram_percentiles_match_the_exact_ones_on_bucket_values() -> None:
    rng = random.Random(4)
    for n in (1, 2, 3, 10, 101):
        buckets = [rng.randrange(-1, 300) for _ in range(n)]
        values = [analytics.bucket_value(b) for b in buckets]
        hist: dict[int, int] = {}
        for b in buckets:
            hist[b] = hist.get(b, 0) + 1
        flat = [v for b in sorted(hist) for v in (b, hist[b])]
        got = analytics.flat_percentiles(flat, (0.5, 0.9, 0.1))
        want = [analytics.percentile(values, q) for q in (0.5, 0.9, 0.1)]
        assert got == pytest.approx(want, rel=1e-12)
    # a tail merged into one rollup row's histogram: new buckets inserted in order, others added
    flat = [-1, 2, 10, 1, 150, 4]
    hours = [0.0, analytics.bucket_value(150) / 3600, 5.0, 0.001, 1e-9]
    counts: dict[int, int] = {-1: 2, 10: 1, 150: 4}
    for h in hours:
        b = analytics.bucket_of(h * 3600)
        counts[b] = counts.get(b, 0) + 1
    assert analytics._merged([flat], hours) == [v for b in sorted(counts) for v in (b, counts[b])]
    assert flat == [-1, 2, 10, 1, 150, 4]  # the row's own list is left alone
    for seconds in (1.0, 59.0, 3600.0, 86400 * 30.5, 3e7):
        value = analytics.bucket_value(analytics.bucket_of(seconds))
        assert abs(value - seconds) / seconds < 0.02
    assert analytics.bucket_value(analytics.bucket_of(0.4)) == 0.0


def test_rollup_periods() -> None:
    assert analytics.rollup_periods(Scope()) == ["all"]
    assert analytics.rollup_periods(analytics.month_scope("2024-12")) == ["2024-12"]
    assert analytics.rollup_periods(Scope(since=date(2024, 11, 1), until=date(2025, 1, 31))) == [
        "2024-11",
        "2024-12",
        "2025-01",
    ]
    assert analytics.rollup_periods(Scope(since=date(2024, 11, 1))) is None
    assert analytics.rollup_periods(Scope(since=date(2024, 11, 2), until=date(2025, 1, 31))) is None
    assert analytics.rollup_periods(Scope(since=date(2024, 11, 1), until=date(2025, 1, 30))) is None


def test_national_volumes_bootstrap_a_capped_sample_around_the_full_estimate() -> None:
    """16 offices x 2 periods x 1,500 cases: the estimate uses all 48,000 cases, the interval
    resamples at most 2,000 per group, and still holds the true 30 % effect net of a 25 %
    seasonal slowdown."""
    rng = random.Random(8)
    cases = []
    for i in range(16):
        pilot = i < 6
        level = rng.uniform(60, 140)
        for after in (False, True):
            factor = (1.25 if after else 1.0) * (0.7 if pilot and after else 1.0)
            cases += [
                analytics.Case(f"O{i}", pilot, after, level * factor * math.exp(rng.gauss(0, 0.4)))
                for _ in range(1500)
            ]
    report = analytics.difference_in_differences(cases, resamples=200)
    saved = report["time_saved"]
    assert report["cases"]["pilot_after"] == 9000 and report["cases"]["others_before"] == 15000
    assert saved["ci_low"] <= 0.30 <= saved["ci_high"]
    assert abs(saved["estimate"] - 0.30) < 0.02
    assert saved["ci_low"] < saved["estimate"] < saved["ci_high"]
