"""definitions apply from their own date; the employer's checked facts with their proofs

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-08 00:00:00

``process_definition.applies_from``: the first request date a version's rules apply to,
separate from ``deployed_at`` (issue 20 item 1). Versions deployed before it apply from the
day they were deployed, which is what they did.

``employer_fact``: the employer's legal status and its tax and CNSS certificates with their
validity dates, each with the proof a counsellor checked (issue 20 item 2).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("process_definition", schema=None) as batch_op:
        batch_op.add_column(sa.Column("applies_from", sa.Date(), nullable=True))
    definitions = sa.table(
        "process_definition",
        sa.column("id", sa.BigInteger()),
        sa.column("deployed_at", sa.DateTime(timezone=True)),
        sa.column("applies_from", sa.Date()),
    )
    rows = op.get_bind().execute(sa.select(definitions.c.id, definitions.c.deployed_at)).all()
    for row in rows:
        deployed = row.deployed_at
        day = deployed.date() if hasattr(deployed, "date") else str(deployed)[:10]
        op.execute(
            definitions.update()
            .where(definitions.c.id == row.id)
            .values(applies_from=sa.literal(day, sa.Date()))
        )
    with op.batch_alter_table("process_definition", schema=None) as batch_op:
        batch_op.alter_column("applies_from", existing_type=sa.Date(), nullable=False)

    op.create_table(
        "employer_fact",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "employer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("value", sa.String(length=100), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("proof_filename", sa.String(length=200), nullable=False),
        sa.Column("proof_content_type", sa.String(length=100), nullable=False),
        sa.Column("proof_sha256", sa.String(length=64), nullable=False),
        sa.Column("proof", sa.LargeBinary(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["employer_id"], ["employer.id"], name=op.f("fk_employer_fact_employer_id_employer")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_employer_fact")),
    )
    op.create_index(
        op.f("ix_employer_fact_employer_id"), "employer_fact", ["employer_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_employer_fact_employer_id"), table_name="employer_fact")
    op.drop_table("employer_fact")
    with op.batch_alter_table("process_definition", schema=None) as batch_op:
        batch_op.drop_column("applies_from")
