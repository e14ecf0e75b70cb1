"""Service civique: suspension holds the month's allowance; resumption restarts it; too long
ends it."""

from __future__ import annotations

from tests.conftest import World
from tests.processes.suspension import suspend_and_resume, suspend_too_long

REQUEST: dict[str, object] = {
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


def _active(world: World) -> int:
    world.deploy("csc")
    cid = world.start_programme("csc", REQUEST)
    host = {"agreed": True, "activity": "Soutien scolaire", "tutor_name": "Mme Tutrice"}
    world.complete(cid, "employer_agreement", host)
    world.complete(cid, "counsellor_validation", {"validation_decision": "validate"})
    world.sign_all(cid)
    return cid


def test_suspension_holds_then_resumption_restarts_the_allowance(world: World) -> None:
    suspend_and_resume(world, _active(world), "attendance", {"days_present": 18})


def test_suspension_longer_than_the_maximum_ends_the_contract(world: World) -> None:
    suspend_too_long(world, _active(world))
