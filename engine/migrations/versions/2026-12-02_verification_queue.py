"""verification_run: a lease, so runs are queued work that workers claim

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-02 09:00:00

A verification run was a thread started by the web process for each request, with no cap
(issue 18). Runs are now claimed from this table by the worker (or, with the embedded broker,
by one verification thread of the web process), like the outbox's side effects: a claim marks
the run ``running`` with ``lease_until``; progress extends the lease; a run whose lease expired
(its worker died) or that was put back after its time slice is claimed again and resumes where
it stopped. Rows left ``running`` without a lease by the thread-per-request code are claimable,
so they resume too.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("verification_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_verification_run_status", ["status", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("verification_run", schema=None) as batch_op:
        batch_op.drop_index("ix_verification_run_status")
        batch_op.drop_column("lease_until")
