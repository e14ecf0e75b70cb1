"""Contact details (``/me/settings``, ``/api/v1/me/contact``) in French and Arabic, and the
mailbox showing a notification on its way, then delivered: an office head reassigns a task in
the browser, the counsellor (who gave an e-mail address) is told after the worker ran."""

from __future__ import annotations

import re

from engine.outbox import runner as outbox
from tests.web.conftest import Web, csrf_of


def test_contact_details_and_the_mailbox(web: Web) -> None:
    counsellor, csrf = web.login("counsellor.tun")
    page = counsellor.get("/me/settings")
    assert page.status_code == 200 and "Mes coordonnées" in page.text  # French by default
    refused = counsellor.post(
        "/me/settings", data={"email": "not-an-address", "phone": "", "csrf_token": csrf}
    )
    assert refused.status_code == 422 and "Saisissez une adresse e-mail valide" in refused.text
    no_csrf = counsellor.post("/me/settings", data={"email": "a@b.tn", "phone": ""})
    assert no_csrf.status_code == 403
    saved = counsellor.post(
        "/me/settings",
        data={"email": "salah@aneti.tn", "phone": "98 765 432", "csrf_token": csrf},
    )
    # nothing is applied before the codes sent to the new phone and address are entered
    assert saved.status_code == 303
    assert saved.headers["location"] == "/me/settings?notice=codes_sent#pending"
    waiting = counsellor.get("/me/settings?notice=codes_sent").text
    assert 'data-testid="codes-sent"' in waiting and 'value="salah@aneti.tn"' not in waiting
    assert 'data-testid="pending-email"' in waiting and 'data-testid="pending-phone"' in waiting
    # no SMTP server or SMS gateway in development mode: the codes reach the mailbox
    mailbox = counsellor.get("/me/mailbox").text
    codes = dict(re.findall(r"(adresse e-mail|numéro de téléphone) sur Aqd : (\d{6})", mailbox))
    me = web.token("counsellor.tun")
    pending = {
        p["kind"]: p["id"]
        for p in counsellor.get("/api/v1/me/contact", headers=me).json()["pending"]
    }
    wrong = counsellor.post(
        "/me/settings/confirm",
        data={"change": pending["email"], "code": "12345", "csrf_token": csrf},
    )
    assert wrong.status_code == 422 and "code erroné" in wrong.text
    for kind, word in (("email", "adresse e-mail"), ("phone", "numéro de téléphone")):
        done = counsellor.post(
            "/me/settings/confirm",
            data={"change": pending[kind], "code": codes[word], "csrf_token": csrf},
        )
        assert done.status_code == 303 and done.headers["location"] == (
            "/me/settings?notice=verified"
        )
    shown = counsellor.get("/me/settings?notice=verified").text
    assert 'value="salah@aneti.tn"' in shown and 'value="+21698765432"' in shown
    assert 'data-testid="email-verified"' in shown and 'data-testid="phone-verified"' in shown
    # the API, in Arabic for an Arabic-speaking account
    assert counsellor.get("/api/v1/me/contact", headers=me).json() == {
        "email": "salah@aneti.tn",
        "phone": "+21698765432",
        "email_verified": True,
        "phone_verified": True,
        "registry_email": "",
        "registry_phone": "",
        "pending": [],
    }
    bad = counsellor.put("/api/v1/me/contact", headers=me, json={"email": "", "phone": "12"})
    assert bad.status_code == 422 and "phone" in bad.json()["fields"]
    # removing a verified phone waits for the code sent to it
    ok = counsellor.put(
        "/api/v1/me/contact", headers=me, json={"email": "salah@aneti.tn", "phone": ""}
    )
    assert ok.status_code == 200 and ok.json()["phone"] == "+21698765432"
    [removal] = ok.json()["pending"]
    assert removal["kind"] == "phone" and removal["value"] == ""
    assert removal["needs_current_code"] and not removal["needs_new_code"]
    assert removal["current_to"] == "+216******32"
    counsellor.post("/language", data={"lang": "ar", "csrf_token": csrf, "next": "/me/settings"})
    arabic = counsellor.get("/me/settings").text
    assert 'dir="rtl"' in arabic and "بيانات الاتصال بي" in arabic

    # the office head gives the counsellor a task: the message is on its way, then delivered
    head, head_csrf = web.login("head.tun")
    guid = web.ready_task("TUN", "counsellor_validation")
    task_page = head.get(f"/tasks/{guid}")
    reassigned = head.post(
        f"/tasks/{guid}/reassign",
        data={
            "assignee": "counsellor.tun",
            "reason": "dossier urgent",
            "csrf_token": csrf_of(task_page.text),
        },
    )
    assert reassigned.status_code == 303, reassigned.text
    waiting = counsellor.get("/me/mailbox").text
    assert 'data-testid="on-its-way"' in waiting and "dossier urgent" not in waiting
    assert outbox.run_once(web.aqd).done >= 1  # no SMTP server set: the mailbox delivers it
    delivered = counsellor.get("/me/mailbox").text
    assert "dossier urgent" in delivered and f"/tasks/{guid}" in delivered
    assert "أُسندت إليكم مهمة" in delivered  # the counsellor reads Arabic now
    assert head_csrf
