"""Hostile values over the API: 422 naming the field, nothing stored (issue: NaN passed
``minimum``, was stored as null and broke the contract's replay; impossible dates passed)."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import SecretStr
from sqlalchemy import func, select

from engine import Settings
from engine.config import cookies_secure
from engine.models import Beneficiary, ContractRequest
from tests.helpers.employers import check_company
from tests.web.conftest import Web

COMPANY = {
    "name": "Sonde SARL",
    "matricule_fiscal": "7654321C",
    "cnss_number": "445566",
    "sector": "informatique",
    "governorate": "Tunis",
    "office": "TUN",
    "username": "sonde",
    "password": "a-long-password",
}


def test_non_finite_numbers_and_impossible_dates_get_422_naming_the_field(web: Web) -> None:
    c = web.client()
    assert c.post("/api/v1/employers", json=COMPANY).status_code == 201
    check_company(web.aqd, str(COMPANY["matricule_fiscal"]))  # a pending one could not request
    token = c.post(
        "/api/v1/tokens", json={"username": "sonde@7654321c", "password": "a-long-password"}
    )
    h = {"Authorization": f"Bearer {token.json()['token']}", "Content-Type": "application/json"}
    with web.aqd.session() as s:
        cin = s.scalar(select(Beneficiary.cin).order_by(Beneficiary.id))
        before = s.scalar(select(func.count()).select_from(ContractRequest))
    for raw, field, message in [
        # a registry fact is refused whatever its value, before anything reads it
        ("NaN", "months_worked_total", "kept by the job-seeker registry"),
        ("Infinity", "months_worked_total", "kept by the job-seeker registry"),
        ("1e999", "months_worked_continuous", "kept by the job-seeker registry"),
        ('"2026-02-30"', "start_date", "not a valid date (YYYY-MM-DD)"),
        ('"not-a-date"', "start_date", "not a valid date (YYYY-MM-DD)"),
        ('"9999-12-31"', "start_date", "the date must be between 1900-01-01 and 2100-12-31"),
    ]:
        body = (
            f'{{"programme": "civp", "beneficiary_cin": "{cin}", "birth_date": "1995-01-01", '
            f'"data": {{"{field}": {raw}}}}}'
        )
        r = c.post("/api/v1/contract-requests", headers=h, content=body)
        assert r.status_code == 422, (raw, r.status_code, r.text)
        assert r.json()["fields"].get(field) == message, (raw, r.json())
    with web.aqd.session() as s:
        assert s.scalar(select(func.count()).select_from(ContractRequest)) == before


def test_readiness_names_the_dependency_that_is_down_not_its_exception(web: Web) -> None:
    web.aqd.settings = web.aqd.settings.model_copy(
        update={"broker_url": "redis://127.0.0.1:1/0"}  # nothing listens on port 1
    )
    r = web.client().get("/readyz")
    assert r.status_code == 503
    assert r.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "broker": "unavailable"},
    }
    assert "127.0.0.1" not in r.text and "Error" not in r.text


def test_a_body_that_is_not_json_gets_400_in_the_error_shape_with_a_request_id(web: Web) -> None:
    c = web.client()
    json_header = {"Content-Type": "application/json", "X-Request-ID": "probe-1"}
    for body in (
        b'{"username": "x", "password": ',  # truncated: was 422 with field "10"
        b'{"username": "\xff\xfe", "password": "x"}',  # not UTF-8: was 400 without request id
        b'{"username": "x", "password": ' + b"9" * 5000 + b"}",  # past int's digit limit
    ):
        r = c.post("/api/v1/tokens", content=body, headers=json_header)
        assert r.status_code == 400, (body[:40], r.status_code, r.text)
        answer = r.json()
        assert answer["error"] == "invalid_json", answer
        assert answer["request_id"] == "probe-1"
        assert answer["fields"] == {"(body)": "not valid JSON"}
    missing = c.get("/api/v1/no-such-route", headers={"X-Request-ID": "probe-2"})
    assert missing.status_code == 404 and missing.json()["request_id"] == "probe-2"


def test_bodies_past_the_limit_get_413_before_sign_in(web: Web) -> None:
    c = web.client()
    big = b'{"username": "' + b"x" * (5 * 1024 * 1024) + b'", "password": "x"}'
    declared = c.post("/api/v1/tokens", content=big, headers={"Content-Type": "application/json"})
    assert declared.status_code == 413, declared.text[:200]
    assert declared.json()["error"] == "too_large" and declared.json()["request_id"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
        yield b'{"username": "'
        for _ in range(80):
            yield b"x" * 65536
        yield b'", "password": "x"}'

    streamed = c.post(
        "/api/v1/tokens", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413, streamed.text[:200]
    assert streamed.json()["error"] == "too_large"
    small = c.post("/api/v1/tokens", json={"username": "nobody", "password": "wrong-password"})
    assert small.status_code == 401


def test_pages_carry_security_headers_and_signed_in_answers_are_not_cached(web: Web) -> None:
    anonymous = web.client().get("/login")
    csp = anonymous.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp.split("style-src")[0]
    assert "frame-ancestors 'self'" in csp and "object-src 'none'" in csp
    assert anonymous.headers["referrer-policy"] == "same-origin"
    assert anonymous.headers["x-content-type-options"] == "nosniff"
    assert anonymous.headers.get("cache-control") != "no-store"
    browser, _csrf = web.login("counsellor.tun")
    assert browser.get("/inbox").headers["cache-control"] == "no-store"
    api = web.client().get("/api/v1/me", headers=web.token("counsellor.tun"))
    assert api.headers["cache-control"] == "no-store"


def test_metrics_need_the_token_when_one_is_set_and_in_production(web: Web) -> None:
    c = web.client()
    assert c.get("/metrics").status_code == 200  # development mode, no token: open
    web.aqd.settings = web.aqd.settings.model_copy(update={"metrics_token": SecretStr("scrape-me")})
    assert c.get("/metrics").status_code == 401
    assert c.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    ok = c.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
    assert ok.status_code == 200 and "aqd_http_requests_total" in ok.text
    web.aqd.settings = web.aqd.settings.model_copy(
        update={"metrics_token": SecretStr(""), "mode": "production"}
    )
    assert c.get("/metrics").status_code == 401


def test_session_cookies_are_secure_in_production_mode() -> None:
    assert cookies_secure(Settings(mode="production")) is True
    assert cookies_secure(Settings(mode="development")) is False
    assert cookies_secure(Settings(mode="production", secure_cookies=False)) is False
