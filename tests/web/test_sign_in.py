"""Sign-in throttling that cannot lock a person out, sign-up that does not reveal accounts, and
the client's address behind trusted proxies only (issue 18, item 5)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import httpx2
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select

from api import demo
from api.app import create_app
from api.proxies import client_address
from engine import Settings
from engine.access import accounts
from engine.config import proxy_networks
from engine.models import LoginThrottle, User, WebSession
from tests.conftest import _truncate
from tests.helpers.browser import LiveServer
from tests.web.conftest import PASSWORD, Web, csrf_of, make_web

TOKENS = "/api/v1/tokens"


def _token(c: TestClient, username: str, password: str) -> int:
    return c.post(TOKENS, json={"username": username, "password": password}).status_code


def test_an_attackers_failures_from_elsewhere_never_lock_the_owner_out(web: Web) -> None:
    """Issue 18: five wrong passwords from anyone locked the account for 15 minutes. Now the
    attacker's client waits longer and longer; the owner's client is not slowed at all."""
    attacker, owner = web.client("198.51.100.7"), web.client("203.0.113.20")
    codes = []
    for _ in range(12):
        codes.append(_token(attacker, "counsellor.tun", "guess"))
        web.clock.advance(seconds=1)
    assert codes[:3] == [401] * 3 and 429 in codes[3:]
    assert _token(attacker, "counsellor.tun", PASSWORD) == 429  # locked, even when right
    assert _token(owner, "counsellor.tun", PASSWORD) == 201
    # the owner's own typos cost the owner's client only
    assert [_token(owner, "counsellor.tun", "typo") for _ in range(3)] == [401] * 3
    assert _token(web.client("192.0.2.1"), "counsellor.tun", PASSWORD) == 201


def test_each_failure_past_the_free_ones_doubles_the_pairs_wait(web: Web) -> None:
    c = web.client("198.51.100.8")
    waits = []
    for _ in range(6):
        r = c.post(TOKENS, json={"username": "head.sou", "password": "x"})
        if r.status_code == 429:
            wait = int(r.headers["retry-after"])
            waits.append(wait)
            web.clock.advance(seconds=wait)
            r = c.post(TOKENS, json={"username": "head.sou", "password": "x"})
        assert r.status_code == 401
    assert waits == [1, 2, 4]  # after the 3rd, 4th and 5th failures
    with web.aqd.session() as s:
        pair = s.get(LoginThrottle, "pair:198.51.100.8|head.sou")
        assert pair is not None and pair.failures == 6
    web.clock.advance(seconds=8)
    assert _token(c, "head.sou", PASSWORD) == 201
    with web.aqd.session() as s:  # a success starts the pair afresh
        assert s.get(LoginThrottle, "pair:198.51.100.8|head.sou") is None


def test_a_client_that_spends_its_budget_is_locked_whatever_the_account(web: Web) -> None:
    """Password spraying: one client trying one password on many accounts."""
    sprayer = web.client("198.51.100.9")
    codes = [_token(sprayer, f"nobody{i}", "Summer2025!") for i in range(30)]
    assert codes == [401] * 30
    r = sprayer.post(TOKENS, json={"username": "auditor", "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["retry-after"]) == 15 * 60
    assert _token(web.client("198.51.100.10"), "auditor", PASSWORD) == 201


def test_client_keys_group_an_ipv6_subscriber() -> None:
    assert accounts.client_key("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert accounts.client_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert accounts.client_key("::ffff:192.0.2.4") == "192.0.2.4"
    assert accounts.client_key("192.0.2.4") == "192.0.2.4"
    assert accounts.client_key("testclient") == "testclient"


def test_registration_does_not_reveal_staff_usernames(web: Web) -> None:
    """Issue 18: registering a company as ``counsellor.tun`` answered 409 "username
    counsellor.tun is taken". A chosen name now lives in the company's namespace."""
    c = web.client()
    company = {
        "name": "Sonde Deux SARL",
        "matricule_fiscal": "2223334D",
        "cnss_number": "667788",
        "sector": "services",
        "governorate": "Tunis",
        "office": "TUN",
        "username": "counsellor.tun",
        "password": "a-long-password",
    }
    created = c.post("/api/v1/employers", json=company)
    assert created.status_code == 201, created.text
    assert created.json()["username"] == "counsellor.tun@2223334d"
    assert _token(c, "counsellor.tun@2223334d", "a-long-password") == 201
    assert _token(web.client("192.0.2.50"), "counsellor.tun", PASSWORD) == 201  # untouched
    # the same company again, under any name and spelling: the company's conflict, and only it
    for name, mf in (("auditor", "2223334D"), ("someone.new", "2223334d")):
        again = c.post(
            "/api/v1/employers", json={**company, "username": name, "matricule_fiscal": mf}
        )
        assert again.status_code == 409
        assert again.json()["fields"] == {"matricule_fiscal": "already registered"}
    # the page form: same answer, and the name chosen is shown with its namespace
    browser = web.client()
    token = csrf_of(browser.get("/register").text)
    form = {**company, "matricule_fiscal": "5556667E", "csrf_token": token, "username": "auditor"}
    r = browser.post("/register", data=form)
    assert r.status_code == 303
    assert "auditor@5556667e" in browser.get(r.headers["location"]).text
    with web.aqd.session() as s:
        names = set(s.scalars(select(User.username).where(User.username.like("%@%"))))
    assert names - {demo.PENDING_ACCOUNT} == {"counsellor.tun@2223334d", "auditor@5556667e"}


def test_a_chosen_name_must_be_a_plain_name(web: Web) -> None:
    c = web.client()
    company = {
        "name": "Sonde Trois SARL",
        "matricule_fiscal": "3334445F",
        "cnss_number": "778899",
        "sector": "services",
        "governorate": "Tunis",
        "office": "TUN",
        "username": "boss@2223334d",
        "password": "a-long-password",
    }
    r = c.post("/api/v1/employers", json=company)
    assert r.status_code == 422
    assert r.json()["fields"] == {"username": "3-60 characters: lowercase letters, digits, . _ -"}


# -- the client's address ---------------------------------------------------------------------

TRUSTED = proxy_networks("10.0.0.1, 10.8.0.0/16")


@pytest.mark.parametrize(
    ("peer", "header", "client"),
    [
        ("203.0.113.5", ["198.51.100.1"], "203.0.113.5"),  # an untrusted peer: header ignored
        ("10.0.0.1", ["198.51.100.1"], "198.51.100.1"),
        ("10.0.0.1", ["1.1.1.1, 198.51.100.1"], "198.51.100.1"),  # the left part is the client's
        ("10.0.0.1", ["1.1.1.1, 198.51.100.1, 10.8.3.4"], "198.51.100.1"),  # two proxies
        ("10.0.0.1", ["1.1.1.1", "198.51.100.1"], "198.51.100.1"),  # two header lines
        ("10.0.0.1", ["10.8.0.9"], "10.8.0.9"),  # only proxies: the farthest one
        ("10.0.0.1", ["not-an-address, 10.8.0.9"], "10.8.0.9"),
        ("10.0.0.1", [""], "10.0.0.1"),
    ],
)
def test_the_client_is_the_right_most_untrusted_address(
    peer: str, header: list[str], client: str
) -> None:
    assert client_address(peer, header, TRUSTED) == client
    assert client_address(peer, header, ()) == peer


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    assert proxy_networks("") == ()
    assert proxy_networks("10.0.0.1,fd00::/8") == (
        ipaddress.ip_network("10.0.0.1/32"),
        ipaddress.ip_network("fd00::/8"),
    )
    with pytest.raises(ValidationError, match="trusted_proxies"):
        Settings(trusted_proxies="10.0.0.1, proxy.internal")


def test_a_forwarded_address_from_an_untrusted_peer_does_not_escape_throttling(web: Web) -> None:
    c = web.client("198.51.100.11")
    codes = [
        c.post(
            TOKENS,
            json={"username": "head.gab", "password": "x"},
            headers={"X-Forwarded-For": f"192.0.2.{i}"},
        ).status_code
        for i in range(4)
    ]
    assert codes == [401] * 3 + [429]


def test_behind_a_trusted_proxy_each_client_has_its_own_budget(web: Web) -> None:
    web.aqd.settings.trusted_proxies = "10.0.0.1"
    app = create_app(web.aqd)
    proxy = TestClient(app, client=("10.0.0.1", 40000))
    attacker = {"X-Forwarded-For": "192.0.2.66, 198.51.100.66"}
    codes = [
        proxy.post(TOKENS, json={"username": "head.gab", "password": "x"}, headers=attacker)
        for _ in range(4)
    ]
    assert [r.status_code for r in codes] == [401] * 3 + [429]
    owner = {"X-Forwarded-For": "198.51.100.20"}
    ok = proxy.post(TOKENS, json={"username": "head.gab", "password": PASSWORD}, headers=owner)
    assert ok.status_code == 201
    with web.aqd.session() as s:
        keys = set(s.scalars(select(LoginThrottle.key)))
    assert keys == {"pair:198.51.100.66|head.gab", "client:198.51.100.66"}


@pytest.fixture
def served(pg_url: str) -> Iterator[LiveServer]:
    _truncate(pg_url)
    with LiveServer(make_web(pg_url)) as server:
        yield server


def test_the_served_application_ignores_forwarded_addresses_by_default(served: LiveServer) -> None:
    """``aqd serve`` runs uvicorn, which trusted ``X-Forwarded-For`` from 127.0.0.1 (issue 18:
    any local client could name itself anyone). The session records the socket's peer."""
    with httpx2.Client(base_url=served.url, follow_redirects=False) as c:
        token = csrf_of(c.get("/login").text)
        r = c.post(
            "/login",
            data={"username": "auditor", "password": PASSWORD, "csrf_token": token},
            headers={"X-Forwarded-For": "203.0.113.99"},
        )
        assert r.status_code == 303, r.text
    with served.web.aqd.session() as s:
        assert list(s.scalars(select(WebSession.ip))) == ["127.0.0.1"]
