"""signature requests and notifications

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 16:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "signature_request",
        sa.Column("id", _ID, nullable=False),
        sa.Column("contract_id", _ID, nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("party", sa.String(length=16), nullable=False),
        sa.Column("document_id", _ID, nullable=False),
        sa.Column("document_sha256", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("expires_at", _AT, nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=True),
        sa.Column("code_expires_at", _AT, nullable=True),
        sa.Column("code_attempts", sa.Integer(), nullable=False),
        sa.Column("codes_sent", sa.Integer(), nullable=False),
        sa.Column("signer_username", sa.String(length=100), nullable=True),
        sa.Column("consent_version", sa.String(length=32), nullable=True),
        sa.Column("consent_sha256", sa.String(length=64), nullable=True),
        sa.Column("consented_at", _AT, nullable=True),
        sa.Column("client_ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.Column("signed_at", _AT, nullable=True),
        sa.Column("signed_document_id", _ID, nullable=True),
        sa.Column("closed_reason", sa.Text(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"], ["contract.id"], name=op.f("fk_signature_request_contract_id_contract")
        ),
        sa.ForeignKeyConstraint(
            ["document_id"], ["document.id"], name=op.f("fk_signature_request_document_id_document")
        ),
        sa.ForeignKeyConstraint(
            ["signed_document_id"],
            ["document.id"],
            name=op.f("fk_signature_request_signed_document_id_document"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signature_request")),
        sa.UniqueConstraint(
            "contract_id",
            "round",
            "party",
            name=op.f("uq_signature_request_contract_id_round_party"),
        ),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_signature_request_idempotency_key")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_signature_request_token_hash")),
    )
    with op.batch_alter_table("signature_request", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_signature_request_contract_id"), ["contract_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_signature_request_status"), ["status"], unique=False)
    op.create_table(
        "notification",
        sa.Column("id", _ID, nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("recipient", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("template", sa.String(length=64), nullable=False),
        sa.Column("contract_id", _ID, nullable=True),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("read_at", _AT, nullable=True),
        sa.ForeignKeyConstraint(
            ["contract_id"], ["contract.id"], name=op.f("fk_notification_contract_id_contract")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_notification_idempotency_key")),
    )
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notification_recipient"), ["recipient"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_recipient"))
    op.drop_table("notification")
    with op.batch_alter_table("signature_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signature_request_status"))
        batch_op.drop_index(batch_op.f("ix_signature_request_contract_id"))
    op.drop_table("signature_request")
