"""Contact details (``/me/settings``, ``/api/v1/me/contact``) in French and Arabic, and the
mailbox showing a notification on its way, then delivered: an office head reassigns a task in
the browser, the counsellor (who gave an e-mail address) is told after the worker ran."""

from __future__ import annotations

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
    assert saved.status_code == 303 and saved.headers["location"] == "/me/settings?saved=1"
    shown = counsellor.get("/me/settings?saved=1").text
    assert 'value="salah@aneti.tn"' in shown and 'value="+21698765432"' in shown
    # the API, in Arabic for an Arabic-speaking account
    me = web.token("counsellor.tun")
    assert counsellor.get("/api/v1/me/contact", headers=me).json() == {
        "email": "salah@aneti.tn",
        "phone": "+21698765432",
    }
    bad = counsellor.put("/api/v1/me/contact", headers=me, json={"email": "", "phone": "12"})
    assert bad.status_code == 422 and "phone" in bad.json()["fields"]
    ok = counsellor.put(
        "/api/v1/me/contact", headers=me, json={"email": "salah@aneti.tn", "phone": ""}
    )
    assert ok.json() == {"email": "salah@aneti.tn", "phone": ""}
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
