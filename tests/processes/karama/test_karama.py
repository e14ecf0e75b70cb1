"""Karama (labour contract): eligibility cases and a full 24-month contract whose employer is
reimbursed 400 TND plus its social-security share every month."""

from __future__ import annotations

from typing import Any

import pytest

from engine.models import Contract
from engine.services.replay import replay_contract
from tests.conftest import World
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
]
REQUEST: dict[str, object] = {
    "office": "TUN",
    "employer_mf": "1234567A",
    "beneficiary_cin": "12345678",
    "nationality": "TN",
    "diploma_level": "HIGHER_ED",
    "diploma_date": "2021-06-30",
    "request_date": "2025-03-01",
    "start_date": "2025-04-01",
}


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
