"""Karama: suspension holds the month's reimbursement; resumption restarts it; too long ends it."""

from __future__ import annotations

from tests.conftest import World
from tests.helpers.karama import REQUEST
from tests.processes.suspension import suspend_and_resume, suspend_too_long

PROOF = {"salary_paid": True, "gross_salary": 900, "proof_reference": "VIR-1"}


def _active(world: World) -> int:
    world.deploy("karama")
    cid = world.start_programme("karama", REQUEST)
    agreement = {"agreed": True, "contract_type": "CDI", "position_title": "Analyste"}
    world.complete(cid, "employer_agreement", {**agreement, "gross_salary": 900})
    world.complete(cid, "counsellor_validation", {"validation_decision": "validate"})
    world.sign_all(cid)
    return cid


def test_suspension_holds_then_resumption_restarts_the_reimbursement(world: World) -> None:
    suspend_and_resume(world, _active(world), "salary_proof", PROOF)


def test_suspension_longer_than_the_maximum_ends_the_contract(world: World) -> None:
    suspend_too_long(world, _active(world))
