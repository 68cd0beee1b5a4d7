"""indexes for a large project's card

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 14:15:00

A project's card reads its newest commitment versions (by id) and ranks the organisations standing; with 2,000
versions in one project both read every version of it and sorted them (benchmarks/projects.py). The standing
lines (latest, not withdrawn) get a partial index in ranking order; versions an index by (project, id).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_commitments_project_id_id", "commitments", ["project_id", "id"])
    op.create_index(
        "ix_commitments_standing",
        "commitments",
        ["project_id", "organisation_id", "standing_change", "standing_since"],
        # As SQLAlchemy writes `latest.is_(True)` and `withdrawn.is_(False)` on each engine, so that each planner
        # finds the index's condition in the queries'.
        sqlite_where=sa.text("latest IS 1 AND withdrawn IS 0"),
        postgresql_where=sa.text("latest IS true AND withdrawn IS false"),
    )


def downgrade() -> None:
    op.drop_index("ix_commitments_standing", table_name="commitments")
    op.drop_index("ix_commitments_project_id_id", table_name="commitments")
