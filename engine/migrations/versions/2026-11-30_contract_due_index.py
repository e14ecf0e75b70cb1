"""contract: index timers page through, (next_due_at, id)

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 22:50:00

The timer poller pages through due contracts in ``(next_due_at, id)`` order. At a month end
every contract that started on the 1st is due at the same instant, so with an index on
``next_due_at`` alone each page read and sorted all of them; ``(next_due_at, id)`` reads one
page. It replaces the single-column index (its prefix serves the same queries).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("contract", schema=None) as batch_op:
        batch_op.create_index("ix_contract_due", ["next_due_at", "id"], unique=False)
        batch_op.drop_index("ix_contract_next_due_at")


def downgrade() -> None:
    with op.batch_alter_table("contract", schema=None) as batch_op:
        batch_op.create_index("ix_contract_next_due_at", ["next_due_at"], unique=False)
        batch_op.drop_index("ix_contract_due")
