"""documents: pending uploads that expire

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02 09:00:00

An upload to a task is ``pending`` until the task completes with a reference to it, then
``recorded`` (its completion event holds its SHA-256); a pending upload expires at
``expires_at`` and the hourly job deletes it. Existing documents were all recorded by an event
when stored, hence the server default. ``ix_document_pending`` finds the expired uploads
without reading the others; ``ix_document_uploader`` counts a user's pending uploads (quota).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("document", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=12), server_default="recorded", nullable=False)
        )
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_document_pending", ["status", "expires_at"], unique=False)
        batch_op.create_index("ix_document_uploader", ["uploaded_by", "status"], unique=False)


def downgrade() -> None:
    # pending uploads are no part of any contract: they go with the column that marks them
    op.execute("DELETE FROM document WHERE status = 'pending'")
    with op.batch_alter_table("document", schema=None) as batch_op:
        batch_op.drop_index("ix_document_uploader")
        batch_op.drop_index("ix_document_pending")
        batch_op.drop_column("expires_at")
        batch_op.drop_column("status")
