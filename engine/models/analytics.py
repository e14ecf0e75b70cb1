"""Pre-digital processing times imported as the pilot's baseline (issue 8)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.models.base import Base, BigId, JSONDoc, UTCDateTime


class BaselineDuration(Base):
    """One case processed on paper: how long one step took, in hours, at one office.

    ``source`` names the import (file name and hash), so an import can be listed and replaced.
    """

    __tablename__ = "baseline_duration"
    __table_args__ = (Index("ix_baseline_scope", "programme", "step", "office_code"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    office_code: Mapped[str] = mapped_column(String(32))
    programme: Mapped[str] = mapped_column(String(64))
    step: Mapped[str] = mapped_column(String(128))
    day: Mapped[date] = mapped_column(Date)
    hours: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(200), index=True)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime)


class VerificationRun(Base):
    """A batch verification of many contracts (issue 8), run in the background with progress."""

    __tablename__ = "verification_run"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    scope: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    contract_ids: Mapped[list[int]] = mapped_column(JSONDoc)
    total: Mapped[int] = mapped_column(Integer)
    checked: Mapped[int] = mapped_column(Integer, default=0)
    passed: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc, default=list)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
