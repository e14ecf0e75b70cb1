"""Replay re-executes history and checks every hash; any edit of an event or a state is caught."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from engine.audit.replay import event_body, replay_contract
from engine.audit.verification import verify_contracts, verify_contracts_parallel
from engine.kernel.contract_state import chain_hash
from engine.models import Contract, Event, ProcessInstance
from engine.runtime.serializer import state_hash
from tests.conftest import AGREEMENT, World
from tests.helpers.replay import busy_contract


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


# -- batches: histories read many contracts at a time, the same checks --------------------------


def _batch(world: World, size: int) -> list[int]:
    """A busy contract (third) among contracts with one or two events."""
    ids = []
    for n in range(size - 1):
        ids.append(world.start())
        if n % 2:
            world.complete(ids[-1], "employer_agreement", AGREEMENT, "employer")
    ids.insert(2, busy_contract(world))
    return ids


@pytest.mark.parametrize("tamper", ["event payload with rebuilt chain", "stored state"])
def test_batch_names_the_altered_contract_and_its_event(world: World, tamper: str) -> None:
    ids = _batch(world, 4)
    with world.aqd.session() as s, s.begin():
        TAMPERS[tamper][0](s, ids[2])
    world.aqd.clear_caches()
    report = verify_contracts(world.aqd, [*ids, 999_999], batch_size=2)
    assert (report.checked, report.passed) == (5, 3)
    altered, missing = report.failed
    assert altered["contract_id"] == ids[2]
    assert TAMPERS[tamper][1] in altered["problem"]
    assert altered["first_divergent_seq"] == (3 if tamper.startswith("event") else None)
    assert missing == {
        "contract_id": 999_999,
        "contract": "999999",
        "first_divergent_seq": None,
        "problem": "contract not found",
    }
    with world.aqd.session() as s:
        one = replay_contract(world.aqd, s, ids[2])
    assert one.problems[0] == altered["problem"]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_parallel_batch_shares_the_work_and_keeps_the_order(world: World) -> None:
    ids = _batch(world, 8)
    with world.aqd.session() as s, s.begin():
        _edit_actor(s, ids[4])
        _edit_payload_and_rechain(s, ids[2])
    report = verify_contracts_parallel(world.aqd, ids, processes=2, chunk_size=1)
    assert (report.checked, report.passed) == (8, 6)
    assert [(f["contract_id"], f["first_divergent_seq"]) for f in report.failed] == [
        (ids[2], 3),
        (ids[4], 2),
    ]


def test_fast_serialisation_is_byte_for_byte_dump(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.kernel import contract_state
    from engine.runtime import serializer

    checked = []

    def both(wf: object) -> bytes:
        fast = serializer.fast_dump(wf)
        assert fast == serializer.dump(wf)
        checked.append(len(fast))
        return fast

    monkeypatch.setattr(contract_state, "fast_dump", both)  # live commands and replay
    cid = busy_contract(world)
    live = len(checked)
    assert live > 5
    assert verify(world, cid)[0]
    assert len(checked) > 2 * live - 1


def test_a_wrong_fast_serialisation_falls_back_to_dump(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.kernel import contract_state

    cid = busy_contract(world)  # stored with the real serialisation
    monkeypatch.setattr(contract_state, "fast_dump", lambda wf: b"not the state")
    assert verify(world, cid) == (True, None, [])
    with world.aqd.session() as s, s.begin():
        _edit_payload_and_rechain(s, cid)
    assert verify(world, cid)[:2] == (False, 3)
