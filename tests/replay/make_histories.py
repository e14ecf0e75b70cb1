"""Regenerate the golden histories: ``python -m tests.replay.make_histories``.

Only regenerate on purpose (a deliberate, documented change of past behaviour); CI replays the
committed files against the current engine and fails if any state hash changes.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

from engine.migrate import upgrade
from engine.services.replay import history_of
from tests.conftest import AGREEMENT, World, make_world

HERE = Path(__file__).resolve().parent / "histories"


def _months(world: World, cid: int, count: int) -> None:
    for _ in range(count):
        world.run_month(cid)


def full_year(world: World) -> int:
    cid = world.start()
    guid = world.task(cid, "employer_agreement")
    with world.aqd.session() as s, s.begin():
        world.aqd.claim_task(s, guid, "employer")
    world.complete(cid, "employer_agreement", AGREEMENT, "employer")
    world.complete(
        cid, "counsellor_validation", {"validation_decision": "return", "return_reason": "CNSS"}
    )
    world.complete(cid, "employer_agreement", {**AGREEMENT, "employer_complement": 250}, "employer")
    world.complete(cid, "counsellor_validation", {"validation_decision": "validate"})
    world.message(cid, "contract_signed", {"signed_by": ["beneficiary", "employer", "office"]})
    _months(world, cid, 12)
    world.complete(cid, "record_outcome", {"outcome": "hired_cdi"}, "counsellor")
    return cid


def terminated(world: World) -> int:
    cid = world.start(diploma_level="OTHER", disabled=True)
    world.activate(cid)
    _months(world, cid, 2)
    world.message(cid, "terminate_contract", {"reason": "employer_closed", "outcome": "none"})
    return cid


def expired(world: World) -> int:
    cid = world.start()
    world.complete(cid, "employer_agreement", AGREEMENT, "employer")
    world.complete(cid, "counsellor_validation", {"validation_decision": "validate"})
    world.clock.advance(days=15)
    world.fire(cid)
    return cid


SCENARIOS: dict[str, Callable[[World], int]] = {
    "civp_full_year": full_year,
    "civp_terminated": terminated,
    "civp_signature_expired": expired,
}


def main() -> None:
    HERE.mkdir(exist_ok=True)
    for name, scenario in SCENARIOS.items():
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/golden.db"
            upgrade(url)
            world = make_world(url)
            cid = scenario(world)
            with world.aqd.session() as s:
                history = history_of(s, cid)
        (HERE / f"{name}.json").write_text(json.dumps(history, ensure_ascii=False, indent=1))
        print(f"{name}: {len(history['events'])} events")


if __name__ == "__main__":
    main()
