"""CIVP employer eligibility: the insertion-rate rule of décret 2023-461 art. 11 (table D3),
as a decision and through the engine with the employer's recorded contract outcomes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from engine.audit.replay import history_of
from engine.kernel.planning import resolve_parameters
from engine.models import Contract, Employer, ProcessDefinition
from engine.runtime.decisions import decide
from engine.runtime.definitions import read_sources
from engine.runtime.sandbox import Sandbox
from tests.conftest import ROOT, World

AFTER = datetime(2025, 3, 3, tzinfo=UTC)
BEFORE = datetime(2023, 3, 1, tzinfo=UTC)


def standing(day: str, status: str = "PRIVATE_FIRM", until: str | None = "2099-12-31") -> Any:
    """The employer's checked record on ``day``: its status and certificates valid ``until``."""
    return {
        "legal_status": status,
        "tax_certificate_until": until,
        "cnss_certificate_until": until,
        "checked_on": day,
    }


def record(completed: int, inserted: int, months: int | None) -> dict[str, Any]:
    rate = round(inserted / completed, 4) if completed else None
    return {
        "completed": completed,
        "inserted": inserted,
        "rate": rate,
        "months_since_last_end": months,
    }


CASES: list[tuple[str, datetime, dict[str, Any], bool, str]] = [
    ("no CIVP in the last 3 years", AFTER, record(0, 0, None), True, "NO_HISTORY"),
    ("history only older than 3 years", AFTER, record(0, 0, 40), True, "NO_HISTORY"),
    ("rate exactly 50 %", AFTER, record(2, 1, 3), True, "RATE_OK"),
    ("rate above 50 %", AFTER, record(3, 2, 1), True, "RATE_OK"),
    (
        "rate just below 50 %, last end 11 months ago",
        AFTER,
        record(7, 3, 11),
        False,
        "INSERTION_RATE",
    ),
    ("rate 0, cooling-off exactly 12 months", AFTER, record(2, 0, 12), True, "COOLING_OFF_DONE"),
    ("rate 0, cooling-off 13 months", AFTER, record(2, 0, 13), True, "COOLING_OFF_DONE"),
    ("rate 0, last end 1 month ago", AFTER, record(4, 0, 1), False, "INSERTION_RATE"),
    ("before décret 2023-461: no rate rule", BEFORE, record(3, 0, 1), True, "RATE_OK"),
    ("rate 1/3, last end exactly 12 months ago", AFTER, record(3, 1, 12), True, "COOLING_OFF_DONE"),
    ("rate 1/3, last end 11 months ago", AFTER, record(3, 1, 11), False, "INSERTION_RATE"),
    ("rate 0, never ended: no cooling-off", AFTER, record(2, 0, 0), False, "INSERTION_RATE"),
    ("every contract inserted", AFTER, record(4, 4, 0), True, "RATE_OK"),
    ("rate 0.4999", AFTER, record(10000, 4999, 2), False, "INSERTION_RATE"),
    ("one contract, inserted, ended this month", AFTER, record(1, 1, 0), True, "RATE_OK"),
    (
        "8 June 2023, the last day without the rule",
        datetime(2023, 6, 8, tzinfo=UTC),
        record(2, 0, 1),
        True,
        "RATE_OK",
    ),
    (
        "9 June 2023, the rule's first day",
        datetime(2023, 6, 9, tzinfo=UTC),
        record(2, 0, 1),
        False,
        "INSERTION_RATE",
    ),
]


@pytest.fixture(scope="module")
def programme() -> tuple[dict[str, str], dict[str, Any]]:
    sources = read_sources(ROOT / "processes" / "civp")[1]
    return sources, json.loads(sources["parameters.json"])


@pytest.mark.parametrize(
    ("case", "on", "employer", "eligible", "reason"), CASES, ids=[c[0] for c in CASES]
)
def test_decision(
    programme: tuple[dict[str, str], dict[str, Any]],
    case: str,
    on: datetime,
    employer: dict[str, Any],
    eligible: bool,
    reason: str,
) -> None:
    sources, parameters = programme
    data = {
        "employer_record": employer,
        "employer_standing": standing(on.date().isoformat()),
        "params": resolve_parameters(parameters, on),
    }
    result = decide(sources, "civp_employer_eligibility", data, Sandbox(), on)
    assert (result.outputs["employer_eligible"], result.outputs["employer_reason"]) == (
        eligible,
        reason,
    ), case
    assert "D2023-461" in result.outputs["employer_legal_basis"]


def history(world: World, *contracts: tuple[str, str | None, str]) -> None:
    """Past CIVP contracts of the test employer: (status, outcome, ended on)."""
    with world.aqd.session() as s, s.begin():
        employer = s.scalar(select(Employer.id).where(Employer.matricule_fiscal == "1234567A"))
        definition = s.scalar(select(ProcessDefinition.id))
        for n, (status, outcome, ended) in enumerate(contracts):
            s.add(
                Contract(
                    number=f"LEGACY-{n}",
                    programme="civp",
                    definition_id=definition,
                    employer_id=employer,
                    status=status,
                    outcome=outcome,
                    started_at=datetime.fromisoformat(ended).replace(tzinfo=UTC, year=2020),
                    ended_at=datetime.fromisoformat(ended).replace(tzinfo=UTC),
                )
            )


def started(world: World) -> tuple[str, Any]:
    cid = world.start()
    with world.aqd.session() as s:
        c = s.get(Contract, cid)
        assert c is not None
        data = history_of(s, cid)["events"][0]["payload"]["data"]
        return c.status, data["employer_record"]


def test_low_insertion_rate_refuses_the_contract(world: World) -> None:
    history(world, ("ended", "none", "2024-06-30"), ("ended", None, "2024-07-31"))
    status, employer = started(world)
    assert employer == {"completed": 2, "inserted": 0, "rate": 0.0, "months_since_last_end": 7}
    assert status == "rejected"


def test_exactly_half_inserted_is_eligible(world: World) -> None:
    history(world, ("ended", "none", "2024-06-30"), ("ended", "placed_elsewhere", "2024-07-31"))
    status, employer = started(world)
    assert employer["rate"] == 0.5 and status == "in_review"


def test_hired_before_the_end_counts_and_other_early_ends_do_not(world: World) -> None:
    history(
        world,
        ("terminated", "hired_cdd", "2024-05-01"),
        ("terminated", "none", "2024-09-01"),
        ("ended", "none", "2024-10-01"),
    )
    status, employer = started(world)
    assert (employer["completed"], employer["inserted"]) == (2, 1)
    assert status == "in_review"


def test_cooling_off_year_reopens_the_firm(world: World) -> None:
    history(world, ("ended", "none", "2024-03-03"), ("ended", "none", "2021-01-01"))
    status, employer = started(world)
    assert employer == {"completed": 1, "inserted": 0, "rate": 0.0, "months_since_last_end": 12}
    assert status == "in_review"
