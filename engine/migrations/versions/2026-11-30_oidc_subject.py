"""users' national digital identity (OpenID Connect subject)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 19:30:00

A user who links their account to the national identity provider signs in with it afterwards;
the link is the provider's ``sub`` claim, unique across users.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("oidc_subject", sa.String(length=255), nullable=True))
        batch_op.create_index("ix_app_user_oidc_subject", ["oidc_subject"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.drop_index("ix_app_user_oidc_subject")
        batch_op.drop_column("oidc_subject")
