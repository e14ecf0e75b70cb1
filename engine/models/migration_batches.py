"""Migrations of running contracts to a new definition version (issue 7, DESIGN.md invariant 6)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.models.base import Base, BigId, JSONDoc, UTCDateTime


class MigrationBatch(Base):
    """One bulk migration: which contracts were asked to move to which version, by whom, why."""

    __tablename__ = "migration_batch"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    programme: Mapped[str] = mapped_column(String(64), index=True)
    to_definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"))
    #: The selection as asked (from version, statuses, contract numbers).
    selection: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16))
    migrated: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[int] = mapped_column(Integer, default=0)
    rolled_back: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class MigrationItem(Base):
    """One contract of a batch: migrated (with what rollback needs) or refused (with why)."""

    __tablename__ = "migration_item"
    __table_args__ = (
        UniqueConstraint("batch_id", "contract_id"),
        Index("ix_migration_item_contract", "contract_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("migration_batch.id"), index=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contract.id"))
    from_definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"))
    to_definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"))
    #: ``migrated``, ``refused`` or ``rolled_back``.
    status: Mapped[str] = mapped_column(String(16))
    reasons: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    #: The contract event that migrated it (and the one that rolled it back).
    event_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rollback_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: The running instances before the migration, as stored (orjson: key -> state and hash),
    #: so a rollback restores exactly those bytes.
    snapshot: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
