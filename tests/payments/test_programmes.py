"""Karama, CRVA and Service civique pay through the same path as CIVP: their months are
confirmed by the bank's result, a rejected payment gives the counsellor the account fix and
one re-issued order (issue 6)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from engine.models import ProcessInstance
from engine.outbox import runner as outbox
from engine.payments import devbank
from engine.payments.orders import end_to_end_id, upsert_account
from engine.payments.reconcile import reconcile
from tests.conftest import World
from tests.helpers.payments import GOOD_RIB, RIB, batch, orders, ready, to_month_end

BASE: dict[str, Any] = {
    "office": "TUN",
    "employer_mf": "1234567A",
    "beneficiary_cin": "12345678",
    "nationality": "TN",
    "request_date": "2025-03-01",
    "start_date": "2025-04-01",
}
PROGRAMMES: dict[str, dict[str, Any]] = {
    "karama": {
        "request": {"diploma_level": "HIGHER_ED", "diploma_date": "2021-06-30"},
        "agreement": {
            "agreed": True,
            "contract_type": "CDI",
            "position_title": "Analyste",
            "gross_salary": 900,
        },
        "task": "salary_proof",
        "proof": {"salary_paid": True, "gross_salary": 900, "proof_reference": "VIR-1"},
        "payee": ("employer", "reimbursement"),
    },
    "crva": {
        "request": {"job_loss_reason": "CLOSURE", "disabled": False},
        "agreement": {
            "agreed": True,
            "position_title": "Technicien",
            "tutor_name": "Mr Tutor",
            "employer_complement": 300,
        },
        "task": "attendance",
        "proof": {"days_present": 22},
        "payee": ("beneficiary", "allowance"),
    },
    "csc": {
        "request": {
            "diploma_level": "HIGHER_ED",
            "diploma_date": "2023-07-15",
            "host_type": "ASSOCIATION",
        },
        "agreement": {"agreed": True, "activity": "Soutien scolaire", "tutor_name": "Mme T"},
        "task": "attendance",
        "proof": {"days_present": 18},
        "payee": ("beneficiary", "allowance"),
    },
}


@pytest.mark.parametrize("programme", sorted(PROGRAMMES))
def test_rejected_payment_is_fixed_and_reissued_once(world: World, programme: str) -> None:
    spec = PROGRAMMES[programme]
    payee, kind = spec["payee"]
    with world.aqd.session() as s, s.begin():
        upsert_account(s, payee, 1, RIB, world.clock.now(), "test")
    world.deploy(programme)
    cid = world.start_programme(programme, {**BASE, **spec["request"]})
    world.complete(cid, "employer_agreement", spec["agreement"], "employer")
    world.complete(cid, "counsellor_validation", {"validation_decision": "validate"}, "c")
    world.sign_all(cid)
    to_month_end(world, cid)
    world.complete(cid, spec["task"], spec["proof"], "employer")
    assert outbox.run_once(world.aqd).awaiting == 1
    key = f"payment:{programme.upper()}-2025-{cid:06d}:1:{payee}:{kind}"
    xml = batch(world)
    reconcile(world.aqd, devbank.answer(xml, world.clock.now(), {end_to_end_id(key): "AC01"}))
    assert "fix_payee_account" in ready(world, cid)
    world.complete(cid, "fix_payee_account", {"rib": GOOD_RIB}, "counsellor")
    assert outbox.run_once(world.aqd).awaiting == 1
    assert [(o.idempotency_key, o.status) for o in orders(world)] == [
        (key, "reissued"),
        (key + ":reissue1", "ordered"),
    ]
    report = reconcile(world.aqd, devbank.answer(batch(world), world.clock.now()))
    assert report.paid == 1
    month = f"{programme}_month#2"
    with world.aqd.session() as s:
        status = s.scalar(select(ProcessInstance.status).where(ProcessInstance.key == month))
    assert status == "completed"
