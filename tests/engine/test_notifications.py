"""Notifications (issue 6, item 5): French and Arabic templates, delivery after commit through
the outbox by a real local SMTP server and a real local HTTP SMS gateway, exactly once under
duplicate deliveries, the redacted copy kept after sending, and the triggers (a task reassigned,
a task ready in the employer's lane, a payment paid or rejected), each written in the
transaction of the command that caused it. PostgreSQL and SQLite."""

from __future__ import annotations

import json
import re
import threading
from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select, update

from engine import Aqd, bootstrap
from engine.access.accounts import create_user
from engine.errors import InvalidInput
from engine.models import Contract, Event, HumanTask, Notification, Outbox, User
from engine.notifications import contacts
from engine.notifications import notify as notifications
from engine.notifications.delivery import deliver
from engine.notifications.notify import MASK, TEMPLATES, notify, render
from engine.outbox import runner as outbox
from engine.outbox.handlers import SideEffectError
from engine.payments import devbank
from engine.payments.accounts import make_rib
from engine.payments.batches import create_batch, debtor_account
from engine.payments.orders import end_to_end_id, upsert_account
from engine.payments.reconcile import reconcile
from tests.conftest import World
from tests.helpers.delivery import SmsGateway, SmtpSink

CODE = "482913"
TOKEN = "tOkEn-" + "x" * 30
SAMPLE: dict[str, Any] = {
    "contract": "CIVP-2025-000001",
    "programme": "CIVP",
    "party": "beneficiary",
    "expires": "2025-03-10",
    "link": f"http://aqd.test/sign/{TOKEN}",
    "sha256": "ab" * 32,
    "code": CODE,
    "minutes": 10,
    "reason": "AC04: closed",
    "task_fr": "Attestation de présence mensuelle",
    "task_ar": "شهادة الحضور الشهرية",
    "actor": "Chef Tunis",
    "due": "2025-05-07",
    "month": 1,
    "period": "2025-04",
    "amount": 200,
    "kind": "stipend",
    "bank_ref": "R1",
    "who_fr": "l'employeur",
    "who_ar": "المؤجر",
    "company": "Oasis Tech SARL",
    "what_fr": "votre numéro de téléphone",
    "what_ar": "رقم هاتفكم",
    "change_fr": "remplacer votre numéro de téléphone par +216******22",
    "change_ar": "تعويض رقم هاتفكم بـ +216******22",
    "date": "2025-03-10",
}
ARABIC = re.compile("[\u0600-\u06ff]")


# -- helpers ------------------------------------------------------------------------------------


def engine_with(world: World, **settings: Any) -> Aqd:
    """The same database and clock, other delivery settings (as a worker would have)."""
    merged = world.aqd.settings.model_copy(update=settings)
    return bootstrap.build(merged, clock=world.clock)


def with_smtp(world: World, sink: SmtpSink) -> Aqd:
    return engine_with(world, smtp_host=sink.host, smtp_port=sink.port, smtp_starttls=False)


def add_user(
    world: World,
    username: str,
    role: str,
    *,
    locale: str = "fr",
    email_address: str | None = None,
    phone: str | None = None,
    contract_id: int | None = None,
) -> None:
    with world.aqd.session() as s, s.begin():
        contract = s.get(Contract, contract_id) if contract_id else None
        user = create_user(
            s,
            username,
            None,
            [role],
            world.clock.now(),
            display_name=username.title(),
            locale=locale,
            office_id=1 if role in ("counsellor", "office_head") else None,
            employer_id=(contract.employer_id if contract else 1) if role == "employer" else None,
            beneficiary_id=(contract.beneficiary_id if contract else 1)
            if role == "beneficiary"
            else None,
        )
        user.email, user.phone = email_address, phone


def send_code(world: World, cid: int, username: str = "amira", locale: str = "fr") -> int:
    """The one-time code of a signature, as signature_requests.send_code writes it."""
    with world.aqd.session() as s, s.begin():
        note = notify(
            s,
            key=f"signature:{cid}:1:beneficiary:code:1:{username}",
            recipient=username,
            locale=locale,
            template="signature_code",
            params={"contract": "CIVP-2025-000001", "code": CODE, "minutes": 10},
            now=world.clock.now(),
            contract_id=cid,
        )
    assert note is not None
    return note


def note_of(world: World, note_id: int) -> Notification:
    with world.aqd.session() as s:
        note = s.get(Notification, note_id)
        assert note is not None
        return note


def outbox_row(world: World, note_id: int) -> Outbox:
    with world.aqd.session() as s:
        return s.scalars(
            select(Outbox).where(Outbox.idempotency_key == f"notification:{note_id}")
        ).one()


def notes(world: World, template: str) -> list[Notification]:
    with world.aqd.session() as s:
        return list(
            s.scalars(
                select(Notification)
                .where(Notification.template == template)
                .order_by(Notification.id)
            )
        )


# -- templates ------------------------------------------------------------------------------------


def test_every_template_renders_in_french_and_arabic_and_redacts_its_secrets() -> None:
    for template in TEMPLATES:
        fr = render(template, "fr", SAMPLE)
        ar = render(template, "ar", SAMPLE)
        for subject, body in (fr, ar):
            assert "{" not in subject + body, (template, subject, body)
            assert subject.strip() and body.strip()
        assert not ARABIC.search(fr[0] + fr[1].replace(SAMPLE["task_ar"], "")), template
        assert ARABIC.search(ar[0]) and ARABIC.search(ar[1]), template
        assert render(template, "de", SAMPLE) == fr  # an unknown locale falls back to French
    # amounts per locale (TND, 3 decimals), payment kinds translated
    assert "200,000\xa0DT" in render("payment_paid", "fr", SAMPLE)[1]
    assert "د.ت." in render("payment_paid", "ar", SAMPLE)[1]
    assert "allocation" in render("payment_paid", "fr", SAMPLE)[1]
    assert "منحة" in render("payment_paid", "ar", SAMPLE)[1]
    # the copy kept after sending has no code and no link token, in both languages
    for locale in ("fr", "ar"):
        for template in ("signature_code", "contact_code", "contact_confirm"):
            _, code_body = render(template, locale, SAMPLE, redact=True)
            assert CODE not in code_body and MASK in code_body, template
        _, link_body = render("signature_requested", locale, SAMPLE, redact=True)
        assert TOKEN not in link_body and f"http://aqd.test/sign/{MASK}" in link_body
        assert SAMPLE["sha256"] in link_body  # what is not secret stays


def test_contact_details_are_checked_and_normalised(world: World) -> None:
    add_user(world, "amira", "beneficiary")
    assert contacts.clean("email", " amira@example.tn ") == "amira@example.tn"
    assert contacts.clean("phone", "22 123 456") == "+21622123456"
    assert contacts.clean("phone", "0033612345678") == "+33612345678"
    with world.aqd.session() as s:
        user_id = s.scalar(select(User.id).where(User.username == "amira"))
        assert user_id is not None
    for bad_email, bad_phone, where in (("amira@", "", "email"), ("", "12ab", "phone")):
        with pytest.raises(InvalidInput) as refused:
            contacts.change(
                world.aqd, user_id, {"email": bad_email, "phone": bad_phone}, actor="amira"
            )
        assert where in refused.value.fields
    # a valid phone waits for the code sent to it: nothing is applied yet
    shown = contacts.change(world.aqd, user_id, {"email": "", "phone": "22 123 456"}, actor="amira")
    assert shown["phone"] == "" and [p["value"] for p in shown["pending"]] == ["+21622123456"]


# -- delivery ------------------------------------------------------------------------------------


def test_email_sent_once_by_smtp_after_commit_and_only_a_redacted_copy_stays(
    world: World, smtp: SmtpSink
) -> None:
    cid = world.start()
    add_user(world, "amira", "beneficiary", locale="ar", email_address="amira@example.tn")
    worker = with_smtp(world, smtp)
    # a rolled-back command leaves neither the message nor its delivery
    with world.aqd.session() as s, s.begin():
        notify(
            s,
            key="rolled-back",
            recipient="amira",
            locale="ar",
            template="signature_code",
            params={"contract": "X", "code": CODE, "minutes": 10},
            now=world.clock.now(),
            contract_id=cid,
        )
        s.rollback()
    note_id = send_code(world, cid, locale="ar")
    assert (note_of(world, note_id).delivery, note_of(world, note_id).channel) == (
        "pending",
        "email",
    )
    run = outbox.run_once(worker)
    assert (run.claimed, run.done) == (1, 1)
    [(sender, rcpt, msg)] = smtp.messages
    assert (sender, rcpt) == ("no-reply@aqd.tn", ["amira@example.tn"])
    assert msg["Subject"] == "رمز إمضاء العقد CIVP-2025-000001"
    assert msg["Content-Language"] == "ar" and msg["Message-ID"].endswith("@aqd.notification>")
    assert CODE in smtp.bodies()[0]
    note = note_of(world, note_id)
    assert (note.delivery, note.address, note.sent_at) == (
        "sent",
        "amira@example.tn",
        world.clock.now(),
    )
    assert CODE not in note.body and MASK in note.body and note.body_redacted is None
    with world.aqd.session() as s:
        [event] = s.scalars(
            select(Event.payload).where(
                Event.contract_id == cid, Event.kind == "side_effect_recorded"
            )
        ).all()
    assert event["key"] == f"notification:{note_id}" and event["ok"] is True
    assert event["result"]["to"] == "a***@example.tn"  # no address in the hash chain
    assert event["result"]["adapter"] == "smtp" and CODE not in json.dumps(event)
    # the mailbox shows the redacted copy
    with world.aqd.session() as s:
        [shown] = notifications.mailbox(s, "amira")
    assert shown["delivery"] == "sent" and CODE not in shown["body"]


def test_duplicate_deliveries_send_nothing_more(world: World, smtp: SmtpSink) -> None:
    cid = world.start()
    add_user(world, "amira", "beneficiary", email_address="amira@example.tn")
    worker = with_smtp(world, smtp)
    note_id = send_code(world, cid)
    [item] = outbox.claim(worker)
    # the broker delivers the same claimed row three times (two workers, one redelivery)
    outcomes = [outbox.execute(worker, item) for _ in range(3)]
    assert outcomes == ["done", "duplicate", "duplicate"]
    # and the handler itself, called again after everything was recorded
    again = deliver(worker, item)
    assert again.result["duplicate"] is True
    assert len(smtp.messages) == 1
    assert outbox_row(world, note_id).status == "completed"
    # the same trigger again (a replayed command) writes no second message
    with world.aqd.session() as s, s.begin():
        assert (
            notify(
                s,
                key=f"signature:{cid}:1:beneficiary:code:1:amira",
                recipient="amira",
                locale="fr",
                template="signature_code",
                params={"contract": "X", "code": "000000", "minutes": 10},
                now=world.clock.now(),
                contract_id=cid,
            )
            is None
        )
    assert outbox.run_once(worker).claimed == 0 and len(smtp.messages) == 1


def test_two_workers_racing_on_one_delivery_send_one_email(world: World, smtp: SmtpSink) -> None:
    cid = world.start()
    add_user(world, "amira", "beneficiary", email_address="amira@example.tn")
    note_id = send_code(world, cid)
    workers = [with_smtp(world, smtp), with_smtp(world, smtp)]  # two processes' engines
    [item] = outbox.claim(workers[0])
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def run(worker: Aqd) -> None:
        start.wait()
        outcomes.append(outbox.execute(worker, item))

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(outcomes) == 2 and "done" in outcomes, outcomes
    assert len(smtp.messages) == 1
    assert outbox_row(world, note_id).status == "completed"
    world.clock.advance(minutes=10)  # whatever the loser put back finds the message sent
    outbox.run_once(workers[1])
    assert len(smtp.messages) == 1 and note_of(world, note_id).delivery == "sent"


def test_a_message_being_sent_is_not_sent_twice_until_its_lease_expires(
    world: World, smtp: SmtpSink
) -> None:
    cid = world.start()
    add_user(world, "amira", "beneficiary", email_address="amira@example.tn")
    worker = with_smtp(world, smtp)
    note_id = send_code(world, cid)
    [item] = outbox.claim(worker)
    # another worker holds it (it claimed the notification, then hangs or dies)
    with world.aqd.session() as s, s.begin():
        s.execute(
            update(Notification)
            .where(Notification.id == note_id)
            .values(delivery="sending", lease_until=world.clock.now() + timedelta(minutes=5))
        )
    with pytest.raises(SideEffectError) as busy:
        deliver(worker, item)
    assert busy.value.retryable and smtp.messages == []
    # its lease expires: the message is sent by the next attempt (same Message-ID)
    world.clock.advance(minutes=6)
    assert outbox.execute(worker, item) == "done"
    assert len(smtp.messages) == 1 and note_of(world, note_id).delivery == "sent"


def test_refused_and_unreachable_smtp(world: World, smtp: SmtpSink) -> None:
    cid = world.start()
    add_user(world, "amira", "beneficiary", email_address="amira@example.tn")
    # the server is down: retried later, nothing lost
    down = engine_with(world, smtp_host="127.0.0.1", smtp_port=1, smtp_starttls=False)
    note_id = send_code(world, cid)
    run = outbox.run_once(down)
    assert (run.claimed, run.retried) == (1, 1)
    assert (note_of(world, note_id).delivery, outbox_row(world, note_id).status) == (
        "pending",
        "pending",
    )
    assert "unreachable" in (note_of(world, note_id).error or "")
    # the server refuses the recipient for good: an incident for the admins, no retry
    smtp.answer = "550 no such user"
    world.clock.advance(minutes=5)
    run = outbox.run_once(with_smtp(world, smtp))
    assert (run.claimed, run.failed) == (1, 1)
    assert (note_of(world, note_id).delivery, outbox_row(world, note_id).status) == (
        "failed",
        "failed",
    )
    with world.aqd.session() as s:
        [shown] = notifications.mailbox(s, "amira")
    assert shown["body"] == ""  # the code is not shown on the page instead
    # the admin fixes it and retries the incident: sent once
    smtp.answer = None
    with world.aqd.session() as s, s.begin():
        world.aqd.resolve_incident(s, f"notification:{note_id}", "retry", "admin", "fixed MX")
    assert outbox.run_once(with_smtp(world, smtp)).done == 1
    assert len(smtp.messages) == 1 and note_of(world, note_id).delivery == "sent"


def test_sms_through_a_local_http_gateway(world: World, sms: SmsGateway) -> None:
    cid = world.start()
    add_user(world, "amira", "beneficiary", email_address="amira@example.tn", phone="+21622123456")
    worker = engine_with(world, sms_url=sms.url, sms_token=SecretStr("s3cret"))
    note_id = send_code(world, cid)  # a one-time code prefers SMS
    assert note_of(world, note_id).channel == "sms"
    assert outbox.run_once(worker).done == 1
    [sent] = sms.received
    assert sent["to"] == "+21622123456" and CODE in sent["text"]
    assert sms.headers[0]["authorization"] == "Bearer s3cret"
    assert len(sms.headers[0]["idempotency-key"]) == 64
    note = note_of(world, note_id)
    assert (note.delivery, note.address) == ("sent", "+21622123456") and CODE not in note.body
    with world.aqd.session() as s:
        [event] = s.scalars(
            select(Event.payload).where(
                Event.contract_id == cid, Event.kind == "side_effect_recorded"
            )
        ).all()
    assert event["result"]["gateway_id"] == "sms-1" and event["result"]["to"] == "+216******56"
    # a gateway refusing the request (4xx) is final
    sms.status = 400
    second = send_code_again(world, cid)
    assert outbox.run_once(worker).failed == 1
    assert note_of(world, second).delivery == "failed"


def send_code_again(world: World, cid: int) -> int:
    with world.aqd.session() as s, s.begin():
        note = notify(
            s,
            key=f"signature:{cid}:1:beneficiary:code:2",
            recipient="amira",
            locale="fr",
            template="signature_code",
            params={"contract": "CIVP-2025-000001", "code": "111111", "minutes": 10},
            now=world.clock.now(),
            contract_id=cid,
        )
    assert note is not None
    return note


def test_mailbox_only_without_address_or_adapter(world: World) -> None:
    cid = world.start()
    add_user(world, "amira", "beneficiary")
    add_user(world, "salma", "beneficiary", email_address="salma@example.tn")
    no_address = send_code(world, cid)
    # no contact details: delivered by the commit, nothing for the worker
    assert note_of(world, no_address).delivery == "mailbox"
    assert note_of(world, no_address).channel == "mailbox"
    with world.aqd.session() as s:
        assert s.scalar(select(Outbox.id).where(Outbox.kind == "notification.send")) is None
    # an address but no SMTP server configured: the mailbox adapter delivers it, whole
    note_id = send_code(world, cid, "salma")
    with world.aqd.session() as s:
        [pending] = notifications.mailbox(s, "salma")
    assert pending["body"] == ""  # on its way by e-mail: not on the page
    assert outbox.run_once(world.aqd).done == 1
    note = note_of(world, note_id)
    assert (note.delivery, note.address) == ("mailbox", None) and CODE in note.body
    with world.aqd.session() as s:
        [shown] = notifications.mailbox(s, "salma")
    assert CODE in shown["body"]


# -- triggers ------------------------------------------------------------------------------------


def test_task_ready_in_the_employer_lane_is_told_in_the_command_transaction(
    world: World,
) -> None:
    add_user(world, "employer.acme", "employer", locale="ar", email_address="rh@acme.tn")
    add_user(world, "employer.acme2", "employer")
    # a command that fails after running writes no notification
    with world.aqd.session() as s, s.begin():
        world.aqd.start_contract(s, "civp", world.request(), "employer")
        s.rollback()
    assert notes(world, "task_ready") == []
    cid = world.start()
    with world.aqd.session() as s:
        guid = s.scalar(
            select(HumanTask.task_guid).where(
                HumanTask.contract_id == cid, HumanTask.bpmn_id == "employer_agreement"
            )
        )
    ar, fr = notes(world, "task_ready")
    assert (ar.recipient, ar.channel, ar.delivery) == ("employer.acme", "email", "pending")
    assert "اتفاقية" in ar.subject or ARABIC.search(ar.subject)
    assert f"/tasks/{guid}" in ar.body and ar.contract_id == cid
    assert (fr.recipient, fr.delivery) == ("employer.acme2", "mailbox")
    assert "attend votre action" in fr.subject
    # the counsellor's next task (office lane) tells no one: they work from the inbox
    world.complete(cid, "employer_agreement", _agreement(), "employer.acme")
    assert len(notes(world, "task_ready")) == 2


def _agreement() -> dict[str, object]:
    from tests.conftest import AGREEMENT

    return dict(AGREEMENT)


def test_reassigned_task_tells_the_new_assignee(world: World) -> None:
    add_user(world, "head.tun", "office_head")
    add_user(world, "c.tun", "counsellor", locale="ar", phone="22123456")
    cid = world.start()
    world.complete(cid, "employer_agreement", _agreement(), "employer")
    guid = world.task(cid, "counsellor_validation")
    with world.aqd.session() as s, s.begin():
        world.aqd.reassign_task(s, guid, "c.tun", "head.tun", "congé de Salah")
    with world.aqd.session() as s, s.begin():
        world.aqd.reassign_task(s, guid, "head.tun", "head.tun", "je la prends")  # oneself: no
    [note] = notes(world, "task_assigned")
    assert (note.recipient, note.channel, note.delivery) == ("c.tun", "sms", "pending")
    assert "Head.Tun" in note.body and "congé de Salah" in note.body
    assert ARABIC.search(note.subject) and f"/tasks/{guid}" in note.body


def test_payment_paid_and_rejected_tell_the_payee(world: World) -> None:
    add_user(world, "amira", "beneficiary", locale="ar")
    cid = world.start()
    world.activate(cid)
    with world.aqd.session() as s, s.begin():
        upsert_account(s, "beneficiary", 1, make_rib(8, 1, 4242), world.clock.now(), "test")
    world.month_end(cid)
    world.complete(cid, "attendance", {"days_present": 20}, "employer")
    outbox.run_once(world.aqd)
    with world.aqd.session() as s, s.begin():
        files = create_batch(
            s, "TUN", "2025-04", world.clock.now(), "test", debtor_account(world.aqd.settings)
        )
    assert files is not None
    key = "payment:CIVP-2025-000001:1:beneficiary:stipend"
    camt = devbank.answer(files.xml, world.clock.now(), {end_to_end_id(key): "AC04: closed"})
    assert reconcile(world.aqd, camt).rejected == 1
    assert reconcile(world.aqd, camt).duplicates == 1  # the same file again: no second message
    [rejected] = notes(world, "payment_rejected")
    assert rejected.recipient == "amira" and "AC04: closed" in rejected.body
    assert ARABIC.search(rejected.body) and "د.ت." in rejected.body
    # the counsellor fixes the RIB, the re-issue is paid
    world.complete(cid, "fix_payee_account", {"rib": make_rib(10, 2, 777)}, "counsellor")
    outbox.run_once(world.aqd)
    with world.aqd.session() as s, s.begin():
        assert (
            create_batch(
                s, "TUN", "2025-04", world.clock.now(), "test", debtor_account(world.aqd.settings)
            )
            is not None
        )
    csv = f"end_to_end_id,status,reason,bank_ref\n{end_to_end_id(key + ':reissue1')},paid,,R7\n"
    assert reconcile(world.aqd, csv.encode()).paid == 1
    [paid] = notes(world, "payment_paid")
    assert paid.recipient == "amira" and "R7" in paid.body and paid.contract_id == cid
