"""Lead times (request → signed contract, request → first payment) on a generated data set
whose durations are known exactly, against the rollup and through the real engine."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from engine import analytics
from engine.analytics import Scope
from engine.models import Office, StepTiming
from tests.conftest import World
from tests.helpers.analytics import DAYS, T0, seed


def by_key(rows: list[dict[str, Any]]) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {(r["programme"], r["office"], r["period"], r["milestone"]): r for r in rows}


def test_exact_lead_times_are_the_known_durations(world: World) -> None:
    seeder = seed(world, T0, 20)
    # Only the first activation counts; a rejected order is not a payment, nor is one that
    # is only ordered; a contract not signed yet has no lead time.
    seeder.contract(
        "TUN",
        T0,
        timedelta(days=10),
        paid_after=timedelta(days=40),
        also_activated_after=timedelta(days=90),
        rejected_after=timedelta(days=35),
    )
    seeder.contract("TUN", T0, timedelta(days=10), ordered_after=timedelta(days=38))
    seeder.contract("KEF", T0, None)
    with world.aqd.session() as s:
        rows = by_key(analytics.lead_time_report(s, Scope()))
    assert set(rows) == {("civp", office, None, m) for office in DAYS for m in analytics.MILESTONES}
    for office, (signed, paid) in DAYS.items():
        s_row, p_row = (
            rows[("civp", office, None, "signed")],
            rows[("civp", office, None, "first_payment")],
        )
        extra = 2 if office == "TUN" else 0
        assert s_row["count"] == 20 + extra
        assert p_row["count"] == 20 + (1 if office == "TUN" else 0)
        for name in ("median_days", "p90_days", "mean_days"):
            assert s_row[name] == signed
            assert p_row[name] == paid


def test_periods_offices_and_programmes(world: World) -> None:
    seeder = seed(world, T0, 10)
    # Signed in February: 5 days in karama (KEF).
    for i in range(4):
        seeder.contract(
            "KEF",
            datetime(2025, 2, 1, tzinfo=UTC) + timedelta(days=i),
            timedelta(days=5),
            programme="karama",
        )
    with world.aqd.session() as s:
        month = analytics.lead_time_report(s, analytics.month_scope("2025-02"))
        karama = analytics.lead_time_report(s, Scope(programme="karama"), by_office=False)
        monthly = analytics.lead_time_report(s, Scope(office="KEF"), by_month=True)
    # January requests (Jan 6 to 10) are signed in January (+10 and +20 days), first paid in
    # February (TUN, +40) and March (KEF, +55).
    assert {(r["programme"], r["office"], r["milestone"]) for r in month} == {
        ("civp", "TUN", "first_payment"),
        ("karama", "KEF", "signed"),
    }
    assert [(r["office"], r["count"], r["median_days"]) for r in karama] == [(None, 4, 5.0)]
    periods = {(r["programme"], r["period"], r["milestone"]): r["count"] for r in monthly}
    assert periods == {
        ("civp", "2025-01", "signed"): 10,
        ("civp", "2025-03", "first_payment"): 10,
        ("karama", "2025-02", "signed"): 4,
    }


def test_rollup_and_tail_match_the_exact_report(world: World) -> None:
    seed(world, T0, 30)
    with world.aqd.session() as s, s.begin():
        done = analytics.refresh_rollup(s, T0 + timedelta(days=45))
    # every contract signed; TUN's first ten paid (requested by T0 + 4.5 days, paid 40 later)
    assert done["lead_times"]["contracts"] == 2 * 30 + 10
    # then more contracts, reaching their milestones after the refresh (the raw tail)
    seed(world, T0 + timedelta(days=40), 15)
    with world.aqd.session() as s:
        scopes = (Scope(), Scope(office="KEF"), analytics.month_scope("2025-02"))
        for scope in scopes:
            for by_month in (False, True):
                fast = by_key(analytics.lead_time_report(s, scope, by_month=by_month))
                exact = by_key(analytics.lead_time_report(s, scope, by_month=by_month, exact=True))
                assert set(fast) == set(exact), scope
                for key, want in exact.items():
                    got = fast[key]
                    assert got["count"] == want["count"], key
                    assert got["mean_days"] == pytest.approx(want["mean_days"], abs=0.011)
                    for name in ("median_days", "p90_days"):
                        assert abs(got[name] - want[name]) <= 0.0199 * want[name] + 0.0101
    with world.aqd.session() as s, s.begin():
        again = analytics.refresh_rollup(s, T0 + timedelta(days=200))
        assert again["lead_times"]["contracts"] == 45 * 2 * 2 - 70
        assert analytics.refresh_rollup(s, T0 + timedelta(days=200))["lead_times"]["contracts"] == 0
    with world.aqd.session() as s:
        total = {
            r["office"]: r["count"]
            for r in analytics.lead_time_report(s, Scope())
            if r["milestone"] == "first_payment"
        }
    assert total == {"TUN": 45, "KEF": 45}


def test_signed_through_the_engine(world: World) -> None:
    cid = world.start()
    world.clock.advance(days=3)
    world.complete(cid, "employer_agreement", _agreement(), "employer")
    world.clock.advance(days=4, hours=12)
    world.complete(cid, "counsellor_validation", {"validation_decision": "validate"}, "c")
    world.sign_all(cid)
    with world.aqd.session() as s:
        assert (
            s.scalar(
                select(func.count()).select_from(StepTiming).where(StepTiming.bpmn_id == "activate")
            )
            == 1
        )
        rows = analytics.lead_time_report(s, Scope())
    assert [(r["milestone"], r["count"], r["median_days"]) for r in rows] == [("signed", 1, 7.5)]


def _agreement() -> dict[str, object]:
    from tests.conftest import AGREEMENT

    return dict(AGREEMENT)


def test_scope_window_by_day(world: World) -> None:
    seed(world, T0, 4)
    with world.aqd.session() as s:
        rows = analytics.lead_time_report(
            s, Scope(since=date(2025, 1, 16), until=date(2025, 1, 16))
        )
    assert [(r["office"], r["milestone"], r["count"]) for r in rows] == [("TUN", "signed", 2)]


@pytest.mark.slow  # `aqd` processes; the lead times themselves are tested in-process above
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_command_line(world: World, tmp_path: Any) -> None:
    import csv
    import io
    import json

    from tests.helpers.cli import Cli

    seed(world, T0, 3)
    cli = Cli(world.url, tmp_path)
    rows = json.loads(cli("analytics", "lead-times", "--office", "KEF").stdout)
    assert [(r["milestone"], r["count"], r["median_days"]) for r in rows] == [
        ("signed", 3, 20.0),
        ("first_payment", 3, 55.0),
    ]
    # the command line's clock is 2025-03-03 08:00: KEF's third payment (08:00) is in the
    # five minutes the refresh leaves out, so the by-month report reads it from the raw tail
    refreshed = json.loads(cli("analytics", "refresh").stdout)
    assert refreshed["lead_times"]["contracts"] == 11
    table = list(
        csv.DictReader(io.StringIO(cli("analytics", "lead-times", "--by-month", "--csv").stdout))
    )
    assert [(r["office"], r["period"], r["milestone"], r["count"]) for r in table] == [
        ("KEF", "2025-01", "signed", "3"),
        ("KEF", "2025-03", "first_payment", "3"),
        ("TUN", "2025-01", "signed", "3"),
        ("TUN", "2025-02", "first_payment", "3"),
    ]


def paper(office: str, step: str, day: str, hours: float, count: int) -> str:
    return "".join(f"{office},civp,{step},{day},{hours}\n" for _ in range(count))


def test_an_end_to_end_baseline_is_compared_with_the_lead_times(world: World) -> None:
    """A baseline row whose step is ``signed`` is the paper's request-to-signature time: the
    evidence compares it with the contracts' lead times (not with any step's duration), and the
    difference in differences uses the contracts requested after the pilot office's go-live."""
    seed(world, T0, 20)  # TUN signed after 10 days, KEF after 20
    with world.aqd.session() as s, s.begin():
        tun = s.scalar(select(Office).where(Office.code == "TUN"))
        assert tun is not None
        tun.pilot, tun.go_live = True, date(2025, 1, 1)
        csv = "office,programme,step,date,hours\n"
        csv += paper("TUN", "signed", "2024-06-10", 45 * 24, 30)  # before: 45 days
        csv += paper("KEF", "signed", "2024-06-10", 40 * 24, 30)  # the control office, before
        csv += paper("KEF", "signed", "2025-02-10", 40 * 24, 30)  # and after: no change
        csv += paper("TUN", "counsellor_validation", "2024-06-10", 30, 10)
        analytics.import_baseline(s, csv, "paper.csv", T0)
    with world.aqd.session() as s:
        result = analytics.evidence(s, "civp", "signed", resamples=200)
        pooled = analytics.evidence(s, "civp", resamples=50)
        month = analytics.monthly_report(s, Scope(), "2025-01", resamples=50)
    (row,) = result["steps"]
    assert row["milestone"] is True and row["step"] == "signed"
    assert row["digital_cases"] == 40  # every contract's lead time, none of a step's duration
    assert row["digital_median_hours"] == 15 * 24  # 20 contracts at 10 days, 20 at 20
    assert row["baseline_median_hours"] == 40 * 24
    assert row["reduction"]["estimate"] == pytest.approx(1 - 15 / 40, abs=1e-3)
    did = result["difference_in_differences"]["time_saved"]
    # TUN's contracts took 10 days against 45 on paper; the control office did not change
    assert did["estimate"] == pytest.approx(1 - 10 / 45, abs=1e-3)
    assert did["ci_low"] <= did["estimate"] <= did["ci_high"]
    # the milestones come first; pooling every step leaves the end-to-end baseline out
    assert [r["step"] for r in pooled["steps"]] == ["signed", "counsellor_validation"]
    # (KEF's paper signatures would fill the control groups if they were pooled)
    assert pooled["difference_in_differences"] == {
        "unavailable": "a group has no cases: [(True, True), (False, False), (False, True)]"
    }
    # the monthly report: January's signed contracts (TUN's 20, and KEF's 12 requested by
    # 11 January 20:00, 20 days before February)
    signed = [r for r in month["reductions"] if r["step"] == "signed"]
    assert len(signed) == 1 and signed[0]["milestone"] is True
    assert signed[0]["digital_cases"] == 20 + 12
    lines = {line["office"]: line for line in month["lead_times"]}
    assert lines["TUN"]["signed"]["median_days"] == 10.0 and lines["TUN"]["first_payment"] is None
    assert lines["KEF"]["signed"]["count"] == 12 and lines["KEF"]["name_fr"] == "Le Kef"
