"""CIVP beneficiary eligibility (DMN civp_beneficiary_eligibility), case by case from
notes/PROGRAMMES.md §2.1 and table D1, evaluated exactly as a contract evaluates it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from engine.audit.replay import history_of
from engine.models import Contract
from engine.runtime.decisions import decide
from engine.runtime.definitions import read_sources
from engine.runtime.sandbox import Sandbox
from tests.conftest import ROOT, World

BASE: dict[str, Any] = {
    "nationality": "TN",
    "registered_at_office": True,
    "diploma_level": "HIGHER_ED",
    "is_primo": True,
    "disabled": False,
    "schooling_ok": True,
    "prior_civp_months": 0,
    "max_civp_months": 24,
}

CASES: list[tuple[str, dict[str, Any], bool, str]] = [
    ("graduate first-time job seeker", {}, True, "OK"),
    ("BTS holder", {"diploma_level": "BTS"}, True, "OK"),
    ("foreign national", {"nationality": "OTHER"}, False, "NATIONALITY"),
    ("not registered at an office", {"registered_at_office": False}, False, "NOT_REGISTERED"),
    (
        "foreign and unregistered: nationality first",
        {"nationality": "OTHER", "registered_at_office": False},
        False,
        "NATIONALITY",
    ),
    ("graduate, not a first-time job seeker", {"is_primo": False}, False, "NOT_PRIMO"),
    (
        "BTS, not a first-time job seeker",
        {"diploma_level": "BTS", "is_primo": False},
        False,
        "NOT_PRIMO",
    ),
    (
        "disabled graduate exempt from first-job rule",
        {"is_primo": False, "disabled": True},
        True,
        "OK",
    ),
    (
        "no diploma, exempt from first-job rule",
        {"diploma_level": "OTHER", "is_primo": False, "max_civp_months": 12},
        True,
        "OK",
    ),
    (
        "no diploma, schooling below minimum",
        {"diploma_level": "OTHER", "schooling_ok": False, "max_civp_months": 12},
        False,
        "MIN_SCHOOLING",
    ),
    (
        "disabled without diploma, schooling below minimum",
        {"diploma_level": "OTHER", "schooling_ok": False, "disabled": True, "max_civp_months": 12},
        True,
        "OK",
    ),
    (
        "graduate at exactly the 24-month cap",
        {"prior_civp_months": 24},
        False,
        "DURATION_EXHAUSTED",
    ),
    ("graduate one month below the cap", {"prior_civp_months": 23}, True, "OK"),
    (
        "no diploma at exactly the 12-month cap",
        {"diploma_level": "OTHER", "prior_civp_months": 12, "max_civp_months": 12},
        False,
        "DURATION_EXHAUSTED",
    ),
    (
        "no diploma one month below the cap",
        {"diploma_level": "OTHER", "prior_civp_months": 11, "max_civp_months": 12},
        True,
        "OK",
    ),
    (
        "not primo and cap reached: first-job rule first",
        {"is_primo": False, "prior_civp_months": 30},
        False,
        "NOT_PRIMO",
    ),
]


@pytest.fixture(scope="module")
def sources() -> dict[str, str]:
    return read_sources(ROOT / "processes" / "civp")[1]


@pytest.mark.parametrize(
    ("case", "changes", "eligible", "reason"), CASES, ids=[c[0] for c in CASES]
)
def test_eligibility(
    sources: dict[str, str], case: str, changes: dict[str, Any], eligible: bool, reason: str
) -> None:
    result = decide(
        sources,
        "civp_beneficiary_eligibility",
        {**BASE, **changes},
        Sandbox(),
        datetime(2025, 3, 1, tzinfo=UTC),
    )
    assert (result.outputs["eligible"], result.outputs["reason"]) == (eligible, reason), case
    assert result.outputs["legal_basis"]
    assert len(result.matched) == 1 and result.matched[0]["description"]


def test_unknown_decision_is_a_clear_error(sources: dict[str, str]) -> None:
    from engine import NotFound

    with pytest.raises(NotFound, match="decisions: civp_beneficiary_eligibility"):
        decide(sources, "nope", {}, Sandbox(), datetime(2025, 3, 1, tzinfo=UTC))


def test_disabled_beneficiary_without_diploma_through_the_engine(world: World) -> None:
    """Below the minimum schooling but disabled: eligible (exempt), and paid the non-graduate
    stipend plus the disability top-up (D2019-542: 150 + 50)."""
    cid = world.start(diploma_level="OTHER", schooling_ok=False, disabled=True)
    world.activate(cid)
    world.run_month(cid)
    with world.aqd.session() as s:
        c = s.get(Contract, cid)
        assert c is not None and c.status == "active"
        params = history_of(s, cid)["events"][0]["payload"]["data"]["params"]
    expected = params["stipend_other"] + params["disability_topup"]
    assert world.orders(cid)[0][1] == f"{expected:.3f}" == "200.000"
    refused = world.start(diploma_level="OTHER", schooling_ok=False)
    with world.aqd.session() as s:
        c = s.get(Contract, refused)
        assert c is not None and c.status == "rejected"
