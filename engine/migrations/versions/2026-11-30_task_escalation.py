"""overdue tasks: when each was escalated

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 19:40:00

A ready task past its due date is escalated once (its office's heads, its assignee or the party
whose step it is are told); ``escalated_at`` records it, and the index finds the tasks not yet
escalated without reading the others.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("human_task", schema=None) as batch_op:
        batch_op.add_column(sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_human_task_overdue", ["status", "escalated_at", "due_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("human_task", schema=None) as batch_op:
        batch_op.drop_index("ix_human_task_overdue")
        batch_op.drop_column("escalated_at")
