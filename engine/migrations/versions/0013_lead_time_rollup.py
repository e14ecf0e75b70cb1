"""lead-time rollup (request to signed contract and to first payment)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 19:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lead_time_rollup",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("programme", sa.String(length=64), nullable=False),
        sa.Column("office_code", sa.String(length=32), nullable=False),
        sa.Column("milestone", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("total_s", sa.Float(), nullable=False),
        sa.Column("hist", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_time_rollup")),
        sa.UniqueConstraint(
            "period",
            "programme",
            "office_code",
            "milestone",
            name=op.f("uq_lead_time_rollup_period_programme_office_code_milestone"),
        ),
    )
    op.create_index(
        "ix_lead_time_rollup_scope",
        "lead_time_rollup",
        ["period", "office_code", "programme"],
        unique=False,
    )
    op.create_table(
        "lead_time_rollup_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rolled_up_to", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_time_rollup_state")),
    )
    op.create_index(
        "ix_step_timing_activate",
        "step_timing",
        ["started_at"],
        unique=False,
        postgresql_where=sa.text("bpmn_id = 'activate'"),
        sqlite_where=sa.text("bpmn_id = 'activate'"),
    )
    op.create_index(
        "ix_payment_order_paid",
        "payment_order",
        ["settled_at"],
        unique=False,
        postgresql_where=sa.text("status = 'paid'"),
        sqlite_where=sa.text("status = 'paid'"),
    )


def downgrade() -> None:
    op.drop_index("ix_payment_order_paid", table_name="payment_order")
    op.drop_index("ix_step_timing_activate", table_name="step_timing")
    op.drop_table("lead_time_rollup_state")
    op.drop_index("ix_lead_time_rollup_scope", table_name="lead_time_rollup")
    op.drop_table("lead_time_rollup")
