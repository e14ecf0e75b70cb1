"""Replay re-executes history and checks every hash; any edit of an event or a state is caught."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from engine.models import Contract, Event, ProcessInstance
from engine.runtime.serializer import state_hash
from engine.services.contract_state import chain_hash
from engine.services.replay import event_body, replay_contract
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


def verify(world: World, cid: int) -> tuple[bool, int | None, list[str]]:
    with world.aqd.session() as s:
        report = replay_contract(world.aqd, s, cid)
    return report.ok, report.first_divergent_seq, report.problems


def test_untouched_history_replays(world: World) -> None:
    cid = busy_contract(world)
    ok, first, problems = verify(world, cid)
    assert ok and first is None, problems


def _edit_payload(s: Session, cid: int) -> None:
    ev = s.scalar(select(Event).where(Event.contract_id == cid, Event.seq == 3))
    assert ev is not None
    s.execute(
        update(Event)
        .where(Event.id == ev.id)
        .values(payload={**ev.payload, "data": {**ev.payload["data"], "position_title": "CEO"}})
    )


def _edit_payload_and_rechain(s: Session, cid: int) -> None:
    _edit_payload(s, cid)
    prev = "0" * 64
    for ev in s.scalars(select(Event).where(Event.contract_id == cid).order_by(Event.seq)):
        s.refresh(ev)
        digest = chain_hash(prev, event_body(ev))
        s.execute(update(Event).where(Event.id == ev.id).values(prev_hash=prev, hash=digest))
        prev = digest
    s.execute(update(Contract).where(Contract.id == cid).values(chain_head=prev))


def _edit_state_hash(s: Session, cid: int) -> None:
    s.execute(
        update(Event).where(Event.contract_id == cid, Event.seq == 4).values(state_hash="0" * 64)
    )


def _edit_actor(s: Session, cid: int) -> None:
    s.execute(
        update(Event).where(Event.contract_id == cid, Event.seq == 2).values(actor="someone_else")
    )


def _delete_last(s: Session, cid: int) -> None:
    last = s.scalar(
        select(Event.id).where(Event.contract_id == cid).order_by(Event.seq.desc()).limit(1)
    )
    s.execute(delete(Event).where(Event.id == last))


def _delete_middle(s: Session, cid: int) -> None:
    s.execute(delete(Event).where(Event.contract_id == cid, Event.seq == 3))


def _edit_state_bytes(s: Session, cid: int) -> None:
    inst = s.scalar(
        select(ProcessInstance).where(
            ProcessInstance.contract_id == cid, ProcessInstance.key == "main"
        )
    )
    assert inst is not None
    s.execute(
        update(ProcessInstance)
        .where(ProcessInstance.id == inst.id)
        .values(state=inst.state.replace(b"Mrs Tutor", b"Mr Hacker"))
    )


def _edit_state_and_its_hash(s: Session, cid: int) -> None:
    inst = s.scalar(
        select(ProcessInstance).where(
            ProcessInstance.contract_id == cid, ProcessInstance.key == "main"
        )
    )
    assert inst is not None
    forged = inst.state.replace(b"Mrs Tutor", b"Mr Hacker")
    s.execute(
        update(ProcessInstance)
        .where(ProcessInstance.id == inst.id)
        .values(state=forged, state_hash=state_hash(forged))
    )


TAMPERS: dict[str, tuple[Callable[[Session, int], None], str]] = {
    "event payload": (_edit_payload, "chain hash mismatch"),
    "event payload with rebuilt chain": (_edit_payload_and_rechain, "state hash differs"),
    "event state hash": (_edit_state_hash, "chain hash mismatch"),
    "event actor": (_edit_actor, "chain hash mismatch"),
    "last event deleted": (_delete_last, "chain head"),
    "middle event deleted": (_delete_middle, "missing"),
    "stored state": (_edit_state_bytes, "does not match its hash"),
    "stored state and hash": (_edit_state_and_its_hash, "differs from the replayed one"),
}


@pytest.mark.parametrize("tamper", list(TAMPERS))
def test_tampering_is_detected(world: World, tamper: str) -> None:
    cid = busy_contract(world)
    edit, expected = TAMPERS[tamper]
    with world.aqd.session() as s, s.begin():
        edit(s, cid)
    world.aqd.clear_caches()
    ok, _first, problems = verify(world, cid)
    assert not ok
    assert any(expected in p for p in problems), problems


def test_report_names_first_divergent_event(world: World) -> None:
    cid = busy_contract(world)
    with world.aqd.session() as s, s.begin():
        _edit_payload_and_rechain(s, cid)
        s.execute(text("SELECT 1"))
    ok, first, _ = verify(world, cid)
    assert not ok
    assert first == 3
