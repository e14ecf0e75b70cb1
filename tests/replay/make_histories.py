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
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from engine.audit.replay import history_of
from engine.models import Contract
from engine.schema_migrations import upgrade
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
    world.sign_all(cid)
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


def payment_reissued(world: World) -> int:
    """Month 1's payment is rejected by the bank, the counsellor fixes the RIB, the single
    re-issue is paid; month 2's re-issue is rejected too and the month ends unpaid."""
    cid = world.start()
    world.activate(cid)
    for month in (1, 2):
        with world.aqd.session() as s:
            due = s.scalar(select(Contract.next_due_at).where(Contract.id == cid))
        assert due is not None
        world.clock.set(due + timedelta(minutes=3))
        world.fire(cid)
        world.complete(cid, "attendance", {"days_present": 20}, "employer")
        key = f"payment:CIVP-2025-{cid:06d}:{month}:beneficiary:stipend"
        with world.aqd.session() as s, s.begin():
            world.aqd.record_side_effect(
                s, key, False, {"status": "rejected", "reason": "AC04: closed account"}
            )
        world.complete(cid, "fix_payee_account", {"rib": "08001000000123456769"}, "counsellor")
        with world.aqd.session() as s, s.begin():
            world.aqd.record_side_effect(
                s, f"{key}:reissue1", month == 1, {"status": "paid" if month == 1 else "AC01"}
            )
    return cid


SCENARIOS: dict[str, Callable[[World], int]] = {
    "civp_payment_reissued": payment_reissued,
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
