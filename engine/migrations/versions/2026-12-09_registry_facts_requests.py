"""the job-seeker registry holds every fact eligibility and amounts read; requests await the
job seeker's acceptance

Revision ID: 0025
Revises: 0023
Create Date: 2026-12-09 00:00:00

``beneficiary`` gains the facts the programmes' decisions read (issue 19 item 3): nationality,
registration number and date, last diploma date, minimum schooling, months worked since the
diploma, CNSS quarters, CIVP months done before Aqd, the last job's end and loss reason, the
residence governorate. Existing rows get the values the start forms defaulted to (Tunisian,
schooling reached, nothing worked, no earlier CIVP month).

``contract_request``: an employer's request for a job seeker found by CIN and date of birth
(or registration number); it becomes a contract only once the job seeker accepts it (item 5).
A look-up that matched nobody is stored too (``beneficiary_id`` empty), so that the employer's
answer, its list and its rate limit are the same whether or not the CIN exists.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("beneficiary", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("nationality", sa.String(length=8), nullable=False, server_default="TN")
        )
        batch_op.add_column(sa.Column("registration_number", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("registered_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("diploma_date", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("schooling_ok", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        for name in (
            "months_worked_continuous",
            "months_worked_total",
            "cnss_quarters_since_diploma",
            "prior_civp_months",
            "years_in_last_firm",
        ):
            batch_op.add_column(
                sa.Column(name, sa.Integer(), nullable=False, server_default=sa.text("0"))
            )
        batch_op.add_column(sa.Column("last_job_end_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("job_loss_reason", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column("permanent_worker", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(sa.Column("residence_governorate", sa.String(length=32), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_beneficiary_registration_number"), ["registration_number"]
        )

    op.create_table(
        "contract_request",
        sa.Column("id", ID, nullable=False),
        sa.Column("reference", sa.String(length=36), nullable=False),
        sa.Column("employer_id", ID, nullable=False),
        sa.Column("beneficiary_id", ID, nullable=True),
        sa.Column("programme", sa.String(length=64), nullable=False),
        sa.Column("terms", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("contract_id", ID, nullable=True),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["employer_id"], ["employer.id"], name=op.f("fk_contract_request_employer_id_employer")
        ),
        sa.ForeignKeyConstraint(
            ["beneficiary_id"],
            ["beneficiary.id"],
            name=op.f("fk_contract_request_beneficiary_id_beneficiary"),
        ),
        sa.ForeignKeyConstraint(
            ["contract_id"], ["contract.id"], name=op.f("fk_contract_request_contract_id_contract")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_request")),
        sa.UniqueConstraint("reference", name=op.f("uq_contract_request_reference")),
    )
    op.create_index(
        "ix_contract_request_employer_created",
        "contract_request",
        ["employer_id", "created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_contract_request_beneficiary_id"),
        "contract_request",
        ["beneficiary_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_contract_request_beneficiary_id"), table_name="contract_request")
    op.drop_index("ix_contract_request_employer_created", table_name="contract_request")
    op.drop_table("contract_request")
    with op.batch_alter_table("beneficiary", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_beneficiary_registration_number"), type_="unique")
        for name in (
            "residence_governorate",
            "permanent_worker",
            "job_loss_reason",
            "last_job_end_date",
            "years_in_last_firm",
            "prior_civp_months",
            "cnss_quarters_since_diploma",
            "months_worked_total",
            "months_worked_continuous",
            "schooling_ok",
            "diploma_date",
            "registered_on",
            "registration_number",
            "nationality",
        ):
            batch_op.drop_column(name)
