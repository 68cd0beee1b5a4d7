"""announcements to the participants of a project

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 14:10:00

An announcement can be for the people of the organisations standing in one project (its participants once
the list is closed): `announcements.project_id`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("announcements", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("project_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_announcements_project_id_projects"), "projects", ["project_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("announcements", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_announcements_project_id_projects"), type_="foreignkey")
        batch_op.drop_column("project_id")
