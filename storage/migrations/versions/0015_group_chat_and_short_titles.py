"""a working group's chat link; short titles of groups and services

Issue 12: a working group leads somewhere (managers attach the group's own Telegram chat, its members see it),
and buttons show a short title instead of a long one cut mid-word.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 19:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("working_groups") as batch:
        batch.add_column(sa.Column("short_title_ro", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("short_title_en", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("chat_link", sa.String(length=200), nullable=True))
    with op.batch_alter_table("services") as batch:
        batch.add_column(sa.Column("short_title_ro", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("short_title_en", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("services") as batch:
        batch.drop_column("short_title_en")
        batch.drop_column("short_title_ro")
    with op.batch_alter_table("working_groups") as batch:
        batch.drop_column("chat_link")
        batch.drop_column("short_title_en")
        batch.drop_column("short_title_ro")
