"""chain anchors: RFC 3161 time-stamps over the contracts' hash-chain heads

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01 04:00:00

Someone able to write the database can rewrite a contract's events and recompute its hash
chain; replay and the chain checks then pass. An anchor records the chain heads that moved
since the previous one (``chain_anchor_leaf``), chains its root to the previous anchor's, and
keeps a time-stamp token over the root from a time-stamping service: a chain rewritten after
its head was anchored no longer reaches that head.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "chain_anchor",
        sa.Column("id", BigId, nullable=False),
        sa.Column("anchored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prev_root", sa.String(length=64), nullable=False),
        sa.Column("root", sa.String(length=64), nullable=False),
        sa.Column("contracts", sa.Integer(), nullable=False),
        sa.Column("token", sa.LargeBinary(), nullable=True),
        sa.Column("tsa", sa.String(length=300), nullable=False),
        sa.Column("stamped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_anchor")),
        sa.UniqueConstraint("root", name=op.f("uq_chain_anchor_root")),
    )
    op.create_table(
        "chain_anchor_leaf",
        sa.Column("contract_id", BigId, nullable=False),
        sa.Column("anchor_id", BigId, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("head", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["anchor_id"],
            ["chain_anchor.id"],
            name=op.f("fk_chain_anchor_leaf_anchor_id_chain_anchor"),
        ),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contract.id"],
            name=op.f("fk_chain_anchor_leaf_contract_id_contract"),
        ),
        sa.PrimaryKeyConstraint("contract_id", "anchor_id", name=op.f("pk_chain_anchor_leaf")),
    )


def downgrade() -> None:
    op.drop_table("chain_anchor_leaf")
    op.drop_table("chain_anchor")
