"""CIDES (legacy, décret 2009-349, repealed by décret 2019-542): its decision tables, and
contracts through the engine. A contract requested before the repeal runs its whole year, past
the repeal, to the mandatory-hire gate and the integration premium; a request dated after the
repeal is refused with ``PROGRAMME_REPEALED``."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from engine.audit.replay import replay_contract
from engine.errors import InvalidInput
from engine.models import Contract, Outbox, ProcessInstance
from tests.conftest import ROOT, World
from tests.helpers.cides import AGREEMENT, BEFORE_REPEAL, REQUEST, TRAINING, agree, start
from tests.processes.helpers import decision

AFTER_REPEAL = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)

ELIGIBLE: dict[str, Any] = {
    "request_date": "2018-09-01",
    "nationality": "TN",
    "registered_at_office": True,
    "diploma_level": "HIGHER_ED",
    "unemployed_since": "2014-06-30",
}
ELIGIBILITY_CASES = [
    ("graduate unemployed for 4 years", {}, True, "OK"),
    (
        "unemployed for exactly 3 years",
        {"unemployed_since": "2015-09-01"},
        False,
        "UNEMPLOYMENT_DURATION",
    ),
    ("3 years and one day", {"unemployed_since": "2015-08-31"}, True, "OK"),
    ("unemployed for 2 years", {"unemployed_since": "2016-09-01"}, False, "UNEMPLOYMENT_DURATION"),
    ("graduated 10 years ago", {"unemployed_since": "2008-07-15"}, True, "OK"),
    ("foreign graduate", {"nationality": "OTHER"}, False, "NATIONALITY"),
    ("not registered at a BETI", {"registered_at_office": False}, False, "NOT_REGISTERED"),
    ("BTS holder", {"diploma_level": "BTS"}, False, "DIPLOMA"),
    ("no diploma", {"diploma_level": "OTHER"}, False, "DIPLOMA"),
    ("request on the last day before the repeal", {"request_date": "2019-05-31"}, True, "OK"),
    (
        "request dated the day the repeal applies",
        {"request_date": "2019-06-01"},
        False,
        "PROGRAMME_REPEALED",
    ),
    (
        "repeal checked before nationality",
        {"request_date": "2020-01-10", "nationality": "OTHER"},
        False,
        "PROGRAMME_REPEALED",
    ),
    (
        "foreign BTS holder: nationality first",
        {"nationality": "OTHER", "diploma_level": "BTS"},
        False,
        "NATIONALITY",
    ),
    (
        "unregistered BTS holder: registration first",
        {"registered_at_office": False, "diploma_level": "BTS"},
        False,
        "NOT_REGISTERED",
    ),
    (
        "BTS holder unemployed for 1 year: diploma first",
        {"diploma_level": "BTS", "unemployed_since": "2017-09-01"},
        False,
        "DIPLOMA",
    ),
]


@pytest.mark.parametrize(("case", "changes", "eligible", "reason"), ELIGIBILITY_CASES)
def test_eligibility(case: str, changes: dict[str, Any], eligible: bool, reason: str) -> None:
    out = decision("cides", "cides_beneficiary_eligibility", {**ELIGIBLE, **changes}, BEFORE_REPEAL)
    assert (out["eligible"], out["reason"]) == (eligible, reason), case
    assert re.match(r"(D20\d\d|L93)-\d+ \(", out["legal_basis"]), case


@pytest.mark.parametrize(
    "on", [datetime(2019, 6, 1, 9, 0, tzinfo=UTC), AFTER_REPEAL], ids=["repeal day", "2025"]
)
def test_no_cides_rules_after_the_repeal(on: datetime) -> None:
    """Started after the repeal, even a request dated before it is refused: no amounts apply."""
    out = decision("cides", "cides_beneficiary_eligibility", ELIGIBLE, on)
    assert (out["eligible"], out["reason"]) == (False, "PROGRAMME_REPEALED")
    assert out["legal_basis"].startswith("D2019-542")


TERMS: dict[str, Any] = {
    "employer_complement": 150,
    "training_hours": 400,
    "residence_governorate": "TUNIS",
    "firm_governorate": "TUNIS",
}
TERMS_CASES = [
    ("firm pays exactly 150, 400 h, same governorate", {}, True, "OK", 0),
    (
        "lives in another governorate: mobility allowance",
        {"residence_governorate": "KAIROUAN"},
        True,
        "OK",
        50,
    ),
    ("firm pays more than the minimum", {"employer_complement": 300}, True, "OK", 0),
    ("firm pays 149.999", {"employer_complement": 149.999}, False, "EMPLOYER_COMPLEMENT", 0),
    ("401 hours of training", {"training_hours": 401}, False, "TRAINING_HOURS", 0),
    (
        "complement checked first",
        {"employer_complement": 100, "training_hours": 500},
        False,
        "EMPLOYER_COMPLEMENT",
        0,
    ),
]


@pytest.mark.parametrize(("case", "changes", "ok", "reason", "mobility"), TERMS_CASES)
def test_terms(case: str, changes: dict[str, Any], ok: bool, reason: str, mobility: int) -> None:
    out = decision("cides", "cides_terms", {**TERMS, **changes}, BEFORE_REPEAL)
    assert (out["terms_ok"], out["terms_reason"], out["mobility_allowance"]) == (
        ok,
        reason,
        mobility,
    ), case
    assert out["terms_legal_basis"].startswith("D2009-349"), case


def test_legacy_parameters_end_with_the_repeal() -> None:
    """The repeal date is one reading (README): every 2009 version ends on the last request
    date, and only the repeal flag and that date stay in force after it."""
    doc = json.loads((ROOT / "processes" / "cides" / "parameters.json").read_text())["parameters"]
    last = doc["last_request_date"][0]["value"]
    after = (datetime.fromisoformat(last) + timedelta(days=1)).date().isoformat()
    for name, versions in doc.items():
        for version in versions:
            assert version["legal_basis"] and version["confidence"] in {"H", "M", "L"}, name
            if name == "last_request_date":
                continue
            if version["valid_to"] is None:
                assert (name, version["valid_from"], version["value"]) == (
                    "open_to_requests",
                    after,
                    False,
                )
            else:
                assert version["valid_to"] == last, name


# -- through the engine ------------------------------------------------------------------------


def _contract(world: World, cid: int) -> Contract:
    with world.aqd.session() as s:
        c = s.get(Contract, cid)
        assert c is not None
        s.expunge(c)
        return c


def _main_data(world: World, cid: int) -> dict[str, Any]:
    """The data of the contract's main workflow once it has completed."""
    with world.aqd.session() as s:
        inst = s.scalar(
            select(ProcessInstance).where(
                ProcessInstance.contract_id == cid, ProcessInstance.key == "main"
            )
        )
        assert inst is not None and inst.status == "completed"
        data: dict[str, Any] = json.loads(inst.state)["data"]
    return data


def test_a_2018_contract_runs_its_year_past_the_repeal_and_the_hire_brings_the_premium(
    world: World,
) -> None:
    cid = start(world)
    agree(world, cid, "return")  # returned once for correction, then validated
    agree(world, cid)
    world.sign_all(cid)
    assert _contract(world, cid).status == "active"
    keys = [world.run_month(cid, days_present=20) for _ in range(12)]
    # months 9-12 run after décret 2019-542 (1 June 2019): the contract keeps its 2018 rules
    number = f"CIDES-2018-{cid:06d}"
    assert keys[0] == f"payment:{number}:1:beneficiary:stipend"
    orders = world.orders(cid)
    assert [amount for _, amount in orders] == ["200.000"] * 12  # 150 + 50 (Kairouan ≠ Tunis)
    with world.aqd.session() as s:
        last = s.scalar(select(Outbox).where(Outbox.idempotency_key == keys[-1]))
        assert last is not None and last.payload["month"] == "2019-09"
    world.complete(
        cid, "record_hire", {"outcome": "hired_cdi", "hire_date": "2019-10-01"}, "employer"
    )
    c = _contract(world, cid)
    assert (c.status, c.outcome) == ("ended", "hired_cdi") and c.ended_at is not None
    data = _main_data(world, cid)
    assert (data["employer_sanction"], data["end_date"]) == (False, "2019-09-30")

    # the integration premium: one year after the hire, to the employer
    with world.aqd.session() as s:
        due = s.scalar(select(Contract.next_due_at).where(Contract.id == cid))
    assert due is not None and due.date().isoformat() == "2020-10-01"
    world.clock.set(due - timedelta(hours=1))
    assert not world.fire(cid)
    world.clock.set(due + timedelta(minutes=3))
    assert world.fire(cid)
    premium = f"payment:{number}:24:employer:premium"
    assert world.orders(cid)[-1] == (premium, "1000.000")
    with world.aqd.session() as s:
        row = s.scalar(select(Outbox).where(Outbox.idempotency_key == premium))
        assert row is not None and row.payload["payee"] == "employer"
        assert row.payload["month"] == "2020-10"
    with world.aqd.session() as s, s.begin():
        world.aqd.record_side_effect(s, premium, True, {"bank_ref": "PRIME-1"})
    with world.aqd.session() as s:
        running = s.scalar(
            select(ProcessInstance.id).where(
                ProcessInstance.contract_id == cid, ProcessInstance.status == "running"
            )
        )
        assert running is None  # every month and the premium closed
        assert replay_contract(world.aqd, s, cid).ok


def test_not_hiring_is_recorded_with_a_sanction_and_no_premium(world: World) -> None:
    cid = start(world, {"residence_governorate": "TUNIS"})
    agree(world, cid, employer_complement=250)
    world.sign_all(cid)
    for _ in range(12):
        world.run_month(cid, days_present=18)
    assert [amount for _, amount in world.orders(cid)] == ["150.000"] * 12
    world.complete(
        cid,
        "record_hire",
        {"outcome": "none", "non_hire_reason": "Baisse d'activité"},
        "employer",
    )
    c = _contract(world, cid)
    assert (c.status, c.outcome, c.next_due_at) == ("ended", "none", None)
    data = _main_data(world, cid)
    assert (data["employer_sanction"], data["sanction_reason"]) == (True, "NO_HIRE")
    assert len(world.orders(cid)) == 12  # no premium


def test_the_hire_gate_needs_a_date_or_a_reason(world: World) -> None:
    cid = start(world)
    agree(world, cid)
    world.sign_all(cid)
    for _ in range(12):
        world.run_month(cid)
    for data in ({"outcome": "hired_cdd"}, {"outcome": "none"}):
        with pytest.raises(InvalidInput):
            world.complete(cid, "record_hire", data, "employer")
    assert _contract(world, cid).status == "active"


def test_a_request_dated_after_the_repeal_is_refused(world: World) -> None:
    world.clock.set(AFTER_REPEAL)
    world.deploy("cides")
    cid = world.start_programme("cides", {**REQUEST, "request_date": "2025-03-01"})
    c = _contract(world, cid)
    assert c.status == "rejected"
    data = _main_data(world, cid)
    assert (data["rejection_reason"], data["legal_basis"][:9]) == (
        "PROGRAMME_REPEALED",
        "D2019-542",
    )
    with world.aqd.session() as s:
        assert replay_contract(world.aqd, s, cid).ok


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"diploma_date": "2016-06-30"}, "UNEMPLOYMENT_DURATION"),
        # worked after the diploma: unemployed only since the job ended
        ({"last_job_end_date": "2017-01-31"}, "UNEMPLOYMENT_DURATION"),
        ({"diploma_level": "BTS"}, "DIPLOMA"),
    ],
)
def test_ineligible_requests_are_refused(
    world: World, changes: dict[str, object], reason: str
) -> None:
    cid = start(world, changes)
    assert _contract(world, cid).status == "rejected"
    assert _main_data(world, cid)["rejection_reason"] == reason


@pytest.mark.parametrize(
    ("terms", "reason"),
    [({"employer_complement": 120}, "EMPLOYER_COMPLEMENT"), ({}, "TRAINING_HOURS")],
)
def test_terms_outside_the_decree_are_refused_even_if_validated(
    world: World, terms: dict[str, object], reason: str
) -> None:
    cid = start(world)
    world.complete(cid, "employer_agreement", {**AGREEMENT, **terms}, "employer")
    hours = 400 if terms else 450
    world.complete(cid, "training_programme", {**TRAINING, "training_hours": hours}, "employer")
    world.complete(cid, "counsellor_validation", {"validation_decision": "validate"}, "c")
    assert _contract(world, cid).status == "rejected"
    assert _main_data(world, cid)["rejection_reason"] == reason


def test_early_termination_stops_the_stipend(world: World) -> None:
    cid = start(world)
    agree(world, cid)
    world.sign_all(cid)
    for _ in range(3):
        world.run_month(cid)
    world.message(cid, "terminate_contract", {"reason": "beneficiary_left", "outcome": "none"})
    c = _contract(world, cid)
    assert (c.status, c.outcome) == ("terminated", "none")
    assert len(world.orders(cid)) == 3 and c.next_due_at is None


def test_unsigned_contract_expires(world: World) -> None:
    cid = start(world)
    agree(world, cid)
    world.clock.advance(days=15)
    assert world.fire(cid)
    assert _contract(world, cid).status == "expired"


def test_counsellor_rejection_keeps_its_code(world: World) -> None:
    cid = start(world)
    world.complete(cid, "employer_agreement", AGREEMENT, "employer")
    world.complete(cid, "training_programme", TRAINING, "employer")
    rejection = {"validation_decision": "reject", "reject_code": "DOCUMENTS_MISSING"}
    world.complete(cid, "counsellor_validation", rejection, "counsellor")
    assert _contract(world, cid).status == "rejected"
    assert _main_data(world, cid)["rejection_reason"] == "DOCUMENTS_MISSING"
