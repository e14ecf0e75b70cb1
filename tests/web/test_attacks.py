"""Attacks that held when issue 18 probed the server, kept as tests so they keep holding:
open redirects after sign-in and language changes, script injected through a company's name,
session cookies an attacker could read, fix or keep using after sign-out (docs/security.md)."""

from __future__ import annotations

from tests.web.conftest import PASSWORD, Web, csrf_of

#: ``next`` values that would leave the site, each as browsers would read it: scheme-relative,
#: absolute, backslash (read as a slash), a tab or newline inside ``//`` (browsers strip them),
#: a scheme without slashes, an encoded slash
LEAVING = (
    "//evil.example/",
    "https://evil.example/",
    "/\\evil.example/",
    "\\\\evil.example/",
    "/\t/evil.example/",
    "/\n/evil.example/",
    "http:evil.example",
    "javascript:alert(1)",
)


def _leaves(location: str) -> bool:
    """Whether a browser following ``location`` would go to another site."""
    cleaned = location.replace("\t", "").replace("\n", "").replace("\r", "").replace("\\", "/")
    return not cleaned.startswith("/") or cleaned.startswith("//")


def test_sign_in_and_the_language_switch_never_redirect_off_the_site(web: Web) -> None:
    for target in LEAVING:
        c = web.client()
        token = csrf_of(c.get("/login").text)
        form = {
            "username": "counsellor.tun",
            "password": PASSWORD,
            "csrf_token": token,
            "next": target,
        }
        r = c.post("/login", data=form)
        assert r.status_code == 303
        assert r.headers["location"] == "/inbox", (target, r.headers["location"])
        anonymous = web.client()
        token = csrf_of(anonymous.get("/login").text)
        r = anonymous.post("/language", data={"lang": "ar", "next": target, "csrf_token": token})
        assert r.status_code == 303
        assert not _leaves(r.headers["location"]), (target, r.headers["location"])
        assert "evil" not in r.headers["location"]


def test_a_page_inside_the_site_is_where_sign_in_returns(web: Web) -> None:
    c = web.client()
    token = csrf_of(c.get("/login").text)
    form = {"username": "counsellor.tun", "password": PASSWORD, "csrf_token": token}
    r = c.post("/login", data={**form, "next": "/inbox?status=ready"})
    assert r.status_code == 303 and r.headers["location"] == "/inbox?status=ready"


def test_a_company_name_is_text_not_markup(web: Web) -> None:
    """A company names itself with markup at sign-up; its own page and the counsellor's
    request list show the text, escaped."""
    payload = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    c = web.client()
    created = c.post(
        "/api/v1/employers",
        json={
            "name": payload,
            "matricule_fiscal": "9998887Z",
            "cnss_number": "556677",
            "sector": "services",
            "governorate": "Tunis",
            "office": "TUN",
            "username": "boss",
            "password": "a-long-password",
        },
    )
    assert created.status_code == 201, created.text
    employer, _ = web.login(created.json()["username"], "a-long-password")
    page = employer.get("/").text
    assert "&lt;img src=x" in page or "&lt;img src=x" in employer.get("/employer").text
    for html in (page, employer.get("/employer").text):
        assert "<img src=x" not in html and "<script>alert(2)" not in html


def test_session_cookies_cannot_be_read_by_scripts_or_sent_cross_site(web: Web) -> None:
    c = web.client()
    token = csrf_of(c.get("/login").text)
    r = c.post(
        "/login", data={"username": "counsellor.tun", "password": PASSWORD, "csrf_token": token}
    )
    cookies = [v for k, v in r.headers.multi_items() if k == "set-cookie"]
    session = next(v for v in cookies if v.startswith("aqd_session="))
    flags = {part.strip().lower() for part in session.split(";")}
    assert "httponly" in flags and "samesite=lax" in flags


def test_a_session_an_attacker_plants_is_not_the_one_sign_in_opens(web: Web) -> None:
    """Session fixation: a cookie set before sign-in is replaced by a new secret."""
    c = web.client()
    c.cookies.set("aqd_session", "planted-by-the-attacker", domain="testserver.local")
    token = csrf_of(c.get("/login").text)
    r = c.post(
        "/login", data={"username": "counsellor.tun", "password": PASSWORD, "csrf_token": token}
    )
    assert r.status_code == 303
    assert c.cookies.get("aqd_session") not in (None, "planted-by-the-attacker")
    planted = web.client()
    planted.cookies.set("aqd_session", "planted-by-the-attacker", domain="testserver.local")
    assert planted.get("/inbox").status_code == 303  # not signed in: sent to sign-in


def test_signing_out_ends_the_session_on_the_server(web: Web) -> None:
    """A copied cookie stops working once its owner signs out (not just deleted locally)."""
    c, csrf = web.login("counsellor.tun")
    stolen = c.cookies.get("aqd_session")
    assert stolen
    assert c.post("/logout", data={"csrf_token": csrf}).status_code == 303
    thief = web.client()
    thief.cookies.set("aqd_session", stolen, domain="testserver.local")
    r = thief.get("/inbox")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
