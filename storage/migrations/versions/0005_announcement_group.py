"""announcements to a working group

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 22:04:52.306746
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("announcements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("group_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_announcements_group_id_working_groups"),
            "working_groups",
            ["group_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("announcements", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_announcements_group_id_working_groups"), type_="foreignkey")
        batch_op.drop_column("group_id")
