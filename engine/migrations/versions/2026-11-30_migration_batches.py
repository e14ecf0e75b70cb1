"""migration batches and items (running contracts moved to a new version)

Revision ID: 0009
Revises: 0010
Create Date: 2026-11-30 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "migration_batch",
        sa.Column("id", _ID, nullable=False),
        sa.Column("programme", sa.String(length=64), nullable=False),
        sa.Column("to_definition_id", _ID, nullable=False),
        sa.Column("selection", _JSON, nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("migrated", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("rolled_back", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["to_definition_id"],
            ["process_definition.id"],
            name=op.f("fk_migration_batch_to_definition_id_process_definition"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_migration_batch")),
    )
    op.create_index(
        op.f("ix_migration_batch_programme"), "migration_batch", ["programme"], unique=False
    )
    op.create_table(
        "migration_item",
        sa.Column("id", _ID, nullable=False),
        sa.Column("batch_id", _ID, nullable=False),
        sa.Column("contract_id", _ID, nullable=False),
        sa.Column("from_definition_id", _ID, nullable=False),
        sa.Column("to_definition_id", _ID, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reasons", _JSON, nullable=False),
        sa.Column("event_seq", sa.Integer(), nullable=True),
        sa.Column("rollback_seq", sa.Integer(), nullable=True),
        sa.Column("snapshot", sa.LargeBinary(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["migration_batch.id"],
            name=op.f("fk_migration_item_batch_id_migration_batch"),
        ),
        sa.ForeignKeyConstraint(
            ["contract_id"], ["contract.id"], name=op.f("fk_migration_item_contract_id_contract")
        ),
        sa.ForeignKeyConstraint(
            ["from_definition_id"],
            ["process_definition.id"],
            name=op.f("fk_migration_item_from_definition_id_process_definition"),
        ),
        sa.ForeignKeyConstraint(
            ["to_definition_id"],
            ["process_definition.id"],
            name=op.f("fk_migration_item_to_definition_id_process_definition"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_migration_item")),
        sa.UniqueConstraint(
            "batch_id", "contract_id", name=op.f("uq_migration_item_batch_id_contract_id")
        ),
    )
    op.create_index(
        op.f("ix_migration_item_batch_id"), "migration_item", ["batch_id"], unique=False
    )
    op.create_index(
        "ix_migration_item_contract", "migration_item", ["contract_id", "status"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_migration_item_contract", table_name="migration_item")
    op.drop_index(op.f("ix_migration_item_batch_id"), table_name="migration_item")
    op.drop_table("migration_item")
    op.drop_index(op.f("ix_migration_batch_programme"), table_name="migration_batch")
    op.drop_table("migration_batch")
