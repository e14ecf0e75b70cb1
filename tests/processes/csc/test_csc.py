"""Service civique (CSC): eligibility of the graduate and the host, and a 12-month contract
paying the monthly allowance."""

from __future__ import annotations

from typing import Any

import pytest

from engine.audit.replay import replay_contract
from engine.models import Contract
from tests.conftest import World
from tests.processes.helpers import decision

BASE: dict[str, Any] = {
    "nationality": "TN",
    "registered_at_office": True,
    "diploma_level": "HIGHER_ED",
    "years_since_diploma": 2,
    "host_type": "ASSOCIATION",
}
CASES = [
    ("graduate in an association", {}, True, "OK"),
    (
        "BTS in a professional body",
        {"diploma_level": "BTS", "host_type": "PROFESSIONAL_ORG"},
        True,
        "OK",
    ),
    ("exactly one year after the diploma", {"years_since_diploma": 1}, True, "OK"),
    ("diploma less than a year ago", {"years_since_diploma": 0}, False, "TOO_RECENT"),
    ("no higher-education diploma", {"diploma_level": "OTHER"}, False, "DIPLOMA"),
    ("host is a company", {"host_type": "COMPANY"}, False, "HOST_TYPE"),
    ("foreign national", {"nationality": "OTHER"}, False, "NATIONALITY"),
    ("not registered", {"registered_at_office": False}, False, "NOT_REGISTERED"),
    ("BTS in an association", {"diploma_level": "BTS"}, True, "OK"),
    ("graduate in a professional body", {"host_type": "PROFESSIONAL_ORG"}, True, "OK"),
    ("graduated 8 years ago", {"years_since_diploma": 8}, True, "OK"),
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
        "no diploma, company host: diploma first",
        {"diploma_level": "OTHER", "host_type": "COMPANY"},
        False,
        "DIPLOMA",
    ),
    (
        "recent graduate, company host: recency first",
        {"years_since_diploma": 0, "host_type": "COMPANY"},
        False,
        "TOO_RECENT",
    ),
]


@pytest.mark.parametrize(("case", "changes", "eligible", "reason"), CASES)
def test_eligibility(case: str, changes: dict[str, Any], eligible: bool, reason: str) -> None:
    out = decision("csc", "csc_eligibility", {**BASE, **changes})
    assert (out["eligible"], out["reason"]) == (eligible, reason), case


def test_twelve_months_of_allowance(world: World) -> None:
    world.deploy("csc")
    request: dict[str, object] = {
        "office": "TUN",
        "employer_mf": "1234567A",
        "beneficiary_cin": "12345678",
        "nationality": "TN",
        "diploma_level": "HIGHER_ED",
        "diploma_date": "2023-07-15",
        "host_type": "ASSOCIATION",
        "request_date": "2025-03-01",
        "start_date": "2025-04-01",
    }
    cid = world.start_programme("csc", request)
    host = {"agreed": True, "activity": "Soutien scolaire", "tutor_name": "Mme Tutrice"}
    world.complete(cid, "employer_agreement", host)
    world.complete(cid, "counsellor_validation", {"validation_decision": "validate"})
    world.sign_all(cid)
    for _ in range(12):
        world.run_month(cid, days_present=18)
    assert [amount for _, amount in world.orders(cid)] == ["200.000"] * 12
    world.complete(cid, "record_outcome", {"outcome": "none"})
    with world.aqd.session() as s:
        c = s.get(Contract, cid)
        assert c is not None and (c.status, c.outcome) == ("ended", "none")
        assert replay_contract(world.aqd, s, cid).ok


@pytest.mark.parametrize(
    ("diploma_date", "request_date", "status"),
    [
        ("2024-03-01", "2025-03-01", "in_review"),  # exactly one year
        ("2024-03-02", "2025-03-01", "rejected"),
        # 365 days, a leap day between: still a day before the first anniversary
        ("2023-03-02", "2024-03-01", "rejected"),
        ("2023-03-01", "2024-03-01", "in_review"),
    ],
)
def test_one_year_since_the_diploma_through_the_engine(
    world: World, diploma_date: str, request_date: str, status: str
) -> None:
    world.deploy("csc")
    request: dict[str, object] = {
        "office": "TUN",
        "employer_mf": "1234567A",
        "beneficiary_cin": "12345678",
        "nationality": "TN",
        "diploma_level": "HIGHER_ED",
        "diploma_date": diploma_date,
        "host_type": "ASSOCIATION",
        "request_date": request_date,
    }
    cid = world.start_programme("csc", request)
    with world.aqd.session() as s:
        c = s.get(Contract, cid)
        assert c is not None and c.status == status
