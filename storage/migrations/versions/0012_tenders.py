"""tenders

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 15:20:00

Normalised tenders from every source, unique by (source, source_id), with their CPV codes one per row for
reading by code prefix (issue 11).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

ROW_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "tenders",
        sa.Column("id", ROW_KEY, nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("source_id", sa.String(length=255), nullable=False),
        sa.Column("procedure_id", sa.String(length=255), nullable=True),
        sa.Column("procedure_key", sa.String(length=255), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("is_change", sa.Boolean(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sa.JSON(), nullable=False),
        sa.Column("description", sa.JSON(), nullable=False),
        sa.Column("buyer", sa.String(length=500), nullable=True),
        sa.Column("country", sa.String(length=8), nullable=True),
        sa.Column("places", sa.JSON(), nullable=False),
        sa.Column("cpv", sa.JSON(), nullable=False),
        sa.Column("value_hundredths", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("links", sa.JSON(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("same_as_id", ROW_KEY, nullable=True),
        sa.ForeignKeyConstraint(
            ["same_as_id"], ["tenders.id"], name=op.f("fk_tenders_same_as_id_tenders"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenders")),
        sa.UniqueConstraint("source", "source_id", name="uq_tenders_source_source_id"),
    )
    with op.batch_alter_table("tenders", schema=None) as batch_op:
        batch_op.create_index("ix_tenders_procedure_key", ["procedure_key"], unique=False)
        batch_op.create_index("ix_tenders_first_seen_at", ["first_seen_at"], unique=False)
        batch_op.create_index("ix_tenders_changed_at", ["changed_at"], unique=False)
        batch_op.create_index("ix_tenders_same_as_id", ["same_as_id"], unique=False)

    op.create_table(
        "tender_cpv",
        sa.Column("tender_id", ROW_KEY, nullable=False),
        sa.Column("code8", sa.String(length=8), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tender_id"], ["tenders.id"], name=op.f("fk_tender_cpv_tender_id_tenders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tender_id", "code8", name=op.f("pk_tender_cpv")),
    )
    with op.batch_alter_table("tender_cpv", schema=None) as batch_op:
        batch_op.create_index("ix_tender_cpv_code8_tender_id", ["code8", "tender_id"], unique=False)


def downgrade() -> None:
    op.drop_table("tender_cpv")
    op.drop_table("tenders")
