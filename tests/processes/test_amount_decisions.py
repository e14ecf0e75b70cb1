"""The amount decisions of every programme (issue 20 item 3), case by case and period by period:
each amount the monthly process pays and the contract document states is one DMN decision,
evaluated here exactly as a contract evaluates it, on the parameters in force on each date at
which one of them changes. Expected amounts are written out from notes/PROGRAMMES.md, not
recomputed from the table."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from engine.kernel.planning import resolve_parameters
from engine.runtime.decisions import decide
from engine.runtime.definitions import read_sources
from engine.runtime.sandbox import Sandbox
from tests.conftest import ROOT

#: programme -> its amount decisions (the monthly one first, as programme.json names it)
DECISIONS = {
    "civp": ("civp_monthly_stipend",),
    "crva": ("crva_monthly_allowance",),
    "csc": ("csc_monthly_allowance",),
    "cides": ("cides_monthly_stipend", "cides_integration_premium"),
    "karama": ("karama_monthly_reimbursement",),
}


def evaluate(
    programme: str, decision_id: str, case: dict[str, Any], on: date, collect: bool = False
) -> tuple[dict[str, Any], list[str]]:
    """(outputs, matched rule ids) of the decision on ``on``; with ``collect`` the table is
    evaluated as COLLECT, so every rule that applies is listed, not only the first."""
    sources = read_sources(ROOT / "processes" / programme)[1]
    if collect:
        name = f"{decision_id}.dmn"
        assert sources[name].count('hitPolicy="UNIQUE"') == 1
        sources = {**sources, name: sources[name].replace('"UNIQUE"', '"COLLECT"')}
    at = datetime(on.year, on.month, on.day, 12, tzinfo=UTC)
    params = resolve_parameters(json.loads(sources["parameters.json"]), at)
    result = decide(sources, decision_id, {**case, "params": params}, Sandbox(), at)
    return result.outputs, [m["rule"] for m in result.matched]


def amount(programme: str, decision_id: str, case: dict[str, Any], on: str) -> str | None:
    """The decided amount, or None when no rule is in force for the case on that date."""
    outputs, _ = evaluate(programme, decision_id, case, date.fromisoformat(on))
    if not outputs:
        return None
    assert outputs["amount_legal_basis"], "every amount rule cites its legal basis"
    return str(outputs["amount"])


def change_dates(programme: str) -> list[date]:
    """2009-01-01, today, and every day on which a parameter of the programme starts or stops
    applying (its first day and the day after its last), with the day before each."""
    doc = json.loads((ROOT / "processes" / programme / "parameters.json").read_text())
    days = {date(2009, 1, 1), date.today()}
    for versions in doc["parameters"].values():
        for version in versions:
            if version.get("valid_from"):
                days.add(date.fromisoformat(version["valid_from"]))
            if version.get("valid_to"):
                days.add(date.fromisoformat(version["valid_to"]) + timedelta(days=1))
    around = {d + timedelta(days=delta) for d in days for delta in (-1, 0)}
    return sorted(d for d in around if date(2009, 1, 1) <= d <= date.today())


# -- the cases every decision is asked on every date -------------------------------------------

MONTH_CASES: dict[str, list[dict[str, Any]]] = {
    "civp_monthly_stipend": [
        {"days_present": dp, "diploma_level": level, "disabled": disabled}
        for dp in (0, 1)
        for level in ("HIGHER_ED", "BTS", "OTHER")
        for disabled in (False, True)
    ],
    "crva_monthly_allowance": [
        {"days_present": dp, "disabled": disabled} for dp in (0, 22) for disabled in (False, True)
    ],
    "csc_monthly_allowance": [{"days_present": dp} for dp in (0, 1, 18)],
    "cides_monthly_stipend": [
        {"days_present": dp, "mobility_allowance": m} for dp in (0, 20) for m in (0, 50)
    ],
    "cides_integration_premium": [{"hire_date": "2019-10-01", "months": 12}],
    "karama_monthly_reimbursement": [
        {"salary_paid": paid, "gross_salary": gross}
        for paid in (False, True)
        for gross in (0, 0.001, 399.999, 479.44, 479.45, 600.5)
    ],
}
ALL = [
    (programme, decision_id)
    for programme, decisions in DECISIONS.items()
    for decision_id in decisions
]


@pytest.mark.parametrize(("programme", "decision_id"), ALL)
def test_every_date_a_parameter_changes_answers_or_has_no_rule_in_force(
    programme: str, decision_id: str
) -> None:
    """On every day a parameter starts or stops applying (and the day before), every case gets
    an amount from exactly one rule, or no rule at all ("no rule in force"); none crashes. The
    tables declare UNIQUE: evaluated as COLLECT, no case matches two rules."""
    dates = change_dates(programme)
    assert len(dates) >= 4
    for on in dates:
        for case in MONTH_CASES[decision_id]:
            outputs, _ = evaluate(programme, decision_id, case, on)
            _, every = evaluate(programme, decision_id, case, on, collect=True)
            assert len(every) == (1 if outputs else 0), (on, case, every)
            if outputs:
                assert isinstance(outputs["amount"], str) and outputs["amount_legal_basis"]


def test_every_amount_table_declares_its_hit_policy_and_cites_a_legal_basis_per_rule() -> None:
    for programme, decision_id in ALL:
        text = (ROOT / "processes" / programme / f"{decision_id}.dmn").read_text()
        assert 'hitPolicy="UNIQUE"' in text, decision_id
        assert text.count("<rule ") == text.count("<description>") - 1 > 0  # + the decision's
        for programme_json in [ROOT / "processes" / programme / "programme.json"]:
            declared = json.loads(programme_json.read_text())["amounts"]["monthly"]
            assert declared == DECISIONS[programme][0]


# -- CIVP (table D2): 150 TND for graduates under the SIVP, then 200 / 150 (+50 if disabled) ---

GRAD = {"days_present": 20, "diploma_level": "HIGHER_ED", "disabled": False}
CIVP_PERIODS = [
    # date, graduate, BTS, disabled graduate, other level, disabled other level
    ("2009-02-08", None, None, None, None, None),
    ("2009-02-09", "150.000", "150.000", None, None, None),
    ("2019-05-31", "150.000", "150.000", None, None, None),
    ("2019-06-01", "200.000", "200.000", "250.000", "150.000", "200.000"),
    ("2025-10-01", "200.000", "200.000", "250.000", "150.000", "200.000"),
    (date.today().isoformat(), "200.000", "200.000", "250.000", "150.000", "200.000"),
]


@pytest.mark.parametrize(
    ("on", "grad", "bts", "grad_disabled", "other", "other_disabled"), CIVP_PERIODS
)
def test_civp_stipend_in_each_period(
    on: str,
    grad: str | None,
    bts: str | None,
    grad_disabled: str | None,
    other: str | None,
    other_disabled: str | None,
) -> None:
    d = "civp_monthly_stipend"
    assert amount("civp", d, GRAD, on) == grad
    assert amount("civp", d, {**GRAD, "diploma_level": "BTS"}, on) == bts
    assert amount("civp", d, {**GRAD, "disabled": True}, on) == grad_disabled
    assert amount("civp", d, {**GRAD, "diploma_level": "OTHER"}, on) == other
    assert amount("civp", d, {**GRAD, "diploma_level": "OTHER", "disabled": True}, on) == (
        other_disabled
    )
    # a month without attendance pays nothing, in every period
    assert amount("civp", d, {**GRAD, "days_present": 0, "disabled": True}, on) == "0.000"


def test_civp_stipend_parts_and_basis() -> None:
    outputs, matched = evaluate(
        "civp", "civp_monthly_stipend", {**GRAD, "disabled": True}, date(2025, 3, 1)
    )
    assert (outputs["stipend"], outputs["disability_topup"], outputs["amount"]) == (
        200,
        50,
        "250.000",
    )
    assert matched == ["civp_monthly_stipend_rule_3"]
    assert "D2019-542" in outputs["amount_legal_basis"]
    assert "2005-83" in outputs["amount_legal_basis"]  # the disability law (notes §1)


# -- CRVA (table D7): FNE 300, 350 if disabled, from décret 2023-461 ----------------------------


@pytest.mark.parametrize(
    ("on", "able", "disabled"),
    [
        ("2009-02-09", None, None),
        ("2023-06-08", None, None),
        ("2023-06-09", "300.000", "350.000"),
        (date.today().isoformat(), "300.000", "350.000"),
    ],
)
def test_crva_allowance_in_each_period(on: str, able: str | None, disabled: str | None) -> None:
    d = "crva_monthly_allowance"
    assert amount("crva", d, {"days_present": 22, "disabled": False}, on) == able
    assert amount("crva", d, {"days_present": 22, "disabled": True}, on) == disabled
    assert amount("crva", d, {"days_present": 0, "disabled": True}, on) == "0.000"


def test_crva_allowance_names_its_low_confidence() -> None:
    outputs, _ = evaluate(
        "crva", "crva_monthly_allowance", {"days_present": 5, "disabled": True}, date(2025, 1, 1)
    )
    assert (outputs["fne_allowance"], outputs["disability_topup"]) == (300, 50)
    assert "D2023-461" in outputs["amount_legal_basis"]
    assert "confidence M" in outputs["amount_legal_basis"]


# -- Service civique: the SCV's 200 TND (D2011-621), its 2019 amount not found ------------------


@pytest.mark.parametrize(
    ("on", "expected"),
    [
        ("2011-05-22", None),
        ("2011-05-23", "200.000"),
        ("2019-06-01", "200.000"),
        (date.today().isoformat(), "200.000"),
    ],
)
def test_csc_allowance_in_each_period(on: str, expected: str | None) -> None:
    assert amount("csc", "csc_monthly_allowance", {"days_present": 18}, on) == expected
    assert amount("csc", "csc_monthly_allowance", {"days_present": 0}, on) == "0.000"


def test_csc_allowance_says_its_amount_is_low_confidence() -> None:
    outputs, _ = evaluate("csc", "csc_monthly_allowance", {"days_present": 1}, date(2025, 1, 1))
    assert "D2011-621" in outputs["amount_legal_basis"]
    assert "confidence L" in outputs["amount_legal_basis"]


# -- CIDES (table D8, legacy): 150 + up to 50 mobility, premium 1,000, until the repeal ---------


@pytest.mark.parametrize(
    ("on", "mobile", "local", "premium"),
    [
        ("2009-02-08", None, None, None),
        ("2009-02-09", "200.000", "150.000", "1000.000"),
        ("2019-05-31", "200.000", "150.000", "1000.000"),
        ("2019-06-01", None, None, None),  # repealed: no CIDES rule in force
        (date.today().isoformat(), None, None, None),
    ],
)
def test_cides_amounts_in_each_period(
    on: str, mobile: str | None, local: str | None, premium: str | None
) -> None:
    d = "cides_monthly_stipend"
    assert amount("cides", d, {"days_present": 20, "mobility_allowance": 50}, on) == mobile
    assert amount("cides", d, {"days_present": 20, "mobility_allowance": 0}, on) == local
    assert amount("cides", d, {"days_present": 0, "mobility_allowance": 50}, on) == "0.000"
    case = {"hire_date": "2019-10-01", "months": 12}
    assert amount("cides", "cides_integration_premium", case, on) == premium


# -- Karama (table D6): 400 of the wage + the employer's social share, never more than paid -----

PAID = {"salary_paid": True}
KARAMA = [
    # gross wage paid, reimbursement, FNE wage share, employer's part of the wage
    (900, "499.420", 400, 500),  # 400 + 600 x 16.57 % (the wage base capped at 600)
    (5000, "499.420", 400, 4600),
    (600, "499.420", 400, 200),
    (600.5, "499.420", 400, 200.5),
    (479.45, "479.445", 400, 79.45),  # 400 + 479.45 x 16.57 % = 479.445 <= 479.45
    (479.44, "479.440", 400, 79.44),  # the full sum would be 479.442: capped at the wage
    (450, "450.000", 400, 50),
    (400, "400.000", 400, 0),
    (300, "300.000", 300, 0),  # never more than the wage actually paid
    (0.001, "0.001", 0.001, 0),
    (0, "0.000", 0, 0),  # no wage paid, nothing reimbursed
]


@pytest.mark.parametrize(("gross", "reimbursed", "wage_share", "employer_part"), KARAMA)
def test_karama_reimbursement_and_its_cap(
    gross: float, reimbursed: str, wage_share: float, employer_part: float
) -> None:
    outputs, matched = evaluate(
        "karama",
        "karama_monthly_reimbursement",
        {**PAID, "gross_salary": gross},
        date(2025, 3, 1),
    )
    assert outputs["amount"] == reimbursed
    assert outputs["wage_share"] == pytest.approx(wage_share)
    assert outputs["employer_wage_part"] == pytest.approx(employer_part)
    assert float(outputs["amount"]) <= gross  # the cap
    assert outputs["wage_share"] <= gross
    assert len(matched) == 1


def test_karama_reimbursement_is_never_more_than_the_wage_paid() -> None:
    # every 7.919 TND up to 700 (past both caps), in millimes so each wage is exact
    for millimes in range(0, 700_001, 7_919):
        gross = millimes / 1000
        case = {**PAID, "gross_salary": gross}
        got = amount("karama", "karama_monthly_reimbursement", case, "2025-03-01")
        assert got is not None and 0 <= float(got) <= gross, gross


@pytest.mark.parametrize(
    ("on", "expected"),
    [("2019-05-31", None), ("2019-06-01", "499.420"), (date.today().isoformat(), "499.420")],
)
def test_karama_reimbursement_in_each_period(on: str, expected: str | None) -> None:
    d = "karama_monthly_reimbursement"
    assert amount("karama", d, {**PAID, "gross_salary": 900}, on) == expected
    # no salary proof, or no wage: nothing, whatever the date
    assert amount("karama", d, {"salary_paid": False, "gross_salary": 900}, on) == "0.000"
    assert amount("karama", d, {**PAID, "gross_salary": 0}, on) == "0.000"
