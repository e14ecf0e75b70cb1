"""The pages, driven over HTTP as a browser would (forms, cookies, redirects), on PostgreSQL
and SQLite. The real-browser versions of the main journeys are in test_browser.py."""

from __future__ import annotations

import re

from sqlalchemy import select

from api.i18n import catalog
from engine.models import Contract, Employer, Event, HumanTask, User
from tests.helpers import uploads
from tests.helpers.employers import check_company
from tests.web.conftest import Web, csrf_of

AGREEMENT = {
    "agreed": "on",
    "position_title": "Assistante administrative",
    "tutor_name": "Mme Hela Ben Amor",
    "employer_complement": "200",
}


def test_counsellor_returns_employer_corrects_counsellor_approves(web: Web) -> None:
    counsellor, csrf = web.login("counsellor.tun")
    inbox = counsellor.get("/inbox", params={"step": "counsellor_validation", "assigned": "any"})
    assert inbox.status_code == 200
    guids = re.findall(r'href="/tasks/([0-9a-f-]{36})"', inbox.text)
    assert len(guids) == 1
    guid = guids[0]
    assert 'data-testid="claim"' in counsellor.get(f"/tasks/{guid}").text

    r = counsellor.post(f"/tasks/{guid}/claim", data={"csrf_token": csrf})
    assert r.status_code == 303
    page = counsellor.get(f"/tasks/{guid}")
    assert "counsellor.tun" in page.text and 'name="validation_decision"' in page.text

    # Returning without a reason is refused on the field, and nothing is lost.
    bad = counsellor.post(
        f"/tasks/{guid}/complete", data={"csrf_token": csrf, "validation_decision": "return"}
    )
    assert bad.status_code == 422
    assert 'id="e-return_reason"' in bad.text
    r = counsellor.post(
        f"/tasks/{guid}/complete",
        data={
            "csrf_token": csrf,
            "validation_decision": "return",
            "return_reason": "Intitulé du poste trop vague",
        },
    )
    assert r.status_code == 303, r.text

    with web.aqd.session() as s:
        contract_id = s.scalar(select(HumanTask.contract_id).where(HumanTask.task_guid == guid))
    employer, ecsrf = web.login("employer2.tun")
    home = employer.get("/employer")
    fix = re.findall(r'href="/tasks/([0-9a-f-]{36})">[^<]*</a> — (\S+)', home.text)
    assert fix, home.text
    fix_guid = fix[0][0]
    form = employer.get(f"/tasks/{fix_guid}")
    assert "Assistant(e) administratif(ve)" in form.text  # prefilled from the first submission
    r = employer.post(f"/tasks/{fix_guid}/complete", data={"csrf_token": ecsrf, **AGREEMENT})
    assert r.status_code == 303, r.text

    guid2 = web.ready_task("TUN", "counsellor_validation")
    counsellor.post(f"/tasks/{guid2}/claim", data={"csrf_token": csrf})
    r = counsellor.post(
        f"/tasks/{guid2}/complete", data={"csrf_token": csrf, "validation_decision": "validate"}
    )
    assert r.status_code == 303
    with web.aqd.session() as s:
        contract = s.get(Contract, contract_id)
        assert contract is not None and contract.status == "awaiting_signature"
        kinds = list(
            s.scalars(
                select(Event.kind).where(Event.contract_id == contract_id).order_by(Event.seq)
            )
        )
    assert kinds.count("task_completed") >= 4 and "task_claimed" in kinds


def test_inbox_filters_search_and_overdue(web: Web) -> None:
    c, _ = web.login("counsellor.tun")
    with web.aqd.session() as s:
        number = s.scalar(
            select(Contract.number)
            .join(HumanTask, HumanTask.contract_id == Contract.id)
            .where(HumanTask.bpmn_id == "counsellor_validation", HumanTask.status == "ready")
            .where(Contract.number.like("CIVP-%"))
            .order_by(Contract.id)
        )
    assert number is not None
    found = c.get("/inbox", params={"q": number})
    assert found.text.count('data-testid="task-row"') == 1
    assert c.get("/inbox", params={"q": "CIVP-2099-999999"}).text.count("task-row") == 0
    assert c.get("/inbox", params={"assigned": "me"}).text.count('data-testid="task-row"') == 0
    # htmx asks for the table only
    part = c.get("/inbox", headers={"HX-Request": "true"})
    assert part.text.lstrip().startswith('<div id="inbox-table">')
    web.clock.advance(days=30)
    assert c.get("/inbox").status_code == 303  # the 12-hour session is over
    c, _ = web.login("counsellor.tun")
    late = c.get("/inbox", params={"overdue": "1"})
    assert "badge overdue" in late.text


def test_office_staff_cannot_open_another_offices_task(web: Web) -> None:
    other = web.ready_task("GAF", "counsellor_validation")
    c, csrf = web.login("counsellor.tun")
    assert c.get(f"/tasks/{other}").status_code == 404
    assert c.post(f"/tasks/{other}/claim", data={"csrf_token": csrf}).status_code == 404
    with web.aqd.session() as s:
        gaf_contract = s.scalar(select(HumanTask.contract_id).where(HumanTask.task_guid == other))
    assert c.get(f"/contracts/{gaf_contract}").status_code == 404


def test_unsafe_requests_need_the_csrf_token(web: Web) -> None:
    guid = web.ready_task("TUN", "counsellor_validation")
    c, csrf = web.login("counsellor.tun")
    assert c.post(f"/tasks/{guid}/claim").status_code == 403
    assert c.post(f"/tasks/{guid}/claim", data={"csrf_token": "forged"}).status_code == 403
    assert c.post(f"/tasks/{guid}/claim", data={"csrf_token": csrf}).status_code == 303
    anon = web.client()
    r = anon.post("/login", data={"username": "counsellor.tun", "password": "x"})
    assert r.status_code == 403


def test_login_is_throttled_per_user_and_client(web: Web) -> None:
    c = web.client()
    token = csrf_of(c.get("/login").text)
    codes = [
        c.post(
            "/login", data={"username": "head.kef", "password": "wrong", "csrf_token": token}
        ).status_code
        for _ in range(4)
    ]
    assert codes == [401] * 3 + [429]
    # the right password does not help while locked, and the page says how long to wait
    r = c.post(
        "/login",
        data={"username": "head.kef", "password": "aqd-demo-2025", "csrf_token": token},
    )
    assert r.status_code == 429 and "Réessayez dans 1 secondes" in r.text
    web.clock.advance(seconds=2)
    web.login("head.kef")


def test_employer_registers_and_requests_a_civp_contract_the_job_seeker_answers(web: Web) -> None:
    c = web.client()
    token = csrf_of(c.get("/register").text)
    form = {
        "csrf_token": token,
        "name": "Société Nouvelle",
        "matricule_fiscal": "7654321Z",
        "cnss_number": "55443322",
        "sector": "informatique",
        "governorate": "Sousse",
        "office": "SOU",
        "display_name": "Nadia Ben Ali",
        "username": "nadia.sn",
        "password": "short",
    }
    bad = c.post("/register", data=form)
    assert bad.status_code == 422 and "Société Nouvelle" in bad.text
    r = c.post("/register", data={**form, "password": "long-enough-pass"})
    assert r.status_code == 303 and r.headers["location"].startswith("/employer")
    home = c.get(r.headers["location"])
    assert "Votre identifiant est nadia.sn@7654321z" in home.text
    # pending: no request until the office checks the company's status and certificates
    assert 'data-testid="new-request"' not in home.text
    assert c.get("/employer/request", params={"programme": "civp"}).status_code == 409
    check_company(web.aqd, "7654321Z")
    home = c.get("/employer")
    csrf = csrf_of(home.text)
    page = c.get("/employer/request", params={"programme": "civp"})
    # the registry's facts are not asked: the page names the person and the terms only
    assert 'name="birth_date"' in page.text and 'name="start_date"' in page.text
    assert 'name="diploma_level"' not in page.text and 'name="disabled"' not in page.text
    assert 'name="office"' not in page.text and 'name="request_date"' not in page.text
    with web.aqd.session() as s:
        from engine.models import Beneficiary, Office

        person = s.scalar(
            select(Beneficiary)
            .join(User, User.beneficiary_id == Beneficiary.id)
            .join(Office, Office.id == Beneficiary.office_id)
            .where(Office.code == "SOU")
        )
        assert person is not None and person.birth_date is not None
        cin, born = person.cin, person.birth_date.isoformat()
    answers = []
    for probe in (
        {"beneficiary_cin": "99999999", "birth_date": born},
        {"beneficiary_cin": cin, "birth_date": born},
    ):
        r = c.post(
            "/employer/request",
            data={"csrf_token": csrf, "programme": "civp", "start_date": "2025-04-01", **probe},
        )
        assert r.status_code == 303, r.text
        answers.append(
            (r.headers["location"], c.get(r.headers["location"]).text.count("request-row"))
        )
    # the unknown CIN and the registered one are answered alike: nothing about the person
    assert answers == [("/employer?flash=request_sent", 1), ("/employer?flash=request_sent", 2)]
    home = c.get("/employer")
    assert person.first_name not in home.text and person.last_name not in home.text
    # the job seeker sees the company's request in their account and accepts it; they hold an
    # active CIVP already, so the duplicate rule refuses it, with its reason in their Arabic
    me, me_csrf = web.login("beneficiary.sou")
    mine = me.get("/me")
    assert "Société Nouvelle" in mine.text and mine.text.count('data-testid="accept-request"') == 1
    reference = re.search(r'action="/me/requests/([0-9a-f-]{36})/accept"', mine.text)
    assert reference is not None
    refused = me.post(f"/me/requests/{reference.group(1)}/accept", data={"csrf_token": me_csrf})
    assert refused.status_code == 409
    assert catalog("ar")["reason:DUPLICATE_CONTRACT"] in refused.text
    employer_home = c.get("/employer")
    assert "déjà un contrat ouvert ou en cours dans ce programme" in employer_home.text
    with web.aqd.session() as s:
        employer_id = s.scalar(select(Employer.id).where(Employer.matricule_fiscal == "7654321Z"))
        contract = s.scalar(select(Contract).where(Contract.employer_id == employer_id))
        user = s.scalar(select(User).where(User.username == "nadia.sn@7654321z"))
    assert contract is None
    assert user is not None and user.password_hash and user.password_hash.startswith("$argon2id$")


def test_arabic_pages_are_right_to_left_and_the_choice_is_kept(web: Web) -> None:
    c, csrf = web.login("counsellor.tun")
    assert 'dir="ltr"' in c.get("/inbox").text
    r = c.post("/language", data={"csrf_token": csrf, "lang": "ar", "next": "/inbox"})
    assert r.status_code == 303
    page = c.get("/inbox")
    assert '<html lang="ar" dir="rtl">' in page.text and "صندوق المهام" in page.text
    again, _ = web.login("counsellor.tun")  # a new session remembers the language
    assert 'dir="rtl"' in again.get("/inbox").text


def test_each_role_lands_on_its_home_and_is_kept_out_of_others(web: Web) -> None:
    for user, home in (
        ("counsellor.tun", "/inbox"),
        ("employer.tun", "/employer"),
        ("beneficiary.tun", "/me"),
        ("auditor", "/contracts"),
    ):
        c, _ = web.login(user)
        assert c.get("/").headers["location"] == home
    c, _ = web.login("employer.tun")
    assert c.get("/inbox").status_code == 403
    anon = web.client()
    r = anon.get("/inbox")
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


def test_payments_show_on_the_contract_to_staff_and_payee(web: Web) -> None:
    """A month of the active demo contract: attendance by the employer, the stipend order
    written by the payment handler, visible to the office and the beneficiary."""
    from engine.outbox import runner as outbox

    contract_id, guid = web.month_task()
    employer, csrf = web.login("employer.tun")
    assert guid in employer.get("/employer").text
    r = employer.post(f"/tasks/{guid}/complete", data={"csrf_token": csrf, "days_present": "20"})
    assert r.status_code == 303, r.text
    assert outbox.run_once(web.aqd).claimed == 0  # certified in the month's last days ...
    web.clock.advance(days=5)  # ... and paid at its end
    outbox.run_once(web.aqd)
    staff, _ = web.login("counsellor.tun")
    page = staff.get(f"/contracts/{contract_id}")
    assert page.text.count('data-testid="payment"') == 1
    beneficiary, _ = web.login("beneficiary.tun")
    mine = beneficiary.get(f"/contracts/{contract_id}")
    assert mine.text.count('data-testid="payment"') == 1 and "Bourse mensuelle" in mine.text


def test_office_head_bulk_claims_and_reassigns(web: Web) -> None:
    from api.demo import employer_account
    from engine.models import Beneficiary, Office

    with web.aqd.session() as s:
        office = s.scalar(select(Office).where(Office.code == "TUN"))
        assert office is not None
        employer = s.scalars(select(Employer).where(Employer.office_id == office.id)).first()
        cins = s.scalars(
            select(Beneficiary.cin).where(Beneficiary.office_id == office.id).limit(3)
        ).all()
    assert employer is not None
    for cin in cins:  # three more requests reach the counsellor
        with web.aqd.session() as s, s.begin():
            started = web.aqd.start_contract(
                s,
                "civp",
                {
                    "office": "TUN",
                    "employer_mf": employer.matricule_fiscal,
                    "beneficiary_cin": cin,
                    "nationality": "TN",
                    "diploma_level": "HIGHER_ED",
                    "request_date": "2025-03-01",
                },
                employer_account("TUN", 0),
            )
            cid = started.id
        guid = web.ready_task("TUN", "employer_agreement")
        with web.aqd.session() as s, s.begin():
            web.aqd.complete_task(
                s,
                guid,
                {
                    "agreed": True,
                    "position_title": "Agent",
                    "tutor_name": "M. X",
                    "employer_complement": 200,
                },
                employer_account("TUN", 0),
            )
        assert cid
    head, csrf = web.login("head.tun")
    page = head.get("/inbox", params={"step": "counsellor_validation"})
    guids = re.findall(r'name="guid" value="([0-9a-f-]{36})"', page.text)
    assert len(guids) == 4 and 'id="bulk-assignee"' in page.text
    r = head.post(
        "/inbox/bulk",
        data={"csrf_token": csrf, "action": "claim", "guid": guids[:2], "next": "/inbox"},
    )
    assert r.status_code == 303 and "done=2&failed=0" in r.headers["location"]
    r = head.post(
        "/inbox/bulk",
        data={
            "csrf_token": csrf,
            "action": "reassign",
            "guid": guids,
            "assignee": "counsellor.tun",
            "reason": "",
        },
    )
    assert "done=0&failed=4" in r.headers["location"]  # a reason is required
    r = head.post(
        "/inbox/bulk",
        data={
            "csrf_token": csrf,
            "action": "reassign",
            "guid": guids[1:],
            "assignee": "counsellor.tun",
            "reason": "répartition de la charge",
        },
    )
    assert "done=3&failed=0" in r.headers["location"]
    with web.aqd.session() as s:
        owners = dict(
            s.execute(
                select(HumanTask.task_guid, HumanTask.assignee).where(
                    HumanTask.task_guid.in_(guids)
                )
            ).all()
        )
    assert owners[guids[0]] == "head.tun"
    assert all(owners[g] == "counsellor.tun" for g in guids[1:])
    counsellor, ccsrf = web.login("counsellor.tun")
    mine = counsellor.get("/inbox", params={"assigned": "me"})
    assert mine.text.count('data-testid="task-row"') == 3
    # a counsellor's bulk reassign is refused task by task
    r = counsellor.post(
        "/inbox/bulk",
        data={"csrf_token": ccsrf, "action": "reassign", "guid": guids[1:], "reason": "x"},
    )
    assert "done=0&failed=3" in r.headers["location"]


def test_employer_attaches_a_proof_to_the_monthly_attendance(web: Web) -> None:
    contract_id, guid = web.month_task()
    employer, csrf = web.login("employer.tun")
    page = employer.get(f"/tasks/{guid}")
    assert 'enctype="multipart/form-data"' in page.text and 'type="file" name="proof"' in page.text
    refused = employer.post(
        f"/tasks/{guid}/complete",
        data={"csrf_token": csrf, "days_present": "20"},
        files={"proof": ("notes.txt", b"not a pdf", "application/pdf")},
    )
    assert refused.status_code == 422 and 'id="e-proof"' in refused.text
    too_big = employer.post(
        f"/tasks/{guid}/complete",
        data={"csrf_token": csrf, "days_present": "20"},
        files={"proof": ("scan.pdf", b"%PDF-" + b"0" * (5 * 1024 * 1024), "application/pdf")},
    )
    assert too_big.status_code == 422 and "5" in too_big.text
    fake = employer.post(  # a PDF by its first bytes, but not one a reader can open
        f"/tasks/{guid}/complete",
        data={"csrf_token": csrf, "days_present": "20"},
        files={"proof": ("scan.pdf", b"%PDF-1.4\n<html><body>x</body></html>", "application/pdf")},
    )
    assert fake.status_code == 422 and "PDF, PNG ou JPEG illisible" in fake.text
    pdf = uploads.pdf()
    done = employer.post(
        f"/tasks/{guid}/complete",
        data={"csrf_token": csrf, "days_present": "20"},
        files={"proof": ("attendance-march.pdf", pdf, "application/pdf")},
    )
    assert done.status_code == 303, done.text
    with web.aqd.session() as s:
        event = s.scalars(
            select(Event)
            .where(Event.contract_id == contract_id, Event.kind == "task_completed")
            .order_by(Event.seq.desc())
        ).first()
    assert event is not None
    proof = event.payload["data"]["proof"]
    assert proof["filename"] == "attendance-march.pdf" and len(proof["sha256"]) == 64
    staff, _ = web.login("counsellor.tun")
    detail = staff.get(f"/contracts/{contract_id}")
    assert detail.text.count('data-testid="document"') == 1
    download = staff.get(f"/documents/{proof['document_id']}")
    assert download.status_code == 200 and download.content == pdf
    assert download.headers["content-type"] == "application/pdf"
    outsider, _ = web.login("counsellor.gaf")
    assert outsider.get(f"/documents/{proof['document_id']}").status_code == 404
