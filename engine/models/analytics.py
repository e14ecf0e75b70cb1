"""Pre-digital processing times imported as the pilot's baseline (issue 8)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Float, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.models.base import Base, BigId, UTCDateTime


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
