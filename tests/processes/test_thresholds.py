"""Thresholds from the texts are dated parameters (issue 20 item 4), read by the forms and the
decisions alike: the CIVP employer complement's minimum (200 TND for graduates, 150 for other
levels, D2019-542 [S20], confidence L), the CRVA firm share (300 TND, D2023-461 [S19]) and the
Karama trial period (at most 6 months, renewable once, loi 2025-9 of 21 May 2025 [S40][S41]).
The employer agreement's form refuses what the parameters in force on the contract's date
refuse; the programme's terms table (``aqd decide … civp_terms``) states the same rule."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from engine.errors import InvalidInput
from tests.conftest import AGREEMENT, ROOT, World, make_world
from tests.helpers.decisions import evaluate
from tests.helpers.karama import REQUEST as KARAMA_REQUEST

BELOW = "below the minimum the texts set for this contract"
ABOVE = "above the maximum the texts set for this contract"


def refused_field(world: World, cid: int, data: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(InvalidInput) as info:
        world.complete(cid, "employer_agreement", data, "employer")
    return info.value.fields


@pytest.mark.parametrize(
    ("level", "below", "minimum"),
    [("HIGHER_ED", 199.999, 200), ("BTS", 199, 200), ("OTHER", 149.999, 150)],
)
def test_civp_complement_below_its_minimum_is_refused_by_the_form(
    world: World, level: str, below: float, minimum: int
) -> None:
    cid = world.start(diploma_level=level, schooling_ok=True)
    fields = refused_field(world, cid, {**AGREEMENT, "employer_complement": below})
    assert fields == {"employer_complement": BELOW}
    world.complete(cid, "employer_agreement", {**AGREEMENT, "employer_complement": minimum})
    assert world.task(cid, "counsellor_validation")


def test_crva_firm_share_below_300_is_refused_by_the_form(db_url: str) -> None:
    world = make_world(db_url, programmes=("crva",))
    request: dict[str, object] = {
        "office": "TUN",
        "employer_mf": "1234567A",
        "beneficiary_cin": "12345678",
        "nationality": "TN",
        "job_loss_reason": "CLOSURE",
        "request_date": "2025-03-01",
        "start_date": "2025-04-01",
    }
    cid = world.start_programme("crva", request)
    agreement = {"agreed": True, "position_title": "Technicien", "tutor_name": "M. T"}
    fields = refused_field(world, cid, {**agreement, "employer_complement": 299.999})
    assert fields == {"employer_complement": BELOW}
    world.complete(cid, "employer_agreement", {**agreement, "employer_complement": 300})
    assert world.task(cid, "counsellor_validation")


KARAMA_AGREEMENT = {
    "agreed": True,
    "contract_type": "CDI",
    "position_title": "Analyste",
    "gross_salary": 900,
}


def karama_contract(db_url: str, on: datetime, request_date: str) -> tuple[World, int]:
    world = make_world(db_url, programmes=("karama",))
    world.clock.set(on)
    cid = world.start_programme("karama", {**KARAMA_REQUEST, "request_date": request_date})
    return world, cid


def test_karama_trial_period_after_loi_2025_9(db_url: str) -> None:
    world, cid = karama_contract(db_url, datetime(2025, 6, 2, 8, tzinfo=UTC), "2025-06-02")
    assert refused_field(world, cid, {**KARAMA_AGREEMENT, "trial_months": 7}) == {
        "trial_months": ABOVE
    }
    assert refused_field(world, cid, {**KARAMA_AGREEMENT, "trial_renewals": 2}) == {
        "trial_renewals": ABOVE
    }
    world.complete(
        cid, "employer_agreement", {**KARAMA_AGREEMENT, "trial_months": 6, "trial_renewals": 1}
    )
    assert world.task(cid, "counsellor_validation")


def test_karama_trial_period_before_loi_2025_9_has_no_bound_in_the_sources(db_url: str) -> None:
    """Requested on 3 March 2025: the Labour Code's earlier trial periods are not in the sources,
    no parameter is in force, the form sets no bound (PROGRAMMES.md §2.5; README open question)."""
    world, cid = karama_contract(db_url, datetime(2025, 3, 3, 8, tzinfo=UTC), "2025-03-01")
    world.complete(cid, "employer_agreement", {**KARAMA_AGREEMENT, "trial_months": 9})
    assert world.task(cid, "counsellor_validation")


# -- the terms tables: the same thresholds as decisions -------------------------------------------

TERMS: list[tuple[str, str, dict[str, Any], str, bool, str]] = [
    (
        "civp",
        "civp_terms",
        {"diploma_level": "HIGHER_ED", "employer_complement": 200},
        "2025-03-03",
        True,
        "OK",
    ),
    (
        "civp",
        "civp_terms",
        {"diploma_level": "BTS", "employer_complement": 199.999},
        "2025-03-03",
        False,
        "EMPLOYER_COMPLEMENT",
    ),
    (
        "civp",
        "civp_terms",
        {"diploma_level": "OTHER", "employer_complement": 150},
        "2019-06-01",
        True,
        "OK",
    ),
    (
        "civp",
        "civp_terms",
        {"diploma_level": "OTHER", "employer_complement": 149},
        "2019-06-01",
        False,
        "EMPLOYER_COMPLEMENT",
    ),
    (
        "civp",
        "civp_terms",
        {"diploma_level": "OTHER", "employer_complement": 0},
        "2019-05-31",
        True,
        "OK",
    ),
    ("crva", "crva_terms", {"employer_complement": 300}, "2023-06-09", True, "OK"),
    ("crva", "crva_terms", {"employer_complement": 299.999}, "2023-06-09", False, "EMPLOYER_SHARE"),
    ("karama", "karama_terms", {"trial_months": 6, "trial_renewals": 1}, "2025-05-21", True, "OK"),
    (
        "karama",
        "karama_terms",
        {"trial_months": 7, "trial_renewals": 0},
        "2025-05-21",
        False,
        "TRIAL_TOO_LONG",
    ),
    (
        "karama",
        "karama_terms",
        {"trial_months": 3, "trial_renewals": 2},
        "2025-05-21",
        False,
        "TRIAL_RENEWALS",
    ),
    ("karama", "karama_terms", {"trial_months": 9, "trial_renewals": 2}, "2025-05-20", True, "OK"),
]


@pytest.mark.parametrize(
    ("programme", "decision_id", "case", "on", "ok", "reason"),
    TERMS,
    ids=[f"{t[1]}-{t[3]}-{t[5]}-{i}" for i, t in enumerate(TERMS)],
)
def test_terms_table(
    programme: str, decision_id: str, case: dict[str, Any], on: str, ok: bool, reason: str
) -> None:
    out = evaluate(programme, decision_id, case, date.fromisoformat(on)).outputs
    assert (out["terms_ok"], out["terms_reason"]) == (ok, reason)
    assert out["terms_legal_basis"]


@pytest.mark.parametrize(
    ("programme", "names"),
    [
        ("civp", ("employer_complement_min_higher_ed", "employer_complement_min_other")),
        ("crva", ("employer_share",)),
        ("karama", ("trial_months_max", "trial_renewals_max")),
    ],
)
def test_each_threshold_is_a_dated_parameter_with_its_legal_basis(
    programme: str, names: tuple[str, ...]
) -> None:
    doc = json.loads((ROOT / "processes" / programme / "parameters.json").read_text())
    for name in names:
        versions = doc["parameters"][name]
        assert versions
        for version in versions:
            assert version["valid_from"] and version["legal_basis"]
            assert version["confidence"] in {"H", "M", "L"}


@pytest.mark.parametrize("programme", ["civp", "crva", "csc", "karama", "cides"])
def test_low_confidence_parameters_are_open_questions_in_the_readme(programme: str) -> None:
    """Where the notes mark a figure as low-confidence, the parameter says so and the
    programme's README lists it under "Open questions (confidence L)"."""
    doc = json.loads((ROOT / "processes" / programme / "parameters.json").read_text())
    low = {
        name for name, vs in doc["parameters"].items() if any(v["confidence"] == "L" for v in vs)
    }
    readme = (ROOT / "processes" / programme / "README.md").read_text()
    section = readme.split("## Open questions (confidence L)", 1)[1].split("\n## ", 1)[0]
    assert low and {name for name in low if f"`{name}`" not in section} == set()
