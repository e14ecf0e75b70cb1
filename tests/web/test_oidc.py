"""Sign-in with the national identity provider (OpenID Connect), against the real local
provider (``api/dev_idp.py``) served over HTTP: a user links their identity from their settings,
then signs in with it; unknown identities, replayed or forged answers and tokens are refused."""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from authlib.jose import JsonWebKey, jwt
from pydantic import SecretStr
from starlette.testclient import TestClient

from api.dev_idp import DevIdentityProvider
from api.pages import oidc
from tests.web.conftest import Web, csrf_of

CALLBACK = "http://127.0.0.1:8000/login/oidc/callback"


@pytest.fixture(scope="module")
def idp() -> Iterator[DevIdentityProvider]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    provider = DevIdentityProvider(f"http://127.0.0.1:{port}", {"aqd": ("s3cret", (CALLBACK,))})
    server = uvicorn.Server(
        uvicorn.Config(provider.app(), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield provider
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def sso(web: Web, idp: DevIdentityProvider) -> Web:
    web.aqd.settings = web.aqd.settings.model_copy(
        update={
            "oidc_issuer": idp.issuer,
            "oidc_client_id": "aqd",
            "oidc_client_secret": SecretStr("s3cret"),
        }
    )
    return web


def through_idp(
    idp: DevIdentityProvider, location: str, subject: str, decision: str = "allow"
) -> str:
    """Play the user at the provider's sign-in page; returns where it sends the browser back."""
    url = urllib.parse.urlsplit(location)
    assert f"{url.scheme}://{url.netloc}" == idp.issuer and url.path == "/authorize"
    query = dict(urllib.parse.parse_qsl(url.query))
    assert query["code_challenge_method"] == "S256" and query["redirect_uri"] == CALLBACK
    browser = TestClient(idp.app(), follow_redirects=False)
    page = browser.get(f"/authorize?{url.query}")
    assert page.status_code == 200 and "Identifiant national" in page.text
    fields = {k: query.get(k, "") for k in ("client_id", "redirect_uri", "state", "nonce")}
    fields["code_challenge"] = query["code_challenge"]
    back = browser.post(
        "/authorize", data={**fields, "subject": subject, "name": "X", "decision": decision}
    )
    assert back.status_code == 303
    target = back.headers["location"]
    assert target.startswith(CALLBACK + "?")
    return "/login/oidc/callback?" + target.split("?", 1)[1]


def sign_in(web: Web, idp: DevIdentityProvider, subject: str) -> tuple[TestClient, Any]:
    c = web.client()
    start = c.get("/login/oidc")
    assert start.status_code == 303
    return c, c.get(through_idp(idp, start.headers["location"], subject))


def test_without_an_issuer_there_is_no_identity_button(web: Web) -> None:
    c = web.client()
    assert 'data-testid="oidc-login"' not in c.get("/login").text
    assert c.get("/login/oidc").status_code == 404


def test_link_then_sign_in_with_the_national_identity(sso: Web, idp: DevIdentityProvider) -> None:
    assert 'data-testid="oidc-login"' in sso.client().get("/login").text
    me, _ = sso.login("beneficiary.tun")
    settings = me.get("/me/settings").text
    assert 'data-testid="link-identity"' in settings
    start = me.get("/login/oidc", params={"intent": "link"})
    linked = me.get(through_idp(idp, start.headers["location"], "09876543"))
    assert linked.status_code == 303 and linked.headers["location"].endswith("identity_linked")
    assert 'data-testid="identity-linked"' in me.get("/me/settings").text

    c, done = sign_in(sso, idp, "09876543")
    assert done.status_code == 303, done.text
    home = c.get(done.headers["location"])
    assert home.status_code == 200
    assert c.get("/api/v1/me").json()["username"] == "beneficiary.tun"
    # The session is an ordinary one: the user's own pages work, others' do not.
    assert c.get("/me/signatures").status_code == 200
    assert c.get("/inbox").status_code in (403, 404)

    # A code is single use: replaying the provider's answer, flow cookie included, is refused.
    c2 = sso.client()
    back = through_idp(idp, c2.get("/login/oidc").headers["location"], "09876543")
    flow = c2.cookies.get(oidc.FLOW_COOKIE)
    assert flow and c2.get(back).status_code == 303
    replay = sso.client()
    replay.cookies.set(oidc.FLOW_COOKIE, flow, path="/login/oidc")
    assert replay.get(back).status_code == 401

    # Unlinking: the identity no longer signs anybody in.
    csrf = csrf_of(me.get("/me/settings").text)
    assert me.post("/me/identity/unlink", data={"csrf_token": csrf}).status_code == 303
    _c, refused = sign_in(sso, idp, "09876543")
    assert refused.status_code == 403


def test_unknown_identity_denial_and_forged_state_are_refused(
    sso: Web, idp: DevIdentityProvider
) -> None:
    c, page = sign_in(sso, idp, "11111111")
    assert page.status_code == 403
    assert 'data-testid="login-error"' in page.text and "Aucun compte" in page.text
    assert "aqd_session" not in c.cookies

    c = sso.client()
    start = c.get("/login/oidc")
    denied = c.get(through_idp(idp, start.headers["location"], "11111111", decision="deny"))
    assert denied.status_code == 401 and 'data-testid="login-error"' in denied.text

    c = sso.client()
    start = c.get("/login/oidc")
    back = through_idp(idp, start.headers["location"], "11111111")
    forged = re.sub(r"state=[^&]+", "state=forged", back)
    assert c.get(forged).status_code == 401


def test_an_identity_links_to_one_account_only(sso: Web, idp: DevIdentityProvider) -> None:
    for user, status in (("employer.tun", 303), ("employer2.tun", 409)):
        me, _ = sso.login(user)
        start = me.get("/login/oidc", params={"intent": "link"})
        r = me.get(through_idp(idp, start.headers["location"], "07777777"))
        assert r.status_code == status, r.text
    assert "déjà lié" in r.text


def test_id_tokens_are_checked(sso: Web, idp: DevIdentityProvider) -> None:
    client = oidc.client_for(sso.aqd)
    now = time.time()
    good = {
        "iss": idp.issuer,
        "sub": "1",
        "aud": "aqd",
        "iat": int(now),
        "exp": int(now) + 300,
        "nonce": "n1",
    }
    kid = idp.key.as_dict()["kid"]

    def token(claims: dict[str, Any], key: Any = None, header: dict[str, str] | None = None) -> str:
        h = header or {"alg": "RS256", "kid": kid}
        return str(jwt.encode(h, claims, key or idp.key).decode())

    assert client.verify(token(good), "n1")["sub"] == "1"
    other = JsonWebKey.generate_key("RSA", 2048, is_private=True, options={"kid": kid})
    bad = [
        token(good, key=other),  # signed by somebody else
        token({**good, "nonce": "n2"}),  # another sign-in's token
        token({**good, "aud": "someone-else"}),
        token({**good, "iss": "http://evil.example"}),
        token({**good, "exp": int(now) - 3600}),  # expired
        token({k: v for k, v in good.items() if k != "nonce"}),
    ]
    for forged in bad:
        with pytest.raises(oidc.OidcError):
            client.verify(forged, "n1")
    header, body = b'{"alg":"none","typ":"JWT"}', json.dumps(good).encode()
    unsigned = f"{_b64url(header)}.{_b64url(body)}."  # alg "none" is never accepted
    with pytest.raises(oidc.OidcError):
        client.verify(unsigned, "n1")


def _b64url(raw: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "cookie",
    [
        {"state": 1234, "nonce": "n"},  # numeric state, no verifier: was a 500
        {"state": "1234", "nonce": "n"},  # no verifier
        ["state", "1234"],  # not an object
        "not base64 json",
    ],
)
def test_a_forged_flow_cookie_is_refused_with_401(
    sso: Web, idp: DevIdentityProvider, cookie: object
) -> None:
    c = sso.client()
    value = (
        cookie
        if isinstance(cookie, str)
        else base64.urlsafe_b64encode(json.dumps(cookie).encode()).decode()
    )
    c.cookies.set(oidc.FLOW_COOKIE, value, path="/login/oidc")
    page = c.get("/login/oidc/callback?state=1234&code=abc")
    assert page.status_code == 401, page.text[:300]
    assert 'data-testid="login-error"' in page.text
