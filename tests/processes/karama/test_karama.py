"""Karama (labour contract): eligibility cases and a full 24-month contract whose employer is
reimbursed 400 TND plus its social-security share every month."""

from __future__ import annotations

from typing import Any

import pytest

from engine.audit.replay import replay_contract
from engine.models import Contract
from tests.conftest import World
from tests.helpers.karama import REQUEST
from tests.processes.helpers import decision

BASE: dict[str, Any] = {
    "nationality": "TN",
    "registered_at_office": True,
    "diploma_level": "HIGHER_ED",
    "years_since_diploma": 3,
    "cnss_quarters_since_diploma": 0,
    "prior_subsidy_same_firm": False,
}
CASES = [
    ("graduate unemployed for 3 years", {}, True, "OK"),
    ("BTS holder", {"diploma_level": "BTS"}, True, "OK"),
    ("foreign national", {"nationality": "OTHER"}, False, "NATIONALITY"),
    ("not registered", {"registered_at_office": False}, False, "NOT_REGISTERED"),
    ("no higher-education diploma", {"diploma_level": "OTHER"}, False, "DIPLOMA"),
    ("exactly 2 years since the diploma", {"years_since_diploma": 2}, True, "OK"),
    ("1 year since the diploma", {"years_since_diploma": 1}, False, "TOO_RECENT"),
    ("exactly 12 CNSS quarters", {"cnss_quarters_since_diploma": 12}, True, "OK"),
    ("13 CNSS quarters", {"cnss_quarters_since_diploma": 13}, False, "WORK_HISTORY"),
    ("subsidised before at this firm", {"prior_subsidy_same_firm": True}, False, "PRIOR_SUBSIDY"),
    (
        "exactly 2 years and exactly 12 quarters",
        {"years_since_diploma": 2, "cnss_quarters_since_diploma": 12},
        True,
        "OK",
    ),
    ("graduated 10 years ago", {"years_since_diploma": 10}, True, "OK"),
    (
        "BTS holder with 13 quarters",
        {"diploma_level": "BTS", "cnss_quarters_since_diploma": 13},
        False,
        "WORK_HISTORY",
    ),
    (
        "foreign and unregistered: nationality first",
        {"nationality": "OTHER", "registered_at_office": False},
        False,
        "NATIONALITY",
    ),
    (
        "unregistered, no diploma: registration first",
        {"registered_at_office": False, "diploma_level": "OTHER"},
        False,
        "NOT_REGISTERED",
    ),
    (
        "no diploma, graduated this year: diploma first",
        {"diploma_level": "OTHER", "years_since_diploma": 0},
        False,
        "DIPLOMA",
    ),
    (
        "recent, 20 quarters: recency first",
        {"years_since_diploma": 1, "cnss_quarters_since_diploma": 20},
        False,
        "TOO_RECENT",
    ),
    (
        "13 quarters and subsidised before: work history first",
        {"cnss_quarters_since_diploma": 13, "prior_subsidy_same_firm": True},
        False,
        "WORK_HISTORY",
    ),
]


@pytest.mark.parametrize(("case", "changes", "eligible", "reason"), CASES)
def test_eligibility(case: str, changes: dict[str, Any], eligible: bool, reason: str) -> None:
    out = decision("karama", "karama_beneficiary_eligibility", {**BASE, **changes})
    assert (out["eligible"], out["reason"]) == (eligible, reason), case


def test_two_years_of_reimbursements(world: World) -> None:
    world.deploy("karama")
    cid = world.start_programme("karama", REQUEST)
    agreement = {"agreed": True, "contract_type": "CDI", "position_title": "Analyste"}
    world.complete(cid, "employer_agreement", {**agreement, "gross_salary": 900})
    world.complete(cid, "counsellor_validation", {"validation_decision": "validate"})
    world.sign_all(cid)
    for month in range(1, 25):
        proof = {"salary_paid": True, "gross_salary": 900, "proof_reference": f"VIR-{month}"}
        world.run_month(cid, task="salary_proof", data=proof)
    orders = world.orders(cid)
    # 400 from the FNE + the employer's CNSS share on the wage capped at 600 (600 x 16.57 %)
    assert [amount for _, amount in orders] == ["499.420"] * 24
    assert orders[0][0] == f"payment:KARAMA-2025-{cid:06d}:1:employer:reimbursement"
    world.complete(cid, "record_outcome", {"outcome": "hired_cdi"})
    with world.aqd.session() as s:
        c = s.get(Contract, cid)
        assert c is not None and (c.status, c.outcome) == ("ended", "hired_cdi")
        assert replay_contract(world.aqd, s, cid).ok


def test_recent_graduate_is_refused(world: World) -> None:
    world.deploy("karama")
    cid = world.start_programme("karama", {**REQUEST, "diploma_date": "2024-06-30"})
    with world.aqd.session() as s:
        c = s.get(Contract, cid)
        assert c is not None and c.status == "rejected"


@pytest.mark.parametrize(
    ("diploma_date", "request_date", "status"),
    [
        ("2023-03-01", "2025-03-01", "in_review"),  # exactly 2 years
        ("2023-03-02", "2025-03-01", "rejected"),  # 2 years but a day
        # 730 days, a leap day between: still a day before the second anniversary
        ("2022-03-01", "2024-02-29", "rejected"),
        ("2022-03-01", "2024-03-01", "in_review"),
    ],
)
def test_two_years_since_the_diploma_through_the_engine(
    world: World, diploma_date: str, request_date: str, status: str
) -> None:
    world.deploy("karama")
    request = {**REQUEST, "diploma_date": diploma_date, "request_date": request_date}
    cid = world.start_programme("karama", request)
    with world.aqd.session() as s:
        c = s.get(Contract, cid)
        assert c is not None and c.status == status


def test_a_month_is_never_reimbursed_more_than_the_wage_paid(world: World) -> None:
    """The month's order is the decision's (karama_monthly_reimbursement): a wage of 0 is
    reimbursed 0 (it was 400 TND), a wage of 300 is reimbursed 300 (it was 449.710)."""
    world.deploy("karama")
    cid = world.start_programme("karama", REQUEST)
    agreement = {"agreed": True, "contract_type": "CDI", "position_title": "Analyste"}
    world.complete(cid, "employer_agreement", {**agreement, "gross_salary": 900})
    world.complete(cid, "counsellor_validation", {"validation_decision": "validate"})
    world.sign_all(cid)
    for month, gross in enumerate((0, 300, 900), 1):
        proof = {"salary_paid": True, "gross_salary": gross, "proof_reference": f"VIR-{month}"}
        world.run_month(cid, task="salary_proof", data=proof)
    assert [amount for _, amount in world.orders(cid)] == ["0.000", "300.000", "499.420"]
