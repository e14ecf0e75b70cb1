"""The JSON API: health, tokens, error shape, and each role's scope on every id-bearing route
(IDOR attempts answer 404, never another party's data)."""

from __future__ import annotations

from sqlalchemy import select

from engine.models import Contract, HumanTask, Office
from tests.helpers import uploads
from tests.helpers.employers import check_company
from tests.web.conftest import Web


def test_health_readiness_metrics_and_request_ids(web: Web) -> None:
    c = web.client()
    assert c.get("/healthz").json() == {"status": "ok"}
    ready = c.get("/readyz").json()
    assert ready["status"] == "ready" and ready["checks"]["database"] == "ok"
    r = c.get("/healthz", headers={"X-Request-ID": "abc123"})
    assert r.headers["x-request-id"] == "abc123"
    assert len(c.get("/healthz").headers["x-request-id"]) == 32
    assert "aqd_http_requests_total" in c.get("/metrics").text


def test_tokens_and_error_shape(web: Web) -> None:
    c = web.client()
    assert c.get("/api/v1/me").status_code == 401
    body = c.get("/api/v1/me").json()
    assert body["error"] == "unauthenticated" and "fields" in body
    bad = c.post("/api/v1/tokens", json={"username": "counsellor.tun", "password": "nope"})
    assert bad.status_code == 401
    malformed = c.post("/api/v1/tokens", json={"username": "", "password": 3})
    assert malformed.status_code == 422
    assert set(malformed.json()["fields"]) == {"username", "password"}
    headers = web.token("counsellor.tun")
    me = c.get("/api/v1/me", headers=headers).json()
    assert me["roles"] == ["counsellor"] and me["office_id"] is not None
    assert c.get("/api/v1/me", headers={"Authorization": "Bearer aqd_forged"}).status_code == 401
    assert c.delete("/api/v1/tokens/current", headers=headers).status_code == 204
    assert c.get("/api/v1/me", headers=headers).status_code == 401


def test_api_login_is_throttled(web: Web) -> None:
    c = web.client()
    codes = [
        c.post("/api/v1/tokens", json={"username": "head.sou", "password": "x"}).status_code
        for _ in range(4)
    ]
    assert codes == [401] * 3 + [429]
    locked = c.post("/api/v1/tokens", json={"username": "head.sou", "password": "aqd-demo-2025"})
    assert locked.status_code == 429 and locked.headers["retry-after"] == "1"
    assert locked.json()["error"] == "too_many_attempts" and locked.json()["request_id"]


def _ids(web: Web, office: str) -> tuple[int, str, str]:
    """A contract of ``office`` and one of its ready tasks (counsellor lane), plus its number."""
    with web.aqd.session() as s:
        row = s.execute(
            select(Contract.id, Contract.number, HumanTask.task_guid)
            .join(HumanTask, HumanTask.contract_id == Contract.id)
            .join(Office, Office.id == Contract.office_id)
            .where(Office.code == office, HumanTask.status == "ready")
            .where(HumanTask.lane == "counsellor")
        ).first()
    assert row is not None
    return row.id, row.number, row.task_guid


def test_every_id_bearing_route_is_scoped(web: Web) -> None:
    """A counsellor of Tunis, an employer and a beneficiary of Tunis try Gafsa's ids."""
    cid, number, guid = _ids(web, "GAF")
    c = web.client()
    for user in ("counsellor.tun", "head.tun", "employer.tun", "beneficiary.tun"):
        h = web.token(user)
        assert c.get(f"/api/v1/contracts/{cid}", headers=h).status_code == 404, user
        assert c.get(f"/api/v1/contracts/{number}", headers=h).status_code == 404, user
        assert c.get(f"/api/v1/tasks/{guid}", headers=h).status_code == 404, user
        for action in ("claim", "release"):
            assert c.post(f"/api/v1/tasks/{guid}/{action}", headers=h).status_code == 404, user
        done = c.post(
            f"/api/v1/tasks/{guid}/complete",
            headers=h,
            json={"data": {"validation_decision": "validate"}},
        )
        assert done.status_code == 404, user
        moved = c.post(
            f"/api/v1/tasks/{guid}/reassign",
            headers=h,
            json={"assignee": user, "reason": "grab"},
        )
        assert moved.status_code in (403, 404), user
        listed = c.get("/api/v1/contracts", headers=h, params={"q": number}).json()
        assert listed["total"] == 0, user
        tasks = c.get("/api/v1/tasks", headers=h, params={"q": number}).json()
        assert tasks["total"] == 0, user
    # the rightful office sees them; the auditor reads everything but cannot act
    gaf = web.token("counsellor.gaf")
    assert c.get(f"/api/v1/tasks/{guid}", headers=gaf).status_code == 200
    auditor = web.token("auditor")
    assert c.get(f"/api/v1/contracts/{cid}", headers=auditor).status_code == 200
    assert c.post(f"/api/v1/tasks/{guid}/claim", headers=auditor).status_code == 403


def test_employer_and_beneficiary_see_only_their_own(web: Web) -> None:
    c = web.client()
    employer = web.token("employer.tun")
    mine = c.get("/api/v1/contracts", headers=employer).json()
    assert mine["total"] > 0
    with web.aqd.session() as s:
        theirs = {
            number
            for (number,) in s.execute(
                select(Contract.number)
                .join(Office, Office.id == Contract.office_id)
                .where(Office.code == "TUN")
            )
        }
    seen = {item["number"] for item in mine["items"]}
    assert seen < theirs  # some Tunis contracts belong to the other company
    beneficiary = web.token("beneficiary.tun")
    own = c.get("/api/v1/contracts", headers=beneficiary).json()
    assert own["total"] == 1
    detail = c.get(f"/api/v1/contracts/{own['items'][0]['id']}", headers=beneficiary).json()
    assert all(ev["actor"] is None for ev in detail["events"])  # staff names stay internal


def test_claim_complete_conflicts_and_reassign(web: Web) -> None:
    _cid, _number, guid = _ids(web, "TUN")
    c = web.client()
    counsellor = web.token("counsellor.tun")
    head = web.token("head.tun")
    assert c.post(f"/api/v1/tasks/{guid}/claim", headers=counsellor).status_code == 200
    taken = c.post(f"/api/v1/tasks/{guid}/claim", headers=head)
    assert taken.status_code == 409 and taken.json()["error"] == "conflict"
    blocked = c.post(
        f"/api/v1/tasks/{guid}/complete",
        headers=head,
        json={"data": {"validation_decision": "validate"}},
    )
    assert blocked.status_code == 409
    no_reason = c.post(
        f"/api/v1/tasks/{guid}/reassign", headers=head, json={"assignee": "head.tun"}
    )
    assert no_reason.status_code == 422 and "reason" in no_reason.json()["fields"]
    outsider = c.post(
        f"/api/v1/tasks/{guid}/reassign",
        headers=head,
        json={"assignee": "counsellor.gaf", "reason": "holiday"},
    )
    assert outsider.status_code == 422 and "assignee" in outsider.json()["fields"]
    ok = c.post(
        f"/api/v1/tasks/{guid}/reassign",
        headers=head,
        json={"assignee": "head.tun", "reason": "counsellor on leave"},
    )
    assert ok.status_code == 200 and ok.json()["event"] == "task_reassigned"
    refused = c.post(f"/api/v1/tasks/{guid}/reassign", headers=counsellor, json={"reason": "x"})
    assert refused.status_code == 403
    detail = c.get(f"/api/v1/tasks/{guid}", headers=head).json()
    stale = c.post(
        f"/api/v1/tasks/{guid}/complete",
        headers=head,
        json={
            "data": {"validation_decision": "validate"},
            "expected_revision": detail["task"]["contract_revision"] - 1,
        },
    )
    assert stale.status_code == 409 and stale.json()["error"] == "stale_revision"
    invalid = c.post(
        f"/api/v1/tasks/{guid}/complete",
        headers=head,
        json={"data": {"validation_decision": "maybe"}},
    )
    assert invalid.status_code == 422 and "validation_decision" in invalid.json()["fields"]
    done = c.post(
        f"/api/v1/tasks/{guid}/complete",
        headers=head,
        json={"data": {"validation_decision": "validate"}},
    )
    assert done.status_code == 200
    again = c.post(
        f"/api/v1/tasks/{guid}/complete",
        headers=head,
        json={"data": {"validation_decision": "validate"}},
    )
    assert again.status_code == 409


def test_cookie_authenticated_api_calls_need_csrf(web: Web) -> None:
    _cid, _number, guid = _ids(web, "TUN")
    browser, csrf = web.login("counsellor.tun")
    assert browser.get("/api/v1/me").status_code == 200  # reads are fine
    assert browser.post(f"/api/v1/tasks/{guid}/claim").status_code == 403
    ok = browser.post(f"/api/v1/tasks/{guid}/claim", headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200


def test_employer_requests_a_contract_over_the_api(web: Web) -> None:
    c = web.client()
    company = {
        "name": "Startup SA",
        "matricule_fiscal": "1112223B",
        "cnss_number": "998877",
        "sector": "informatique",
        "governorate": "Tunis",
        "office": "TUN",
        "username": "startup",
        "password": "a-long-password",
    }
    created = c.post("/api/v1/employers", json=company)
    assert created.status_code == 201, created.text
    assert created.json()["username"] == "startup@1112223b"
    dup = c.post("/api/v1/employers", json={**company, "username": "startup2"})
    assert dup.status_code == 409 and dup.json()["fields"] == {
        "matricule_fiscal": "already registered"
    }
    token = c.post(
        "/api/v1/tokens", json={"username": "startup@1112223b", "password": "a-long-password"}
    )
    h = {"Authorization": f"Bearer {token.json()['token']}"}
    programmes = [p["programme"] for p in c.get("/api/v1/programmes", headers=h).json()]
    assert programmes == ["civp", "crva", "csc", "karama"]
    with web.aqd.session() as s:
        from engine.models import Beneficiary

        person = s.scalars(select(Beneficiary).order_by(Beneficiary.id)).first()
        assert person is not None and person.birth_date is not None
        cin, born = person.cin, person.birth_date.isoformat()
    request = {"programme": "civp", "beneficiary_cin": cin, "birth_date": born}
    # pending until its office checks its proofs: refused before any look-up
    pending = c.post("/api/v1/contract-requests", headers=h, json=request)
    assert pending.status_code == 409 and pending.json()["error"] == "company_pending"
    check_company(web.aqd, "1112223B")
    r = c.post("/api/v1/contract-requests", headers=h, json=request)
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "awaiting_acceptance" and set(r.json()) == {
        "reference",
        "programme",
        "status",
    }
    counsellor = web.token("counsellor.tun")
    assert (
        c.post(
            "/api/v1/contract-requests",
            headers=counsellor,
            json={"programme": "civp", "beneficiary_cin": cin, "birth_date": born},
        ).status_code
        == 403
    )


def test_extreme_dates_and_sizes_are_not_server_errors(web: Web) -> None:
    """Found by schemathesis: a due date of 9999-12-31 overflowed the day after; such dates
    are now refused, naming the field (tests/web/test_query_bounds.py)."""
    c = web.client()
    h = web.token("head.tun")
    for day in ("9999-12-31", "0001-01-01"):
        r = c.get("/api/v1/tasks", params={"due_before": day}, headers=h)
        assert r.status_code == 422 and set(r.json()["fields"]) == {"due_before"}
    assert c.get("/api/v1/tasks", params={"page": 100_000}, headers=h).json()["items"] == []
    assert c.get("/api/v1/contracts/99999999999999999999", headers=h).status_code == 404


def test_a_repealed_programme_is_not_offered(web: Web) -> None:
    """CIDES (repealed in 2019) can be deployed for its running contracts, but is not
    offered to employers for new requests."""
    from engine.definitions.deploy import deploy
    from tests.conftest import ROOT

    with web.aqd.session() as s, s.begin():
        deploy(s, ROOT / "processes" / "cides", web.aqd.sandbox, web.clock, actor="test")
    c = web.client()
    h = web.token("employer.tun")
    offered = [p["programme"] for p in c.get("/api/v1/programmes", headers=h).json()]
    assert "cides" not in offered and "civp" in offered
    r = c.post(
        "/api/v1/contract-requests",
        headers=h,
        json={"programme": "cides", "beneficiary_cin": "10000000", "birth_date": "1995-01-01"},
    )
    assert r.status_code == 422 and "programme" in r.json()["fields"]


def test_api_upload_then_complete_with_the_reference(web: Web) -> None:
    _contract_id, guid = web.month_task()
    c = web.client()
    employer = web.token("employer.tun")
    png = uploads.image()
    wrong_field = c.post(
        f"/api/v1/tasks/{guid}/documents",
        headers=employer,
        data={"field": "days_present"},
        files={"file": ("a.png", png, "image/png")},
    )
    assert wrong_field.status_code == 422
    other = web.token("employer2.tun")
    assert c.post(
        f"/api/v1/tasks/{guid}/documents",
        headers=other,
        data={"field": "proof"},
        files={"file": ("a.png", png, "image/png")},
    ).status_code in (403, 404)
    ref = c.post(
        f"/api/v1/tasks/{guid}/documents",
        headers=employer,
        data={"field": "proof"},
        files={"file": ("timesheet.png", png, "image/png")},
    )
    assert ref.status_code == 201, ref.text
    forged = {**ref.json(), "sha256": "0" * 64}
    bad = c.post(
        f"/api/v1/tasks/{guid}/complete",
        headers=employer,
        json={"data": {"days_present": 18, "proof": forged}},
    )
    assert bad.status_code == 422 and "proof" in bad.json()["fields"]
    ok = c.post(
        f"/api/v1/tasks/{guid}/complete",
        headers=employer,
        json={"data": {"days_present": 18, "proof": ref.json()}},
    )
    assert ok.status_code == 200, ok.text
