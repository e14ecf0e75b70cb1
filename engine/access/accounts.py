"""Accounts: argon2 passwords, browser sessions, API tokens, login throttling, employer sign-up.

Each public function is one command with its own transaction. Secrets handed to a browser or an
API client (session id, token) are random 256-bit values stored only as SHA-256, and every
lookup goes through the hash, so comparing secrets never depends on their content.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import math
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from engine.commands.aqd import Aqd
from engine.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    NotPermitted,
    TooManyAttempts,
    Unauthenticated,
)
from engine.models import (
    ApiToken,
    Beneficiary,
    Employer,
    LoginThrottle,
    Office,
    User,
    UserRole,
    WebSession,
)
from engine.notifications import contacts

SESSION_LIFETIME = timedelta(hours=12)
TOKEN_LIFETIME = timedelta(days=90)
#: Each client (an IPv4 address, an IPv6 /64) may fail this many sign-ins per window, whatever
#: the accounts, before it is locked out for ``CLIENT_LOCK``: password spraying from one place.
CLIENT_WINDOW = timedelta(minutes=15)
CLIENT_LOCK = timedelta(minutes=15)
MAX_FAILURES_PER_CLIENT = 30
#: Per (account, client) pair: this many failures are free, then each one makes that pair wait
#: twice as long as the one before (1 s, 2 s, 4 s, …) up to ``PAIR_MAX_DELAY``; the pair's count
#: is forgotten ``PAIR_MEMORY`` after its last failure. The account itself is never locked: an
#: attacker's failures slow down the attacker's client, never the owner's.
PAIR_FREE_FAILURES = 3
PAIR_MAX_DELAY = timedelta(minutes=15)
PAIR_MEMORY = timedelta(hours=24)
LOCALES = ("ar", "fr")
OFFICE_ROLES = frozenset({"counsellor", "office_head", "finance"})
READ_ALL_ROLES = frozenset({"auditor", "programme_manager", "admin"})

_hasher = PasswordHasher()
# Verifying against this keeps unknown usernames as slow as wrong passwords.


@functools.cache
def dummy_hash() -> str:
    """A hash verified for an unknown user, so that a wrong username costs the time of a
    wrong password. Computed on first use (an argon2 hash takes about 0.2 s, which every
    process importing this module paid before, ``aqd --help`` included); the web application
    computes it at start-up, before its first login."""
    return _hasher.hash("aqd-timing-equaliser")


_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,99}$")
#: The part of a self-registered account's username its owner chooses (``sami`` in
#: ``sami@1472583k``).
_LOCAL_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,59}$")
_MATRICULE = re.compile(r"^[0-9]{7}[A-Z]([/ ]?[A-Z]/?[A-Z]/?[0-9]{3})?$")
_CNSS = re.compile(r"^[0-9]{6,12}$")


@dataclass(frozen=True)
class Principal:
    """Who is acting, with the scope every query is filtered by (DESIGN.md §5)."""

    user_id: int
    username: str
    display_name: str
    locale: str
    roles: frozenset[str]
    office_id: int | None = None
    employer_id: int | None = None
    beneficiary_id: int | None = None

    def has(self, *roles: str) -> bool:
        return any(role in self.roles for role in roles)

    @property
    def reads_everything(self) -> bool:
        return bool(self.roles & READ_ALL_ROLES)

    @property
    def is_office_staff(self) -> bool:
        return self.office_id is not None and bool(self.roles & OFFICE_ROLES)

    def to_dict(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "display_name": self.display_name,
            "locale": self.locale,
            "roles": sorted(self.roles),
            "office_id": self.office_id,
            "employer_id": self.employer_id,
            "beneficiary_id": self.beneficiary_id,
        }


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password_strength(password: str) -> None:
    if len(password) < 10:
        raise InvalidInput("password too short", fields={"password": "at least 10 characters"})


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def principal_of(session: Session, user: User) -> Principal:
    roles = frozenset(session.scalars(select(UserRole.role).where(UserRole.user_id == user.id)))
    return _principal(user, roles)


def _principal(user: User, roles: frozenset[str]) -> Principal:
    return Principal(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        locale=user.locale if user.locale in LOCALES else "fr",
        roles=roles,
        office_id=user.office_id,
        employer_id=user.employer_id,
        beneficiary_id=user.beneficiary_id,
    )


# -- login and throttling -------------------------------------------------------------------------


def client_key(address: str) -> str:
    """The throttling key of a client address: an IPv4 address as it is, an IPv6 address by
    its /64 network (one subscriber's whole allocation), anything else as given (bounded)."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address.strip()[:64] or "unknown"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else ip)


def throttle_keys(username: str, address: str) -> tuple[str, str]:
    """The (account, client) pair's key and the client's key of a sign-in attempt."""
    client = client_key(address)
    return f"pair:{client}|{username.strip().lower()[:100]}", f"client:{client}"


def _throttle_check(session: Session, keys: tuple[str, ...], now: datetime) -> None:
    """Refuse the attempt while any of ``keys`` is locked, saying how long to wait."""
    wait = 0
    for row in session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys))):
        if row.locked_until is not None and row.locked_until > now:
            wait = max(wait, math.ceil((row.locked_until - now).total_seconds()))
    if wait:
        raise TooManyAttempts(f"too many failed logins; try again in {wait} s", retry_after=wait)


def _locked_row(session: Session, key: str, now: datetime) -> LoginThrottle:
    row = session.get(LoginThrottle, key, with_for_update=True)
    if row is None:
        row = LoginThrottle(key=key, failures=0, window_start=now)
        session.add(row)
    return row


def _throttle_fail(session: Session, pair: str, client: str, now: datetime) -> None:
    """Count one failure against the (account, client) pair and against the client.

    The pair's row counts failures since ``window_start`` (its last failure, forgotten after
    ``PAIR_MEMORY``) and waits 2**(n - PAIR_FREE_FAILURES) s after the n-th; the client's row
    counts failures in a fixed window and locks the client when its budget is spent."""
    row = _locked_row(session, pair, now)
    if now - row.window_start > PAIR_MEMORY:
        row.failures = 0
    row.failures += 1
    row.window_start = now
    if row.failures >= PAIR_FREE_FAILURES:
        exponent = min(row.failures - PAIR_FREE_FAILURES, 20)
        delay = min(timedelta(seconds=2**exponent), PAIR_MAX_DELAY)
        row.locked_until = now + delay
    budget = _locked_row(session, client, now)
    if now - budget.window_start > CLIENT_WINDOW:
        budget.failures, budget.window_start = 0, now
    budget.failures += 1
    if budget.failures >= MAX_FAILURES_PER_CLIENT:
        budget.locked_until = now + CLIENT_LOCK
        budget.failures, budget.window_start = 0, now


def authenticate(aqd: Aqd, username: str, password: str, ip: str) -> Principal:
    """Check a username and password from the client at ``ip``; failures are recorded even
    though the login fails. Throttled per (account, client) pair and per client, never per
    account alone, so no one can lock another person out from elsewhere."""
    now = aqd.clock.now()
    name = username.strip().lower()
    pair, client = throttle_keys(name, ip)
    with aqd.session() as session, session.begin():
        _throttle_check(session, (pair, client), now)
        user = session.scalar(select(User).where(User.username == name))
        stored = user.password_hash if user is not None and user.active else None
        try:
            ok = _hasher.verify(stored or dummy_hash(), password) and stored is not None
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok or user is None:
            _throttle_fail(session, pair, client, now)
        else:
            # the pair starts afresh; the client's budget does not (signing in to one's own
            # account between guesses at others must not refill it)
            session.execute(delete(LoginThrottle).where(LoginThrottle.key == pair))
            if _hasher.check_needs_rehash(user.password_hash or ""):
                user.password_hash = hash_password(password)
            return principal_of(session, user)
    raise Unauthenticated("wrong username or password")


def open_session(aqd: Aqd, principal: Principal, ip: str, user_agent: str) -> tuple[str, str]:
    """A new browser session: returns (secret for the cookie, CSRF token for the forms)."""
    now = aqd.clock.now()
    secret, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with aqd.session() as session, session.begin():
        session.execute(
            delete(WebSession).where(
                WebSession.user_id == principal.user_id, WebSession.expires_at < now
            )
        )
        session.add(
            WebSession(
                secret_hash=digest(secret),
                user_id=principal.user_id,
                csrf_token=csrf,
                created_at=now,
                expires_at=now + SESSION_LIFETIME,
                ip=ip[:64],
                user_agent=user_agent[:300],
            )
        )
    return secret, csrf


def session_principal(session: Session, secret: str, now: datetime) -> tuple[Principal, str]:
    """The principal and CSRF token of a live browser session, or Unauthenticated."""
    row = session.execute(
        select(WebSession, User)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.secret_hash == digest(secret))
    ).one_or_none()
    if row is None or row.WebSession.expires_at <= now or not row.User.active:
        raise Unauthenticated("session expired or unknown; please sign in")
    return principal_of(session, row.User), row.WebSession.csrf_token


def close_session(aqd: Aqd, secret: str) -> None:
    with aqd.session() as session, session.begin():
        session.execute(delete(WebSession).where(WebSession.secret_hash == digest(secret)))


def create_token(aqd: Aqd, principal: Principal, name: str) -> dict[str, Any]:
    now = aqd.clock.now()
    secret = "aqd_" + secrets.token_urlsafe(32)
    with aqd.session() as session, session.begin():
        token = ApiToken(
            secret_hash=digest(secret),
            user_id=principal.user_id,
            name=name[:100] or "api",
            created_at=now,
            expires_at=now + TOKEN_LIFETIME,
        )
        session.add(token)
        session.flush()
        return {"id": token.id, "token": secret, "expires_at": (now + TOKEN_LIFETIME).isoformat()}


def token_principal(session: Session, secret: str, now: datetime) -> Principal:
    """The principal of a live bearer token: one query (token, user and roles together)."""
    rows = session.execute(
        select(ApiToken.revoked_at, ApiToken.expires_at, User, UserRole.role)
        .join(User, User.id == ApiToken.user_id)
        .outerjoin(UserRole, UserRole.user_id == User.id)
        .where(ApiToken.secret_hash == digest(secret))
    ).all()
    if not rows:
        raise Unauthenticated("invalid or expired token")
    revoked_at, expires_at, user, _role = rows[0]
    if revoked_at is not None or (expires_at is not None and expires_at <= now) or not user.active:
        raise Unauthenticated("invalid or expired token")
    roles = frozenset(r.role for r in rows if r.role is not None)
    return _principal(user, roles)


def revoke_token(aqd: Aqd, secret: str) -> None:
    with aqd.session() as session, session.begin():
        token = session.scalar(select(ApiToken).where(ApiToken.secret_hash == digest(secret)))
        if token is not None and token.revoked_at is None:
            token.revoked_at = aqd.clock.now()


def set_locale(aqd: Aqd, principal: Principal, locale: str) -> None:
    if locale not in LOCALES:
        raise InvalidInput(f"unknown language {locale!r}", fields={"locale": "ar or fr"})
    with aqd.session() as session, session.begin():
        user = session.get(User, principal.user_id)
        if user is not None:
            user.locale = locale


# -- national digital identity (OpenID Connect) ---------------------------------------------------


def principal_by_oidc_subject(aqd: Aqd, subject: str) -> Principal:
    """The active user whose account is linked to this identity-provider subject."""
    with aqd.session() as session:
        user = session.scalar(select(User).where(User.oidc_subject == subject))
        if user is None or not user.active:
            raise NotPermitted(
                "no Aqd account is linked to this identity: sign in with your password and "
                "link it in your settings, or ask your employment office"
            )
        return principal_of(session, user)


def link_oidc_subject(aqd: Aqd, principal: Principal, subject: str | None) -> None:
    """Link (or, with ``None``, unlink) the signed-in user's account to an identity."""
    with aqd.session() as session, session.begin():
        if subject is not None:
            taken = session.scalar(
                select(User.id).where(User.oidc_subject == subject, User.id != principal.user_id)
            )
            if taken is not None:
                raise Conflict("this identity is already linked to another Aqd account")
        user = session.get(User, principal.user_id)
        if user is None:
            raise NotFound("this account no longer exists")
        user.oidc_subject = subject


def oidc_linked(session: Session, principal: Principal) -> bool:
    return session.scalar(select(User.oidc_subject).where(User.id == principal.user_id)) is not None


# -- accounts -------------------------------------------------------------------------------


def create_user(
    session: Session,
    username: str,
    password: str | None,
    roles: list[str],
    now: datetime,
    *,
    display_name: str = "",
    locale: str = "fr",
    office_id: int | None = None,
    employer_id: int | None = None,
    beneficiary_id: int | None = None,
    namespace: str | None = None,
) -> User:
    """A user with ``roles``. With ``namespace`` (self-registration), ``username`` is the part
    its owner chose and the account is ``username@namespace``: only such accounts contain an
    ``@``, so a name chosen at sign-up can never meet a staff member's, and the caller checks
    that the namespace (the company) is new before, which is the only conflict it can meet."""
    name = username.strip().lower()
    if namespace is not None:
        if not _LOCAL_NAME.match(name):
            raise InvalidInput(
                "invalid username",
                fields={"username": "3-60 characters: lowercase letters, digits, . _ -"},
            )
        name = f"{name}@{namespace}"
    elif not _USERNAME.match(name):
        raise InvalidInput(
            f"invalid username {username!r}",
            fields={"username": "3-100 characters: lowercase letters, digits, . _ -"},
        )
    if session.scalar(select(User.id).where(User.username == name)) is not None:
        raise Conflict(f"username {name} is taken", fields={"username": "already taken"})
    if password is not None:
        check_password_strength(password)
    user = User(
        username=name,
        display_name=display_name or name,
        password_hash=hash_password(password) if password is not None else None,
        locale=locale if locale in LOCALES else "fr",
        office_id=office_id,
        employer_id=employer_id,
        beneficiary_id=beneficiary_id,
        active=True,
        created_at=now,
    )
    session.add(user)
    session.flush()
    for role in roles:
        session.add(UserRole(user_id=user.id, role=role))
    session.flush()
    return user


def company_namespace(matricule_fiscal: str) -> str:
    """The namespace of a company's accounts: its matricule fiscal without separators, in
    lower case (``1234567A/M/A/000`` → ``1234567ama000``)."""
    return re.sub(r"[/ ]", "", matricule_fiscal).lower()


def register_employer(
    aqd: Aqd,
    data: dict[str, Any],
    with_company: Callable[[Session, Employer, str], object] | None = None,
) -> Principal:
    """Sign up a company and its first account (role ``employer``), in one transaction. The
    company is ``pending`` until its office checks it (``engine/employers/registration.py``,
    whose ``register`` passes ``with_company`` to store its proofs in the same transaction:
    it is called with the session, the new company and the account's username).

    The account is ``<chosen name>@<matricule fiscal>`` (``sami@1472583k``): the company's
    namespace is new once the company is, so sign-up never says whether any other account
    exists (a chosen name alone could be a staff member's: issue 18 found ``counsellor.tun``
    that way). The one conflict left is the company's own, already registered.

    A phone or e-mail address given here is the company's first contact: a code goes to it at
    once, and it is applied (and receives signing codes) once the code is entered at
    ``/me/settings``, before the first signature; later changes need that contact's code too
    (``engine.notifications.contacts``)."""
    fields: dict[str, str] = {}
    text = {k: str(data.get(k) or "").strip() for k in data}
    mf = text.get("matricule_fiscal", "").upper()
    if not _MATRICULE.match(mf):
        fields["matricule_fiscal"] = "7 digits and a letter, e.g. 1234567A or 1234567A/M/000"
    if not _CNSS.match(text.get("cnss_number", "")):
        fields["cnss_number"] = "6 to 12 digits"
    for name in ("name", "sector", "governorate", "office", "username", "password"):
        if not text.get(name):
            fields.setdefault(name, "required")
    if len(text.get("name", "")) > 200:
        fields["name"] = "at most 200 characters"
    reach: dict[str, str] = {}  # the company's contact, verified by a code sent to it
    for kind in contacts.KINDS:
        try:
            reach[kind] = contacts.clean(kind, text.get(kind, ""))
        except InvalidInput as exc:
            fields.update(exc.fields)
    if fields:
        raise InvalidInput("the registration form has errors", fields=fields)
    now = aqd.clock.now()
    with aqd.session() as session, session.begin():
        office = session.scalar(select(Office).where(Office.code == text["office"]))
        if office is None:
            raise InvalidInput("unknown office", fields={"office": "not found"})
        namespace = company_namespace(mf)
        taken = session.scalar(select(Employer.id).where(Employer.matricule_fiscal == mf))
        if taken is None:  # the same matricule written with other separators
            taken = session.scalar(select(User.id).where(User.username.endswith(f"@{namespace}")))
        if taken is not None:
            raise Conflict(
                "this company is already registered; ask its account holder for access",
                fields={"matricule_fiscal": "already registered"},
            )
        employer = Employer(
            name=text["name"],
            matricule_fiscal=mf,
            cnss_number=text["cnss_number"],
            sector=text["sector"][:64],
            governorate=text["governorate"][:64],
            office_id=office.id,
            registration="pending",
        )
        session.add(employer)
        session.flush()
        user = create_user(
            session,
            text["username"],
            str(data.get("password") or ""),
            ["employer"],
            now,
            display_name=text.get("display_name") or text["name"],
            locale=text.get("locale", "fr"),
            employer_id=employer.id,
            namespace=namespace,
        )
        if with_company is not None:
            with_company(session, employer, user.username)
        for kind, value in reach.items():
            if value:  # waits for the code sent to it (the account has no verified contact)
                contacts.request_change(aqd, session, user.id, kind, value, actor=user.username)
        return principal_of(session, user)


def beneficiary_by_cin(session: Session, cin: str) -> Beneficiary | None:
    return session.scalar(select(Beneficiary).where(Beneficiary.cin == cin.strip()))
