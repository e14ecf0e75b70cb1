"""Karama (labour contract): eligibility cases and a full 24-month contract whose employer is
reimbursed 400 TND plus its social-security share every month."""

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
from tests.conftest import ROOT, World

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
    (
        "already subsidised at the same firm",
        {"prior_subsidy_same_firm": True},
        False,
        "PRIOR_SUBSIDY",
    ),
]


@pytest.mark.parametrize(
    ("case", "changes", "eligible", "reason"), CASES, ids=[c[0] for c in CASES]
)
def test_eligibility(case: str, changes: dict[str, Any], eligible: bool, reason: str) -> None:
    sources = read_sources(ROOT / "processes" / "karama")[1]
    on = datetime(2025, 3, 1, tzinfo=UTC)
    data = {
        **BASE,
        **changes,
        "params": resolve_parameters(json.loads(sources["parameters.json"]), on),
    }
    result = decide(sources, "karama_beneficiary_eligibility", data, Sandbox(), on)
    assert (result.outputs["eligible"], result.outputs["reason"]) == (eligible, reason), case


def test_two_years_of_reimbursements(world: World) -> None:
    with world.aqd.session() as s, s.begin():
        deploy(s, ROOT / "processes" / "karama", world.aqd.sandbox, world.clock)
    request = {
        "office": "TUN",
        "employer_mf": "1234567A",
        "beneficiary_cin": "12345678",
        "nationality": "TN",
        "diploma_level": "HIGHER_ED",
        "diploma_date": "2021-06-30",
        "request_date": "2025-03-01",
        "start_date": "2025-04-01",
    }
    with world.aqd.session() as s, s.begin():
        cid = world.aqd.start_contract(s, "karama", request, "employer").id
    world.complete(
        cid,
        "employer_agreement",
        {
            "agreed": True,
            "contract_type": "CDI",
            "position_title": "Analyste",
            "gross_salary": 900,
        },
    )
    world.complete(cid, "counsellor_validation", {"validation_decision": "validate"})
    world.message(cid, "contract_signed", {"signed": True})
    amounts = []
    for month in range(1, 25):
        with world.aqd.session() as s:
            due = s.scalar(select(Contract.next_due_at).where(Contract.id == cid))
        assert due is not None, month
        world.clock.set(due + timedelta(minutes=1))
        assert world.fire(cid)
        world.complete(
            cid,
            "salary_proof",
            {
                "salary_paid": True,
                "gross_salary": 900,
                "proof_reference": f"VIR-{month}",
            },
        )
        with world.aqd.session() as s:
            order = s.scalar(select(Outbox).where(Outbox.status == "pending"))
            assert order is not None
            assert (
                order.idempotency_key
                == f"payment:KARAMA-2025-{cid:06d}:{month}:employer:reimbursement"
            )
            amounts.append(order.payload["amount"])
            key = order.idempotency_key
        with world.aqd.session() as s, s.begin():
            world.aqd.record_side_effect(s, key, True, {"bank_ref": key[-8:]})
    # 400 from the FNE + the employer's CNSS share on the wage capped at 600 (600 x 16.57 %)
    assert set(amounts) == {"499.420"} and len(amounts) == 24
    world.complete(cid, "record_outcome", {"outcome": "hired_cdi"})
    with world.aqd.session() as s:
        c = s.get(Contract, cid)
        assert c is not None and (c.status, c.outcome) == ("ended", "hired_cdi")
        assert replay_contract(world.aqd, s, cid).ok


def test_recent_graduate_is_refused(world: World) -> None:
    with world.aqd.session() as s, s.begin():
        deploy(s, ROOT / "processes" / "karama", world.aqd.sandbox, world.clock)
    request = {
        "office": "TUN",
        "employer_mf": "1234567A",
        "beneficiary_cin": "12345678",
        "nationality": "TN",
        "diploma_level": "HIGHER_ED",
        "diploma_date": "2024-06-30",
        "request_date": "2025-03-01",
    }
    with world.aqd.session() as s, s.begin():
        cid = world.aqd.start_contract(s, "karama", request, "employer").id
    with world.aqd.session() as s:
        c = s.get(Contract, cid)
        assert c is not None and c.status == "rejected"
