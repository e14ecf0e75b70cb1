"""A contract with a history worth replaying (returned once, signed, one month paid)."""

from __future__ import annotations

from tests.conftest import AGREEMENT, World


def busy_contract(world: World) -> int:
    cid = world.start()
    world.complete(cid, "employer_agreement", AGREEMENT, "employer")
    world.complete(
        cid, "counsellor_validation", {"validation_decision": "return", "return_reason": "x"}
    )
    world.complete(cid, "employer_agreement", {**AGREEMENT, "tutor_name": "Mrs Tutor"}, "employer")
    world.complete(cid, "counsellor_validation", {"validation_decision": "validate"})
    world.sign_all(cid)
    world.run_month(cid)
    return cid
