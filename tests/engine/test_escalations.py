"""Overdue tasks are escalated once: the party whose step it is gets a reminder with the missed
date; an office step tells the office's heads and the counsellor who claimed it. Reruns send
nothing more; tasks done in time, or in other offices, are left alone."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from engine.access.accounts import create_user
from engine.models import Beneficiary, Employer, HumanTask, Notification, Office, Outbox
from engine.notifications.escalations import escalate_overdue
from tests.conftest import AGREEMENT, World

TITLE = "Accord de l'employeur"


def people(world: World) -> None:
    with world.aqd.session() as s, s.begin():
        office = s.scalar(select(Office.id).where(Office.code == "TUN"))
        other = Office(code="SOU", name_fr="Sousse", name_ar="سوسة", governorate="Sousse")
        s.add(other)
        s.flush()
        employer = s.scalar(select(Employer.id))
        beneficiary = s.scalar(select(Beneficiary.id))
        now = world.clock.now()
        create_user(s, "head.tun", None, ["office_head"], now, office_id=office, locale="ar")
        create_user(s, "head.sou", None, ["office_head"], now, office_id=other.id)
        create_user(s, "c.tun", None, ["counsellor"], now, office_id=office)
        acme = create_user(s, "acme", None, ["employer"], now, employer_id=employer)
        acme.email = "rh@acme.tn"
        create_user(s, "amira", None, ["beneficiary"], now, beneficiary_id=beneficiary)


def overdue_notes(world: World) -> list[tuple[str, str, str]]:
    with world.aqd.session() as s:
        return [
            (n.recipient, n.channel, n.subject)
            for n in s.scalars(
                select(Notification)
                .where(Notification.template == "task_overdue")
                .order_by(Notification.id)
            )
        ]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_overdue_steps_are_escalated_once_to_who_must_act(world: World) -> None:
    people(world)
    cid = world.start()  # the employer's agreement is due in 7 days (10 March, 08:00)
    assert escalate_overdue(world.aqd).tasks == 0

    world.clock.set(at("2025-03-10T07:59:00+00:00"))
    assert escalate_overdue(world.aqd).tasks == 0  # not late yet

    world.clock.set(at("2025-03-11T09:00:00+00:00"))
    run = escalate_overdue(world.aqd)
    assert (run.tasks, run.notices) == (1, 1)
    [(recipient, channel, subject)] = overdue_notes(world)
    assert (recipient, channel) == ("acme", "email")  # the employer is reminded, by e-mail
    assert subject.startswith("En retard") and TITLE in subject
    with world.aqd.session() as s:
        note = s.scalar(select(Notification.id).where(Notification.template == "task_overdue"))
        queued = s.scalar(select(Outbox).where(Outbox.idempotency_key == f"notification:{note}"))
        assert queued is not None and queued.contract_id == cid
        task = s.scalar(select(HumanTask).where(HumanTask.bpmn_id == "employer_agreement"))
        assert task is not None and task.escalated_at == world.clock.now()
    assert escalate_overdue(world.aqd).tasks == 0  # once per task
    assert len(overdue_notes(world)) == 1

    # The counsellor's validation (due in 3 days), claimed by c.tun, then late: the office's
    # head (in Arabic) and the assignee are told; Sousse's head is not.
    world.complete(cid, "employer_agreement", AGREEMENT, "acme")
    guid = world.task(cid, "counsellor_validation")
    with world.aqd.session() as s, s.begin():
        world.aqd.claim_task(s, guid, "c.tun")
    world.clock.set(at("2025-03-15T09:00:00+00:00"))
    run = escalate_overdue(world.aqd)
    assert (run.tasks, run.notices) == (1, 2)
    later = overdue_notes(world)[1:]
    assert sorted(r for r, _, _ in later) == ["c.tun", "head.tun"]
    head = next(subject for r, _, subject in later if r == "head.tun")
    assert "تأخير" in head
    with world.aqd.session() as s:
        body = s.scalar(
            select(Notification.body).where(
                Notification.template == "task_overdue", Notification.recipient == "c.tun"
            )
        )
    assert body is not None and "2025-03-14" in body and "c.tun" in body

    # Done in time: nothing to escalate.
    world.complete(cid, "counsellor_validation", {"validation_decision": "validate"}, "c.tun")
    world.clock.set(at("2025-03-16T09:00:00+00:00"))
    assert escalate_overdue(world.aqd).tasks == 0
    assert len(overdue_notes(world)) == 3


def test_a_batch_run_takes_every_overdue_task(world: World) -> None:
    people(world)
    for _ in range(5):
        world.start()
    world.clock.set(at("2025-03-20T09:00:00+00:00"))
    run = escalate_overdue(world.aqd, batch=2)  # three batches
    assert (run.tasks, run.notices) == (5, 5)
    with world.aqd.session() as s:
        left = s.scalars(
            select(HumanTask).where(HumanTask.status == "ready", HumanTask.escalated_at.is_(None))
        ).all()
    assert left == []
