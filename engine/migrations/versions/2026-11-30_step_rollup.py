"""step duration rollup (analytics at national volumes)

Revision ID: 0010
Revises: 0008
Create Date: 2026-11-30 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "step_rollup",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("programme", sa.String(length=64), nullable=False),
        sa.Column("office_code", sa.String(length=32), nullable=False),
        sa.Column("step", sa.String(length=128), nullable=False),
        sa.Column("lane", sa.String(length=32), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("total_s", sa.Float(), nullable=False),
        sa.Column("with_due", sa.Integer(), nullable=False),
        sa.Column("breached", sa.Integer(), nullable=False),
        sa.Column("hist_total", sa.JSON(), nullable=False),
        sa.Column("hist_waiting", sa.JSON(), nullable=False),
        sa.Column("hist_working", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_step_rollup")),
        sa.UniqueConstraint(
            "period",
            "programme",
            "office_code",
            "step",
            "lane",
            name=op.f("uq_step_rollup_period_programme_office_code_step_lane"),
        ),
    )
    op.create_index(
        "ix_step_rollup_scope", "step_rollup", ["period", "office_code", "programme"], unique=False
    )
    op.create_table(
        "step_rollup_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rolled_up_to", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_step_rollup_state")),
    )
    op.create_index("ix_human_task_completed_at", "human_task", ["completed_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_human_task_completed_at", table_name="human_task")
    op.drop_table("step_rollup_state")
    op.drop_index("ix_step_rollup_scope", table_name="step_rollup")
    op.drop_table("step_rollup")
