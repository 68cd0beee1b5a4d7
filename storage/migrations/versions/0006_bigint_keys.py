"""64-bit row ids on PostgreSQL

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 10:00:00.000000

Every primary key, and every column that refers to one, becomes BIGINT with its sequence, so an id is never out
of the column's range: SERIAL stops at 2^31 - 1, which a busy outbox or audit log reaches within years and a
forged button reaches at once. Now, while the tables are small, the rewrite is instant. SQLite is untouched: its
INTEGER primary key is the rowid, already 64-bit, and an ALTER would lose that.
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Table: its id (None when it already is 64-bit: the outbox) and the columns that refer to a row id.
KEYS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "organisations": ("id", ()),
    "people": ("id", ("organisation_id",)),
    "join_requests": ("id", ("person_id", "organisation_id", "decided_by_id")),
    "invite_codes": ("id", ("organisation_id",)),
    "audit_log": ("id", ("actor_id",)),
    "outbox": (None, ("person_id",)),
    "announcements": ("id", ("author_id", "group_id")),
    "service_categories": ("id", ()),
    "services": ("id", ("category_id",)),
    "service_requests": ("id", ("service_id", "person_id", "organisation_id", "handled_by_id")),
    "working_groups": ("id", ("proposed_by_id",)),
    "group_memberships": ("id", ("group_id", "person_id", "organisation_id")),
    "confidentiality_acceptances": ("id", ("group_id", "person_id", "organisation_id")),
    "group_events": ("id", ("group_id", "actor_id")),
}


def _retype(column_type: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, (key, refs) in KEYS.items():
        columns = ([key] if key else []) + list(refs)
        # One ALTER TABLE per table: PostgreSQL rewrites it once, whatever the number of columns.
        op.execute(f"ALTER TABLE {table} " + ", ".join(f"ALTER COLUMN {name} TYPE {column_type}" for name in columns))
        if key:
            # A SERIAL's sequence is AS integer and would stop at 2^31 - 1 even in a BIGINT column.
            op.execute(f"ALTER SEQUENCE {table}_{key}_seq AS {column_type}")


def upgrade() -> None:
    _retype("BIGINT")


def downgrade() -> None:
    # Fails, as it should, if a row already has an id past 2^31 - 1.
    _retype("INTEGER")
