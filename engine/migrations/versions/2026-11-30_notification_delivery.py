"""notification delivery (e-mail, SMS) and users' contact details

Revision ID: 0011
Revises: 0009
Create Date: 2026-11-30 17:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column("phone", sa.String(length=20), nullable=True))
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("delivery", sa.String(length=12), nullable=False, server_default="mailbox")
        )
        batch_op.add_column(sa.Column("body_redacted", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("address", sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column("lease_until", _AT, nullable=True))
        batch_op.add_column(sa.Column("sent_at", _AT, nullable=True))
        batch_op.add_column(sa.Column("error", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_column("error")
        batch_op.drop_column("sent_at")
        batch_op.drop_column("lease_until")
        batch_op.drop_column("address")
        batch_op.drop_column("body_redacted")
        batch_op.drop_column("delivery")
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.drop_column("phone")
        batch_op.drop_column("email")
