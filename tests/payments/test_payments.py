"""Payment orders exactly once, pain.001 batches, reconciliation of camt.054/CSV results into
the contracts, the counsellor's account fix and the single re-issue (issue 6). Every test runs
on PostgreSQL and SQLite; the bank is the development bank (files in, files out)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import xmlschema
from sqlalchemy import func, select

from engine.models import (
    Contract,
    Event,
    HumanTask,
    Outbox,
    ProcessInstance,
)
from engine.models.payments import PaymentBatch
from engine.outbox import runner as outbox
from engine.outbox.handlers import OutboxItem
from engine.payments import devbank
from engine.payments.batches import create_batch, debtor_account, export_batch
from engine.payments.iso20022 import XSD, FileInvalid
from engine.payments.orders import end_to_end_id, upsert_account
from engine.payments.reconcile import reconcile
from tests.conftest import World
from tests.helpers.payments import (
    GOOD_RIB,
    KEY1,
    RIB,
    active_contract,
    batch,
    orders,
    ready,
    to_month_end,
    with_account,
    worked_month,
)


def month_status(world: World, key: str) -> str:
    with world.aqd.session() as s:
        status = s.scalar(select(ProcessInstance.status).where(ProcessInstance.key == key))
    return str(status)


def test_order_written_once_and_the_month_waits_for_the_bank(world: World) -> None:
    with_account(world)
    cid = active_contract(world)
    worked_month(world, cid)
    run = outbox.run_once(world.aqd)
    assert (run.claimed, run.awaiting, run.done) == (1, 1, 0)
    [order] = orders(world)
    assert order.idempotency_key == KEY1
    assert (order.status, order.amount_millimes, order.period, order.office_code) == (
        "ordered",
        200_000,
        "2025-04",
        "TUN",
    )
    assert (order.rib, order.iban) == (RIB, f"TN59{RIB}")
    assert order.end_to_end_id == end_to_end_id(KEY1) and len(order.end_to_end_id) <= 35
    # the order being recorded is not the payment: month 1 still waits for its confirmation
    assert month_status(world, "civp_month#2") == "running"
    with world.aqd.session() as s:
        row = s.scalars(select(Outbox).where(Outbox.idempotency_key == KEY1)).one()
    assert row.status == "awaiting"
    # a duplicate delivery (worker killed after the insert) writes nothing new
    item = outbox._item(row)
    handler = world.aqd.plugins.handler_for("payment_order")
    assert handler is not None
    again = handler(world.aqd, item)
    assert again.awaiting and again.result["order"] == order.end_to_end_id
    assert len(orders(world)) == 1
    assert outbox.run_once(world.aqd).claimed == 0  # an awaiting row is neither claimed nor reaped
    world.clock.advance(hours=2)
    assert outbox.reap(world.aqd) == 0


def test_attendance_in_the_month_s_last_days_is_paid_at_its_end(world: World) -> None:
    """The sheet opens 4 days before the month's end; an attendance certified then is ordered
    for the month's end (the outbox row waits until then), and the next month starts at once,
    so the month's end itself runs no workflow (docs/payments.md, "The month's end")."""
    with_account(world)
    cid = active_contract(world)
    with world.aqd.session() as s:
        opens = s.scalar(select(Contract.next_due_at).where(Contract.id == cid))
    assert opens is not None and opens.isoformat() == "2025-04-26T07:00:00+00:00"
    world.clock.set(opens - timedelta(minutes=1))
    assert not world.fire(cid) and "attendance" not in ready(world, cid)
    world.clock.set(opens + timedelta(days=1))
    assert world.fire(cid)
    world.complete(cid, "attendance", {"days_present": 20}, "employer")
    with world.aqd.session() as s:
        row = s.scalars(select(Outbox).where(Outbox.kind == "payment_order")).one()
        next_due = s.scalar(select(Contract.next_due_at).where(Contract.id == cid))
    assert row.payload["not_before"] == "2025-04-30T18:00:00+01:00"
    assert row.available_at.isoformat() == "2025-04-30T17:00:00+00:00"
    assert next_due is not None and next_due.isoformat() == "2025-05-27T07:00:00+00:00"
    assert outbox.run_once(world.aqd).claimed == 0  # the month is not over yet
    assert orders(world) == []
    world.clock.set(row.available_at + timedelta(minutes=1))
    run = outbox.run_once(world.aqd)
    assert (run.claimed, run.awaiting) == (1, 1)
    [order] = orders(world)
    assert (order.idempotency_key, order.period, order.amount_millimes) == (
        KEY1,
        "2025-04",
        200_000,
    )


def test_the_last_month_opens_at_its_end_and_the_term_follows_its_attendance(
    world: World,
) -> None:
    """The last month's sheet opens when the month is over, so the term (reported after its
    attendance) is never reached before the contract's end date."""
    cid = active_contract(world)
    for _ in range(11):
        world.run_month(cid)
    with world.aqd.session() as s:
        opens = s.scalar(select(Contract.next_due_at).where(Contract.id == cid))
    assert opens is not None and opens.isoformat() == "2026-03-31T17:00:00+00:00"
    world.run_month(cid)
    assert "record_outcome" in ready(world, cid)


def test_held_without_attendance_and_stopped_by_termination(world: World) -> None:
    with_account(world)
    cid = active_contract(world)
    to_month_end(world, cid)
    assert outbox.run_once(world.aqd).claimed == 0  # no attendance proof yet: nothing ordered
    assert orders(world) == []
    world.message(cid, "terminate_contract", {"reason": "employer_closed", "outcome": "none"})
    assert month_status(world, "civp_month#2") == "completed"
    world.clock.advance(days=60)
    with world.aqd.session() as s:
        assert s.scalar(select(Contract.next_due_at).where(Contract.id == cid)) is None
    assert outbox.run_once(world.aqd).claimed == 0
    assert orders(world) == []


def test_pain001_validates_and_reconciliation_confirms_the_month(
    world: World, tmp_path: Path
) -> None:
    with_account(world)
    cid = active_contract(world)
    worked_month(world, cid)
    outbox.run_once(world.aqd)
    xml = batch(world)
    # an independent validator (xmlschema, not the exporter's libxml2) accepts the file
    xmlschema.XMLSchema(str(XSD / "pain.001.001.03.xsd")).validate(xml.decode())
    [order] = orders(world)
    assert order.status == "batched" and order.batch_id is not None
    with world.aqd.session() as s:
        assert (
            export_batch(s, order.batch_id, debtor_account(world.aqd.settings)).xml == xml
        )  # the files can be written again
        assert s.scalar(select(func.count()).select_from(PaymentBatch)) == 1
    with world.aqd.session() as s, s.begin():
        assert (
            create_batch(
                s, "TUN", "2025-04", world.clock.now(), "test", debtor_account(world.aqd.settings)
            )
            is None
        )
    camt = devbank.answer(xml, world.clock.now())
    xmlschema.XMLSchema(str(XSD / "camt.054.001.02.xsd")).validate(camt.decode())
    report = reconcile(world.aqd, camt)
    assert (report.paid, report.rejected, report.errors) == (1, 0, [])
    [order] = orders(world)
    assert order.status == "paid" and order.bank_ref
    assert month_status(world, "civp_month#2") == "completed"
    # the same file again changes nothing
    report = reconcile(world.aqd, camt)
    assert (report.paid, report.duplicates) == (0, 1)
    with world.aqd.session() as s:
        events = list(
            s.scalars(
                select(Event).where(Event.contract_id == cid, Event.kind == "side_effect_recorded")
            )
        )
    # the signing steps' requests are recorded side effects too; the payment is the last one
    payments = [e for e in events if str(e.payload["key"]).startswith("payment:")]
    assert [e.payload["key"] for e in payments] == [KEY1]
    assert payments[0].payload["result"]["status"] == "paid"


def test_rejected_payment_gives_the_counsellor_a_task_and_one_reissue(world: World) -> None:
    with_account(world, RIB)
    cid = active_contract(world)
    worked_month(world, cid)
    outbox.run_once(world.aqd)
    xml = batch(world)
    e2e = end_to_end_id(KEY1)
    report = reconcile(world.aqd, devbank.answer(xml, world.clock.now(), {e2e: "AC04: closed"}))
    assert report.rejected == 1
    assert "fix_payee_account" in ready(world, cid)
    with world.aqd.session() as s:
        task = s.scalars(select(HumanTask).where(HumanTask.bpmn_id == "fix_payee_account")).one()
    assert (task.lane, task.form_key, task.office_id) == ("counsellor", "fix_payee_account", 1)
    world.complete(cid, "fix_payee_account", {"rib": GOOD_RIB}, "counsellor")
    outbox.run_once(world.aqd)
    outbox.run_once(world.aqd)
    first, reissue = orders(world)
    assert (first.status, first.reject_reason) == ("reissued", "AC04: closed")
    assert reissue.idempotency_key == KEY1 + ":reissue1"
    assert (reissue.status, reissue.rib, reissue.reissue_of) == ("ordered", GOOD_RIB, KEY1)
    xml2 = batch(world)
    # the re-issue is rejected too: the month ends unpaid, no third order
    key2 = end_to_end_id(KEY1 + ":reissue1")
    reconcile(world.aqd, devbank.answer(xml2, world.clock.now(), {key2: "AC01"}))
    assert month_status(world, "civp_month#2") == "completed"
    assert "fix_payee_account" not in ready(world, cid)
    outbox.run_once(world.aqd)
    assert [o.idempotency_key for o in orders(world)] == [KEY1, KEY1 + ":reissue1"]


def test_reissued_payment_paid_closes_the_month(world: World) -> None:
    with_account(world)
    cid = active_contract(world)
    worked_month(world, cid)
    outbox.run_once(world.aqd)
    xml = batch(world)
    reconcile(world.aqd, devbank.answer(xml, world.clock.now(), {end_to_end_id(KEY1): "AC01"}))
    world.complete(cid, "fix_payee_account", {"rib": GOOD_RIB}, "counsellor")
    outbox.run_once(world.aqd)
    csv = f"end_to_end_id,status,reason,bank_ref\n{end_to_end_id(KEY1 + ':reissue1')},paid,,R1\n"
    batch(world)
    report = reconcile(world.aqd, csv.encode())
    assert (report.paid, report.errors) == (1, [])
    assert month_status(world, "civp_month#2") == "completed"
    with world.aqd.session() as s:
        events = list(
            s.scalars(
                select(Event.payload).where(
                    Event.contract_id == cid, Event.kind == "side_effect_recorded"
                )
            )
        )
    payments = [(e["key"], e["ok"]) for e in events if str(e["key"]).startswith("payment:")]
    assert payments == [(KEY1, False), (KEY1 + ":reissue1", True)]


def test_no_account_is_rejected_at_once(world: World) -> None:
    cid = active_contract(world)
    worked_month(world, cid)
    run = outbox.run_once(world.aqd)
    assert run.failed == 1
    [order] = orders(world)
    assert (order.status, order.reject_reason) == ("rejected", "NO_ACCOUNT")
    assert "fix_payee_account" in ready(world, cid)
    with world.aqd.session() as s, s.begin():
        assert (
            create_batch(
                s, "TUN", "2025-04", world.clock.now(), "test", debtor_account(world.aqd.settings)
            )
            is None
        )


def test_terminated_after_the_order_still_gets_the_payment(world: World) -> None:
    with_account(world)
    cid = active_contract(world)
    worked_month(world, cid)
    outbox.run_once(world.aqd)
    world.message(cid, "terminate_contract", {"reason": "hired", "outcome": "hired_cdi"})
    assert month_status(world, "civp_month#3") == "completed"  # next month stopped
    assert month_status(world, "civp_month#2") == "running"  # month 1 still awaits its payment
    report = reconcile(world.aqd, devbank.answer(batch(world), world.clock.now()))
    assert report.paid == 1
    assert month_status(world, "civp_month#2") == "completed"


def test_bad_files_are_refused(world: World) -> None:
    with pytest.raises(FileInvalid):
        reconcile(world.aqd, b"<Document xmlns='urn:x'/>")
    with pytest.raises(FileInvalid):
        reconcile(world.aqd, b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>')
    with pytest.raises(FileInvalid):
        reconcile(world.aqd, b"end_to_end_id,status\nAQD1,maybe\n")
    report = reconcile(world.aqd, b"end_to_end_id,status\nAQDUNKNOWN,paid\n")
    assert len(report.errors) == 1


def test_employer_payee_uses_the_employer_account(world: World) -> None:
    cid = active_contract(world)
    with world.aqd.session() as s, s.begin():
        upsert_account(s, "employer", 1, GOOD_RIB, world.clock.now(), "test")
    item = OutboxItem(
        id=0,
        contract_id=cid,
        kind="payment_order",
        idempotency_key=f"payment:CIVP-2025-{cid:06d}:1:employer:reimbursement",
        payload={"payee": "employer", "kind": "reimbursement", "period": 1, "amount": "350.5"},
        attempts=1,
    )
    handler = world.aqd.plugins.handler_for("payment_order")
    assert handler is not None
    assert handler(world.aqd, item).awaiting
    assert handler(world.aqd, item).awaiting
    [order] = orders(world)
    assert (order.payee_kind, order.payee_name, order.rib) == ("employer", "ACME", GOOD_RIB)
    assert (order.amount_millimes, order.period) == (350_500, "2025-03")
