"""A small local OpenID Connect provider standing in for the national identity provider.

The national provider is an external border; this is its real local implementation (as
``engine/payments/devbank.py`` is the bank's): authorization code flow with PKCE (S256 only),
client authentication by HTTP Basic or form fields, single-use codes that expire after a minute,
ID tokens signed RS256 with a key generated at start-up and published as a JWKS. Its sign-in
page asks for the identity to assert (a national identifier and a name) — it checks nothing
else, so it is for development and tests only: ``aqd dev-idp --port 9000`` then start Aqd with
``AQD_OIDC_ISSUER=http://127.0.0.1:9000 AQD_OIDC_CLIENT_ID=aqd AQD_OIDC_CLIENT_SECRET=dev``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import threading
import time
import urllib.parse
import warnings
from dataclasses import dataclass, field
from typing import Any

with warnings.catch_warnings():  # authlib 1.x: "authlib.jose is deprecated" (kept until 2.0)
    import authlib.deprecate  # noqa: F401 (it installs an "always" filter for its warnings)

    warnings.simplefilter("ignore")
    from authlib.jose import JsonWebKey, jwt
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

CODE_SECONDS = 60
TOKEN_SECONDS = 300


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str
    subject: str
    name: str
    issued: float


@dataclass
class DevIdentityProvider:
    issuer: str
    clients: dict[str, tuple[str, tuple[str, ...]]]  # client id -> (secret, redirect URIs)
    key: Any = field(default=None)
    codes: dict[str, _Grant] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.issuer = self.issuer.rstrip("/")
        if self.key is None:
            self.key = JsonWebKey.generate_key(
                "RSA", 2048, is_private=True, options={"kid": "dev-" + secrets.token_hex(4)}
            )

    def id_token(self, grant: _Grant, now: float | None = None) -> str:
        at = int(now if now is not None else time.time())
        claims = {
            "iss": self.issuer,
            "sub": grant.subject,
            "aud": grant.client_id,
            "iat": at,
            "exp": at + TOKEN_SECONDS,
            "nonce": grant.nonce,
            "name": grant.name,
        }
        header = {"alg": "RS256", "kid": self.key.as_dict()["kid"]}
        return str(jwt.encode(header, claims, self.key).decode())

    def app(self) -> FastAPI:
        app = FastAPI(title="Aqd development identity provider", docs_url=None, redoc_url=None)

        def error(status: int, code: str, detail: str) -> JSONResponse:
            return JSONResponse({"error": code, "error_description": detail}, status_code=status)

        @app.get("/.well-known/openid-configuration")
        def discovery() -> dict[str, Any]:
            return {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
            }

        @app.get("/jwks")
        def jwks() -> dict[str, Any]:
            return {"keys": [self.key.as_dict(is_private=False)]}

        @app.get("/authorize", response_model=None)
        def authorize(request: Request) -> HTMLResponse | JSONResponse:
            q = request.query_params
            client = self.clients.get(q.get("client_id", ""))
            if client is None or q.get("redirect_uri") not in client[1]:
                return error(400, "invalid_request", "unknown client or redirect URI")
            if q.get("response_type") != "code" or q.get("code_challenge_method") != "S256":
                return error(400, "invalid_request", "code flow with PKCE S256 only")
            hidden = "".join(
                f'<input type="hidden" name="{k}" value="{html.escape(q.get(k, ""))}">'
                for k in ("client_id", "redirect_uri", "state", "nonce", "code_challenge")
            )
            return HTMLResponse(
                "<!doctype html><html lang='fr'><head><meta charset='utf-8'>"
                "<title>Identité numérique (développement)</title></head><body>"
                "<h1>Identité numérique — fournisseur de développement</h1>"
                "<form method='post' action='/authorize'>" + hidden + "<label for='sub'>"
                "Identifiant national</label> <input id='sub' name='subject' required> "
                "<label for='name'>Nom</label> <input id='name' name='name'> "
                "<button name='decision' value='allow'>Continuer</button> "
                "<button name='decision' value='deny'>Refuser</button></form></body></html>"
            )

        @app.post("/authorize", response_model=None)
        def consent(
            client_id: str = Form(...),
            redirect_uri: str = Form(...),
            state: str = Form(""),
            nonce: str = Form(""),
            code_challenge: str = Form(...),
            subject: str = Form(""),
            name: str = Form(""),
            decision: str = Form("allow"),
        ) -> RedirectResponse | JSONResponse:
            client = self.clients.get(client_id)
            if client is None or redirect_uri not in client[1]:
                return error(400, "invalid_request", "unknown client or redirect URI")
            if decision != "allow" or not subject.strip():
                query = {"error": "access_denied", "state": state}
            else:
                code = secrets.token_urlsafe(24)
                with self.lock:
                    self.codes[code] = _Grant(
                        client_id,
                        redirect_uri,
                        code_challenge,
                        nonce,
                        subject.strip(),
                        name.strip(),
                        time.monotonic(),
                    )
                query = {"code": code, "state": state}
            return RedirectResponse(
                f"{redirect_uri}?{urllib.parse.urlencode(query)}", status_code=303
            )

        @app.post("/token")
        async def token(request: Request) -> JSONResponse:
            form = {k: str(v) for k, v in (await request.form()).items()}
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
            auth = request.headers.get("authorization", "")
            if auth.startswith("Basic "):
                try:
                    raw = base64.b64decode(auth[6:]).decode()
                except ValueError:
                    return error(401, "invalid_client", "bad Basic header")
                user, _, password = raw.partition(":")
                client_id, secret = urllib.parse.unquote(user), urllib.parse.unquote(password)
            client = self.clients.get(client_id)
            if client is None or not secrets.compare_digest(client[0], secret):
                return error(401, "invalid_client", "wrong client id or secret")
            if form.get("grant_type") != "authorization_code":
                return error(400, "unsupported_grant_type", "authorization_code only")
            with self.lock:
                grant = self.codes.pop(form.get("code", ""), None)  # single use
            if grant is None or time.monotonic() - grant.issued > CODE_SECONDS:
                return error(400, "invalid_grant", "unknown, used or expired code")
            if grant.client_id != client_id or grant.redirect_uri != form.get("redirect_uri"):
                return error(400, "invalid_grant", "the code was issued to another client")
            verifier = form.get("code_verifier", "")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            if not secrets.compare_digest(digest.rstrip(b"=").decode(), grant.challenge):
                return error(400, "invalid_grant", "PKCE verification failed")
            return JSONResponse(
                {
                    "access_token": secrets.token_urlsafe(24),
                    "token_type": "Bearer",
                    "expires_in": TOKEN_SECONDS,
                    "id_token": self.id_token(grant),
                },
                headers={"Cache-Control": "no-store"},
            )

        return app
