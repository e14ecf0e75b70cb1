"""Contact verification (issue 18): a phone or e-mail address becomes usable for signing codes
only once its owner proved they receive it, and, when the account already had a verified
contact, once that contact agreed too.

``contact_change`` is one request to set (or remove) an account's phone or e-mail address: the
code sent to the new address and the code sent to the account's verified contact, each stored
hashed. ``contact_event`` is the append-only record of what was asked, sent, confirmed, applied
or recorded by the office, and when (addresses masked, with their SHA-256 so an auditor can
match one without the table holding it twice).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.models.base import Base, BigId, JSONDoc, UTCDateTime


class ContactChange(Base):
    """One pending (then applied, cancelled, expired or superseded) change of a contact."""

    __tablename__ = "contact_change"
    __table_args__ = (Index("ix_contact_change_user", "user_id", "kind", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    #: ``email`` or ``phone``
    kind: Mapped[str] = mapped_column(String(8))
    #: the new address (international form for a phone); None removes the contact
    value: Mapped[str | None] = mapped_column(String(254), nullable=True)
    #: ``pending`` → ``applied`` | ``cancelled`` (too many wrong codes) | ``expired`` |
    #: ``superseded`` (a newer request for the same kind)
    status: Mapped[str] = mapped_column(String(12))
    requested_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: the code sent to the new address (None for a removal)
    new_code_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    new_channel: Mapped[str | None] = mapped_column(String(8), nullable=True)
    new_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: the code sent to the account's verified contact (None when it had none)
    current_code_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    current_channel: Mapped[str | None] = mapped_column(String(8), nullable=True)
    current_address: Mapped[str | None] = mapped_column(String(254), nullable=True)
    current_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revision: Mapped[int] = mapped_column(Integer, default=1)


class ContactEvent(Base):
    """What happened to an account's contacts, append-only: ``change_requested``,
    ``code_sent``, ``code_refused`` (the last of too many cancels the change), ``confirmed``,
    ``expired``, ``superseded``, ``verified`` (the contact is now usable for signing codes),
    ``removed``, ``recorded_by_office``."""

    __tablename__ = "contact_event"
    __table_args__ = (Index("ix_contact_event_user", "user_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"), nullable=True
    )
    #: the job seeker whose registry record the office changed (``recorded_by_office``)
    beneficiary_id: Mapped[int | None] = mapped_column(ForeignKey("beneficiary.id"), nullable=True)
    change_id: Mapped[int | None] = mapped_column(ForeignKey("contact_change.id"), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    action: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(8))
    #: the address as the record shows it (``+216******56``, ``a***@example.tn``)
    address: Mapped[str] = mapped_column(String(254), default="")
    #: SHA-256 of the address (lower-cased e-mail, international phone): '' when none
    address_sha256: Mapped[str] = mapped_column(String(64), default="")
    actor: Mapped[str] = mapped_column(String(100))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
