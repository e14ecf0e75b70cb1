"""Sign in with the national identity provider (OpenID Connect, authorization code + PKCE).

Configured by ``AQD_OIDC_ISSUER``, ``AQD_OIDC_CLIENT_ID``, ``AQD_OIDC_CLIENT_SECRET`` (and
``AQD_OIDC_SCOPES``); without an issuer the routes answer 404 and the login page shows only the
password form. The provider is an external border: ``api/dev_idp.py`` is a real local provider
for development and the tests (``aqd dev-idp``).

Flow: ``GET /login/oidc`` sends the browser to the provider with a fresh ``state``, ``nonce`` and
PKCE challenge kept in a short-lived HttpOnly cookie; ``GET /login/oidc/callback`` checks the
state, exchanges the code (server to server, with the PKCE verifier and the client secret),
verifies the ID token (signature against the provider's JWKS, issuer, audience, expiry, nonce)
and then either signs in the user linked to the token's ``sub``, or — when a signed-in user
started the flow from their settings — links that ``sub`` to their account. Nobody is created
or linked by a sign-in alone: accounts (and their roles and scope) stay the agency's decision.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from dataclasses import dataclass
from typing import Any

with warnings.catch_warnings():  # authlib 1.x: "authlib.jose is deprecated" (kept until 2.0)
    import authlib.deprecate  # noqa: F401 (it installs an "always" filter for its warnings)

    warnings.simplefilter("ignore")
    from authlib.jose import JsonWebKey, JsonWebToken
    from authlib.jose.errors import JoseError
from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.auth import LANG_COOKIE, CallerDep, OptionalCallerDep, client_ip
from api.deps import AqdDep
from api.pages.common import (
    home_of,
    redirect,
    render,
    safe_next,
    secure_cookies,
    set_session_cookie,
)
from engine import Aqd, EngineError
from engine.access import accounts
from engine.config import Settings
from engine.errors import Conflict, NotFound, NotPermitted, Unauthenticated

FLOW_COOKIE = "aqd_oidc"
FLOW_SECONDS = 600
#: Signature algorithms accepted on ID tokens ("none" and HMAC with the client secret are not).
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]
LEEWAY_S = 60


class OidcError(EngineError):
    """The provider's answer cannot be trusted or used (shown on the login page)."""

    status_code = 401
    code = "oidc_failed"


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


def _http_json(url: str, data: dict[str, str] | None = None, auth: str = "") -> dict[str, Any]:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, method="POST" if body else "GET")  # noqa: S310
    req.add_header("Accept", "application/json")
    if auth:
        req.add_header("Authorization", auth)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 (operator's setting)
            parsed = json.loads(resp.read(1_000_000))
    except urllib.error.HTTPError as exc:
        detail = exc.read(2000).decode("utf-8", "replace")
        raise OidcError(f"the identity provider refused ({exc.code}): {detail[:200]}") from None
    except (urllib.error.URLError, TimeoutError, ValueError) as exc:
        raise OidcError(f"the identity provider cannot be reached: {exc}") from None
    if not isinstance(parsed, dict):
        raise OidcError("the identity provider answered something that is not a JSON object")
    return parsed


class OidcClient:
    """One relying party: discovery and keys cached for 10 minutes (refreshed on unknown kid)."""

    def __init__(self, settings: Settings) -> None:
        if not settings.oidc_issuer:
            raise NotFound("sign-in with the national identity is not configured")
        self.issuer = settings.oidc_issuer.rstrip("/")
        self.client_id = settings.oidc_client_id
        self.client_secret = settings.oidc_client_secret.get_secret_value()
        self.scopes = settings.oidc_scopes
        self.redirect_uri = settings.public_url.rstrip("/") + "/login/oidc/callback"
        self._provider: tuple[float, Provider] | None = None
        self._keys: tuple[float, Any] | None = None
        self._lock = threading.Lock()

    def provider(self) -> Provider:
        with self._lock:
            if self._provider and time.monotonic() - self._provider[0] < 600:
                return self._provider[1]
        doc = _http_json(f"{self.issuer}/.well-known/openid-configuration")
        if str(doc.get("issuer", "")).rstrip("/") != self.issuer:
            raise OidcError("the discovery document names another issuer")
        try:
            found = Provider(
                issuer=str(doc["issuer"]),
                authorization_endpoint=str(doc["authorization_endpoint"]),
                token_endpoint=str(doc["token_endpoint"]),
                jwks_uri=str(doc["jwks_uri"]),
            )
        except KeyError as exc:
            raise OidcError(f"the discovery document has no {exc.args[0]}") from None
        with self._lock:
            self._provider = (time.monotonic(), found)
        return found

    def keys(self, refresh: bool = False) -> Any:
        with self._lock:
            if not refresh and self._keys and time.monotonic() - self._keys[0] < 600:
                return self._keys[1]
        jwks = JsonWebKey.import_key_set(_http_json(self.provider().jwks_uri))
        with self._lock:
            self._keys = (time.monotonic(), jwks)
        return jwks

    def authorization_url(self, state: str, nonce: str, verifier: str) -> str:
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scopes,
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge.rstrip(b"=").decode(),
            "code_challenge_method": "S256",
        }
        return f"{self.provider().authorization_endpoint}?{urllib.parse.urlencode(query)}"

    def exchange(self, code: str, verifier: str) -> str:
        """The ID token for an authorization code."""
        basic = base64.b64encode(
            f"{urllib.parse.quote(self.client_id)}:{urllib.parse.quote(self.client_secret)}".encode()
        ).decode()
        tokens = _http_json(
            self.provider().token_endpoint,
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.redirect_uri,
                "code_verifier": verifier,
            },
            auth=f"Basic {basic}",
        )
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise OidcError("the identity provider returned no ID token")
        return id_token

    def verify(self, id_token: str, nonce: str, now: float | None = None) -> dict[str, Any]:
        """The ID token's claims, once its signature, issuer, audience, times and nonce hold."""
        jwt = JsonWebToken(ALGORITHMS)
        options = {
            "iss": {"essential": True, "value": self.provider().issuer},
            "aud": {"essential": True, "value": self.client_id},
            "sub": {"essential": True},
            "exp": {"essential": True},
            "nonce": {"essential": True, "value": nonce},
        }
        for attempt in (False, True):  # a key rotated at the provider: fetch the set once more
            try:
                claims = jwt.decode(id_token, self.keys(refresh=attempt), claims_options=options)
                claims.validate(now=int(now if now is not None else time.time()), leeway=LEEWAY_S)
            except ValueError as exc:  # unknown "kid" (authlib raises ValueError)
                if attempt:
                    raise OidcError(f"the ID token's key is unknown: {exc}") from None
                continue
            except JoseError as exc:
                raise OidcError(f"the ID token is not valid: {exc.error}") from None
            aud = claims.get("aud")
            if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != self.client_id:
                raise OidcError("the ID token was issued to another client")
            return dict(claims)
        raise OidcError("the ID token cannot be verified")  # pragma: no cover


_clients: dict[tuple[str, ...], OidcClient] = {}


def client_for(aqd: Aqd) -> OidcClient:
    """The relying party for these settings (one per configuration, keeping its caches)."""
    s = aqd.settings
    if not s.oidc_issuer:
        raise NotFound("sign-in with the national identity is not configured")
    key = (
        s.oidc_issuer,
        s.oidc_client_id,
        s.oidc_client_secret.get_secret_value(),
        s.oidc_scopes,
        s.public_url,
    )
    found = _clients.get(key)
    if found is None:
        found = _clients[key] = OidcClient(s)
    return found


def _b64(value: dict[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


#: what a flow cookie this server wrote always carries, each a string
_FLOW_KEYS = ("state", "verifier", "nonce")


def _unb64(value: str) -> dict[str, str]:
    """The sign-in flow from its cookie, or ``{}`` when the cookie is not one this server
    wrote: not base64 JSON, not an object, or without a string state, verifier and nonce (a
    forged cookie with a numeric state or no verifier made the callback answer 500)."""
    try:
        parsed = json.loads(base64.urlsafe_b64decode(value.encode()))
    except (ValueError, UnicodeDecodeError):
        return {}
    if not isinstance(parsed, dict) or not all(
        isinstance(parsed.get(key), str) for key in _FLOW_KEYS
    ):
        return {}
    return {k: v for k, v in parsed.items() if isinstance(v, str)}


router = APIRouter(include_in_schema=False)


@router.get("/login/oidc")
def start(request: Request, caller: OptionalCallerDep, aqd: AqdDep) -> Response:
    """Send the browser to the identity provider (``intent=link`` from /me/settings)."""
    oidc = client_for(aqd)
    intent = "link" if request.query_params.get("intent") == "link" else "login"
    if intent == "link" and caller is None:
        return redirect("/login?next=/me/settings")
    flow = {
        "state": secrets.token_urlsafe(24),
        "nonce": secrets.token_urlsafe(24),
        "verifier": secrets.token_urlsafe(48),
        "intent": intent,
        "next": safe_next(request.query_params.get("next"), ""),
    }
    try:
        target = oidc.authorization_url(flow["state"], flow["nonce"], flow["verifier"])
    except OidcError as exc:
        return render(request, "login.html", None, 502, error=exc, next=flow["next"])
    response = redirect(target)
    response.set_cookie(
        FLOW_COOKIE,
        _b64(flow),
        max_age=FLOW_SECONDS,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(),
        path="/login/oidc",
    )
    return response


@router.get("/login/oidc/callback")
def callback(request: Request, caller: OptionalCallerDep, aqd: AqdDep) -> Response:
    oidc = client_for(aqd)
    flow = _unb64(request.cookies.get(FLOW_COOKIE, ""))
    q = request.query_params
    try:
        if not flow or not secrets.compare_digest(flow.get("state", ""), q.get("state", "")):
            raise OidcError("this sign-in was not started here or took too long; try again")
        if q.get("error"):
            raise OidcError(f"the identity provider said: {q.get('error')}")
        claims = oidc.verify(oidc.exchange(q.get("code", ""), flow["verifier"]), flow["nonce"])
        subject = str(claims["sub"])
        if flow.get("intent") == "link":
            if caller is None:
                raise Unauthenticated("sign in first, then link your identity")
            accounts.link_oidc_subject(aqd, caller.principal, subject)
            response = redirect("/me/settings?notice=identity_linked")
        else:
            principal = accounts.principal_by_oidc_subject(aqd, subject)
            secret, _csrf = accounts.open_session(
                aqd, principal, client_ip(request), request.headers.get("user-agent", "")
            )
            response = redirect(safe_next(flow.get("next"), home_of(principal)))
            set_session_cookie(response, secret)
            response.set_cookie(
                LANG_COOKIE, principal.locale, samesite="lax", secure=secure_cookies()
            )
    except (OidcError, Unauthenticated, Conflict, NotFound, NotPermitted) as exc:
        page = render(request, "login.html", None, exc.status_code, error=exc, next="")
        page.delete_cookie(FLOW_COOKIE, path="/login/oidc")
        return page
    response.delete_cookie(FLOW_COOKIE, path="/login/oidc")
    return response


@router.post("/me/identity/unlink")
def unlink(caller: CallerDep, aqd: AqdDep) -> Response:
    """Stop signing in with the national identity (the password stays)."""
    accounts.link_oidc_subject(aqd, caller.principal, None)
    return redirect("/me/settings?notice=identity_unlinked")
