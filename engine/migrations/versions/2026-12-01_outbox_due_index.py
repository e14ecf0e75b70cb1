"""outbox: index the relay's claim order, (status, available_at, id)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01 01:00:00

The relay claims the oldest due side effects: ``status = 'pending' AND available_at <= now``
in ``(available_at, id)`` order. At a month's end every certified month's payment order
becomes due at the same instant (18:00), so with ``(status, available_at)`` each claim of 200
read and sorted every pending row (the month's end grew worse than linearly with its size);
``(status, available_at, id)`` reads the page in order. It replaces the two-column index (its
prefix serves the same queries).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_due", ["status", "available_at", "id"], unique=False)
        batch_op.drop_index("ix_outbox_pending")


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_pending", ["status", "available_at"], unique=False)
        batch_op.drop_index("ix_outbox_due")
