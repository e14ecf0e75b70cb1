"""Record golden histories: ``python -m tests.replay.make_histories [--force NAME ...]``.

Writes the scenarios that have no file yet. A committed history records past behaviour with the
definition it was pinned to: never regenerate one to make a test pass; ``--force`` is for a
deliberate, documented change. CI replays every committed file against the current engine.
"""

from __future__ import annotations

import json
import sys
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


def started_on_signature_day(world: World) -> int:
    """No start date requested: the activation script takes the command's clock (today())."""
    cid = world.start(start_date=None)
    world.activate(cid)
    _months(world, cid, 1)
    return cid


SCENARIOS: dict[str, Callable[[World], int]] = {
    "civp_full_year": full_year,
    "civp_terminated": terminated,
    "civp_signature_expired": expired,
    "civp_started_on_signature_day": started_on_signature_day,
}


def main() -> None:
    HERE.mkdir(exist_ok=True)
    force = set(sys.argv[sys.argv.index("--force") + 1 :]) if "--force" in sys.argv else set()
    for name, scenario in SCENARIOS.items():
        if (HERE / f"{name}.json").exists() and name not in force:
            continue
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
