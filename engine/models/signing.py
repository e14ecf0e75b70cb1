"""Signature requests (issue 5) and the local mailbox of notifications.

A signature request asks one party to sign one exact document version (``document_sha256``).
Its link token and one-time code are stored hashed; the request moves ``open`` → ``code_sent`` →
``consented`` → ``signed`` (or ``declined``, ``expired``, ``superseded``, ``failed``), each
step a guarded update so two racing consents produce one signature.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.models.base import Base, BigId, UTCDateTime


class SignatureRequest(Base):
    __tablename__ = "signature_request"
    __table_args__ = (UniqueConstraint("contract_id", "round", "party"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contract.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    round: Mapped[int] = mapped_column(Integer)
    party: Mapped[str] = mapped_column(String(16))
    document_id: Mapped[int] = mapped_column(ForeignKey("document.id"))
    document_sha256: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    code_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    code_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    code_attempts: Mapped[int] = mapped_column(Integer, default=0)
    codes_sent: Mapped[int] = mapped_column(Integer, default=0)
    signer_username: Mapped[str | None] = mapped_column(String(100), nullable=True)
    consent_version: Mapped[str | None] = mapped_column(String(32), nullable=True)
    consent_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    consented_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    client_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(300), nullable=True)
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    signed_document_id: Mapped[int | None] = mapped_column(ForeignKey("document.id"), nullable=True)
    closed_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    revision: Mapped[int] = mapped_column(Integer, default=1)


class Notification(Base):
    """A message to a user (e-mail or SMS). The embedded default delivers into this table,
    which the user reads as their mailbox; a real adapter sends it and keeps a redacted copy."""

    __tablename__ = "notification"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    recipient: Mapped[str] = mapped_column(String(100), index=True)
    channel: Mapped[str] = mapped_column(String(8))
    template: Mapped[str] = mapped_column(String(64))
    contract_id: Mapped[int | None] = mapped_column(ForeignKey("contract.id"), nullable=True)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: ``mailbox`` (delivered by the commit: the mailbox is the channel), ``pending`` →
    #: ``sending`` (leased by one worker) → ``sent`` | ``failed`` (e-mail or SMS, see
    #: ``engine/notifications/delivery.py``)
    delivery: Mapped[str] = mapped_column(String(12), default="mailbox", server_default="mailbox")
    #: the text kept once a real adapter sent it (one-time codes and link tokens masked)
    body_redacted: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: where it was sent (e-mail address or phone number)
    address: Mapped[str | None] = mapped_column(String(254), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
