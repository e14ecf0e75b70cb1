"""Documents attached to contracts: proofs uploaded with a task (issue 4), later the contract
PDFs and their signed versions (issue 5). Content is kept with its SHA-256.

An upload to a task is ``pending`` until the task completes with a reference to it (then it is
``recorded``: the completion's event holds its SHA-256), and expires at ``expires_at``
otherwise; ``aqd documents expire`` (the scheduler, hourly) deletes the expired ones. Only
``recorded`` documents are part of the contract: its verification, lists and audit package
ignore pending ones.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.models.base import Base, BigId, UTCDateTime


class Document(Base):
    __tablename__ = "document"
    __table_args__ = (
        Index("ix_document_pending", "status", "expires_at"),
        Index("ix_document_uploader", "uploaded_by", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contract.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    task_guid: Mapped[str | None] = mapped_column(String(36), nullable=True)
    uploaded_by: Mapped[str] = mapped_column(String(100))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: ``pending`` (an upload no event records yet) or ``recorded``
    status: Mapped[str] = mapped_column(String(12), default="recorded", server_default="recorded")
    #: when a pending upload is deleted unless its task completed with it first
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
