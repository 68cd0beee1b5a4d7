"""search texts of the services by the stemming rule (Romanian and English Snowball stems)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 10:25:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.text import search_text

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_SERVICES = sa.table(
    "services",
    sa.column("id", sa.Integer),
    sa.column("title_ro", sa.String),
    sa.column("title_en", sa.String),
    sa.column("description_ro", sa.String),
    sa.column("description_en", sa.String),
    sa.column("search_text", sa.String),
)


def upgrade() -> None:
    # Texts stored by the earlier rule held the folded words only: stems are added once, here, not at each start.
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(
            _SERVICES.c.id,
            _SERVICES.c.title_ro,
            _SERVICES.c.title_en,
            _SERVICES.c.description_ro,
            _SERVICES.c.description_en,
            _SERVICES.c.search_text,
        )
    ).all()
    for row in rows:
        fresh = search_text(row.title_ro, row.title_en, row.description_ro, row.description_en)
        if fresh != row.search_text:
            connection.execute(sa.update(_SERVICES).where(_SERVICES.c.id == row.id).values(search_text=fresh))


def downgrade() -> None:
    # The earlier rule finds what it found before in these texts (they keep every folded word): nothing to undo.
    pass
