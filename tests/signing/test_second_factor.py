"""Signing with a second factor (issue 18, item 4): the one-time code leaves Aqd by SMS or
e-mail (the outbox and the delivery adapters, against a real local SMS gateway and SMTP
server); a code that could only reach the Aqd mailbox is refused outside development mode, and a
signature made with one says so in its evidence (events, the PDF's signature); the signer's
certificate names the verified identity (registry name and CIN, company name and tax number),
never an account's display name. PostgreSQL and SQLite."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from sqlalchemy import select, update

from api import bootstrap
from engine import InvalidInput
from engine.access import accounts
from engine.access.accounts import Principal, create_user, principal_of
from engine.models import Beneficiary, Contract, Event, Notification, Office, SignatureRequest, User
from engine.notifications import contacts
from engine.outbox import runner as outbox
from signing import requests, service
from tests.conftest import AGREEMENT, World
from tests.helpers.delivery import SmsGateway, SmtpSink

USERS = {
    "amira": ("beneficiary", "Amira la star"),
    "acme.hr": ("employer", "ACME, la meilleure société de Tunisie"),
    "head.tun": ("office_head", "Chef de bureau Tunis"),
}
PHONE = "+21620123456"


@pytest.fixture
def signing_world(world: World, tmp_path: Path) -> World:
    world.aqd.settings.var_dir = tmp_path  # the dev CA is created here on first use
    world.aqd.plugins = bootstrap.plugins()  # the application's: signing's plug-ins too
    return world


def setup_contract(world: World) -> int:
    cid = world.start()
    with world.aqd.session() as s, s.begin():
        contract = s.get(Contract, cid)
        assert contract is not None
        for username, (role, name) in USERS.items():
            create_user(
                s,
                username,
                None,
                [role],
                world.clock.now(),
                display_name=name,
                office_id=contract.office_id if role == "office_head" else None,
                employer_id=contract.employer_id if role == "employer" else None,
                beneficiary_id=contract.beneficiary_id if role == "beneficiary" else None,
            )
    world.complete(cid, "employer_agreement", AGREEMENT)
    world.complete(cid, "counsellor_validation", {"validation_decision": "validate"})
    drain(world)
    return cid


def drain(world: World) -> None:
    for _ in range(20):
        if outbox.run_once(world.aqd).claimed == 0:
            return
    raise AssertionError("the outbox does not settle")


def who(world: World, username: str) -> Principal:
    with world.aqd.session() as s:
        user = s.scalar(select(User).where(User.username == username))
        assert user is not None
        return principal_of(s, user)


def link_of(world: World, username: str) -> str:
    with world.aqd.session() as s:
        body = s.scalar(
            select(Notification.body)
            .where(
                Notification.recipient == username,
                Notification.template == "signature_requested",
            )
            .order_by(Notification.id.desc())
        )
    found = re.search(r"/sign/([A-Za-z0-9_-]+)", body or "")
    assert found is not None, f"no signing link for {username}"
    return found.group(1)


def sign(world: World, username: str, token: str, code: str, sha: str) -> None:
    with requests.ceremony(world.aqd) as s:
        requests.consent(
            world.aqd,
            s,
            token,
            who(world, username),
            code=code,
            accepted=True,
            consent_version=requests.CONSENT_VERSION,
            document_sha256=sha,
            client_ip="198.51.100.7",
            user_agent="test",
        )
    drain(world)


def ask_code(world: World, token: str, username: str) -> tuple[str, str]:
    with requests.ceremony(world.aqd) as s:
        request, code = requests.send_code(world.aqd, s, token, who(world, username))
        return code, request.document_sha256


def set_contact(
    world: World, username: str, email: str | None, phone: str | None, verified: bool = True
) -> None:
    """Give the account these contacts, verified by codes (or not) at the world's time."""
    at = world.clock.now() if verified else None
    via = "code" if verified else None
    with world.aqd.session() as s, s.begin():
        s.execute(
            update(User)
            .where(User.username == username)
            .values(
                email=email,
                phone=phone,
                email_verified_at=at if email else None,
                email_verified_via=via if email else None,
                phone_verified_at=at if phone else None,
                phone_verified_via=via if phone else None,
            )
        )


def payloads(world: World, cid: int, kind: str) -> list[dict[str, object]]:
    with world.aqd.session() as s:
        return [
            dict(p)
            for p in s.scalars(
                select(Event.payload)
                .where(Event.contract_id == cid, Event.kind == kind)
                .order_by(Event.seq)
            )
        ]


def signatures(pdf: bytes) -> list[tuple[str, str, str]]:
    """(field, certificate subject, reason) of each signature, read from the PDF's bytes."""
    reader = PdfFileReader(io.BytesIO(pdf))
    out = []
    for sig in reader.embedded_regular_signatures:
        cert = sig.signer_cert
        out.append((sig.field_name, cert.subject.human_friendly, str(sig.sig_object["/Reason"])))
    return out


def signed_pdf(world: World, cid: int) -> bytes:
    with world.aqd.session() as s:
        doc = requests.latest_signed(s, cid)
        assert doc is not None
        return doc.content


def test_a_mailbox_only_signature_is_refused_outside_development_mode(
    signing_world: World,
) -> None:
    world = signing_world
    cid = setup_contract(world)
    world.aqd.settings.mode = "production"
    token = link_of(world, "amira")
    # verified contacts, but no adapter configured to reach them
    set_contact(world, "amira", "amira@example.tn", PHONE)  # no SMTP server, no SMS gateway
    for _ in range(2):
        with pytest.raises(requests.SecondFactorUnavailable) as refused:
            ask_code(world, token, "amira")
        assert refused.value.status_code == 409
        assert refused.value.code == "second_factor_unavailable"
        assert refused.value.fields == {"channel": requests.NO_SECOND_FACTOR_FIELD}
        set_contact(world, "amira", None, None)
    with world.aqd.session() as s:
        request = s.scalar(select(SignatureRequest).where(SignatureRequest.party == "beneficiary"))
        assert request is not None and request.status == "open" and request.codes_sent == 0
        codes = s.scalars(
            select(Notification.id).where(Notification.template == "signature_code")
        ).all()
    assert codes == []  # no code exists anywhere, mailbox included
    refusals = payloads(world, cid, "signature_refused")
    assert [r["reason"] for r in refusals] == [
        "no second factor: the code could only reach the mailbox"
    ] * 2


def test_the_code_goes_by_sms_in_production_and_the_signature_says_so(
    signing_world: World, sms: SmsGateway
) -> None:
    world = signing_world
    cid = setup_contract(world)
    world.aqd.settings.mode = "production"
    world.aqd.settings.sms_url = sms.url
    set_contact(world, "amira", None, PHONE)
    token = link_of(world, "amira")
    code, sha = ask_code(world, token, "amira")
    with world.aqd.session() as s:
        note = s.scalar(select(Notification).where(Notification.template == "signature_code"))
        assert note is not None and note.channel == "sms" and note.delivery == "pending"
    drain(world)  # the worker sends it after the commit
    assert [m["to"] for m in sms.received] == [PHONE]
    assert code in sms.received[0]["text"]
    with world.aqd.session() as s:
        note = s.scalar(select(Notification).where(Notification.template == "signature_code"))
        assert note is not None and note.delivery == "sent" and code not in note.body
    sign(world, "amira", token, code, sha)
    [consented] = payloads(world, cid, "signature_consented")
    assert consented["method"] == "otp:sms" and consented["second_factor"] is True
    assert consented["mode"] == "production"
    [applied] = payloads(world, cid, "signature_applied")
    assert applied["method"] == "otp:sms" and applied["second_factor"] is True
    [(field, _subject, reason)] = signatures(signed_pdf(world, cid))
    assert field == "beneficiary" and service.MAILBOX_NOTE not in reason


def test_the_code_goes_by_email_when_there_is_no_sms_gateway(
    signing_world: World, smtp: SmtpSink
) -> None:
    world = signing_world
    setup_contract(world)
    world.aqd.settings.mode = "production"
    world.aqd.settings.smtp_host = smtp.host
    world.aqd.settings.smtp_port = smtp.port
    world.aqd.settings.smtp_starttls = False
    set_contact(world, "amira", "amira@example.tn", PHONE)  # a phone, but no SMS gateway
    token = link_of(world, "amira")
    code, _sha = ask_code(world, token, "amira")
    drain(world)
    codes = [
        (to, body)
        for (_, to, _m), body in zip(smtp.messages, smtp.bodies(), strict=True)
        if code in body
    ]
    assert codes == [(["amira@example.tn"], codes[0][1])]


def test_a_mailbox_signature_in_development_mode_says_so_in_its_evidence(
    signing_world: World,
) -> None:
    world = signing_world
    cid = setup_contract(world)
    assert world.aqd.settings.mode == "development"
    token = link_of(world, "amira")
    code, sha = ask_code(world, token, "amira")
    sign(world, "amira", token, code, sha)
    [sent] = payloads(world, cid, "signature_code_sent")
    assert sent["method"] == "otp:mailbox" and sent["mode"] == "development"
    [consented] = payloads(world, cid, "signature_consented")
    assert consented["method"] == "otp:mailbox" and consented["second_factor"] is False
    [applied] = payloads(world, cid, "signature_applied")
    assert applied["second_factor"] is False
    [(_field, _subject, reason)] = signatures(signed_pdf(world, cid))
    assert reason.endswith(service.MAILBOX_NOTE)


def test_the_certificate_names_the_verified_identity_not_the_display_name(
    signing_world: World,
) -> None:
    world = signing_world
    cid = setup_contract(world)
    for username in ("amira", "acme.hr"):
        token = link_of(world, username)
        code, sha = ask_code(world, token, username)
        sign(world, username, token, code, sha)
    found = {field: subject for field, subject, _reason in signatures(signed_pdf(world, cid))}
    # the job-seeker registry: Amira B, CIN 12345678 (tests/conftest.py)
    assert found["beneficiary"].startswith("Common Name: Amira B, Serial Number: IDCTN-12345678")
    # the employer record: ACME, matricule fiscal 1234567A
    assert "Organization: ACME," in found["employer"]
    assert "Organization Identifier: VATTN-1234567A" in found["employer"]
    assert "Common Name: ACME," in found["employer"]
    for _role, display_name in USERS.values():
        assert display_name not in found["beneficiary"] + found["employer"]


# -- verified contacts (a contact must be verified before a signing code goes to it) ----------

OLD_PHONE = "+21620111111"
NEW_PHONE = "+21698222222"


def code_in(text: str) -> str:
    found = re.search(r":\s*(\d{6})\b", text)
    assert found is not None, text
    return found.group(1)


def sms_to(gateway: SmsGateway, phone: str) -> list[str]:
    return [m["text"] for m in gateway.received if m["to"] == phone]


def user_id(world: World, username: str) -> int:
    with world.aqd.session() as s:
        found = s.scalar(select(User.id).where(User.username == username))
        assert found is not None
        return found


def ask_change(world: World, username: str, phone: str) -> int:
    """The account's holder (password or token alone) asks for a new phone."""
    with world.aqd.session() as s, s.begin():
        change = contacts.request_change(
            world.aqd, s, user_id(world, username), "phone", phone, actor=username
        )
        assert change is not None
        return change.id


def office_records(world: World, **given: str) -> list[str]:
    with world.aqd.session() as s, s.begin():
        return contacts.record_by_office(world.aqd, s, actor="counsellor.tun", **given)


def contact_actions(world: World, username: str) -> list[str]:
    with world.aqd.session() as s:
        return [e["action"] for e in reversed(contacts.history(s, user_id(world, username)))]


def test_a_new_phone_gets_no_code_until_the_verified_one_confirms_it(
    signing_world: World, sms: SmsGateway
) -> None:
    world = signing_world
    cid = setup_contract(world)
    world.aqd.settings.mode = "production"
    world.aqd.settings.sms_url = sms.url
    office_records(world, username="amira", phone=OLD_PHONE)
    token = link_of(world, "amira")
    # someone holding only amira's password or token sets their own phone
    change = ask_change(world, "amira", NEW_PHONE)
    drain(world)
    [to_new] = sms_to(sms, NEW_PHONE)
    [to_old] = sms_to(sms, OLD_PHONE)  # the verified phone is told, with its own code
    assert "+216******22" in to_old and code_in(to_old) != code_in(to_new)
    # the code sent to the new phone alone does not make it usable
    assert contacts.confirm(world.aqd, user_id(world, "amira"), change, code=code_in(to_new),
                            actor="amira") is False  # fmt: skip
    code, _sha = ask_code(world, token, "amira")
    drain(world)
    assert [code_in(t) for t in sms_to(sms, NEW_PHONE)] == [code_in(to_new)]  # nothing more
    assert code_in(sms_to(sms, OLD_PHONE)[-1]) == code
    # guessing the old phone's code is refused, and counted
    with pytest.raises(InvalidInput) as wrong:
        contacts.confirm(world.aqd, user_id(world, "amira"), change,
                         current_code="000000" if code_in(to_old) != "000000" else "111111",
                         actor="amira")  # fmt: skip
    assert wrong.value.status_code == 422 and wrong.value.fields == {"current_code": "wrong code"}
    # the owner of the verified phone confirms: now the new phone receives the codes
    assert contacts.confirm(world.aqd, user_id(world, "amira"), change,
                            current_code=code_in(to_old), actor="amira") is True  # fmt: skip
    drain(world)
    assert "+216******22" in sms_to(sms, OLD_PHONE)[-1]  # the notice of the change
    code, sha = ask_code(world, token, "amira")
    drain(world)
    assert code_in(sms_to(sms, NEW_PHONE)[-1]) == code
    sign(world, "amira", token, code, sha)
    sent = payloads(world, cid, "signature_code_sent")
    assert [p["contact"]["to"] for p in sent] == ["+216******11", "+216******22"]  # type: ignore[index]
    assert sent[1]["contact"] == {
        "to": "+216******22",
        "address_sha256": contacts.address_hash(NEW_PHONE),
        "source": "account",
        "verified_via": "code",
        "verified_at": world.clock.now().isoformat(),
    }
    assert contact_actions(world, "amira") == [
        "recorded_by_office", "verified",
        "change_requested", "code_sent", "code_sent",
        "confirmed", "code_refused", "confirmed", "verified",
    ]  # fmt: skip


def test_an_office_recorded_contact_works_at_once(signing_world: World, sms: SmsGateway) -> None:
    world = signing_world
    cid = setup_contract(world)
    world.aqd.settings.mode = "production"
    world.aqd.settings.sms_url = sms.url
    # the job-seeker registry's phone, recorded by the office: no code to enter
    with world.aqd.session() as s, s.begin():
        s.execute(update(Beneficiary).where(Beneficiary.cin == "12345678").values(phone=OLD_PHONE))
    token = link_of(world, "amira")
    code, _sha = ask_code(world, token, "amira")
    drain(world)
    assert code_in(sms_to(sms, OLD_PHONE)[-1]) == code
    # the office records a new one (the old phone was lost): it is used at once
    assert office_records(world, beneficiary_cin="12345678", phone=NEW_PHONE) == ["amira"]
    code, _sha = ask_code(world, token, "amira")
    drain(world)
    assert code_in(sms_to(sms, NEW_PHONE)[-1]) == code
    assert "+216******22" in sms_to(sms, OLD_PHONE)[-1]  # the old phone is told
    sources = [(p["contact"]["source"], p["contact"]["verified_via"])  # type: ignore[index]
               for p in payloads(world, cid, "signature_code_sent")]  # fmt: skip
    assert sources == [("registry", "office"), ("account", "office")]


def test_production_refuses_a_signer_whose_contacts_are_not_verified(
    signing_world: World, sms: SmsGateway
) -> None:
    world = signing_world
    cid = setup_contract(world)
    world.aqd.settings.mode = "production"
    world.aqd.settings.sms_url = sms.url
    token = link_of(world, "amira")
    set_contact(world, "amira", None, OLD_PHONE, verified=False)  # typed before verification
    ask_change(world, "amira", NEW_PHONE)  # and a change still waiting for its code
    drain(world)
    for _ in range(2):
        with pytest.raises(requests.SecondFactorUnavailable) as refused:
            ask_code(world, token, "amira")
        assert refused.value.status_code == 409
        assert refused.value.code == "second_factor_unavailable"
        assert refused.value.fields == {"channel": requests.NOT_VERIFIED_FIELD}
    assert sms_to(sms, OLD_PHONE) == [] and len(sms_to(sms, NEW_PHONE)) == 1  # its code only
    assert [r["reason"] for r in payloads(world, cid, "signature_refused")] == [
        "no second factor: the signer's phone or e-mail address is not verified"
    ] * 2
    # in production no code can go to a channel without an adapter: the change is refused
    world.aqd.settings.sms_url = ""
    with pytest.raises(contacts.ContactUnreachable) as unreachable:
        ask_change(world, "amira", "+21655333333")
    assert unreachable.value.status_code == 409 and unreachable.value.code == "contact_unreachable"


def test_a_company_verifies_the_contact_given_at_registration(
    signing_world: World, sms: SmsGateway
) -> None:
    world = signing_world
    world.aqd.settings.mode = "production"
    world.aqd.settings.sms_url = sms.url
    with world.aqd.session() as s:
        office = s.scalar(select(Office.code))
    principal = accounts.register_employer(
        world.aqd,
        {"name": "Société Nouvelle", "matricule_fiscal": "7654321B", "cnss_number": "1234567",
         "sector": "services", "governorate": "Tunis", "office": office, "username": "sami",
         "password": "a long enough password", "phone": "98 222 222"},
    )  # fmt: skip
    drain(world)
    [sent] = sms_to(sms, NEW_PHONE)
    with world.aqd.session() as s:
        before = contacts.details(s, principal.user_id)
    assert before["phone"] == "" and before["phone_verified"] is False  # not applied yet
    [pending] = before["pending"]
    assert pending["needs_new_code"] and not pending["needs_current_code"]  # no contact before
    assert contacts.confirm(world.aqd, principal.user_id, pending["id"], code=code_in(sent),
                            actor=principal.username) is True  # fmt: skip
    with world.aqd.session() as s:
        after = contacts.details(s, principal.user_id)
    assert after["phone"] == NEW_PHONE and after["phone_verified"] is True
    assert after["pending"] == []
