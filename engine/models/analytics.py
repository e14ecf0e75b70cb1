"""Pre-digital processing times imported as the pilot's baseline (issue 8)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, Float, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.models.base import Base, BigId, JSONDoc, UTCDateTime
from engine.models.payments import PaymentOrder
from engine.models.runtime import HumanTask, StepTiming


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
    __table_args__ = (Index("ix_verification_run_status", "status", "id"),)

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
    #: until when the worker that claimed it holds it (None: not held; migration 0021)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class StepRollup(Base):
    """Pre-aggregated step durations (issue 8, national volumes): one row per programme, office,
    step and month (``period`` ``YYYY-MM``) plus one all-time row per step (``period`` ``all``).

    Counts, sums and SLA breaches are exact; durations are kept as sparse log-bucket histograms
    (``engine.analytics.BUCKET_RATIO``) so percentiles of any union of rows stay within
    2 % of the exact ones. Maintained by ``analytics.refresh_rollup`` (periodic job); rows
    completed after ``StepRollupState.rolled_up_to`` are read raw and merged at query time.
    """

    __tablename__ = "step_rollup"
    __table_args__ = (
        UniqueConstraint("period", "programme", "office_code", "step", "lane"),
        Index("ix_step_rollup_scope", "period", "office_code", "programme"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    period: Mapped[str] = mapped_column(String(7))
    programme: Mapped[str] = mapped_column(String(64))
    office_code: Mapped[str] = mapped_column(String(32))
    step: Mapped[str] = mapped_column(String(128))
    lane: Mapped[str] = mapped_column(String(32))
    count: Mapped[int] = mapped_column(Integer)
    total_s: Mapped[float] = mapped_column(Float)
    with_due: Mapped[int] = mapped_column(Integer)
    breached: Mapped[int] = mapped_column(Integer)
    hist_total: Mapped[list[int]] = mapped_column(JSON)
    hist_waiting: Mapped[list[int]] = mapped_column(JSON)
    hist_working: Mapped[list[int]] = mapped_column(JSON)


class StepRollupState(Base):
    """Where the rollup stands: every task completed before ``rolled_up_to`` is in it."""

    __tablename__ = "step_rollup_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rolled_up_to: Mapped[datetime] = mapped_column(UTCDateTime)
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime)


# The rollup's refresh and its raw tail read completed tasks by completion time.
Index("ix_human_task_completed_at", HumanTask.completed_at)


class LeadTimeRollup(Base):
    """Pre-aggregated lead times (issue 8): from a contract's request to a milestone
    (``signed``: all parties signed and the contract activated; ``first_payment``: its first
    payment order paid), one row per programme, office and month the milestone was reached
    (``period`` ``YYYY-MM``) plus one all-time row (``all``).

    Counts and sums are exact; lead times are log-bucket histograms of seconds, as in
    ``StepRollup``. Maintained by ``analytics.refresh_lead_times``; milestones reached after
    ``LeadTimeRollupState.rolled_up_to`` are read raw and merged at query time.
    """

    __tablename__ = "lead_time_rollup"
    __table_args__ = (
        UniqueConstraint("period", "programme", "office_code", "milestone"),
        Index("ix_lead_time_rollup_scope", "period", "office_code", "programme"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    period: Mapped[str] = mapped_column(String(7))
    programme: Mapped[str] = mapped_column(String(64))
    office_code: Mapped[str] = mapped_column(String(32))
    milestone: Mapped[str] = mapped_column(String(16))
    count: Mapped[int] = mapped_column(Integer)
    total_s: Mapped[float] = mapped_column(Float)
    hist: Mapped[list[int]] = mapped_column(JSON)


class LeadTimeRollupState(Base):
    """Where the lead-time rollup stands: every milestone reached before ``rolled_up_to``."""

    __tablename__ = "lead_time_rollup_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rolled_up_to: Mapped[datetime] = mapped_column(UTCDateTime)
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime)


# Milestones by the time they were reached: the activation step of every programme
# (``activate``) and paid payment orders. Partial indexes: a few rows of big tables.
Index(
    "ix_step_timing_activate",
    StepTiming.started_at,
    postgresql_where=StepTiming.bpmn_id == "activate",
    sqlite_where=StepTiming.bpmn_id == "activate",
)
Index(
    "ix_payment_order_paid",
    PaymentOrder.settled_at,
    postgresql_where=PaymentOrder.status == "paid",
    sqlite_where=PaymentOrder.status == "paid",
)
