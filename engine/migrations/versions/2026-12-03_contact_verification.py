"""contacts: verified phones and e-mail addresses, their changes and their record

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-03 09:00:00

Issue 18: a signing code went to whatever phone or address the account's holder typed, so a
stolen password or API token could point the second factor at the thief. A contact is now
usable for signing codes once verified (``app_user.*_verified_at`` and ``*_verified_via``); a
change is a ``contact_change`` confirmed by codes, and ``contact_event`` records what was
verified when. Existing contacts were never verified: they stay, unverified (still used for
ordinary notifications, never for signing codes) until their owner confirms them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_verified_at", sa.DateTime(timezone=True)))
        batch_op.add_column(sa.Column("email_verified_via", sa.String(length=8)))
        batch_op.add_column(sa.Column("phone_verified_at", sa.DateTime(timezone=True)))
        batch_op.add_column(sa.Column("phone_verified_via", sa.String(length=8)))
    op.create_table(
        "contact_change",
        sa.Column("id", _ID, nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value", sa.String(length=254), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("new_code_hash", sa.String(length=64), nullable=True),
        sa.Column("new_channel", sa.String(length=8), nullable=True),
        sa.Column("new_confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("current_code_hash", sa.String(length=64), nullable=True),
        sa.Column("current_channel", sa.String(length=8), nullable=True),
        sa.Column("current_address", sa.String(length=254), nullable=True),
        sa.Column("current_confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
            name="fk_contact_change_user_id_app_user",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_contact_change"),
    )
    op.create_index(
        "ix_contact_change_user", "contact_change", ["user_id", "kind", "status"], unique=False
    )
    op.create_table(
        "contact_event",
        sa.Column("id", _ID, nullable=False),
        sa.Column("user_id", _ID, nullable=True),
        sa.Column("beneficiary_id", _ID, nullable=True),
        sa.Column("change_id", _ID, nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("address_sha256", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("detail", _JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
            name="fk_contact_event_user_id_app_user",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["beneficiary_id"],
            ["beneficiary.id"],
            name="fk_contact_event_beneficiary_id_beneficiary",
        ),
        sa.ForeignKeyConstraint(
            ["change_id"],
            ["contact_change.id"],
            name="fk_contact_event_change_id_contact_change",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_contact_event"),
    )
    op.create_index("ix_contact_event_user", "contact_event", ["user_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_contact_event_user", table_name="contact_event")
    op.drop_table("contact_event")
    op.drop_index("ix_contact_change_user", table_name="contact_change")
    op.drop_table("contact_change")
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.drop_column("phone_verified_via")
        batch_op.drop_column("phone_verified_at")
        batch_op.drop_column("email_verified_via")
        batch_op.drop_column("email_verified_at")
