"""One error shape, with the request id, for every 4xx (issue 18, item 6): JSON
``{"error", "detail", "fields", "request_id"}`` on API routes, the error page in the user's
language (with the same request id) on page routes — whichever layer refused the request: the
body-size and URL checks before routing, Starlette's routing (404, 405), FastAPI's request
validation (422, invalid JSON, invalid UTF-8, huge integers: 400) or the engine (401, 403, 404,
409, 422, 429)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import Web

BIG = b"x" * (4096 * 1024 + 1)  # past AQD_MAX_BODY_KB
JSON = {"Content-Type": "application/json"}
COMPANY = {
    "name": "Forme SARL",
    "matricule_fiscal": "9998887G",
    "cnss_number": "112233",
    "sector": "services",
    "governorate": "Tunis",
    "office": "TUN",
    "username": "forme",
    "password": "a-long-password",
}


def _api_cases(web: Web) -> list[tuple[str, int, str, Any]]:
    """(what, status, error code, a function doing the request) for every kind of 4xx."""
    c = web.client()
    counsellor = web.token("counsellor.tun")
    head = web.token("head.tun")
    assert c.post("/api/v1/employers", json=COMPANY).status_code == 201
    for _ in range(3):
        c.post("/api/v1/tokens", json={"username": "head.sou", "password": "x"})
    return [
        ("unknown route", 404, "not_found", lambda: c.get("/api/v1/nothing-here")),
        (
            "unknown contract",
            404,
            "not_found",
            lambda: c.get("/api/v1/contracts/99999999", headers=counsellor),
        ),
        ("method", 405, "method_not_allowed", lambda: c.delete("/api/v1/me")),
        ("declared body size", 413, "too_large", lambda: c.post("/api/v1/tokens", content=BIG)),
        ("request shape", 422, "invalid_input", lambda: c.post("/api/v1/tokens", json={})),
        ("NUL in the URL", 422, "invalid_input", lambda: c.get("/api/v1/me?q=%00")),
        (
            "throttled",
            429,
            "too_many_attempts",
            lambda: c.post("/api/v1/tokens", json={"username": "head.sou", "password": "x"}),
        ),
        (
            "not JSON",
            400,
            "invalid_json",
            lambda: c.post("/api/v1/tokens", content=b"{", headers=JSON),
        ),
        (
            "not UTF-8",
            400,
            "invalid_json",
            lambda: c.post("/api/v1/tokens", content=b'{"username": "\xff"}', headers=JSON),
        ),
        (
            "huge integer",
            400,
            "invalid_json",
            lambda: c.post(
                "/api/v1/tokens", content=b'{"username": ' + b"9" * 5000 + b"}", headers=JSON
            ),
        ),
        ("no credentials", 401, "unauthenticated", lambda: c.get("/api/v1/me")),
        (
            "wrong role",
            403,
            "not_permitted",
            lambda: c.post("/api/v1/verifications", json={}, headers=counsellor),
        ),
        ("conflict", 409, "conflict", lambda: c.post("/api/v1/employers", json=COMPANY)),
        (
            "out-of-range month",
            422,
            "invalid_input",
            lambda: c.get(
                "/api/v1/analytics/lead-times", params={"month": "9999-12"}, headers=head
            ),
        ),
    ]


def test_every_api_4xx_has_the_error_shape_and_the_request_id(web: Web) -> None:
    for what, status, code, call in _api_cases(web):
        r = call()
        assert r.status_code == status, (what, r.status_code, r.text[:300])
        assert r.headers["content-type"] == "application/json", what
        body = r.json()
        assert set(body) == {"error", "detail", "fields", "request_id"}, (what, body)
        assert body["error"] == code, (what, body)
        assert isinstance(body["detail"], str) and body["detail"], what
        assert body["request_id"] == r.headers["x-request-id"] and body["request_id"], what


def test_a_request_id_given_by_the_client_comes_back_in_the_error(web: Web) -> None:
    r = web.client().get("/api/v1/nothing-here", headers={"X-Request-ID": "probe-18"})
    assert r.status_code == 404 and r.json()["request_id"] == "probe-18"
    page = web.client().get("/nothing-here", headers={"X-Request-ID": "probe-19"})
    assert page.status_code == 404 and 'data-testid="request-id">probe-19<' in page.text


_STATUS = re.compile(r'data-testid="error" data-status="(\d+)" data-code="([a-z_]+)"')
_REQUEST_ID = re.compile(r'data-testid="request-id">([^<]+)<')


@pytest.mark.parametrize(
    ("what", "status", "code", "heading"),
    [
        ("unknown page", 404, "not_found", "Introuvable"),
        ("method", 405, "method_not_allowed", "Accès refusé"),
        ("declared body size", 413, "too_large", "Trop volumineux"),
        ("path parameter", 422, "invalid_input", "La demande contient une erreur"),
        ("NUL in the URL", 422, "invalid_input", "La demande contient une erreur"),
        ("wrong role", 403, "not_permitted", "Accès refusé"),
        ("out of scope", 404, "not_found", "Introuvable"),
        ("out-of-range date", 422, "invalid_input", "La demande contient une erreur"),
    ],
)
def test_every_page_4xx_is_the_catalogued_error_page_with_the_request_id(
    web: Web, what: str, status: int, code: str, heading: str
) -> None:
    anonymous = web.client()
    employer, _ = web.login("employer.tun")
    head, _ = web.login("head.tun")
    requests: dict[str, Any] = {
        "unknown page": lambda: anonymous.get("/nothing-here"),
        "method": lambda: anonymous.delete("/login"),
        "declared body size": lambda: anonymous.post("/login", content=BIG),
        "path parameter": lambda: head.get("/documents/not-a-number"),
        "NUL in the URL": lambda: anonymous.get("/login?next=%00"),
        "wrong role": lambda: employer.get("/inbox"),
        "out of scope": lambda: employer.get("/contracts/99999999"),
        "out-of-range date": lambda: head.get("/inbox", params={"due_before": "9999-12-31"}),
    }
    r = requests[what]()
    assert r.status_code == status, (what, r.text[:300])
    assert r.headers["content-type"].startswith("text/html"), what
    found = _STATUS.search(r.text)
    assert found is not None and found.groups() == (str(status), code), what
    assert heading in r.text, what
    ids = _REQUEST_ID.findall(r.text)
    assert ids == [r.headers["x-request-id"]], what


def test_the_error_page_speaks_arabic_too(web: Web) -> None:
    c = TestClient(web.app, follow_redirects=False, cookies={"aqd_lang": "ar"})  # type: ignore[arg-type]
    r = c.get("/login?next=%00")
    assert r.status_code == 422 and 'lang="ar"' in r.text
    assert "لا يُسمح بالمحرف NUL في العنوان" in r.text
