"""outbox rows name the kind of notice they carry

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 11:40:00

Rows queued before this release hold a message written out in every language: kind "message".
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=48), server_default="message", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("kind")
