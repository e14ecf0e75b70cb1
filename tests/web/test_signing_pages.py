"""The signing ceremony in the web app and the API: the signer's list, the ceremony page with
the PDF and its hash, the one-time code in the mailbox, consent, the worker's signature, the
public verification page; and the refusals as HTTP errors (never 500)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.access.accounts import create_user
from engine.models import Contract, HumanTask, User
from engine.notifications import contacts
from engine.outbox import runner as outbox
from signing.requests import CONSENT_VERSION
from tests.helpers.delivery import SmsGateway
from tests.web.conftest import PASSWORD, Web


def drain(web: Web) -> None:
    for _ in range(20):
        if outbox.run_once(web.aqd).claimed == 0:
            return


@pytest.fixture
def awaiting(web: Web, tmp_path: Path) -> int:
    """The Tunis demo contract waiting for the counsellor, validated: now awaiting the
    beneficiary's signature. Its job seeker gets an account ``amira.sign``."""
    web.aqd.settings.var_dir = tmp_path
    guid = web.ready_task("TUN", "counsellor_validation")
    with web.aqd.session() as s, s.begin():
        web.aqd.complete_task(s, guid, {"validation_decision": "validate"}, "counsellor.tun")
        cid = s.scalar(select(HumanTask.contract_id).where(HumanTask.task_guid == guid))
        contract = s.get(Contract, cid)
        assert contract is not None
        create_user(
            s,
            "amira.sign",
            PASSWORD,
            ["beneficiary"],
            web.clock.now(),
            display_name="أميرة بن صالح",
            locale="ar",
            beneficiary_id=contract.beneficiary_id,
        )
    drain(web)
    assert cid is not None
    return int(cid)


def test_the_beneficiary_signs_in_the_browser_flow(web: Web, awaiting: int) -> None:
    browser, csrf = web.login("amira.sign")
    listing = browser.get("/me/signatures")
    assert listing.status_code == 200 and 'dir="rtl"' in listing.text
    [request_id] = re.findall(r'action="/me/signatures/(\d+)/open"', listing.text)
    opened = browser.post(f"/me/signatures/{request_id}/open", data={"csrf_token": csrf})
    assert opened.status_code == 303
    page_url = opened.headers["location"]
    token = page_url.rsplit("/", 1)[-1]
    page = browser.get(page_url)
    assert page.status_code == 200
    sha = re.search(r'id="document-sha256">([0-9a-f]{64})<', page.text)
    assert sha is not None
    pdf = browser.get(f"{page_url}/document.pdf")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")

    # Somebody else signed in cannot use the link.
    stranger, _ = web.login("employer.tun")
    assert stranger.get(page_url).status_code == 403

    assert browser.post(f"{page_url}/code", data={"csrf_token": csrf}).status_code == 303
    mailbox = browser.get("/me/mailbox").text
    code = re.search(r": (\d{6})$", mailbox, re.M)  # "…the contract CIVP-…: 123456"
    assert code is not None
    form = {
        "csrf_token": csrf,
        "consent_version": CONSENT_VERSION,
        "document_sha256": sha.group(1),
        "code": code.group(1),
    }
    refused = browser.post(f"{page_url}/consent", data=form)  # the consent box unticked
    assert refused.status_code == 422 and 'role="alert"' in refused.text
    done = browser.post(f"{page_url}/consent", data={**form, "consent": "yes"})
    assert done.status_code == 303 and done.headers["location"].endswith("notice=signed")
    assert browser.get(page_url).status_code == 409  # the link is used up
    drain(web)
    with web.aqd.session() as s:
        contract = s.get(Contract, awaiting)
        assert contract is not None
        number = contract.number
    # The employer's turn has come; the beneficiary's list is empty again.
    assert "/open" not in browser.get("/me/signatures").text
    employer, _ = web.login("employer2.tun")
    assert number in employer.get("/me/signatures").text
    assert token not in employer.get("/me/mailbox").text

    # Anyone (no login) verifies the half-signed PDF on the public page.
    anonymous = web.client()
    form_page = anonymous.get("/verify")
    anon_csrf = re.search(r'name="csrf_token" value="([^"]+)"', form_page.text)
    assert anon_csrf is not None
    with web.aqd.session() as s:
        from signing.requests import latest_signed

        signed = latest_signed(s, awaiting)
        assert signed is not None
        content = signed.content
    report = anonymous.post(
        "/verify",
        data={"csrf_token": anon_csrf.group(1)},
        files={"file": ("contract.pdf", content, "application/pdf")},
    )
    assert report.status_code == 200
    assert "✔" in report.text and number in report.text

    # The auditor sees the signatures on the contract page and verifies the stored version.
    auditor, _ = web.login("auditor")
    contract_page = auditor.get(f"/contracts/{number}").text
    assert 'data-testid="signatures"' in contract_page
    [link] = re.findall(r'href="(/contracts/\d+/documents/\d+/verify)"', contract_page)
    checked = auditor.get(link)
    assert checked.status_code == 200 and "✔" in checked.text
    assert stranger.get(link).status_code == 404  # another company's contract


def test_the_api_ceremony_and_its_errors(web: Web, awaiting: int) -> None:
    me = web.token("amira.sign")
    c = web.client()
    [pending] = c.get("/api/v1/signatures", headers=me).json()
    assert pending["party"] == "beneficiary" and pending["status"] == "open"
    link = c.post(f"/api/v1/signatures/{pending['id']}/link", headers=me).json()
    token = link["token"]
    view = c.get(f"/api/v1/sign/{token}", headers=me).json()
    assert view["document_sha256"] == pending["document_sha256"]
    assert "2000-83" in view["consent_text"]["fr"]

    other = web.token("employer.tun")
    wrong = c.get(f"/api/v1/sign/{token}", headers=other)
    assert wrong.status_code == 403 and wrong.json()["error"]
    assert c.post(f"/api/v1/signatures/{pending['id']}/link", headers=other).status_code == 404
    assert c.get("/api/v1/sign/nope", headers=me).status_code == 404

    sent = c.post(f"/api/v1/sign/{token}/code", headers=me).json()
    assert sent == {"sent": True, "channel": "mailbox"}
    body = c.get("/api/v1/me/mailbox", headers=me).json()[0]["body"]
    code = re.search(r": (\d{6})$", body, re.M)
    assert code is not None
    consent = {
        "code": code.group(1),
        "accepted": True,
        "consent_version": CONSENT_VERSION,
        "document_sha256": view["document_sha256"],
    }
    bad = c.post(f"/api/v1/sign/{token}/consent", headers=me, json={**consent, "code": "000000"})
    if code.group(1) != "000000":
        assert bad.status_code == 422 and bad.json()["fields"] == {"code": "wrong code"}
    swapped = c.post(
        f"/api/v1/sign/{token}/consent", headers=me, json={**consent, "document_sha256": "a" * 64}
    )
    assert swapped.status_code == 409
    ok = c.post(f"/api/v1/sign/{token}/consent", headers=me, json=consent)
    assert ok.status_code == 202, ok.text
    again = c.post(f"/api/v1/sign/{token}/consent", headers=me, json=consent)
    assert again.status_code == 409
    drain(web)
    with web.aqd.session() as s:
        number = s.scalar(select(Contract.number).where(Contract.id == awaiting))
    sigs = c.get(f"/api/v1/contracts/{number}/signatures", headers=me).json()
    assert [(r["party"], r["status"]) for r in sigs] == [
        ("beneficiary", "signed"),
        ("employer", "open"),
    ]
    # The employer declines with a reason over the API; the counsellor gets the review task.
    employer = web.token("employer2.tun")
    [mine] = c.get("/api/v1/signatures", headers=employer).json()
    etoken = c.post(f"/api/v1/signatures/{mine['id']}/link", headers=employer).json()["token"]
    assert c.post(f"/api/v1/sign/{etoken}/decline", headers=employer, json={}).status_code == 422
    declined = c.post(
        f"/api/v1/sign/{etoken}/decline", headers=employer, json={"reason": "wrong salary"}
    )
    assert declined.status_code == 200
    with web.aqd.session() as s:
        review = s.scalar(
            select(HumanTask.id).where(
                HumanTask.contract_id == awaiting,
                HumanTask.bpmn_id == "review_decline",
                HumanTask.status == "ready",
            )
        )
        assert review is not None
        assert s.scalar(select(User.id).where(User.username == "amira.sign")) is not None

    verified = c.post("/api/v1/verify", files={"file": ("x.pdf", b"%PDF-1.7 nothing", "x")})
    assert verified.status_code == 200 and verified.json()["valid"] is False
    empty = c.post("/api/v1/verify", files={"file": ("x.pdf", b"", "application/pdf")})
    assert empty.status_code == 422


def test_the_page_says_where_the_code_went(web: Web, awaiting: int, sms: SmsGateway) -> None:
    """A signer with a phone number gets the code by SMS (a gateway is configured) and the page
    says so (not "mailbox")."""
    web.aqd.settings.sms_url = sms.url
    with web.aqd.session() as s, s.begin():
        user = s.scalar(select(User).where(User.username == "amira.sign"))
        assert user is not None
        user.phone = "+21698123456"
        user.phone_verified_at, user.phone_verified_via = web.clock.now(), "code"
    me = web.token("amira.sign")
    c = web.client()
    [pending] = c.get("/api/v1/signatures", headers=me).json()
    token = c.post(f"/api/v1/signatures/{pending['id']}/link", headers=me).json()["token"]
    browser, csrf = web.login("amira.sign")
    r = browser.post(f"/sign/{token}/code", data={"csrf_token": csrf})
    assert r.status_code == 303 and r.headers["location"].endswith("notice=code_sent_sms")
    page = browser.get(r.headers["location"]).text
    assert "إرسالية قصيرة" in page and "/me/mailbox" not in page.split("<main", 1)[1]
    again = c.post(f"/api/v1/sign/{token}/code", headers=me).json()
    assert again == {"sent": True, "channel": "sms"}


def sms_code(gateway: SmsGateway, phone: str) -> str:
    """The last code sent to ``phone`` through the local SMS gateway."""
    texts = [m["text"] for m in gateway.received if m["to"] == phone]
    assert texts, f"no SMS to {phone}"
    found = re.search(r":\s*(\d{6})\b", texts[-1])
    assert found is not None, texts[-1]
    return found.group(1)


def test_a_bearer_token_alone_cannot_point_signing_codes_at_a_new_phone(
    web: Web, awaiting: int, sms: SmsGateway
) -> None:
    """Issue 18: a contract was signed end to end with a bearer token alone. The holder of the
    token sets their own phone: the codes keep going to the verified phone until its owner
    confirms the change with the code sent there; in production a signer with no verified
    contact gets no code at all."""
    old_phone, new_phone = "+21620111111", "+21698222222"
    web.aqd.settings.sms_url = sms.url
    me = web.token("amira.sign")  # all the attacker has
    c = web.client()
    [pending] = c.get("/api/v1/signatures", headers=me).json()
    token = c.post(f"/api/v1/signatures/{pending['id']}/link", headers=me).json()["token"]
    # production mode, no verified contact: no code anywhere, mailbox included
    web.aqd.settings.mode = "production"
    refused = c.post(f"/api/v1/sign/{token}/code", headers=me)
    assert refused.status_code == 409 and refused.json()["error"] == "second_factor_unavailable"
    assert refused.json()["fields"] == {
        "channel": "no phone or e-mail address the code can be sent to"
    }
    # the token's holder sets a phone: it waits for its code, and even confirmed with it
    # (the account had no verified contact before) only that step is trust on first use
    asked = c.put("/api/v1/me/contact", headers=me, json={"email": "", "phone": new_phone})
    assert asked.status_code == 200 and asked.json()["phone"] == ""
    [change] = asked.json()["pending"]
    assert change["needs_new_code"] and not change["needs_current_code"]
    unverified = c.post(f"/api/v1/sign/{token}/code", headers=me)
    assert unverified.status_code == 409
    assert unverified.json()["error"] == "second_factor_unavailable"
    assert unverified.json()["fields"] == {
        "channel": "your phone or e-mail address is not verified yet"
    }
    # the office records the job seeker's phone: a verified contact at once
    with web.aqd.session() as s, s.begin():
        contacts.record_by_office(web.aqd, s, actor="counsellor.tun", username="amira.sign",
                                  phone=old_phone)  # fmt: skip
    sent = c.post(f"/api/v1/sign/{token}/code", headers=me)
    assert sent.status_code == 200 and sent.json() == {"sent": True, "channel": "sms"}
    drain(web)
    first = sms_code(sms, old_phone)
    # the token's holder asks again for their phone: a code to it, and one to the verified one
    asked = c.put("/api/v1/me/contact", headers=me, json={"email": "", "phone": new_phone})
    [change] = asked.json()["pending"]
    assert change["needs_new_code"] and change["needs_current_code"]
    assert change["current_to"] == "+216******11"
    drain(web)
    approval = sms_code(sms, old_phone)  # what the verified phone received: its own code
    confirm = {"change": change["id"], "code": sms_code(sms, new_phone)}
    half = c.post("/api/v1/me/contact/confirm", headers=me, json=confirm)
    assert half.status_code == 200 and half.json()["phone"] == old_phone
    assert half.json()["pending"][0]["needs_current_code"] is True
    guess = c.post("/api/v1/me/contact/confirm", headers=me,
                   json={"change": change["id"], "current_code": "99999"})  # fmt: skip
    assert guess.status_code == 422 and guess.json()["error"] == "invalid_input"
    assert guess.json()["fields"] == {"current_code": "wrong code"}
    again = c.post(f"/api/v1/sign/{token}/code", headers=me)
    assert again.status_code == 200 and again.json()["channel"] == "sms"
    drain(web)
    assert sms_code(sms, old_phone) != first  # the new code went to the verified phone
    assert [m["to"] for m in sms.received].count(new_phone) == 2  # its two change codes only
    # the owner of the verified phone confirms the change: now the codes go to the new one
    approved = {"change": change["id"], "current_code": approval}
    done = c.post("/api/v1/me/contact/confirm", headers=me, json=approved)
    assert done.status_code == 200 and done.json()["phone"] == new_phone
    assert done.json()["phone_verified"] is True and done.json()["pending"] == []
    drain(web)
    assert "+216******22" in [m for m in sms.received if m["to"] == old_phone][-1]["text"]
    last = c.post(f"/api/v1/sign/{token}/code", headers=me)
    assert last.status_code == 200
    drain(web)
    assert sms.received[-1]["to"] == new_phone


def test_the_contract_reads_as_page_images_within_its_scope(web: Web) -> None:
    """Phones have no PDF plug-in: the contract's pages are images, each checked against the
    caller's scope and the document's current hash (docs/web.md, "Mobile layout")."""
    with web.aqd.session() as s:
        contract_id = s.scalar(
            select(Contract.id)
            .join(User, User.beneficiary_id == Contract.beneficiary_id)
            .where(User.username == "beneficiary.tun")
        )
    employer, _ = web.login("employer.tun")
    page = employer.get(f"/contracts/{contract_id}/document")
    assert page.status_code == 200 and "<iframe" not in page.text
    [src] = re.findall(r'<img src="([^"]+\.png)"', page.text)
    image = employer.get(src)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")
    assert employer.get(src.replace("/1.png", "/2.png")).status_code == 404
    sha = src.split("/")[-2]
    assert employer.get(src.replace(sha, "0" * 64)).status_code == 404
    stranger, _ = web.login("employer.bar")  # another office's company
    assert stranger.get(src).status_code == 404
