"""Definitions, contracts, process instances and their projections (DESIGN.md §4)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from engine.models.base import Base, BigId, JSONDoc, UTCDateTime


class ProcessDefinition(Base):
    """An immutable deployed version of a programme's BPMN/DMN folder."""

    __tablename__ = "process_definition"
    __table_args__ = (
        UniqueConstraint("programme", "version"),
        UniqueConstraint("programme", "content_hash"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    programme: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    main_process: Mapped[str] = mapped_column(String(128))
    sources: Mapped[dict[str, str]] = mapped_column(JSONDoc)
    # Order-preserving JSON: restored specs and routing must not depend on JSONB's key order.
    specs: Mapped[dict[str, Any]] = mapped_column(JSON)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    serializer_version: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="active")
    note: Mapped[str] = mapped_column(Text, default="")
    deployed_by: Mapped[str] = mapped_column(String(100))
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: The first request date its rules apply to ("contracts requested from 2025-06-01"),
    #: separate from when it was deployed (docs/rules.md, "Versions and dates").
    applies_from: Mapped[date] = mapped_column(Date)


class Contract(Base):
    """A programme contract: business identity, parties, and the lock every command takes."""

    __tablename__ = "contract"
    #: timer polls page through due contracts in (next_due_at, id) order: a month end makes
    #: thousands due at the same instant, which a next_due_at-only index cannot page through
    __table_args__ = (Index("ix_contract_due", "next_due_at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    programme: Mapped[str] = mapped_column(String(64), index=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"), index=True)
    office_id: Mapped[int | None] = mapped_column(ForeignKey("office.id"), index=True)
    employer_id: Mapped[int | None] = mapped_column(ForeignKey("employer.id"), index=True)
    beneficiary_id: Mapped[int | None] = mapped_column(ForeignKey("beneficiary.id"), index=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    chain_head: Mapped[str] = mapped_column(String(64), default="")
    instance_count: Mapped[int] = mapped_column(Integer, default=0)
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ProcessInstance(Base):
    """One SpiffWorkflow workflow of a contract: its main lifecycle or a short child (a month)."""

    __tablename__ = "process_instance"
    __table_args__ = (Index("ix_process_instance_due", "next_due_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contract.id"), index=True)
    process_id: Mapped[str] = mapped_column(String(128))
    key: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    state: Mapped[bytes] = mapped_column(LargeBinary)
    state_hash: Mapped[str] = mapped_column(String(64))
    serializer_version: Mapped[str] = mapped_column(String(16))
    revision: Mapped[int] = mapped_column(Integer, default=0)
    waiting_messages: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class HumanTask(Base):
    """Inbox projection of a ready user task, kept with its ready/claimed/completed times."""

    __tablename__ = "human_task"
    __table_args__ = (
        Index("ix_human_task_inbox", "office_id", "status", "lane", "due_at", "id"),
        Index("ix_human_task_assignee", "assignee", "status"),
        Index("ix_human_task_overdue", "status", "escalated_at", "due_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contract.id"), index=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    task_guid: Mapped[str] = mapped_column(String(36), unique=True)
    bpmn_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(200))
    programme: Mapped[str] = mapped_column(String(64))
    lane: Mapped[str] = mapped_column(String(32))
    candidate_group: Mapped[str] = mapped_column(String(64))
    office_id: Mapped[int | None] = mapped_column(ForeignKey("office.id"), nullable=True)
    form_key: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    assignee: Mapped[str | None] = mapped_column(String(100), nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ready_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    completed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    #: when the overdue task was escalated (engine/notifications/escalations.py); once per task
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class StepTiming(Base):
    """Duration of one engine step (invariant 9)."""

    __tablename__ = "step_timing"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contract.id"), index=True)
    instance_id: Mapped[int] = mapped_column(Integer)
    event_seq: Mapped[int] = mapped_column(Integer)
    task_guid: Mapped[str] = mapped_column(String(36))
    bpmn_id: Mapped[str] = mapped_column(String(128))
    spec_type: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_us: Mapped[int] = mapped_column(Integer)


class Event(Base):
    """Append-only, hash-chained history of a contract: one row per command (invariant 4)."""

    __tablename__ = "event"
    __table_args__ = (UniqueConstraint("contract_id", "seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contract.id"))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    instance_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Plain JSON (text) on PostgreSQL, not JSONB: replay must see the inputs with their keys in
    # the order the command saw them, or task data (and so the state hash) would differ.
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state_hash: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class Outbox(Base):
    """A side effect to run after commit, exactly once by its business idempotency key."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "available_at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contract_id: Mapped[int | None] = mapped_column(ForeignKey("contract.id"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
