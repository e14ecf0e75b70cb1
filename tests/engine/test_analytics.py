"""Processing-time analytics and the pilot's evidence on data with known durations."""

from __future__ import annotations

import math
import random
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from engine import InvalidInput, analytics
from engine.analytics import Case
from engine.models import BaselineDuration, Office
from tests.conftest import World

PILOTS = [f"P{i}" for i in range(6)]
OTHERS = [f"C{i}" for i in range(10)]


def generated_cases(effect: float, season: float, seed: int = 3) -> list[Case]:
    """Durations around 100 h (office level varies, noise is log-normal); every office is
    ``season`` times slower after the cut-off; pilot offices are also ``1 - effect`` times
    faster after their go-live."""
    rng = random.Random(seed)
    cases = []
    for office in PILOTS + OTHERS:
        level = rng.uniform(60, 140)
        pilot = office in PILOTS
        for after in (False, True):
            factor = (season if after else 1.0) * ((1 - effect) if pilot and after else 1.0)
            for _ in range(120):
                hours = level * factor * math.exp(rng.gauss(0, 0.35))
                cases.append(Case(office, pilot, after, hours))
    return cases


def test_difference_in_differences_finds_the_effect_and_removes_the_season() -> None:
    cases = generated_cases(effect=0.30, season=1.25)
    report = analytics.difference_in_differences(cases, resamples=400)
    saved = report["time_saved"]
    assert saved["ci_low"] <= 0.30 <= saved["ci_high"]
    assert abs(saved["estimate"] - 0.30) < 0.03
    assert saved["ci_high"] - saved["ci_low"] < 0.1
    # the naive before/after comparison in the pilot offices mixes in the season: 1 - 0.7 * 1.25
    assert report["naive_before_after"] == pytest.approx(0.125, abs=0.03)
    assert report["cases"]["pilot_after"] == 6 * 120


def test_no_effect_gives_an_interval_around_zero() -> None:
    saved = analytics.difference_in_differences(
        generated_cases(effect=0.0, season=1.4, seed=9), resamples=400
    )["time_saved"]
    assert saved["ci_low"] <= 0.0 <= saved["ci_high"]


def test_difference_in_differences_needs_all_four_groups() -> None:
    only_pilots = [c for c in generated_cases(0.3, 1.0) if c.pilot]
    with pytest.raises(ValueError, match="no cases"):
        analytics.difference_in_differences(only_pilots)


def test_median_reduction_and_its_interval() -> None:
    rng = random.Random(5)
    baseline = [rng.lognormvariate(math.log(240), 0.4) for _ in range(400)]
    digital = [rng.lognormvariate(math.log(48), 0.4) for _ in range(400)]
    r = analytics.median_reduction(baseline, digital, resamples=400)
    assert r.low <= 0.8 <= r.high and r.low < r.estimate < r.high


def test_step_report_splits_waiting_and_working(world: World) -> None:
    cid = world.start()
    world.clock.advance(hours=10)
    world.complete(cid, "employer_agreement", AGREEMENT, "employer")
    guid = world.task(cid, "counsellor_validation")
    world.clock.advance(hours=2)
    with world.aqd.session() as s, s.begin():
        world.aqd.claim_task(s, guid, "c")
    world.clock.advance(hours=3)
    world.complete(cid, "counsellor_validation", {"validation_decision": "validate"}, "c")
    with world.aqd.session() as s:
        rows = {r["step"]: r for r in analytics.step_report(s, analytics.Scope(programme="civp"))}
    agreement, validation = rows["employer_agreement"], rows["counsellor_validation"]
    assert agreement["waiting_on"] == "party" and agreement["median_hours"] == 10.0
    assert agreement["median_waiting_hours"] == 10.0 and agreement["median_working_hours"] == 0
    assert validation["median_waiting_hours"] == 2.0
    assert validation["median_working_hours"] == 3.0
    assert validation["median_hours"] == 5.0 and validation["count"] == 1
    assert agreement["sla_breach_rate"] == 0.0  # due in 7 days, done in 10 hours
    assert list(rows) == ["employer_agreement", "counsellor_validation"]  # bottleneck first


def test_baseline_import_checks_every_line_and_replaces_by_source(world: World) -> None:
    bad = (
        "office,programme,step,date,hours\n"
        "TUN,civp,counsellor_validation,2024-13-01,5\n"
        "XXX,civp,s,2024-01-01,5\n"
        "TUN,civp,s,2024-01-02,-1\n"
    )
    with world.aqd.session() as s, s.begin(), pytest.raises(InvalidInput) as err:
        analytics.import_baseline(s, bad, "bad.csv", world.clock.now())
    assert set(err.value.fields) == {"line 2", "line 3", "line 4"}
    with pytest.raises(InvalidInput, match="header"):
        with world.aqd.session() as s, s.begin():
            analytics.import_baseline(s, "a,b\n1,2\n", "x.csv", world.clock.now())
    good = "office,programme,step,date,hours\n" + "".join(
        f"TUN,civp,counsellor_validation,2024-0{1 + i % 9}-1{i % 9},{100 + i}\n" for i in range(30)
    )
    for _ in range(2):
        with world.aqd.session() as s, s.begin():
            assert analytics.import_baseline(s, good, "register.csv", world.clock.now()) == 30
    with world.aqd.session() as s:
        assert len(s.scalars(select(BaselineDuration)).all()) == 30


def test_evidence_report_compares_baseline_with_aqd(world: World) -> None:
    with world.aqd.session() as s, s.begin():
        office = s.scalar(select(Office).where(Office.code == "TUN"))
        assert office is not None
        office.go_live = date(2025, 1, 6)
        s.add(Office(code="KEF", name_fr="Le Kef", name_ar="الكاف", governorate="Le Kef"))
    lines = ["office,programme,step,date,hours"]
    day = date(2024, 6, 1)
    for i in range(40):
        when = day + timedelta(days=7 * i)  # before and after TUN's go-live
        lines.append(f"TUN,civp,counsellor_validation,{when},{200 + i}")
        lines.append(f"KEF,civp,counsellor_validation,{when},{190 + i}")
    with world.aqd.session() as s, s.begin():
        analytics.import_baseline(s, "\n".join(lines) + "\n", "registers.csv", world.clock.now())
    for _ in range(3):
        cid = world.start()
        world.complete(cid, "employer_agreement", AGREEMENT, "employer")
        world.clock.advance(hours=6)
        world.complete(cid, "counsellor_validation", {"validation_decision": "validate"}, "c")
    with world.aqd.session() as s:
        report = analytics.evidence(s, "civp", resamples=200)
    (step,) = report["steps"]
    assert step["step"] == "counsellor_validation" and step["digital_cases"] == 3
    assert step["digital_median_hours"] == 6.0
    assert step["reduction"]["estimate"] > 0.9
    did = report["difference_in_differences"]
    assert did["cases"]["pilot_after"] >= 3 and did["time_saved"]["estimate"] > 0.9
    with world.aqd.session() as s, pytest.raises(InvalidInput, match="no baseline"):
        analytics.evidence(s, "karama")


AGREEMENT = {
    "agreed": True,
    "position_title": "Developer",
    "tutor_name": "Mr Tutor",
    "employer_complement": 200,
}
