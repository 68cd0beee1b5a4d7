"""question threads and their messages

A person's conversation with the cluster's team (issue 12, "a person to talk to"): the thread, who took it
and who resolved it, and every message of it (text, or a photo or document by Telegram's file_id).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 17:34:49.789782
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "question_threads",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("organisation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("taken_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("resolved_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_question_threads_organisation_id_organisations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_question_threads_person_id_people"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by_id"],
            ["people.id"],
            name=op.f("fk_question_threads_resolved_by_id_people"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["taken_by_id"], ["people.id"], name=op.f("fk_question_threads_taken_by_id_people"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_question_threads")),
    )
    with op.batch_alter_table("question_threads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_question_threads_person_id"), ["person_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_question_threads_status"), ["status"], unique=False)

    op.create_table(
        "question_messages",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("thread_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("author_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("from_team", sa.Boolean(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("text", sa.String(length=4096), nullable=True),
        sa.Column("file_id", sa.String(length=256), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["people.id"], name=op.f("fk_question_messages_author_id_people"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["question_threads.id"],
            name=op.f("fk_question_messages_thread_id_question_threads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_question_messages")),
    )
    with op.batch_alter_table("question_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_question_messages_thread_id"), ["thread_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("question_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_question_messages_thread_id"))

    op.drop_table("question_messages")
    with op.batch_alter_table("question_threads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_question_threads_status"))
        batch_op.drop_index(batch_op.f("ix_question_threads_person_id"))

    op.drop_table("question_threads")
