# size: one rule (which contacts a signing code may reach) and the ceremony that makes a
# contact verified (request, codes to the new and to the verified contact, confirm, record).
"""Verified contacts (issue 18): where a signing code may go.

A signing code is a second factor only if it reaches something the holder of the password or
API token does not also control. So the phone or e-mail address a code goes to must be
*verified*, and an account's contact details change only through :func:`request_change` and
:func:`confirm`:

* a code goes to the **new** address, and the change waits until it is entered (the holder of
  the address took part);
* when the account already has a **verified** contact (its own, or the job-seeker registry's
  that the office recorded), a second code goes there, and the change waits for it too (the
  person who proved that contact before agrees); that message also tells them what was asked;
* removing a verified contact needs the code sent to a verified contact;
* once applied, the **old** address gets a notice;
* contacts the **office** records (:func:`record_by_office`: the registry for a job seeker, or
  an account's details) are verified at once; that is how someone who lost their phone gets
  back in.

An account without any verified contact can verify its first one with the code sent to it
alone: that is trust on first use, and the reason an employer verifies the contact given at
company registration, and the office records job seekers' contacts in the registry.

Every step is recorded in ``contact_event`` (addresses masked, with their SHA-256), and the
signing code's event on the contract names the verified contact it went to and when and how it
was verified. The codes travel as notifications through the outbox (after commit), pinned to
their address.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from engine.errors import Conflict, InvalidInput, NotFound, TooManyAttempts
from engine.models import Beneficiary, ContactChange, ContactEvent, User
from engine.notifications.delivery import masked
from engine.notifications.notify import EMAIL_PATTERN, normalise_phone, notify

if TYPE_CHECKING:
    from engine.commands.aqd import Aqd
    from engine.config import Settings

KINDS = ("phone", "email")
#: a signing code's channel for each kind of contact, in the order codes prefer them
CHANNEL_OF = {"phone": "sms", "email": "email"}
CHANGE_MINUTES = 30
MAX_ATTEMPTS = 5
#: change requests per account and 24 hours (each sends up to two messages)
MAX_REQUESTS_PER_DAY = 10
#: a pending change asked for again with the same value is sent again after this
RESEND_AFTER = timedelta(seconds=60)

#: catalogued messages (api/messages.py ENGINE_MESSAGES)
UNREACHABLE = "no code can be sent to this contact now; ask the office to record it"
UNREACHABLE_FIELD = "no code can be sent there"
NO_CONFIRMER = (
    "your verified contact cannot receive a code now; ask the office to record the new one"
)
WRONG_CODE = "wrong code"
NOT_PENDING = "this change is no longer waiting for a code; ask for a new one"
EXPIRED = "the codes have expired; ask for new ones"
TOO_MANY_WRONG = "too many wrong codes; ask for new ones"
TOO_MANY_REQUESTS = "too many changes were asked for today; try again tomorrow or ask the office"

_NAMES = {
    "phone": ("votre numéro de téléphone", "رقم هاتفكم"),
    "email": ("votre adresse e-mail", "عنوان بريدكم الإلكتروني"),
}


class ContactUnreachable(Conflict):
    """No code can reach a contact (production mode, no adapter for its channel)."""

    code = "contact_unreachable"


@dataclass(frozen=True)
class VerifiedContact:
    """A contact a signing code may go to."""

    kind: str
    address: str
    #: ``account`` (the user's own, verified) or ``registry`` (the job seeker's record)
    source: str
    #: ``code``, ``office`` or ``mailbox`` (development mode, no adapter: no proof)
    via: str
    verified_at: datetime | None

    @property
    def channel(self) -> str:
        return CHANNEL_OF[self.kind]

    def evidence(self) -> dict[str, Any]:
        """What a signing code's event says about where it went."""
        return {
            "to": masked(self.address),
            "address_sha256": address_hash(self.address),
            "source": self.source,
            "verified_via": self.via,
            "verified_at": self.verified_at.isoformat() if self.verified_at else None,
        }


def address_hash(address: str) -> str:
    return hashlib.sha256(address.strip().lower().encode()).hexdigest() if address else ""


def _code_hash(change_id: int, target: str, code: str) -> str:
    return hmac.new(f"{change_id}:{target}".encode(), code.encode(), hashlib.sha256).hexdigest()


def clean(kind: str, value: str) -> str:
    """A contact as stored: an e-mail address as given (stripped), a phone in international
    form; '' for none. Invalid input raises :class:`InvalidInput` naming the field."""
    value = value.strip()
    if not value:
        return ""
    if kind == "phone":
        return normalise_phone(value)
    if len(value) > 254 or not EMAIL_PATTERN.fullmatch(value):
        raise InvalidInput(
            "the e-mail address is not valid", fields={"email": "not an e-mail address"}
        )
    return value


def _registry_value(person: Beneficiary | None, kind: str) -> str:
    """The registry's contact of this kind, if it is a usable address."""
    raw = (getattr(person, kind) or "") if person is not None else ""
    try:
        return clean(kind, raw)
    except InvalidInput:  # the registry holds something no code can be sent to
        return ""


def verified_contacts(session: Session, user: User) -> list[VerifiedContact]:
    """The account's verified contacts, phones first: its own, then the job-seeker registry's
    (for a beneficiary's account)."""
    person = session.get(Beneficiary, user.beneficiary_id) if user.beneficiary_id else None
    found: list[VerifiedContact] = []
    for kind in KINDS:
        own = getattr(user, kind) or ""
        at: datetime | None = getattr(user, f"{kind}_verified_at")
        if own and at is not None:
            via = getattr(user, f"{kind}_verified_via") or "code"
            found.append(VerifiedContact(kind, own, "account", via, at))
        registry = _registry_value(person, kind)
        if registry and registry != own:
            found.append(VerifiedContact(kind, registry, "registry", "office", None))
    return found


def reachable(settings: Settings, channel: str) -> bool:
    """Whether a message on ``channel`` leaves Aqd (its adapter is configured)."""
    return bool(settings.sms_url) if channel == "sms" else bool(settings.smtp_host)


def _usable(settings: Settings, contact: VerifiedContact) -> bool:
    if not reachable(settings, contact.channel):
        return False
    # a contact "verified" through the mailbox proved nothing: development mode only
    return contact.via != "mailbox" or settings.mode == "development"


def signing_contact(session: Session, user: User, settings: Settings) -> VerifiedContact | None:
    """Where a signing code for ``user`` goes: the first verified contact a configured adapter
    reaches (SMS before e-mail), or None (then only the mailbox is left)."""
    for contact in verified_contacts(session, user):
        if _usable(settings, contact):
            return contact
    return None


def has_unverified(session: Session, user: User) -> bool:
    """Whether the account has a contact, or a change, still waiting to be verified."""
    if any(getattr(user, k) and getattr(user, f"{k}_verified_at") is None for k in KINDS):
        return True
    return (
        session.scalar(
            select(ContactChange.id).where(
                ContactChange.user_id == user.id, ContactChange.status == "pending"
            )
        )
        is not None
    )


# -- the record -----------------------------------------------------------------------------------


def record(
    session: Session,
    *,
    action: str,
    kind: str,
    address: str,
    actor: str,
    now: datetime,
    user_id: int | None = None,
    beneficiary_id: int | None = None,
    change_id: int | None = None,
    **detail: Any,
) -> None:
    session.add(
        ContactEvent(
            user_id=user_id,
            beneficiary_id=beneficiary_id,
            change_id=change_id,
            at=now,
            action=action,
            kind=kind,
            address=masked(address) if address else "",
            address_sha256=address_hash(address),
            actor=actor[:100],
            detail=detail,
        )
    )


def history(session: Session, user_id: int, limit: int = 100) -> list[dict[str, Any]]:
    """The account's contact events, newest first."""
    rows = session.scalars(
        select(ContactEvent)
        .where(ContactEvent.user_id == user_id)
        .order_by(ContactEvent.id.desc())
        .limit(limit)
    )
    return [
        {
            "at": e.at,
            "action": e.action,
            "kind": e.kind,
            "address": e.address,
            "address_sha256": e.address_sha256,
            "actor": e.actor,
            "detail": dict(e.detail or {}),
        }
        for e in rows
    ]


# -- what the user sees ---------------------------------------------------------------------------


def details(session: Session, user_id: int) -> dict[str, Any]:
    """The account's contacts, whether each is verified, and the changes waiting for codes."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("this account no longer exists")
    person = session.get(Beneficiary, user.beneficiary_id) if user.beneficiary_id else None
    out: dict[str, Any] = {}
    for kind in KINDS:
        out[kind] = getattr(user, kind) or ""
        out[f"{kind}_verified"] = (
            bool(out[kind]) and getattr(user, f"{kind}_verified_at") is not None
        )
        registry = _registry_value(person, kind)
        out[f"registry_{kind}"] = masked(registry) if registry else ""
    pending = session.scalars(
        select(ContactChange)
        .where(ContactChange.user_id == user_id, ContactChange.status == "pending")
        .order_by(ContactChange.id)
    )
    out["pending"] = [
        {
            "id": c.id,
            "kind": c.kind,
            "value": c.value or "",
            "needs_new_code": c.new_code_hash is not None and c.new_confirmed_at is None,
            "needs_current_code": c.current_code_hash is not None
            and c.current_confirmed_at is None,
            "current_to": masked(c.current_address) if c.current_address else "",
            "expires_at": c.expires_at,
        }
        for c in pending
    ]
    return out


# -- changes --------------------------------------------------------------------------------------


def _channel_for(settings: Settings, kind: str, field: str) -> str:
    """The channel a code to a contact of ``kind`` goes by: its own when its adapter is
    configured; the mailbox in development mode; refused in production mode."""
    channel = CHANNEL_OF[kind]
    if reachable(settings, channel):
        return channel
    if settings.mode == "development":
        return "mailbox"
    raise ContactUnreachable(UNREACHABLE, fields={field: UNREACHABLE_FIELD})


def _what(kind: str, value: str | None) -> dict[str, str]:
    """The change in words, in both languages (the confirmation and the notice say it)."""
    name_fr, name_ar = _NAMES[kind]
    if value:
        shown = masked(value)
        return {
            "change_fr": f"remplacer {name_fr} par {shown}",
            "change_ar": f"تعويض {name_ar} بـ {shown}",
        }
    return {"change_fr": f"supprimer {name_fr}", "change_ar": f"حذف {name_ar}"}


def _apply(
    session: Session,
    settings: Settings,
    user: User,
    kind: str,
    value: str | None,
    *,
    via: str,
    actor: str,
    now: datetime,
    change_id: int | None = None,
    also_tell: str = "",
) -> None:
    """Set the account's contact of ``kind`` (verified by ``via``), record it, and tell the
    old address (and ``also_tell``: the registry's old one, when the office replaced it)."""
    old = getattr(user, kind) or ""
    setattr(user, kind, value or None)
    setattr(user, f"{kind}_verified_at", now if value else None)
    setattr(user, f"{kind}_verified_via", via if value else None)
    record(
        session,
        action="verified" if value else "removed",
        kind=kind,
        address=value or old,
        actor=actor,
        now=now,
        user_id=user.id,
        change_id=change_id,
        via=via,
    )
    channel = CHANNEL_OF[kind] if reachable(settings, CHANNEL_OF[kind]) else "mailbox"
    for previous in sorted({old, also_tell} - {"", value or ""}):
        notify(
            session,
            key=f"contact_changed:{user.id}:{kind}:{change_id or now.isoformat()}:"
            + address_hash(previous)[:12],
            recipient=user.username,
            locale=user.locale,
            template="contact_changed",
            params={**_what(kind, value), "date": now.date().isoformat()},
            now=now,
            channel=channel,
            address=previous if channel != "mailbox" else None,
        )


def _send(
    session: Session,
    user: User,
    change: ContactChange,
    target: str,
    channel: str,
    address: str,
    code: str,
    template: str,
    params: dict[str, Any],
    actor: str,
    now: datetime,
) -> None:
    notify(
        session,
        key=f"contact:{change.id}:{target}",
        recipient=user.username,
        locale=user.locale,
        template=template,
        params={**params, "code": code, "minutes": CHANGE_MINUTES},
        now=now,
        channel=channel,
        address=address if channel != "mailbox" else None,
    )
    record(
        session,
        action="code_sent",
        kind=change.kind,
        address=address,
        actor=actor,
        now=now,
        user_id=user.id,
        change_id=change.id,
        to=target,
        channel=channel,
    )


def request_change(
    aqd: Aqd, session: Session, user_id: int, kind: str, value: str, *, actor: str
) -> ContactChange | None:
    """Ask to set the account's ``kind`` contact to ``value`` ('' removes it), in the caller's
    transaction. Returns the pending change waiting for codes, or None when nothing has to be
    confirmed (no change, or the removal of an unverified contact, applied at once)."""
    if kind not in KINDS:
        raise InvalidInput(f"unknown contact kind {kind!r}", fields={"kind": "email or phone"})
    settings: Settings = aqd.settings
    now: datetime = aqd.clock.now()
    value = clean(kind, value)
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("this account no longer exists")
    current = getattr(user, kind) or ""
    verified = getattr(user, f"{kind}_verified_at") is not None
    pending = session.scalar(
        select(ContactChange).where(
            ContactChange.user_id == user_id,
            ContactChange.kind == kind,
            ContactChange.status == "pending",
        )
    )
    if value == current and (verified or not value):
        return None
    if (
        pending is not None
        and (pending.value or "") == value
        and now - pending.created_at < RESEND_AFTER
    ):
        return pending
    confirmers = verified_contacts(session, user)
    if not value and not verified:  # an unverified contact goes without any code
        _apply(session, settings, user, kind, None, via="code", actor=actor, now=now)
        return None
    if value and any(c.kind == kind and c.address == value for c in confirmers):
        # already verified elsewhere (the registry the office keeps): nothing to prove
        _apply(session, settings, user, kind, value, via="office", actor=actor, now=now)
        return None
    asked = session.scalar(
        select(func.count(ContactChange.id)).where(
            ContactChange.user_id == user_id,
            ContactChange.created_at > now - timedelta(hours=24),
        )
    )
    if (asked or 0) >= MAX_REQUESTS_PER_DAY:
        raise TooManyAttempts(TOO_MANY_REQUESTS, retry_after=86400)
    new_channel = _channel_for(settings, kind, kind) if value else None
    confirmer: VerifiedContact | None = None
    if confirmers:
        usable = [c for c in confirmers if reachable(settings, c.channel)]
        if settings.mode != "development":
            usable = [c for c in usable if c.via != "mailbox"]
        # the contact being replaced confirms its own replacement when it can
        usable.sort(key=lambda c: (c.kind != kind, c.source != "account"))
        if usable:
            confirmer = usable[0]
        elif settings.mode == "development":
            confirmer = confirmers[0]  # its code goes to the mailbox: development only
        else:
            raise ContactUnreachable(NO_CONFIRMER, fields={kind: UNREACHABLE_FIELD})
    if pending is not None:
        _supersede(session, pending, actor, now)
    change = ContactChange(
        user_id=user_id,
        kind=kind,
        value=value or None,
        status="pending",
        requested_by=actor[:100],
        created_at=now,
        expires_at=now + timedelta(minutes=CHANGE_MINUTES),
        new_channel=new_channel,
        current_channel=None,
        current_address=confirmer.address if confirmer is not None else None,
        attempts=0,
        revision=1,
    )
    session.add(change)
    session.flush()
    record(
        session,
        action="change_requested",
        kind=kind,
        address=value or current,
        actor=actor,
        now=now,
        user_id=user_id,
        change_id=change.id,
        removal=not value,
        confirmed_by=confirmer.evidence() if confirmer is not None else None,
    )
    if value and new_channel is not None:
        code = f"{secrets.randbelow(1_000_000):06d}"
        change.new_code_hash = _code_hash(change.id, "new", code)
        names = {"what_fr": _NAMES[kind][0], "what_ar": _NAMES[kind][1]}
        _send(
            session,
            user,
            change,
            "new",
            new_channel,
            value,
            code,
            "contact_code",
            names,
            actor,
            now,
        )
    if confirmer is not None:
        code = f"{secrets.randbelow(1_000_000):06d}"
        channel = confirmer.channel if reachable(settings, confirmer.channel) else "mailbox"
        change.current_code_hash = _code_hash(change.id, "current", code)
        change.current_channel = channel
        what = _what(kind, value)
        _send(
            session,
            user,
            change,
            "current",
            channel,
            confirmer.address,
            code,
            "contact_confirm",
            what,
            actor,
            now,
        )
    session.flush()
    return change


def change(aqd: Aqd, user_id: int, values: dict[str, str], *, actor: str) -> dict[str, Any]:
    """The user's contact details form (``/me/settings``, ``PUT /api/v1/me/contact``): one
    transaction asking for every kind in ``values`` (:func:`request_change`); returns the
    account's :func:`details`, with the changes now waiting for codes."""
    fields: dict[str, str] = {}
    cleaned: dict[str, str] = {}
    for kind in KINDS:
        if kind not in values:
            continue
        try:
            cleaned[kind] = clean(kind, values[kind])
        except InvalidInput as exc:
            fields.update(exc.fields)
    if fields:
        raise InvalidInput("the contact details have errors", fields=fields)
    with aqd.session() as session, session.begin():
        for kind, value in cleaned.items():
            request_change(aqd, session, user_id, kind, value, actor=actor)
        return details(session, user_id)


def _supersede(session: Session, change: ContactChange, actor: str, now: datetime) -> None:
    record(session, action="superseded", kind=change.kind, address=change.value or "",
           actor=actor, now=now, user_id=change.user_id, change_id=change.id)  # fmt: skip
    session.execute(
        update(ContactChange)
        .where(ContactChange.id == change.id, ContactChange.status == "pending")
        .values(status="superseded", revision=ContactChange.revision + 1)
        .execution_options(synchronize_session=False)
    )
    session.expire(change)


@dataclass(frozen=True)
class Confirmed:
    """What :func:`confirm` did: ``applied`` once every code was entered."""

    applied: bool
    refused: InvalidInput | Conflict | None = None


def confirm(
    aqd: Aqd,
    user_id: int,
    change_id: int,
    *,
    code: str = "",
    current_code: str = "",
    actor: str,
) -> bool:
    """Enter the codes of a pending change (either or both); returns whether the change is now
    applied. One transaction; a wrong code is counted (and the change cancelled after
    ``MAX_ATTEMPTS``) even though the step is refused."""
    with aqd.session() as session, session.begin():
        outcome = _confirm(
            aqd, session, user_id, change_id, code.strip(), current_code.strip(), actor
        )
    if outcome.refused is not None:
        raise outcome.refused
    return outcome.applied


def _confirm(
    aqd: Aqd,
    session: Session,
    user_id: int,
    change_id: int,
    code: str,
    current_code: str,
    actor: str,
) -> Confirmed:
    now: datetime = aqd.clock.now()
    change = session.get(ContactChange, change_id)
    user = session.get(User, user_id)
    if change is None or user is None or change.user_id != user_id:
        raise NotFound(f"contact change {change_id} not found")
    if change.status != "pending":
        raise Conflict(NOT_PENDING)
    values: dict[str, Any] = {}

    def note(action: str, address: str | None = change.value, **extra: Any) -> None:
        record(
            session,
            action=action,
            kind=change.kind,
            address=address or "",
            actor=actor,
            now=now,
            user_id=user_id,
            change_id=change.id,
            **extra,
        )

    if change.expires_at <= now:
        _guarded(session, change, status="expired")
        note("expired")
        return Confirmed(False, Conflict(EXPIRED))
    wrong: dict[str, str] = {}
    for target, given, hashed, done in (
        ("new", code, change.new_code_hash, change.new_confirmed_at),
        ("current", current_code, change.current_code_hash, change.current_confirmed_at),
    ):
        if hashed is None or done is not None or not given:
            continue
        field = "code" if target == "new" else "current_code"
        if hmac.compare_digest(hashed, _code_hash(change.id, target, given)):
            values[f"{target}_confirmed_at"] = now
            address = change.value if target == "new" else change.current_address
            note("confirmed", address, by=target)
        else:
            wrong[field] = WRONG_CODE
    if wrong:
        attempts = change.attempts + 1
        values["attempts"] = attempts
        if attempts >= MAX_ATTEMPTS:
            values["status"] = "cancelled"
        note("code_refused", fields=sorted(wrong), cancelled=attempts >= MAX_ATTEMPTS)
    new_done = (
        change.new_code_hash is None
        or "new_confirmed_at" in values
        or (change.new_confirmed_at is not None)
    )
    current_done = (
        change.current_code_hash is None
        or "current_confirmed_at" in values
        or (change.current_confirmed_at is not None)
    )
    applied = not wrong and new_done and current_done
    if applied:
        values.update(status="applied", applied_at=now)
    if values:
        _guarded(session, change, **values)
    if applied:
        mailbox = "mailbox" in (change.new_channel, change.current_channel)
        _apply(
            session,
            aqd.settings,
            user,
            change.kind,
            change.value,
            via="mailbox" if mailbox else "code",
            actor=actor,
            now=now,
            change_id=change.id,
        )
    if wrong:
        message = TOO_MANY_WRONG if values.get("status") == "cancelled" else WRONG_CODE
        return Confirmed(False, InvalidInput(message, fields=wrong))
    return Confirmed(applied)


def _guarded(session: Session, change: ContactChange, **values: Any) -> None:
    done = session.execute(
        update(ContactChange)
        .where(ContactChange.id == change.id, ContactChange.revision == change.revision)
        .values(revision=change.revision + 1, **values)
        .execution_options(synchronize_session=False)
    )
    if getattr(done, "rowcount", 0) != 1:
        raise Conflict("this change was just confirmed by another session")
    session.expire(change)


# -- the office -----------------------------------------------------------------------------------


def record_by_office(
    aqd: Aqd,
    session: Session,
    *,
    actor: str,
    phone: str | None = None,
    email: str | None = None,
    beneficiary_cin: str | None = None,
    username: str | None = None,
) -> list[str]:
    """The office records a contact it checked (in person, on papers): in the job-seeker
    registry (``beneficiary_cin``, and on that job seeker's accounts), or on one account
    (``username``). Verified at once; pending changes of that kind are superseded and the old
    address told. ``None`` leaves a kind as it is, '' removes it. Returns the accounts
    changed."""
    if (beneficiary_cin is None) == (username is None):
        raise InvalidInput("give exactly one of a job seeker's CIN or an account")
    now: datetime = aqd.clock.now()
    given = {k: clean(k, v) for k, v in (("phone", phone), ("email", email)) if v is not None}
    if not given:
        raise InvalidInput("give a phone or an e-mail address", fields={"phone": "required"})
    replaced: dict[str, str] = {}  # the registry's previous contacts, told of the change
    if beneficiary_cin is not None:
        person = session.scalar(
            select(Beneficiary).where(Beneficiary.cin == beneficiary_cin.strip())
        )
        if person is None:
            raise NotFound("no job seeker with this CIN is registered at an employment office")
        for kind, value in given.items():
            replaced[kind] = _registry_value(person, kind)
            setattr(person, kind, value or None)
            record(
                session,
                action="recorded_by_office",
                kind=kind,
                address=value,
                actor=actor,
                now=now,
                beneficiary_id=person.id,
                registry=True,
            )
        users = list(session.scalars(select(User).where(User.beneficiary_id == person.id)))
    else:
        found = session.scalar(
            select(User).where(User.username == (username or "").strip().lower())
        )
        if found is None:
            raise NotFound(f"no account {username!r}")
        users = [found]
    for user in users:
        for kind, value in given.items():
            pending = session.scalars(
                select(ContactChange).where(
                    ContactChange.user_id == user.id,
                    ContactChange.kind == kind,
                    ContactChange.status == "pending",
                )
            ).all()
            for change in pending:
                _supersede(session, change, actor, now)
            if value == (getattr(user, kind) or "") and (
                not value or getattr(user, f"{kind}_verified_via") == "office"
            ):
                continue
            record(
                session,
                action="recorded_by_office",
                kind=kind,
                address=value,
                actor=actor,
                now=now,
                user_id=user.id,
            )
            _apply(
                session,
                aqd.settings,
                user,
                kind,
                value or None,
                via="office",
                actor=actor,
                now=now,
                also_tell=replaced.get(kind, ""),
            )
    session.flush()
    return [u.username for u in users]
