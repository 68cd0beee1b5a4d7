"""tender alert profiles, alerts and sources

Members' alert profiles, one alert per person and tender, each source's health, and the alert job's claim on
tenders (matched_at, change_matched_at). Tenders stored before this migration count as matched: nobody is
alerted to old tenders (issue 11).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 16:22:20.997597
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tender_sources",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fetched_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_fetched", sa.Integer(), nullable=False),
        sa.Column("last_new", sa.Integer(), nullable=False),
        sa.Column("last_changed", sa.Integer(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("error_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("incident_reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_tender_sources")),
    )
    op.create_table(
        "alert_profiles",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("organisation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("cpv", sa.JSON(), nullable=False),
        sa.Column("include", sa.JSON(), nullable=False),
        sa.Column("exclude", sa.JSON(), nullable=False),
        sa.Column("countries", sa.JSON(), nullable=False),
        sa.Column("value_min_hundredths", sa.BigInteger(), nullable=True),
        sa.Column("value_max_hundredths", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("min_days_left", sa.Integer(), nullable=False),
        sa.Column("kinds", sa.JSON(), nullable=False),
        sa.Column("delivery", sa.String(length=16), nullable=False),
        sa.Column("digest_hour", sa.Integer(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_alert_profiles_organisation_id_organisations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_alert_profiles_person_id_people"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_profiles")),
    )
    with op.batch_alter_table("alert_profiles", schema=None) as batch_op:
        batch_op.create_index("ix_alert_profiles_organisation_id", ["organisation_id"], unique=False)
        batch_op.create_index("ix_alert_profiles_person_id", ["person_id"], unique=False)

    op.create_table(
        "tender_alerts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tender_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("profile_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("delivery", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("change_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("followed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("not_relevant_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminded_7_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminded_2_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_tender_alerts_person_id_people"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["alert_profiles.id"],
            name=op.f("fk_tender_alerts_profile_id_alert_profiles"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tender_id"], ["tenders.id"], name=op.f("fk_tender_alerts_tender_id_tenders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tender_alerts")),
        sa.UniqueConstraint("person_id", "tender_id", name="uq_tender_alerts_person_id_tender_id"),
    )
    with op.batch_alter_table("tender_alerts", schema=None) as batch_op:
        batch_op.create_index("ix_tender_alerts_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_tender_alerts_tender_id", ["tender_id"], unique=False)
        batch_op.create_index("ix_tender_alerts_waiting", ["delivery", "sent_at"], unique=False)

    with op.batch_alter_table("tenders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("matched_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("change_matched_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_tenders_unmatched",
            ["id"],
            unique=False,
            sqlite_where=sa.text("matched_at IS NULL"),
            postgresql_where=sa.text("matched_at IS NULL"),
        )
    op.execute("UPDATE tenders SET matched_at = first_seen_at, change_matched_at = changed_at")


def downgrade() -> None:
    with op.batch_alter_table("tenders", schema=None) as batch_op:
        batch_op.drop_index("ix_tenders_unmatched")
        batch_op.drop_column("change_matched_at")
        batch_op.drop_column("matched_at")

    with op.batch_alter_table("tender_alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_tender_alerts_waiting")
        batch_op.drop_index("ix_tender_alerts_tender_id")
        batch_op.drop_index("ix_tender_alerts_created_at")

    op.drop_table("tender_alerts")
    with op.batch_alter_table("alert_profiles", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_profiles_person_id")
        batch_op.drop_index("ix_alert_profiles_organisation_id")

    op.drop_table("alert_profiles")
    op.drop_table("tender_sources")
