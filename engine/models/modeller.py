"""Drafts of process and decision files edited in the browser (issue 7)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.models.base import Base, BigId, JSONDoc, UTCDateTime


class DefinitionDraft(Base):
    """The working copy of one file of a programme, based on a deployed version. Saving checks
    it with the same rules as ``aqd deploy`` and keeps the problems found."""

    __tablename__ = "definition_draft"
    __table_args__ = (UniqueConstraint("programme", "file"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    programme: Mapped[str] = mapped_column(String(64))
    file: Mapped[str] = mapped_column(String(200))
    base_definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"))
    xml: Mapped[str] = mapped_column(Text)
    problems: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc, default=list)
    saved_by: Mapped[str] = mapped_column(String(100))
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime)
