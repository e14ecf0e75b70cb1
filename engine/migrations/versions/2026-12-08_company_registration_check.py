"""a self-registered company stays pending until its office checks its uploaded proofs

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-08 01:00:00

``employer.registration``: ``pending``, ``checked`` or ``refused`` (issue 19 item 2). Companies
already in the database were entered by an office (demo, imports) or registered on the web
before any check existed; the latter (an ``@`` account, no legal status recorded) become
``pending``, so none of them requests a contract its office never checked.

``employer_upload``: the proofs a company uploads for its office to check; ``employer_check``:
each approval or refusal, who decided it and when, with the reason the company reads.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("employer", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "registration", sa.String(length=16), server_default="checked", nullable=False
            )
        )
    op.execute(
        "UPDATE employer SET registration = 'pending' WHERE id IN "
        "(SELECT employer_id FROM app_user WHERE employer_id IS NOT NULL AND username LIKE '%@%')"
        " AND id NOT IN (SELECT employer_id FROM employer_fact WHERE kind = 'legal_status')"
    )
    op.create_table(
        "employer_check",
        sa.Column("id", ID, nullable=False),
        sa.Column("employer_id", ID, nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("decided_by", sa.String(length=100), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["employer_id"], ["employer.id"], name=op.f("fk_employer_check_employer_id_employer")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_employer_check")),
    )
    op.create_index(
        op.f("ix_employer_check_employer_id"), "employer_check", ["employer_id"], unique=False
    )
    op.create_table(
        "employer_upload",
        sa.Column("id", ID, nullable=False),
        sa.Column("employer_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", ID, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("uploaded_by", sa.String(length=100), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fact_id", ID, nullable=True),
        sa.Column("check_id", ID, nullable=True),
        sa.ForeignKeyConstraint(
            ["check_id"],
            ["employer_check.id"],
            name=op.f("fk_employer_upload_check_id_employer_check"),
        ),
        sa.ForeignKeyConstraint(
            ["employer_id"], ["employer.id"], name=op.f("fk_employer_upload_employer_id_employer")
        ),
        sa.ForeignKeyConstraint(
            ["fact_id"], ["employer_fact.id"], name=op.f("fk_employer_upload_fact_id_employer_fact")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_employer_upload")),
    )
    op.create_index(
        op.f("ix_employer_upload_employer_id"), "employer_upload", ["employer_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_employer_upload_employer_id"), table_name="employer_upload")
    op.drop_table("employer_upload")
    op.drop_index(op.f("ix_employer_check_employer_id"), table_name="employer_check")
    op.drop_table("employer_check")
    with op.batch_alter_table("employer", schema=None) as batch_op:
        batch_op.drop_column("registration")
