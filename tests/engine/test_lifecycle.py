"""The CIVP first cut end to end through the engine's commands, on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine import Conflict, InvalidInput, NotFound, StaleRevision, TaskNotReady
from engine.audit.replay import replay_contract
from engine.kernel.signature_events import signature_result
from engine.models import Contract, Event, HumanTask, Outbox, ProcessInstance, StepTiming
from tests.conftest import AGREEMENT, World


def contract(world: World, cid: int) -> Contract:
    with world.aqd.session() as s:
        found = s.get(Contract, cid)
        assert found is not None
        return found


def test_start_routes_to_employer_with_due_date(world: World) -> None:
    cid = world.start()
    c = contract(world, cid)
    assert c.number == f"CIVP-2025-{cid:06d}"
    assert (c.status, c.revision, c.last_seq) == ("in_review", 1, 1)
    with world.aqd.session() as s:
        task = s.scalar(select(HumanTask).where(HumanTask.contract_id == cid))
        assert task is not None
        assert (task.bpmn_id, task.lane, task.form_key) == (
            "employer_agreement",
            "employer",
            "employer_agreement",
        )
        assert task.due_at == world.clock.now() + timedelta(days=7)
        timings = s.scalar(
            select(func.count()).select_from(StepTiming).where(StepTiming.contract_id == cid)
        )
        assert timings is not None and timings >= 4


def test_ineligible_beneficiary_is_refused_with_reason(world: World) -> None:
    cid = world.start(nationality="OTHER")
    c = contract(world, cid)
    assert c.status == "rejected"
    with world.aqd.session() as s:
        inst = s.scalar(select(ProcessInstance).where(ProcessInstance.contract_id == cid))
        assert inst is not None
        assert inst.status == "completed"
        assert b'"rejection_reason":"NATIONALITY"' in inst.state


def test_not_primo_graduate_refused(world: World) -> None:
    cid = world.start(months_worked_continuous=30)
    assert contract(world, cid).status == "rejected"


def test_bad_request_data_gets_field_errors_and_saves_nothing(world: World) -> None:
    with pytest.raises(InvalidInput) as info:
        world.start(beneficiary_cin="12AB", diploma_level="PHD")
    assert set(info.value.fields) >= {"beneficiary_cin", "diploma_level"}
    with world.aqd.session() as s:
        assert s.scalar(select(func.count()).select_from(Contract)) == 0


def test_task_form_is_validated(world: World) -> None:
    cid = world.start()
    with pytest.raises(InvalidInput) as info:
        world.complete(cid, "employer_agreement", {"agreed": False, "tutor_name": "x"})
    assert "agreed" in info.value.fields
    assert "position_title" in info.value.fields
    assert contract(world, cid).revision == 1


def test_return_for_correction_then_validate_then_sign(world: World) -> None:
    cid = world.start()
    world.complete(cid, "employer_agreement", AGREEMENT, "employer")
    world.complete(
        cid, "counsellor_validation", {"validation_decision": "return", "return_reason": "CNSS"}
    )
    world.complete(cid, "employer_agreement", {**AGREEMENT, "position_title": "Analyst"})
    world.complete(cid, "counsellor_validation", {"validation_decision": "validate"})
    assert contract(world, cid).status == "awaiting_signature"
    world.sign_all(cid)
    c = contract(world, cid)
    assert c.status == "active"
    assert c.next_due_at is not None
    # the first month's attendance sheet opens 4 days before the month's end
    assert c.next_due_at.date().isoformat() == "2025-04-26"


def test_counsellor_rejection_records_reason(world: World) -> None:
    cid = world.start()
    world.complete(cid, "employer_agreement", AGREEMENT)
    with pytest.raises(InvalidInput):
        world.complete(cid, "counsellor_validation", {"validation_decision": "reject"})
    world.complete(
        cid, "counsellor_validation", {"validation_decision": "reject", "reject_code": "DUPLICATE"}
    )
    assert contract(world, cid).status == "rejected"


def test_signature_deadline_expires_contract_on_fake_clock(world: World) -> None:
    cid = world.start()
    world.complete(cid, "employer_agreement", AGREEMENT)
    world.complete(cid, "counsellor_validation", {"validation_decision": "validate"})
    world.clock.advance(days=4)
    assert not world.fire(cid)
    world.clock.advance(days=2)  # the beneficiary's reminder (P5D), the step stays open
    assert world.fire(cid)
    assert contract(world, cid).status == "awaiting_signature"
    world.clock.advance(days=7)
    assert not world.fire(cid)
    world.clock.advance(days=2)  # the signature deadline (P14D)
    assert world.fire(cid)
    c = contract(world, cid)
    assert c.status == "expired"
    assert c.next_due_at is None
    with world.aqd.session() as s:
        kinds = list(
            s.scalars(select(Outbox.kind).where(Outbox.contract_id == cid).order_by(Outbox.id))
        )
    assert kinds == ["signature_request", "signature_reminder", "signing_closed"]


def test_full_year_pays_each_month_exactly_once_and_replays(world: World) -> None:
    cid = world.start()
    world.activate(cid)
    for _ in range(12):
        world.run_month(cid)
    world.complete(cid, "record_outcome", {"outcome": "hired_cdi"}, "counsellor")
    c = contract(world, cid)
    assert (c.status, c.outcome) == ("ended", "hired_cdi")
    with world.aqd.session() as s:
        rows = s.scalars(
            select(Outbox)
            .where(Outbox.contract_id == cid, Outbox.kind == "payment_order")
            .order_by(Outbox.id)
        ).all()
        assert [r.idempotency_key for r in rows] == [
            f"payment:{c.number}:{m}:beneficiary:stipend" for m in range(1, 13)
        ]
        assert {r.payload["amount"] for r in rows} == {"200.000"}
        assert all(r.status == "completed" for r in rows)
        report = replay_contract(world.aqd, s, cid)
    assert report.ok, report.problems
    assert report.events == c.last_seq


def test_early_termination_stops_the_running_month(world: World) -> None:
    cid = world.start()
    world.activate(cid)
    world.run_month(cid)
    world.message(cid, "terminate_contract", {"reason": "employer_closed", "outcome": "none"})
    c = contract(world, cid)
    assert c.status == "terminated"
    assert c.next_due_at is None
    with world.aqd.session() as s:
        statuses = s.scalars(
            select(ProcessInstance.status).where(ProcessInstance.contract_id == cid)
        ).all()
        assert set(statuses) == {"completed"}
        assert (
            s.scalar(select(func.count()).select_from(HumanTask).where(HumanTask.status == "ready"))
            == 0
        )
        assert replay_contract(world.aqd, s, cid).ok


def test_claim_release_and_conflicts(world: World) -> None:
    cid = world.start()
    guid = world.task(cid, "employer_agreement")
    with world.aqd.session() as s, s.begin():
        world.aqd.claim_task(s, guid, "alice")
    with (
        pytest.raises(Conflict, match="already claimed by alice"),
        world.aqd.session() as s,
        s.begin(),
    ):
        world.aqd.claim_task(s, guid, "bob")
    with world.aqd.session() as s, s.begin():
        world.aqd.claim_task(s, guid, "alice", release=True)
    with world.aqd.session() as s:
        task = s.scalar(select(HumanTask).where(HumanTask.task_guid == guid))
        assert task is not None
        assert task.assignee is None
        kinds = s.scalars(
            select(Event.kind).where(Event.contract_id == cid).order_by(Event.seq)
        ).all()
    assert kinds == ["contract_started", "task_claimed", "task_released"]
    with pytest.raises(StaleRevision), world.aqd.session() as s, s.begin():
        world.aqd.complete_task(s, guid, AGREEMENT, "alice", expected_revision=1)
    world.complete(cid, "employer_agreement", AGREEMENT)
    with pytest.raises(TaskNotReady), world.aqd.session() as s, s.begin():
        world.aqd.complete_task(s, guid, AGREEMENT, "alice")
    with pytest.raises(NotFound), world.aqd.session() as s, s.begin():
        world.aqd.complete_task(s, "no-such-task", AGREEMENT, "alice")


def test_message_nobody_waits_for_is_a_conflict_not_a_crash(world: World) -> None:
    cid = world.start()
    with pytest.raises(Conflict, match="not waiting for message"):
        world.message(cid, "signature_result", signature_result("beneficiary"))
    assert contract(world, cid).revision == 1


def test_cold_engine_continues_a_warm_contract(world: World, db_url: str) -> None:
    """Save/restore round trip (STYLE habit 9): an engine without cache (every step loads the
    stored state) continues a contract a warm engine runs; replay still matches every hash."""
    from engine import Aqd, Settings

    cid = world.start()
    world.complete(cid, "employer_agreement", AGREEMENT)
    cold = Aqd(
        db_url, clock=world.clock, settings=Settings(database_url=db_url, workflow_cache_size=0)
    )
    guid = world.task(cid, "counsellor_validation")
    with cold.session() as s, s.begin():
        cold.complete_task(s, guid, {"validation_decision": "validate"}, "c")
    world.sign_all(cid)
    assert contract(world, cid).status == "active"
    with world.aqd.session() as s:
        assert replay_contract(world.aqd, s, cid).ok
