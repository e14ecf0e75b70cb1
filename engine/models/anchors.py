"""Anchors of the contracts' hash chains: an RFC 3161 time-stamp over the chain heads that
moved since the previous anchor (``engine/audit/anchors.py``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.models.base import Base, BigId, UTCDateTime


class ChainAnchor(Base):
    """One anchor: its leaves, the root over them and the previous anchor's root, and the
    time-stamp token over that root (None until the time-stamping service answered)."""

    __tablename__ = "chain_anchor"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    anchored_at: Mapped[datetime] = mapped_column(UTCDateTime)
    prev_root: Mapped[str] = mapped_column(String(64))
    root: Mapped[str] = mapped_column(String(64), unique=True)
    contracts: Mapped[int] = mapped_column(Integer)
    token: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    tsa: Mapped[str] = mapped_column(String(300), default="")
    stamped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ChainAnchorLeaf(Base):
    """A contract's chain head as anchored: its event ``seq`` had hash ``head``."""

    __tablename__ = "chain_anchor_leaf"

    contract_id: Mapped[int] = mapped_column(ForeignKey("contract.id"), primary_key=True)
    anchor_id: Mapped[int] = mapped_column(ForeignKey("chain_anchor.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    head: Mapped[str] = mapped_column(String(64))
