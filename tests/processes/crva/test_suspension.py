"""CRVA: suspension holds the month's allowance; resumption restarts it; too long ends it."""

from __future__ import annotations

from tests.conftest import AGREEMENT, World
from tests.processes.suspension import suspend_and_resume, suspend_too_long

REQUEST: dict[str, object] = {
    "office": "TUN",
    "employer_mf": "1234567A",
    "beneficiary_cin": "12345678",
    "nationality": "TN",
    "job_loss_reason": "CLOSURE",
    "request_date": "2025-03-01",
    "start_date": "2025-04-01",
}


def _active(world: World) -> int:
    world.deploy("crva")
    cid = world.start_programme("crva", REQUEST)
    world.complete(cid, "employer_agreement", {**AGREEMENT, "employer_complement": 300})
    world.complete(cid, "counsellor_validation", {"validation_decision": "validate"})
    world.sign_all(cid)
    return cid


def test_suspension_holds_then_resumption_restarts_the_allowance(world: World) -> None:
    suspend_and_resume(world, _active(world), "attendance", {"days_present": 22})


def test_suspension_longer_than_the_maximum_ends_the_contract(world: World) -> None:
    suspend_too_long(world, _active(world))
