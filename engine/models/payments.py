"""Payment orders, bank batches and payee accounts (issue 6, docs/payments.md).

These tables belong to the payments adapter (``engine/payments``), not to the contract state:
a payment order is written by the ``payment_order`` side-effect handler, at least once, and the
unique business key makes the second write a no-op.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.models.base import Base, BigId, UTCDateTime

#: ordered → batched → sent → paid | rejected; a rejected order is re-issued once (a new order
#: with the suffix ``:reissue1``) and then marked ``reissued``.
PAYMENT_STATUSES = ("ordered", "batched", "sent", "paid", "rejected", "reissued")


class PaymentOrder(Base):
    """One payment to one payee for one contract month, exactly once by business identity."""

    __tablename__ = "payment_order"
    __table_args__ = (
        Index("ix_payment_order_office_period_status", "office_code", "period", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: ``payment:<contract number>:<contract month>:<payee>:<kind>[:reissue1]``
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    #: short deterministic id for the bank files (ISO 20022 EndToEndId, ≤ 35 characters)
    end_to_end_id: Mapped[str] = mapped_column(String(35), unique=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contract.id"), index=True)
    contract_number: Mapped[str] = mapped_column(String(64))
    programme: Mapped[str] = mapped_column(String(32))
    office_code: Mapped[str] = mapped_column(String(32))
    #: calendar month the order is paid in (``YYYY-MM``), the batch period
    period: Mapped[str] = mapped_column(String(7))
    #: the contract's month number (1, 2, …), part of the business identity
    contract_month: Mapped[int] = mapped_column(Integer)
    payee_kind: Mapped[str] = mapped_column(String(16))
    payee_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    payee_name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    amount_millimes: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="TND")
    rib: Mapped[str | None] = mapped_column(String(20), nullable=True)
    iban: Mapped[str | None] = mapped_column(String(34), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="ordered")
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("payment_batch.id"), index=True)
    reissue_of: Mapped[str | None] = mapped_column(String(200), nullable=True)
    reject_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    bank_ref: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ordered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    batched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PaymentBatch(Base):
    """One bank file pair (pain.001 XML + CSV) for an office and a period."""

    __tablename__ = "payment_batch"
    __table_args__ = (UniqueConstraint("message_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(35))
    office_code: Mapped[str] = mapped_column(String(32), index=True)
    period: Mapped[str] = mapped_column(String(7))
    orders: Mapped[int] = mapped_column(Integer)
    total_millimes: Mapped[int] = mapped_column(BigInteger)
    xml_sha256: Mapped[str] = mapped_column(String(64))
    csv_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="sent")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(100))


class PayeeAccount(Base):
    """The bank or postal account (Tunisian RIB, 20 digits) of a beneficiary or employer."""

    __tablename__ = "payee_account"
    __table_args__ = (UniqueConstraint("payee_kind", "payee_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    payee_kind: Mapped[str] = mapped_column(String(16))
    payee_id: Mapped[int] = mapped_column(BigInteger)
    rib: Mapped[str] = mapped_column(String(20))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(String(100))
