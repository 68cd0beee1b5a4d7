"""SQLAlchemy models: organisations, the people who represent them, join requests, invites, audit log."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Annotated, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every engine (SQLite would hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# A row's id, and every column that refers to one: 64-bit on PostgreSQL, so no id a table can reach (or a button
# can carry, see handlers.keyboards.RowId) is out of the column's range; on SQLite it stays INTEGER, the only type
# that makes the primary key the rowid (autoincrement), and SQLite's INTEGER is 64-bit anyway.
RowKey = Annotated[int, "row key"]
ROW_KEY_TYPE = BigInteger().with_variant(Integer, "sqlite")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), RowKey: ROW_KEY_TYPE}


class Role(enum.StrEnum):
    GUEST = "guest"
    MEMBER = "member"
    MANAGER = "manager"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _ROLE_RANK[self]

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank


_ROLE_RANK = {Role.GUEST: 0, Role.MEMBER: 1, Role.MANAGER: 2, Role.ADMIN: 3}


class PersonStatus(enum.StrEnum):
    ACTIVE = "active"
    # The person blocked the bot or deleted their account: nothing is sent until they write again.
    UNREACHABLE = "unreachable"
    # They asked to be forgotten (issue 12): the row stays, anonymised, for what the organisation keeps.
    FORGOTTEN = "forgotten"


class RequestStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[RowKey] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Lower-case, diacritics folded: two spellings of one company are one organisation.
    name_key: Mapped[str] = mapped_column(String(200), unique=True)
    cui: Mapped[str | None] = mapped_column(String(12), unique=True)
    sector: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Person(Base):
    __tablename__ = "people"

    id: Mapped[RowKey] = mapped_column(primary_key=True)
    telegram_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    first_name: Mapped[str] = mapped_column(String(128))
    last_name: Mapped[str | None] = mapped_column(String(128))
    username: Mapped[str | None] = mapped_column(String(64))
    # The language the person chose; None until they choose (then Telegram's language_code decides).
    language: Mapped[str | None] = mapped_column(String(8))
    telegram_language: Mapped[str | None] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(16), default=Role.GUEST.value)
    status: Mapped[str] = mapped_column(String(16), default=PersonStatus.ACTIVE.value)
    organisation_id: Mapped[RowKey | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )
    position: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}" if self.last_name else self.first_name


class JoinRequest(Base):
    __tablename__ = "join_requests"
    __table_args__ = (
        # At most one open request per person, enforced by the database on both engines.
        Index(
            "uq_join_requests_one_pending",
            "person_id",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[RowKey] = mapped_column(primary_key=True)
    person_id: Mapped[RowKey] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    organisation_name: Mapped[str] = mapped_column(String(200))
    cui: Mapped[str] = mapped_column(String(12))
    position: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(16), default=RequestStatus.PENDING.value, index=True)
    organisation_id: Mapped[RowKey | None] = mapped_column(ForeignKey("organisations.id", ondelete="SET NULL"))
    decided_by_id: Mapped[RowKey | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InviteCode(Base):
    __tablename__ = "invite_codes"

    id: Mapped[RowKey] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    organisation_id: Mapped[RowKey] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    # Who the code was made for, when it was made for one representative (member list import).
    label: Mapped[str | None] = mapped_column(String(200))
    max_uses: Mapped[int | None] = mapped_column(Integer)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime | None]
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[RowKey] = mapped_column(primary_key=True)
    actor_id: Mapped[RowKey | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), index=True)
    # Who acted when it was not a person in the chat: "cli", "import", "system".
    actor_label: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str | None] = mapped_column(String(128))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    # Claimed by a sender until `lease_until`; a crashed sender's rows are claimed again once it passes.
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    BLOCKED = "blocked"
    INVALID = "invalid"


class OutboxMessage(Base):
    """One message to one chat, waiting for the sender (bot.delivery) or done with."""

    __tablename__ = "outbox"
    __table_args__ = (
        # The same message never goes twice to one chat, whoever queues it and however often.
        UniqueConstraint("batch", "chat_id", name="uq_outbox_batch_chat_id"),
        Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[RowKey] = mapped_column(primary_key=True)
    # What queued it, e.g. "announcement:12": progress and reports are per batch.
    batch: Mapped[str] = mapped_column(String(64))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    person_id: Mapped[RowKey | None] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    locale: Mapped[str] = mapped_column(String(8))
    # What it is (`bot.notices.NoticeKind`): "message", a message written out in every language, or a notice
    # the sender words in the recipient's language when it sends it.
    kind: Mapped[str] = mapped_column(String(48), server_default="message")
    # For "message", the message in every language: {"ro": {"text": ..., "parse_mode": "HTML"}, "en": {...}};
    # for a notice, its parameters as plain data.
    content: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime | None]
    leased_by: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(String(200))
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class AnnouncementStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    CANCELLED = "cancelled"


class Announcement(Base):
    """A manager's message to members, in every language; its messages are the outbox batch
    `announcement:<id>`."""

    __tablename__ = "announcements"

    id: Mapped[RowKey] = mapped_column(primary_key=True)
    author_id: Mapped[RowKey | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    # Who queued it when it was not a person in the chat: "cli".
    author_label: Mapped[str | None] = mapped_column(String(32))
    audience: Mapped[str] = mapped_column(String(32))
    # The working group whose members it is for, when `audience` is "group".
    group_id: Mapped[RowKey | None] = mapped_column(ForeignKey("working_groups.id", ondelete="SET NULL"))
    # The project whose participants it is for, when `audience` is "project".
    project_id: Mapped[RowKey | None] = mapped_column(ForeignKey("projects.id", ondelete="SET NULL"))
    content: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), index=True)
    scheduled_at: Mapped[datetime | None] = mapped_column(index=True)
    queued_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ServiceCategory(Base):
    """A heading of the services catalogue, in Romanian and English."""

    __tablename__ = "service_categories"

    id: Mapped[RowKey] = mapped_column(primary_key=True)
    # Stable name used by the seed file and by import/export to find the row again: "funding".
    key: Mapped[str] = mapped_column(String(64), unique=True)
    title_ro: Mapped[str] = mapped_column(String(120))
    title_en: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer, default=0)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Service(Base):
    """One service the cluster offers its members."""

    __tablename__ = "services"
    __table_args__ = (Index("ix_services_category_id_position", "category_id", "position"),)

    id: Mapped[RowKey] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    category_id: Mapped[RowKey] = mapped_column(ForeignKey("service_categories.id", ondelete="RESTRICT"))
    title_ro: Mapped[str] = mapped_column(String(120))
    title_en: Mapped[str] = mapped_column(String(120))
    # What a button shows (the catalogue file's short titles); None: the title, cut at a word.
    short_title_ro: Mapped[str | None] = mapped_column(String(40))
    short_title_en: Mapped[str | None] = mapped_column(String(40))
    description_ro: Mapped[str] = mapped_column(String(2000))
    description_en: Mapped[str] = mapped_column(String(2000))
    # Titles and descriptions of both languages, lower-case with diacritics folded: what search matches.
    search_text: Mapped[str] = mapped_column(String(4500))
    position: Mapped[int] = mapped_column(Integer, default=0)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ServiceRequestStatus(enum.StrEnum):
    OPEN = "open"
    TAKEN = "taken"
    DONE = "done"
    DECLINED = "declined"


class ServiceRequest(Base):
    """A member asking the cluster's team for a service; managers take it, then mark it done or decline it."""

    __tablename__ = "service_requests"

    id: Mapped[RowKey] = mapped_column(primary_key=True)
    service_id: Mapped[RowKey] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[RowKey] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[RowKey | None] = mapped_column(ForeignKey("organisations.id", ondelete="SET NULL"))
    note: Mapped[str] = mapped_column(String(1000))
    status: Mapped[str] = mapped_column(String(16), default=ServiceRequestStatus.OPEN.value, index=True)
    handled_by_id: Mapped[RowKey | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    decline_reason: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class GroupState(enum.StrEnum):
    # Waiting for its third member organisation.
    PROPOSED = "proposed"
    ACTIVE = "active"
    DISSOLVED = "dissolved"


class WorkingGroup(Base):
    """A working group set up by member organisations around a joint interest (at least three of them)."""

    __tablename__ = "working_groups"

    id: Mapped[RowKey] = mapped_column(primary_key=True)
    # Set for the groups of the seed file; groups members propose have none.
    key: Mapped[str | None] = mapped_column(String(64), unique=True)
    # A member proposes in their own language; managers add the other one later, so either may be missing.
    title_ro: Mapped[str | None] = mapped_column(String(120))
    title_en: Mapped[str | None] = mapped_column(String(120))
    # What a button shows (the seed file's short titles); None: the title, cut at a word.
    short_title_ro: Mapped[str | None] = mapped_column(String(40))
    short_title_en: Mapped[str | None] = mapped_column(String(40))
    objective_ro: Mapped[str | None] = mapped_column(String(2000))
    objective_en: Mapped[str | None] = mapped_column(String(2000))
    state: Mapped[str] = mapped_column(String(16), default=GroupState.PROPOSED.value, index=True)
    confidential: Mapped[bool] = mapped_column(Boolean, default=False)
    terms_ro: Mapped[str | None] = mapped_column(String(2000))
    terms_en: Mapped[str | None] = mapped_column(String(2000))
    proposed_by_id: Mapped[RowKey | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    # The group's own Telegram chat (a https://t.me/... link a manager attached); shown to its members only.
    chat_link: Mapped[str | None] = mapped_column(String(200))
    # When an active group fell below three organisations and managers were told; cleared when it recovers.
    flagged_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class GroupMembership(Base):
    """A person taking part in a working group for their organisation."""

    __tablename__ = "group_memberships"
    __table_args__ = (UniqueConstraint("group_id", "person_id", name="uq_group_memberships_group_id_person_id"),)

    id: Mapped[RowKey] = mapped_column(primary_key=True)
    group_id: Mapped[RowKey] = mapped_column(ForeignKey("working_groups.id", ondelete="CASCADE"))
    person_id: Mapped[RowKey] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    # The organisation the person represented when joining: the three-organisation rule counts these.
    organisation_id: Mapped[RowKey | None] = mapped_column(ForeignKey("organisations.id", ondelete="SET NULL"))
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConfidentialityAcceptance(Base):
    """A person's acceptance of a confidential group's terms, kept even after they leave the group."""

    __tablename__ = "confidentiality_acceptances"
    __table_args__ = (
        UniqueConstraint("group_id", "person_id", name="uq_confidentiality_acceptances_group_id_person_id"),
    )

    id: Mapped[RowKey] = mapped_column(primary_key=True)
    group_id: Mapped[RowKey] = mapped_column(ForeignKey("working_groups.id", ondelete="CASCADE"))
    person_id: Mapped[RowKey] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[RowKey | None] = mapped_column(ForeignKey("organisations.id", ondelete="SET NULL"))
    # The language the terms were shown in, and the terms themselves as accepted.
    locale: Mapped[str] = mapped_column(String(8))
    terms: Mapped[str] = mapped_column(String(2000))
    accepted_at: Mapped[datetime] = mapped_column(default=utcnow)


class GroupEventKind(enum.StrEnum):
    CREATED = "created"
    PROPOSED = "proposed"
    ACTIVATED = "activated"
    JOINED = "joined"
    LEFT = "left"
    FLAGGED = "flagged"
    # An active group that was flagged has three organisations again.
    RECOVERED = "recovered"
    CONFIDENTIAL = "confidential"
    DISSOLVED = "dissolved"
    TRANSFORMED = "transformed"
    EDITED = "edited"


class GroupEvent(Base):
    """The history of a working group: how it was set up, who joined and left, state changes and why."""

    __tablename__ = "group_events"
    __table_args__ = (Index("ix_group_events_group_id_created_at", "group_id", "created_at"),)

    id: Mapped[RowKey] = mapped_column(primary_key=True)
    group_id: Mapped[RowKey] = mapped_column(ForeignKey("working_groups.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[RowKey | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    # Reason, previous objective and the like, as the manager or member wrote them.
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- projects and resource commitments --------------------------------------------------------------------------
# Amounts are kept as whole hundredths (BigInteger): exact sums and comparisons on both engines, where SQLite
# has no decimal type. 10^12, the largest amount taken, is 10^14 hundredths, far inside 64 bits.


class ProjectState(enum.StrEnum):
    IDEA = "idea"
    # Allowed once the project has an action plan and a budget; commitments are taken only now.
    PREPARATION = "preparation"
    RUNNING = "running"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class ResourceKind(enum.StrEnum):
    MONEY = "money"
    PERSON_DAYS = "person_days"
    EQUIPMENT = "equipment"
    OTHER = "other"


class Project(Base):
    """A project of member organisations, often out of a working group: an idea until it has an action plan
    and a budget, then in preparation (taking commitments of resources), running, closed, or cancelled."""

    __tablename__ = "projects"

    id: Mapped[RowKey] = mapped_column(primary_key=True)
    # Written in the proposer's language; managers add the other, so either may be missing.
    title_ro: Mapped[str | None] = mapped_column(String(120))
    title_en: Mapped[str | None] = mapped_column(String(120))
    description_ro: Mapped[str | None] = mapped_column(String(2000))
    description_en: Mapped[str | None] = mapped_column(String(2000))
    state: Mapped[str] = mapped_column(String(16), default=ProjectState.IDEA.value, index=True)
    proposed_by_id: Mapped[RowKey | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    # The proposer's organisation when they proposed it.
    organisation_id: Mapped[RowKey | None] = mapped_column(ForeignKey("organisations.id", ondelete="SET NULL"))
    group_id: Mapped[RowKey | None] = mapped_column(ForeignKey("working_groups.id", ondelete="SET NULL"), index=True)
    budget_hundredths: Mapped[int | None] = mapped_column(BigInteger)
    # "RON" or "EUR"; set together with the budget.
    budget_currency: Mapped[str | None] = mapped_column(String(3))
    # How many organisations can take part; None: as many as commit.
    places: Mapped[int | None] = mapped_column(Integer)
    commitments_deadline: Mapped[datetime | None]
    # The rule of an internal competition, as the potential participants agreed it (its versions are events).
    competition_rule: Mapped[str | None] = mapped_column(String(2000))
    # When managers closed the list of a competition: the first `places` organisations standing take part,
    # the others wait in order and move up when a participant withdraws.
    list_closed_at: Mapped[datetime | None]
    # Counts the changes to its commitments, each taken under the project's row lock (a conditional update
    # that also checks the state): the order of this counter is the order the changes committed in.
    changes: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ProjectStep(Base):
    """One step of a project's action plan, in order: what, by which organisation, by when."""

    __tablename__ = "project_steps"
    __table_args__ = (UniqueConstraint("project_id", "position", name="uq_project_steps_project_id_position"),)

    id: Mapped[RowKey] = mapped_column(primary_key=True)
    project_id: Mapped[RowKey] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(String(500))
    owner_organisation_id: Mapped[RowKey | None] = mapped_column(ForeignKey("organisations.id", ondelete="SET NULL"))
    due_on: Mapped[date]


class ProjectNeed(Base):
    """A resource a project needs: its kind, the target amount and its unit ("RON", "person-days", "hours")."""

    __tablename__ = "project_needs"
    __table_args__ = (UniqueConstraint("project_id", "kind", "unit", name="uq_project_needs_project_id_kind_unit"),)

    id: Mapped[RowKey] = mapped_column(primary_key=True)
    project_id: Mapped[RowKey] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    unit: Mapped[str] = mapped_column(String(16))
    target_hundredths: Mapped[int] = mapped_column(BigInteger)


class Commitment(Base):
    """One version of an organisation's commitment of one resource (kind and unit) to a project.

    Versions are never changed, only added: the newest of a line has `latest`, which the insert of the next
    one clears. Two representatives changing one line at the same instant both try the same `version`; the
    unique constraint lets the first commit win on both engines. A withdrawal is a version with `withdrawn`
    and no amount. `standing_since` and `standing_change` say when the line began to stand without a break
    (the time, and the project's change counter then): carried over while it stands, the version's own when
    it stands again after a withdrawal. Organisations rank by their earliest standing line's change, which is
    commit order, so withdrawing everything loses the place and committing again starts anew.
    """

    __tablename__ = "commitments"
    __table_args__ = (
        UniqueConstraint(
            "project_id", "organisation_id", "kind", "unit", "version", name="uq_commitments_line_version"
        ),
        Index("ix_commitments_project_id_latest", "project_id", "latest"),
        Index("ix_commitments_organisation_id_latest", "organisation_id", "latest"),
        # A card's newest versions, and an export's, without sorting all of a large project's (migration 0011).
        Index("ix_commitments_project_id_id", "project_id", "id"),
        # The standing lines in ranking order: the ranking, the card's own lines and the list's counts.
        Index(
            "ix_commitments_standing",
            "project_id",
            "organisation_id",
            "standing_change",
            "standing_since",
            sqlite_where=text("latest IS 1 AND withdrawn IS 0"),
            postgresql_where=text("latest IS true AND withdrawn IS false"),
        ),
    )

    id: Mapped[RowKey] = mapped_column(primary_key=True)
    project_id: Mapped[RowKey] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    organisation_id: Mapped[RowKey] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    unit: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    latest: Mapped[bool] = mapped_column(Boolean, default=True)
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False)
    amount_hundredths: Mapped[int] = mapped_column(BigInteger, default=0)
    note: Mapped[str | None] = mapped_column(String(500))
    author_id: Mapped[RowKey | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    standing_since: Mapped[datetime | None]
    standing_change: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProjectEvent(Base):
    """The history of a project: proposal, edits, state changes with their reason, the competition's rule and
    list, outcomes."""

    __tablename__ = "project_events"
    __table_args__ = (Index("ix_project_events_project_id_created_at", "project_id", "created_at"),)

    id: Mapped[RowKey] = mapped_column(primary_key=True)
    project_id: Mapped[RowKey] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[RowKey | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- tenders ----------------------------------------------------------------------------------------------------
# A tender's value is kept as whole hundredths (BigInteger), like projects' amounts: exact comparisons with a
# profile's value range on both engines (SQLite has no decimal type; SQLAlchemy's Numeric goes through floats
# there). Sources give at most cents; a finer value is rounded to the cent when stored.


class TenderRow(Base):
    """A tender as stored: one row per notice seen in one source, unique by (source, source_id).

    Within one source, later notices of the same procedure and kind (TED gives a change notice its own
    publication number) update the row of the first one: `version`, `is_change` and the content are the
    newest notice's, and `changed_at` says when a change last reached it. `procedure_key` is `procedure_id`
    normalised so that an OCDS ocid ("ocds-abc123-<id>") finds a TED procedure identifier `<id>`; rows of the
    same procedure and kind from other sources point with `same_as_id` to the first stored one (whose own
    `same_as_id` is empty), so that alerts treat them as one tender.
    """

    __tablename__ = "tenders"
    __table_args__ = (
        UniqueConstraint("source", "source_id", name="uq_tenders_source_source_id"),
        Index("ix_tenders_procedure_key", "procedure_key"),
        Index("ix_tenders_first_seen_at", "first_seen_at"),
        Index("ix_tenders_changed_at", "changed_at"),
        Index("ix_tenders_same_as_id", "same_as_id"),
        # The alert job's claim: the tenders not yet matched (migration 0013).
        Index(
            "ix_tenders_unmatched",
            "id",
            sqlite_where=text("matched_at IS NULL"),
            postgresql_where=text("matched_at IS NULL"),
        ),
    )

    id: Mapped[RowKey] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str] = mapped_column(String(255))
    procedure_id: Mapped[str | None] = mapped_column(String(255))
    procedure_key: Mapped[str | None] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(Integer, default=1)
    is_change: Mapped[bool] = mapped_column(Boolean, default=False)
    kind: Mapped[str] = mapped_column(String(16))
    # {language: text}, ISO 639-1 keys.
    title: Mapped[dict[str, Any]] = mapped_column(default=dict)
    description: Mapped[dict[str, Any]] = mapped_column(default=dict)
    buyer: Mapped[str | None] = mapped_column(String(500))
    country: Mapped[str | None] = mapped_column(String(8))
    # NUTS codes or countries, as the source gives them.
    places: Mapped[list[str]] = mapped_column(JSON, default=list)
    # 8-digit CPV codes, the main one first (also in tender_cpv, for reading by code).
    cpv: Mapped[list[str]] = mapped_column(JSON, default=list)
    value_hundredths: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    deadline: Mapped[datetime | None]
    links: Mapped[dict[str, Any]] = mapped_column(default=dict)
    published_at: Mapped[datetime | None]
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the content last changed (a correction or a change).
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When a change notice or a newer version last updated it; None while it is as first seen.
    changed_at: Mapped[datetime | None]
    same_as_id: Mapped[RowKey | None] = mapped_column(ForeignKey("tenders.id", ondelete="SET NULL"))
    # When the alert job matched it against the profiles as new (None: it has not yet: the job's claim), and
    # when it last sent a change to those alerted (a change waits while changed_at is later). Migration 0013.
    matched_at: Mapped[datetime | None]
    change_matched_at: Mapped[datetime | None]


class TenderCpv(Base):
    """A tender's CPV codes one per row (position 0 the main one), so that the tenders under a division, group
    or class are read by a range of the index on `code8` ("0933" -> code8 >= '09330000' and < '09340000')
    rather than by scanning every tender's JSON list: a profile's preview count and its current open matches."""

    __tablename__ = "tender_cpv"
    __table_args__ = (Index("ix_tender_cpv_code8_tender_id", "code8", "tender_id"),)

    tender_id: Mapped[RowKey] = mapped_column(ForeignKey("tenders.id", ondelete="CASCADE"), primary_key=True)
    code8: Mapped[str] = mapped_column(String(8), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class AlertDelivery(enum.StrEnum):
    # Each alert as soon as the alert job finds it (outside quiet hours).
    INSTANT = "instant"
    # The day's alerts in as few messages as possible, at the profile's hour.
    DIGEST = "digest"


class AlertProfile(Base):
    """A member's standing question "which tenders interest me" (at most 10 per person).

    Lists are JSON: `cpv` 8-digit codes (a division or group covers the codes below it), `include` and
    `exclude` keywords and phrases as `matching.parse_keywords` gives them, `countries` ISO 3166-1 alpha-2
    (empty: any country), `kinds` TenderKind values. Values are whole hundredths of `currency`, like tenders'.
    A profile matches only tenders first seen from `starts_at` on: no flood of old tenders when it is created.
    `organisation_id` is the person's organisation when it was saved: its other representatives see it.
    """

    __tablename__ = "alert_profiles"
    __table_args__ = (
        Index("ix_alert_profiles_person_id", "person_id"),
        Index("ix_alert_profiles_organisation_id", "organisation_id"),
    )

    id: Mapped[RowKey] = mapped_column(primary_key=True)
    person_id: Mapped[RowKey] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    organisation_id: Mapped[RowKey | None] = mapped_column(ForeignKey("organisations.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(100))
    cpv: Mapped[list[str]] = mapped_column(JSON, default=list)
    include: Mapped[list[str]] = mapped_column(JSON, default=list)
    exclude: Mapped[list[str]] = mapped_column(JSON, default=list)
    countries: Mapped[list[str]] = mapped_column(JSON, default=list)
    value_min_hundredths: Mapped[int | None] = mapped_column(BigInteger)
    value_max_hundredths: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="RON")
    min_days_left: Mapped[int] = mapped_column(Integer, default=0)
    kinds: Mapped[list[str]] = mapped_column(JSON, default=lambda: ["competition"])
    delivery: Mapped[str] = mapped_column(String(16), default=AlertDelivery.INSTANT.value)
    # The digest's hour in TIMEZONE (0-23).
    digest_hour: Mapped[int] = mapped_column(Integer, default=8)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    starts_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TenderAlert(Base):
    """A member told (or to be told) of a tender: one row per person and tender, whatever the number of
    profiles and sources that matched (the unique constraint; `tender_id` is the canonical tender, the one
    other sources' rows point to with `same_as_id`).

    `delivery` is the matching profile's; a digest alert waits with `sent_at` empty until the digest job claims
    it. `followed_at` asks for deadline reminders (7 and 2 days before: `reminded_7_at`, `reminded_2_at`
    claim them); `not_relevant_at` is the member's verdict, counted for managers. `change_sent_at` is when
    the newest change was sent as an update.
    """

    __tablename__ = "tender_alerts"
    __table_args__ = (
        UniqueConstraint("person_id", "tender_id", name="uq_tender_alerts_person_id_tender_id"),
        Index("ix_tender_alerts_tender_id", "tender_id"),
        Index("ix_tender_alerts_created_at", "created_at"),
        Index("ix_tender_alerts_waiting", "delivery", "sent_at"),
    )

    id: Mapped[RowKey] = mapped_column(primary_key=True)
    person_id: Mapped[RowKey] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    tender_id: Mapped[RowKey] = mapped_column(ForeignKey("tenders.id", ondelete="CASCADE"))
    profile_id: Mapped[RowKey | None] = mapped_column(ForeignKey("alert_profiles.id", ondelete="SET NULL"))
    delivery: Mapped[str] = mapped_column(String(16), default=AlertDelivery.INSTANT.value)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    change_sent_at: Mapped[datetime | None]
    followed_at: Mapped[datetime | None]
    not_relevant_at: Mapped[datetime | None]
    reminded_7_at: Mapped[datetime | None]
    reminded_2_at: Mapped[datetime | None]


class TenderSourceState(Base):
    """A configured source's health, by its name (TENDER_SOURCES): the last run and its counts, the
    publication window fetched so far (TED's next run starts there), and the open incident, reported to the
    admins once (`incident_reported_at`) until a run succeeds again."""

    __tablename__ = "tender_sources"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    last_run_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    # The end of the last publication window fetched in full: the next run asks from here.
    fetched_until: Mapped[datetime | None]
    last_fetched: Mapped[int] = mapped_column(Integer, default=0)
    last_new: Mapped[int] = mapped_column(Integer, default=0)
    last_changed: Mapped[int] = mapped_column(Integer, default=0)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    # The open incident: its reason (a SourceFailure value) and a detail without secrets, since when.
    error: Mapped[str | None] = mapped_column(String(500))
    error_since: Mapped[datetime | None]
    incident_reported_at: Mapped[datetime | None]


class QuestionStatus(enum.StrEnum):
    # Nobody of the team has taken it yet: every manager sees it, the person's answers reach them all.
    OPEN = "open"
    # A manager took it: the person's answers reach that manager.
    TAKEN = "taken"
    RESOLVED = "resolved"


class QuestionThread(Base):
    """A person's conversation with the cluster's team: their first message, the team's replies and their
    answers (`QuestionMessage`), until a manager marks it resolved."""

    __tablename__ = "question_threads"

    id: Mapped[RowKey] = mapped_column(primary_key=True)
    person_id: Mapped[RowKey] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[RowKey | None] = mapped_column(ForeignKey("organisations.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default=QuestionStatus.OPEN.value, index=True)
    taken_by_id: Mapped[RowKey | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    resolved_by_id: Mapped[RowKey | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    resolved_at: Mapped[datetime | None]


class QuestionMessage(Base):
    """One message of a question thread: from the person or from a manager; text, or a photo or document kept
    by Telegram's file_id (with its caption as `text`)."""

    __tablename__ = "question_messages"

    id: Mapped[RowKey] = mapped_column(primary_key=True)
    thread_id: Mapped[RowKey] = mapped_column(ForeignKey("question_threads.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[RowKey | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    from_team: Mapped[bool] = mapped_column(Boolean, default=False)
    # "text", "photo" or "document".
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(String(4096))
    file_id: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
