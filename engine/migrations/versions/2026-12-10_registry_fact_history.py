"""counsellors correct the job-seeker registry; each change is kept with its reason and proof

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-10 00:00:00

``beneficiary_fact_change``: one row per change a counsellor made to a registry fact (issue 19
item 3) — who, when, the field, its value before and after, the reason and, when given, the
proof document. Rows are only added; the history of a record is its rows in order.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "beneficiary_fact_change",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("beneficiary_id", ID, sa.ForeignKey("beneficiary.id"), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("before", sa.String(length=64), nullable=True),
        sa.Column("after", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("proof_filename", sa.String(length=200), nullable=True),
        sa.Column("proof_content_type", sa.String(length=100), nullable=True),
        sa.Column("proof_sha256", sa.String(length=64), nullable=True),
        sa.Column("proof", sa.LargeBinary(), nullable=True),
        sa.Column("changed_by", sa.String(length=100), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_beneficiary_fact_change_person", "beneficiary_fact_change", ["beneficiary_id", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_beneficiary_fact_change_person", table_name="beneficiary_fact_change")
    op.drop_table("beneficiary_fact_change")
