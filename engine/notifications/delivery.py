"""Delivery of notifications by e-mail and SMS: the ``notification.send`` outbox handler and its
adapters.

A notification row is written by the command that caused it, with an outbox row when its
recipient has an e-mail address or a phone (``notifications.notify``). After the commit the
outbox runner calls :func:`deliver`, which

1. **claims** the notification (``pending``/``failed`` → ``sending``, or a ``sending`` whose lease
   expired: its worker died) in a short transaction; a duplicate delivery of the same outbox row
   finds it ``sent`` and sends nothing, or ``sending`` under a live lease and backs off;
2. **sends** it through the adapter of its channel, outside any transaction: SMTP for e-mail
   (``AQD_SMTP_*``), an HTTP gateway for SMS (``AQD_SMS_URL``); a channel without a configured
   adapter is delivered by the **mailbox** adapter (the row itself, read at ``/me/mailbox``);
3. **records** it: ``sent`` with the address, and the body replaced by its redacted copy (the
   one-time code and the signing link's token masked); the mailbox adapter keeps the full text,
   since the row *is* the message. The runner then records the outcome on the contract
   (``side_effect_recorded``: template, channel, masked address, message id).

Exactly once: duplicates and racing workers are absorbed by the claim. The one window left is a
worker killed after the server accepted the message and before step 3 commits: the lease expires
and the message is sent again, with the same ``Message-ID`` (e-mail) or ``Idempotency-Key``
header (SMS), so the receiving side can drop it.
"""

from __future__ import annotations

import hashlib
import json
import smtplib
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from engine.config import Settings
from engine.models import Notification, User
from engine.notifications.notify import SEND_KIND
from engine.outbox.handlers import HandlerResult, OutboxItem, SideEffectError
from engine.plugins import Plugins

if TYPE_CHECKING:
    from engine.commands.aqd import Aqd

#: the outbox runner's limit (``engine.outbox.runner.MAX_ATTEMPTS``): the last attempt's
#: failure is final, so the notification is marked ``failed`` with it
LAST_ATTEMPT = 8


@dataclass(frozen=True)
class Message:
    """One notification as an adapter sends it."""

    key: str
    channel: str
    address: str
    locale: str
    subject: str
    body: str
    created_at: datetime

    @property
    def message_id(self) -> str:
        """Stable per notification: a re-send after a crash carries the same id."""
        digest = hashlib.sha256(self.key.encode()).hexdigest()[:32]
        return f"<{digest}@aqd.notification>"


class DeliveryError(Exception):
    """The adapter could not deliver; ``retryable`` failures are tried again with backoff."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class Adapter(Protocol):
    """Sends one message; returns what to record (e.g. the gateway's message id)."""

    name: str

    def send(self, message: Message) -> dict[str, Any]: ...


class MailboxAdapter:
    """The embedded default: the notification row is the message, read at ``/me/mailbox``."""

    name = "mailbox"

    def send(self, message: Message) -> dict[str, Any]:
        return {}


class SmtpAdapter:
    """E-mail through an SMTP server (``AQD_SMTP_HOST``, ``_PORT``, ``_USER``, ``_PASSWORD``,
    ``_FROM``, ``_STARTTLS``)."""

    name = "smtp"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def build(self, message: Message) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.settings.smtp_from
        mail["To"] = message.address
        mail["Subject"] = message.subject
        mail["Date"] = format_datetime(message.created_at)
        mail["Message-ID"] = message.message_id
        mail["Auto-Submitted"] = "auto-generated"
        mail.set_content(message.body)  # (clears the Content-* headers: set them after)
        mail["Content-Language"] = message.locale
        return mail

    def send(self, message: Message) -> dict[str, Any]:
        s = self.settings
        try:
            with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_s) as smtp:
                if s.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if s.smtp_user:
                    smtp.login(s.smtp_user, s.smtp_password.get_secret_value())
                smtp.send_message(self.build(message))
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            permanent = bool(codes) and all(code >= 500 for code in codes)
            raise DeliveryError(f"recipient refused: {codes}", retryable=not permanent) from None
        except smtplib.SMTPResponseException as exc:
            # 5xx on the message itself (too big, refused content) will not change by retrying;
            # 4xx is temporary, and a failed login is a setting an administrator fixes
            permanent = exc.smtp_code >= 500 and not isinstance(
                exc, smtplib.SMTPAuthenticationError
            )
            raise DeliveryError(
                f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", retryable=not permanent
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"SMTP unreachable: {type(exc).__name__}: {exc}") from None
        return {"message_id": message.message_id}


class HttpSmsAdapter:
    """SMS through an HTTP gateway: ``POST AQD_SMS_URL`` with the JSON ``{"to", "text", "id"}``,
    ``Authorization: Bearer AQD_SMS_TOKEN`` and ``Idempotency-Key``; a 2xx answer is accepted
    (its JSON ``id``, if any, is recorded), 4xx is final, anything else is retried."""

    name = "http_sms"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, message: Message) -> dict[str, Any]:
        body = json.dumps(
            {"to": message.address, "text": message.body, "id": message.key},
            ensure_ascii=False,
        ).encode()
        headers = {
            "content-type": "application/json; charset=utf-8",
            "idempotency-key": hashlib.sha256(message.key.encode()).hexdigest(),
        }
        if token := self.settings.sms_token.get_secret_value():
            headers["authorization"] = f"Bearer {token}"
        request = urllib.request.Request(  # noqa: S310 (the URL is the operator's setting)
            self.settings.sms_url, data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(  # noqa: S310
                request, timeout=self.settings.smtp_timeout_s
            ) as response:
                answer = response.read(65536)
        except urllib.error.HTTPError as exc:
            permanent = 400 <= exc.code < 500 and exc.code not in (408, 429)
            raise DeliveryError(f"SMS gateway HTTP {exc.code}", retryable=not permanent) from None
        except OSError as exc:
            raise DeliveryError(f"SMS gateway unreachable: {exc}") from None
        try:
            gateway_id = json.loads(answer or b"{}").get("id")
        except (ValueError, AttributeError):
            gateway_id = None
        return {"gateway_id": str(gateway_id)} if gateway_id else {}


def adapter_for(channel: str, settings: Settings) -> Adapter:
    """The adapter a channel is delivered by with these settings (the mailbox when none)."""
    if channel == "email" and settings.smtp_host:
        return SmtpAdapter(settings)
    if channel == "sms" and settings.sms_url:
        return HttpSmsAdapter(settings)
    return MailboxAdapter()


def masked(address: str) -> str:
    """An address as the contract's event log keeps it (personal data stays in the row)."""
    if "@" in address:
        local, domain = address.split("@", 1)
        return f"{local[:1]}***@{domain}"
    return address[:4] + "*" * max(len(address) - 6, 0) + address[-2:]


def _claim(session: Session, note_id: int, now: datetime, lease: timedelta) -> bool:
    done = session.execute(
        update(Notification)
        .where(
            Notification.id == note_id,
            or_(
                Notification.delivery.in_(("pending", "failed")),
                (Notification.delivery == "sending") & (Notification.lease_until < now),
            ),
        )
        .values(delivery="sending", lease_until=now + lease)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(done, "rowcount", 0))


def _finish(session: Session, note_id: int, **values: Any) -> None:
    session.execute(
        update(Notification)
        .where(Notification.id == note_id, Notification.delivery == "sending")
        .values(lease_until=None, **values)
        .execution_options(synchronize_session=False)
    )


def deliver(aqd: Aqd, item: OutboxItem) -> HandlerResult:
    """The ``notification.send`` handler (see the module's docstring)."""
    settings: Settings = aqd.settings
    note_id = int(item.payload["notification"])
    now: datetime = aqd.clock.now()
    with aqd.session() as session, session.begin():
        note = session.get(Notification, note_id)
        if note is None:
            raise SideEffectError(f"notification {note_id} not found", retryable=False)
        if not _claim(session, note_id, now, timedelta(seconds=settings.outbox_lease_s)):
            session.refresh(note)
            if note.delivery in ("sent", "mailbox"):  # a duplicate delivery: nothing to send
                return HandlerResult(_result(note, duplicate=True))
            raise SideEffectError(f"notification {note_id} is being sent by another worker")
        user = session.execute(
            select(User.email, User.phone, User.locale).where(User.username == note.recipient)
        ).first()
        email, phone = (user.email, user.phone) if user is not None else (None, None)
        # a message pinned to an address (a signing code to a verified contact, a
        # confirmation code to a contact not applied yet) goes there, never elsewhere
        address = note.address or (email if note.channel == "email" else phone) or ""
        adapter = adapter_for(note.channel, settings) if address else MailboxAdapter()
        message = Message(
            key=note.idempotency_key,
            channel=note.channel,
            address=address,
            locale=user.locale if user is not None else "fr",
            subject=note.subject,
            body=note.body,
            created_at=note.created_at,
        )
        redacted = note.body_redacted or note.body
    try:
        sent = adapter.send(message)
    except DeliveryError as exc:
        final = not exc.retryable or item.attempts >= LAST_ATTEMPT
        with aqd.session() as session, session.begin():
            _finish(session, note_id, delivery="failed" if final else "pending", error=str(exc))
        raise SideEffectError(str(exc), retryable=exc.retryable) from None
    with aqd.session() as session, session.begin():
        if isinstance(adapter, MailboxAdapter):  # the row is the message: keep it whole
            _finish(session, note_id, delivery="mailbox", sent_at=now, error=None)
        else:
            _finish(
                session,
                note_id,
                delivery="sent",
                sent_at=now,
                address=address,
                body=redacted,
                body_redacted=None,
                error=None,
            )
        note = session.get(Notification, note_id)
        if note is None:  # deleted since it was sent: nothing to record it on
            raise SideEffectError(f"notification {note_id} no longer exists", retryable=False)
        return HandlerResult({**_result(note), "adapter": adapter.name, **sent})


def _result(note: Notification, duplicate: bool = False) -> dict[str, Any]:
    result: dict[str, Any] = {
        "notification": note.id,
        "template": note.template,
        "recipient": note.recipient,
        "channel": note.channel,
        "delivery": note.delivery,
    }
    if note.address:
        result["to"] = masked(note.address)
    if duplicate:
        result["duplicate"] = True
    return result


def register(plugins: Plugins) -> None:
    """Add the ``notification.send`` handler to ``plugins`` (``engine.bootstrap``)."""
    plugins.register_handler(SEND_KIND, deliver)
