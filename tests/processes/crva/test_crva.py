"""CRVA 2023: eligibility cases and a 12-month contract paying the FNE allowance (300 TND, 350
for a disabled beneficiary)."""

from __future__ import annotations

from typing import Any

import pytest

from engine.audit.replay import replay_contract
from engine.models import Contract
from tests.conftest import AGREEMENT, World
from tests.processes.helpers import decision

BASE: dict[str, Any] = {
    "nationality": "TN",
    "registered_at_office": True,
    "job_loss_reason": "ECONOMIC",
    "permanent_worker": True,
    "years_in_last_firm": 0,
}
NON_PERMANENT = {"permanent_worker": False}
CASES = [
    ("permanent worker laid off for economic reasons", {}, True, "OK"),
    ("firm closed", {"job_loss_reason": "CLOSURE"}, True, "OK"),
    ("foreign national", {"nationality": "OTHER"}, False, "NATIONALITY"),
    ("not registered", {"registered_at_office": False}, False, "NOT_REGISTERED"),
    ("resigned (other reason)", {"job_loss_reason": "OTHER"}, False, "JOB_LOSS_REASON"),
    ("non-permanent, exactly 3 years", {**NON_PERMANENT, "years_in_last_firm": 3}, True, "OK"),
    ("non-permanent, 2 years", {**NON_PERMANENT, "years_in_last_firm": 2}, False, "SENIORITY"),
    ("laid off for technical reasons", {"job_loss_reason": "TECHNICAL"}, True, "OK"),
    ("non-permanent, 4 years", {**NON_PERMANENT, "years_in_last_firm": 4}, True, "OK"),
    (
        "non-permanent, hired this year",
        {**NON_PERMANENT, "years_in_last_firm": 0},
        False,
        "SENIORITY",
    ),
    ("permanent, one year in the firm", {"years_in_last_firm": 1}, True, "OK"),
    (
        "non-permanent, firm closed, exactly 3 years",
        {**NON_PERMANENT, "job_loss_reason": "CLOSURE", "years_in_last_firm": 3},
        True,
        "OK",
    ),
    (
        "foreign and resigned: nationality first",
        {"nationality": "OTHER", "job_loss_reason": "OTHER"},
        False,
        "NATIONALITY",
    ),
    (
        "unregistered and resigned: registration first",
        {"registered_at_office": False, "job_loss_reason": "OTHER"},
        False,
        "NOT_REGISTERED",
    ),
    (
        "resigned non-permanent, 1 year: job loss reason first",
        {**NON_PERMANENT, "job_loss_reason": "OTHER", "years_in_last_firm": 1},
        False,
        "JOB_LOSS_REASON",
    ),
]


@pytest.mark.parametrize(("case", "changes", "eligible", "reason"), CASES)
def test_eligibility(case: str, changes: dict[str, Any], eligible: bool, reason: str) -> None:
    out = decision("crva", "crva_beneficiary_eligibility", {**BASE, **changes})
    assert (out["eligible"], out["reason"]) == (eligible, reason), case


def test_twelve_months_for_a_disabled_beneficiary(world: World) -> None:
    world.deploy("crva")
    request: dict[str, object] = {
        "office": "TUN",
        "employer_mf": "1234567A",
        "beneficiary_cin": "12345678",
        "nationality": "TN",
        "job_loss_reason": "CLOSURE",
        "disabled": True,
        "request_date": "2025-03-01",
        "start_date": "2025-04-01",
    }
    cid = world.start_programme("crva", request)
    world.complete(cid, "employer_agreement", {**AGREEMENT, "employer_complement": 300})
    world.complete(cid, "counsellor_validation", {"validation_decision": "validate"})
    world.sign_all(cid)
    for _ in range(12):
        world.run_month(cid, days_present=22)
    orders = world.orders(cid)
    assert [amount for _, amount in orders] == ["350.000"] * 12
    assert orders[-1][0] == f"payment:CRVA-2025-{cid:06d}:12:beneficiary:allowance"
    world.complete(cid, "record_outcome", {"outcome": "hired_cdd"})
    with world.aqd.session() as s:
        c = s.get(Contract, cid)
        assert c is not None and (c.status, c.outcome) == ("ended", "hired_cdd")
        assert replay_contract(world.aqd, s, cid).ok
