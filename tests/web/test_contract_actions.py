"""Contract actions from the pages and the API: a counsellor suspends and resumes the active
demo contract, the employer ends it early, the beneficiary sees only their own action; forms
are validated on the field, other offices and parties are kept out, and a contract that does
not accept an action is a 409 — never a 500."""

from __future__ import annotations

import re

from sqlalchemy import select

from engine.models import Contract, Event, User
from tests.web.conftest import Web


def active_contract(web: Web, beneficiary_user: str = "beneficiary.tun") -> Contract:
    with web.aqd.session() as s:
        contract = s.scalar(
            select(Contract)
            .join(User, User.beneficiary_id == Contract.beneficiary_id)
            .where(User.username == beneficiary_user, Contract.status == "active")
        )
    assert contract is not None
    return contract


def status(web: Web, cid: int) -> str:
    with web.aqd.session() as s:
        c = s.get(Contract, cid)
        assert c is not None
        return c.status


def test_counsellor_suspends_and_resumes_from_the_contract_page(web: Web) -> None:
    cid = active_contract(web).id
    staff, csrf = web.login("counsellor.tun")
    page = staff.get(f"/contracts/{cid}")
    assert 'data-testid="action-suspend"' in page.text
    assert 'data-testid="action-terminate"' in page.text
    assert 'data-testid="action-resume"' not in page.text
    assert "Motif de la suspension" in page.text and "Congé de maladie" in page.text

    # A reason is required: refused on the field, the form stays open with what was typed.
    bad = staff.post(
        f"/contracts/{cid}/actions/suspend", data={"csrf_token": csrf, "note": "appel reçu"}
    )
    assert bad.status_code == 422
    assert 'id="e-reason"' in bad.text and "appel reçu" in bad.text
    assert status(web, cid) == "active"

    ok = staff.post(
        f"/contracts/{cid}/actions/suspend",
        data={"csrf_token": csrf, "reason": "sick_leave", "note": "certificat médical"},
    )
    assert ok.status_code == 303 and ok.headers["location"].endswith("flash=action_done")
    assert status(web, cid) == "suspended"
    page = staff.get(ok.headers["location"])
    assert "Enregistré" in page.text and 'data-testid="action-resume"' in page.text
    with web.aqd.session() as s:
        event = s.scalar(select(Event).where(Event.contract_id == cid).order_by(Event.seq.desc()))
    assert event is not None and event.actor == "counsellor.tun"
    assert event.payload["payload"]["reason"] == "sick_leave"

    # Suspending twice is a conflict shown on the page, not a crash.
    again = staff.post(
        f"/contracts/{cid}/actions/suspend", data={"csrf_token": csrf, "reason": "sick_leave"}
    )
    assert again.status_code == 409 and 'role="alert"' in again.text

    back = staff.post(f"/contracts/{cid}/actions/resume", data={"csrf_token": csrf})
    assert back.status_code == 303
    assert status(web, cid) == "active"


def test_actions_need_the_csrf_token_and_the_right_office(web: Web) -> None:
    cid = active_contract(web).id
    staff, _ = web.login("counsellor.tun")
    r = staff.post(f"/contracts/{cid}/actions/suspend", data={"reason": "sick_leave"})
    assert r.status_code == 403
    other, csrf = web.login("counsellor.sou")
    assert other.get(f"/contracts/{cid}").status_code == 404
    r = other.post(
        f"/contracts/{cid}/actions/suspend", data={"csrf_token": csrf, "reason": "sick_leave"}
    )
    assert r.status_code == 404
    assert status(web, cid) == "active"


def test_arabic_page_offers_the_employer_its_actions(web: Web) -> None:
    cid = active_contract(web).id
    employer, csrf = web.login("employer.tun")
    employer.post("/language", data={"csrf_token": csrf, "lang": "ar", "next": "/"})
    page = employer.get(f"/contracts/{cid}")
    assert 'dir="rtl"' in page.text
    assert "تغيير هذا العقد" in page.text and "إنهاء العقد (المؤجر)" in page.text
    assert 'data-testid="action-suspend"' not in page.text
    beneficiary, _ = web.login("beneficiary.tun")
    mine = beneficiary.get(f"/contracts/{cid}").text
    assert 'data-testid="action-beneficiary_terminate"' in mine
    assert 'data-testid="action-employer_terminate"' not in mine


def test_api_lists_and_takes_actions_with_clear_errors(web: Web) -> None:
    cid = active_contract(web).id
    api = web.client()
    employer = web.token("employer.tun")
    listed = api.get(f"/api/v1/contracts/{cid}/actions", headers=employer)
    assert listed.status_code == 200
    body = listed.json()
    assert [a["key"] for a in body["actions"]] == ["employer_extend", "employer_terminate"]
    assert body["actions"][1]["form"]["x-title-ar"] == "إنهاء العقد (المؤجر)"

    # Wrong party, bad form, stale revision, unknown action: 403, 422, 409, 404.
    url = f"/api/v1/contracts/{cid}/actions"
    r = api.post(f"{url}/suspend", headers=employer, json={"data": {"reason": "sick_leave"}})
    assert r.status_code == 403 and r.json()["error"] == "not_permitted"
    r = api.post(f"{url}/employer_terminate", headers=employer, json={"data": {"reason": "hired"}})
    assert r.status_code == 422 and "hire_contract" in " ".join(r.json()["fields"])
    r = api.post(
        f"{url}/employer_terminate",
        headers=employer,
        json={"data": {"reason": "employer_closed"}, "expected_revision": 0},
    )
    assert r.status_code == 409
    assert api.post(f"{url}/nope", headers=employer, json={"data": {}}).status_code == 404
    assert status(web, cid) == "active"

    done = api.post(
        f"{url}/employer_terminate",
        headers=employer,
        json={
            "data": {"reason": "hired", "hire_contract": "cdd"},
            "expected_revision": body["revision"],
        },
    )
    assert done.status_code == 200, done.text
    with web.aqd.session() as s:
        c = s.get(Contract, cid)
        assert c is not None and (c.status, c.outcome) == ("terminated", "hired_cdd")
    after = api.get(f"{url}", headers=employer).json()
    assert after["actions"] == []
    # Nothing accepts a termination any more: a clear conflict.
    r = api.post(
        f"{url}/employer_terminate", headers=employer, json={"data": {"reason": "employer_closed"}}
    )
    assert r.status_code == 409 and r.json()["error"] == "conflict"


def test_the_employer_refuses_the_offer_from_its_agreement_task(web: Web) -> None:
    guid = web.ready_task("TUN", "employer_agreement")
    employer, csrf = web.login("employer.tun")
    task = employer.get(f"/tasks/{guid}")
    assert task.status_code == 200
    link = re.search(r'href="(/contracts/(\d+)\?open=employer_decline[^"]*)"', task.text)
    assert link is not None, "the agreement page offers to refuse the offer"
    cid = int(link.group(2))
    page = employer.get(link.group(1).replace("&amp;", "&"))
    assert re.search(r'<details id="action-employer_decline" open', page.text)
    done = employer.post(
        f"/contracts/{cid}/actions/employer_decline",
        data={"csrf_token": csrf, "reason": "Le poste a été supprimé"},
    )
    assert done.status_code == 303
    assert status(web, cid) == "rejected"
    # Counsellors see no such link on their own tasks.
    counsellor, _ = web.login("counsellor.tun")
    validation = web.ready_task("TUN", "counsellor_validation")
    assert 'data-testid="decline-offer"' not in counsellor.get(f"/tasks/{validation}").text
