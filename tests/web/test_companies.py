"""A self-registered company stays pending until a counsellor or office head of its office
checks its uploaded proofs (engine/employers/registration.py): the API and the pages, on
PostgreSQL and SQLite."""

from __future__ import annotations

from html import unescape
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from api import demo
from engine.models import (
    Contract,
    Employer,
    EmployerCheck,
    EmployerFact,
    EmployerUpload,
    Notification,
)
from tests.helpers.employers import APPROVAL, CNSS, TAX, scan
from tests.helpers.registry import seeker_account
from tests.web.conftest import Web, csrf_of

COMPANY = {
    "name": "Startup SA",
    "matricule_fiscal": "1112223B",
    "cnss_number": "998877",
    "sector": "informatique",
    "governorate": "Tunis",
    "office": "TUN",
    "username": "startup",
    "password": "a-long-password",
}
ACCOUNT = "startup@1112223b"
PENDING_FR = (
    "votre entreprise pourra demander des contrats quand son bureau de l'emploi aura vérifié "
    "ses documents"
)


def _register(web: Web) -> tuple[TestClient, dict[str, str], int]:
    c = web.client()
    created = c.post("/api/v1/employers", json=COMPANY)
    assert created.status_code == 201, created.text
    token = c.post("/api/v1/tokens", json={"username": ACCOUNT, "password": COMPANY["password"]})
    assert token.status_code == 201, token.text
    with web.aqd.session() as s:
        employer_id = s.scalar(select(Employer.id).where(Employer.matricule_fiscal == "1112223B"))
    assert employer_id is not None
    return c, {"Authorization": f"Bearer {token.json()['token']}"}, employer_id


def _cin(web: Web, office: str = "TUN") -> tuple[str, str]:
    """A job seeker of ``office`` with an account (``seeker.<office>``): CIN and date of birth."""
    cin, born, _id = seeker_account(web.aqd, office, f"seeker.{office.lower()}", web.clock.now())
    return cin, born


def _request(c: TestClient, h: dict[str, str], seeker: tuple[str, str]) -> Any:
    cin, born = seeker
    return c.post(
        "/api/v1/contract-requests",
        headers=h,
        json={"programme": "civp", "beneficiary_cin": cin, "birth_date": born},
    )


def _upload(c: TestClient, h: dict[str, str], kind: str, data: bytes, name: str = "") -> Any:
    return c.post(
        "/api/v1/employer/documents",
        headers=h,
        data={"kind": kind},
        files={"file": (name or f"{kind}.png", data, "image/png")},
    )


def test_a_pending_company_cannot_request_until_its_office_checks_it(web: Web) -> None:
    c, h, employer_id = _register(web)
    cin = _cin(web)
    own = c.get("/api/v1/employer/company", headers=h).json()
    assert own["registration"] == "pending"
    assert own["missing"] == ["legal_status", "tax", "cnss"] and own["uploads"] == []
    # no contract is started for the decisions to refuse: a catalogued 409 instead
    refused = _request(c, h, cin)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == "company_pending"
    with web.aqd.session() as s:
        assert s.scalar(select(Contract.id).where(Contract.employer_id == employer_id)) is None
    # an upload must parse, not only start like a PDF
    fake = _upload(c, h, "tax", b"%PDF-1.4\n<html>not a pdf</html>", "tax.pdf")
    assert fake.status_code == 422 and fake.json()["fields"] == {
        "tax": "not a readable PDF, PNG or JPEG"
    }
    for kind in ("legal_status", "tax", "cnss"):
        assert _upload(c, h, kind, scan(kind)).status_code == 201
    own = c.get("/api/v1/employer/company", headers=h).json()
    assert own["missing"] == [] and own["to_check"] == ["legal_status", "tax", "cnss"]
    assert _request(c, h, cin).status_code == 409

    # another office's counsellor does not see it; the company's own office does
    kef = web.token("counsellor.kef")
    assert c.get(f"/api/v1/companies/{employer_id}", headers=kef).status_code == 404
    assert employer_id not in [r["id"] for r in c.get("/api/v1/companies", headers=kef).json()]
    assert (
        c.post(f"/api/v1/companies/{employer_id}/check", headers=kef, json=APPROVAL).status_code
        == 404
    )
    assert c.get("/api/v1/companies", headers=h).status_code == 403
    head = web.token("head.tun")
    listed = {r["id"]: r for r in c.get("/api/v1/companies", headers=head).json()}
    assert listed[employer_id]["registration"] == "pending"
    assert listed[employer_id]["documents"] == 3

    # a refusal needs a reason, which the company reads; its new proofs make it pending again
    url = f"/api/v1/companies/{employer_id}/check"
    no_reason = c.post(url, headers=head, json={"decision": "refuse"})
    assert no_reason.status_code == 422 and "reason" in no_reason.json()["fields"]
    reason = "le matricule fiscal de l'attestation ne correspond pas"
    r = c.post(url, headers=head, json={"decision": "refuse", "reason": reason})
    assert r.status_code == 200 and r.json()["registration"] == "refused", r.text
    own = c.get("/api/v1/employer/company", headers=h).json()
    assert own["registration"] == "refused" and own["refusal"] == reason
    assert own["missing"] == ["legal_status", "tax", "cnss"]
    assert _request(c, h, cin).json()["error"] == "company_pending"
    for kind in ("legal_status", "tax", "cnss"):
        assert _upload(c, h, kind, scan(kind + " again")).status_code == 201
    assert c.get("/api/v1/employer/company", headers=h).json()["registration"] == "pending"

    # approving needs the status and both certificates valid today
    partial = c.post(url, headers=head, json={"decision": "approve", "tax": TAX})
    assert partial.status_code == 422
    assert set(partial.json()["fields"]) == {"legal_status", "cnss"}
    expired = {**APPROVAL, "cnss": {**CNSS, "valid_until": "2025-01-31"}}
    assert c.post(url, headers=head, json=expired).status_code == 422
    ok = c.post(url, headers=head, json=APPROVAL)
    assert ok.status_code == 200 and ok.json()["registration"] == "checked", ok.text

    with web.aqd.session() as s:
        facts = s.scalars(select(EmployerFact).where(EmployerFact.employer_id == employer_id))
        uploads = {
            u.fact_id: u
            for u in s.scalars(
                select(EmployerUpload).where(EmployerUpload.employer_id == employer_id)
            )
        }
        recorded = {f.kind: f for f in facts}
        checks = s.scalars(
            select(EmployerCheck)
            .where(EmployerCheck.employer_id == employer_id)
            .order_by(EmployerCheck.id)
        ).all()
        notes = s.scalars(
            select(Notification.template).where(Notification.recipient == ACCOUNT)
        ).all()
    # each fact's proof is the very upload it was read from, and who checked it is kept
    assert set(recorded) == {"legal_status", "tax_certificate", "cnss_certificate"}
    for fact in recorded.values():
        assert fact.recorded_by == "head.tun"
        assert uploads[fact.id].sha256 == fact.proof_sha256 and uploads[fact.id].status == "checked"
    assert recorded["tax_certificate"].value == "AF-2025-118"
    assert [(k.decision, k.decided_by) for k in checks] == [
        ("refused", "head.tun"),
        ("approved", "head.tun"),
    ]
    assert sorted(notes) == ["company_checked", "company_refused"]

    # checked: the request reaches the job seeker, whose acceptance starts a contract that
    # passes the employer eligibility
    sent = _request(c, h, cin)
    assert sent.status_code == 202, sent.text
    reference = sent.json()["reference"]
    accepted = c.post(
        f"/api/v1/contract-requests/{reference}/accept", headers=web.token("seeker.tun")
    )
    assert accepted.status_code == 200, accepted.text
    with web.aqd.session() as s:
        status = s.scalar(
            select(Contract.status).where(Contract.number == accepted.json()["contract_number"])
        )
    assert status == "in_review"


def test_a_checked_company_sends_a_renewed_certificate(web: Web) -> None:
    c, h, employer_id = _register(web)
    for kind in ("legal_status", "tax", "cnss"):
        assert _upload(c, h, kind, scan(kind)).status_code == 201
    counsellor = web.token("counsellor.tun")
    url = f"/api/v1/companies/{employer_id}/check"
    first = {**APPROVAL, "tax": {**TAX, "valid_until": "2025-06-30"}}
    assert c.post(url, headers=counsellor, json=first).json()["registration"] == "checked"
    web.clock.advance(days=150)  # the tax certificate has expired (so have the tokens)
    token = c.post("/api/v1/tokens", json={"username": ACCOUNT, "password": COMPANY["password"]})
    h = {"Authorization": f"Bearer {token.json()['token']}"}
    counsellor = web.token("counsellor.tun")
    own = c.get("/api/v1/employer/company", headers=h).json()
    assert own["registration"] == "checked" and own["missing"] == ["tax"]
    assert _upload(c, h, "tax", scan("renewed")).status_code == 201
    listed = [r["id"] for r in c.get("/api/v1/companies", headers=counsellor).json()]
    assert employer_id in listed
    renewed = {"reference": "AF-2025-300", "valid_from": "2025-07-01", "valid_until": "2026-06-30"}
    r = c.post(url, headers=counsellor, json={"decision": "approve", "tax": renewed})
    assert r.status_code == 200 and r.json()["registration"] == "checked", r.text
    own = c.get("/api/v1/employer/company", headers=h).json()
    assert own["missing"] == [] and own["standing"]["tax_certificate_until"] == "2026-06-30"
    listed = [r["id"] for r in c.get("/api/v1/companies", headers=counsellor).json()]
    assert employer_id not in listed


def test_registration_page_with_proofs_pending_then_checked_on_the_office_page(web: Web) -> None:
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
        "username": "nadia.sn",
        "password": "long-enough-pass",
    }
    files = {k: (f"{k}.png", scan(k), "image/png") for k in ("legal_status", "tax", "cnss")}
    bad = c.post(
        "/register", data=form, files={**files, "tax": ("tax.pdf", b"%PDF-1.4 <html>", "x")}
    )
    assert bad.status_code == 422 and "Société Nouvelle" in bad.text
    r = c.post("/register", data=form, files=files)
    assert r.status_code == 303, r.text
    home = c.get(r.headers["location"])
    assert 'data-registration="pending"' in home.text
    assert "votre bureau de l'emploi n'a pas encore vérifié vos documents" in unescape(home.text)
    assert 'data-testid="new-request"' not in home.text
    page = c.get("/employer/request", params={"programme": "civp"})
    assert page.status_code == 409 and PENDING_FR in unescape(page.text)
    sent = c.post("/employer/request", data={"csrf_token": csrf_of(home.text), "programme": "civp"})
    assert sent.status_code == 409 and PENDING_FR in unescape(sent.text)

    head, csrf = web.login("head.sou")
    listing = head.get("/companies")
    assert listing.status_code == 200 and "Société Nouvelle" in listing.text
    with web.aqd.session() as s:
        employer_id = s.scalar(select(Employer.id).where(Employer.matricule_fiscal == "7654321Z"))
    detail = head.get(f"/companies/{employer_id}")
    assert 'name="tax.reference"' in detail.text and "7654321Z" in detail.text
    upload_link = detail.text.split('href="/company-documents/', 1)[1].split('"', 1)[0]
    assert head.get(f"/company-documents/{upload_link}").content.startswith(b"\x89PNG")
    other, _ = web.login("counsellor.tun")
    assert other.get(f"/companies/{employer_id}").status_code == 404
    assert other.get(f"/company-documents/{upload_link}").status_code == 404
    fields = {
        "csrf_token": csrf,
        "decision": "approve",
        "legal_status.status": "PRIVATE_FIRM",
        "legal_status.since": "2020-01-01",
        "tax.reference": "AF-1",
        "tax.valid_from": "2025-01-01",
        "tax.valid_until": "2025-01-31",  # expired on the day: approval refused
        "cnss.reference": "CN-1",
        "cnss.valid_from": "2025-01-01",
        "cnss.valid_until": "2025-12-31",
    }
    again = head.post(f"/companies/{employer_id}/check", data=fields)
    assert again.status_code == 422 and 'value="AF-1"' in again.text
    assert "صالحتين اليوم" in again.text  # head.sou reads Arabic
    done = head.post(
        f"/companies/{employer_id}/check", data={**fields, "tax.valid_until": "2025-12-31"}
    )
    assert (
        done.status_code == 303 and done.headers["location"] == "/companies?flash=company_checked"
    )
    home = c.get("/employer")
    assert 'data-registration="checked"' in home.text and 'data-testid="new-request"' in home.text
    assert c.get("/employer/request", params={"programme": "civp"}).status_code == 200
    mailbox = c.get("/me/mailbox")
    assert "a vérifié vos documents" in unescape(mailbox.text)


def test_the_inbox_says_companies_wait_and_the_demo_has_one_pending(web: Web) -> None:
    c, _csrf = web.login("counsellor.tun")
    inbox = c.get("/inbox")
    assert 'data-testid="companies-waiting"' in inbox.text
    listing = c.get("/companies")
    assert "Médina Digital SARL" in listing.text
    gafsa, _ = web.login("counsellor.gaf")
    assert 'data-testid="companies-waiting"' not in gafsa.get("/inbox").text
    assert "Médina Digital SARL" not in gafsa.get("/companies").text
    employer, _ = web.login("employer.tun")
    assert employer.get("/companies").status_code == 403


def test_a_refusal_reaches_the_company_in_its_language(web: Web) -> None:
    """The demo's pending company reads Arabic: it sees the refusal and the office's reason on
    its page and in its mailbox, and cannot request until it sends new proofs and is checked."""
    c = web.client()
    head = web.token("head.tun")
    with web.aqd.session() as s:
        employer_id = s.scalar(select(Employer.id).where(Employer.matricule_fiscal == "7777777P"))
    reason = "شهادة الضمان الاجتماعي لا تحمل رقم الانخراط 31415926"
    r = c.post(
        f"/api/v1/companies/{employer_id}/check",
        headers=head,
        json={"decision": "refuse", "reason": reason},
    )
    assert r.status_code == 200 and r.json()["registration"] == "refused", r.text
    company, _csrf = web.login(demo.PENDING_ACCOUNT)
    home = company.get("/employer")
    assert 'data-registration="refused"' in home.text
    assert "مرفوضة: رفض مكتب التشغيل وثائقكم" in home.text and reason in home.text
    assert company.get("/employer/request").status_code == 409
    assert "رفض مكتب التشغيل وثائق" in company.get("/me/mailbox").text
