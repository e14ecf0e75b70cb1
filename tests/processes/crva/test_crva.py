"""CRVA 2023: eligibility cases and a 12-month contract paying the FNE allowance (300 TND, 350
for a disabled beneficiary)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from engine.models import Contract, Outbox
from engine.runtime.decisions import decide
from engine.runtime.definitions import read_sources
from engine.runtime.sandbox import Sandbox
from engine.services.commands import resolve_parameters
from engine.services.definitions import deploy
from engine.services.replay import replay_contract
from tests.conftest import AGREEMENT, ROOT, World

BASE: dict[str, Any] = {
    "nationality": "TN",
    "registered_at_office": True,
    "job_loss_reason": "ECONOMIC",
    "permanent_worker": True,
    "years_in_last_firm": 0,
}
CASES = [
    ("permanent worker laid off for economic reasons", {}, True, "OK"),
    ("firm closed", {"job_loss_reason": "CLOSURE"}, True, "OK"),
    ("foreign national", {"nationality": "OTHER"}, False, "NATIONALITY"),
    ("not registered", {"registered_at_office": False}, False, "NOT_REGISTERED"),
    ("resigned (other reason)", {"job_loss_reason": "OTHER"}, False, "JOB_LOSS_REASON"),
    (
        "non-permanent with exactly 3 years",
        {"permanent_worker": False, "years_in_last_firm": 3},
        True,
        "OK",
    ),
    (
        "non-permanent with 2 years",
        {"permanent_worker": False, "years_in_last_firm": 2},
        False,
        "SENIORITY",
    ),
]


@pytest.mark.parametrize(
    ("case", "changes", "eligible", "reason"), CASES, ids=[c[0] for c in CASES]
)
def test_eligibility(case: str, changes: dict[str, Any], eligible: bool, reason: str) -> None:
    sources = read_sources(ROOT / "processes" / "crva")[1]
    on = datetime(2025, 3, 1, tzinfo=UTC)
    data = {
        **BASE,
        **changes,
        "params": resolve_parameters(json.loads(sources["parameters.json"]), on),
    }
    result = decide(sources, "crva_beneficiary_eligibility", data, Sandbox(), on)
    assert (result.outputs["eligible"], result.outputs["reason"]) == (eligible, reason), case


def test_twelve_months_for_a_disabled_beneficiary(world: World) -> None:
    with world.aqd.session() as s, s.begin():
        deploy(s, ROOT / "processes" / "crva", world.aqd.sandbox, world.clock)
    request = {
        "office": "TUN",
        "employer_mf": "1234567A",
        "beneficiary_cin": "12345678",
        "nationality": "TN",
        "job_loss_reason": "CLOSURE",
        "disabled": True,
        "request_date": "2025-03-01",
        "start_date": "2025-04-01",
    }
    with world.aqd.session() as s, s.begin():
        cid = world.aqd.start_contract(s, "crva", request, "employer").id
    world.complete(cid, "employer_agreement", {**AGREEMENT, "employer_complement": 300})
    world.complete(cid, "counsellor_validation", {"validation_decision": "validate"})
    world.message(cid, "contract_signed", {"signed": True})
    amounts = []
    for month in range(1, 13):
        with world.aqd.session() as s:
            due = s.scalar(select(Contract.next_due_at).where(Contract.id == cid))
        assert due is not None, month
        world.clock.set(due + timedelta(minutes=1))
        assert world.fire(cid)
        world.complete(cid, "attendance", {"days_present": 22})
        with world.aqd.session() as s:
            order = s.scalar(select(Outbox).where(Outbox.status == "pending"))
            assert order is not None
            assert (
                order.idempotency_key
                == f"payment:CRVA-2025-{cid:06d}:{month}:beneficiary:allowance"
            )
            amounts.append(order.payload["amount"])
            key = order.idempotency_key
        with world.aqd.session() as s, s.begin():
            world.aqd.record_side_effect(s, key, True, {"bank_ref": key[-8:]})
    assert amounts == ["350.000"] * 12
    world.complete(cid, "record_outcome", {"outcome": "hired_cdd"})
    with world.aqd.session() as s:
        c = s.get(Contract, cid)
        assert c is not None and (c.status, c.outcome) == ("ended", "hired_cdd")
        assert replay_contract(world.aqd, s, cid).ok
