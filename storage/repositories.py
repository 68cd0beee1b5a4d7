"""Repositories: all SQL lives here. They flush when an id is needed and never commit."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache, cached_property
from itertools import islice
from typing import Any, cast

from sqlalchemy import ColumnElement, RowMapping, Table, and_, bindparam, case, delete, func, or_, select, update
from sqlalchemy import insert as insert_into
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from storage.alerts import AlertProfileRepository, TenderAlertRepository, TenderSourceRepository
from storage.bulk import _chunks, _insert_for, _rows_where_in
from storage.db import PEOPLE_CHANGED
from storage.models import (
    Announcement,
    AnnouncementStatus,
    AuditEntry,
    Commitment,
    ConfidentialityAcceptance,
    GroupEvent,
    GroupEventKind,
    GroupMembership,
    GroupState,
    InviteCode,
    JoinRequest,
    Organisation,
    OutboxMessage,
    OutboxStatus,
    Person,
    PersonStatus,
    Project,
    ProjectEvent,
    ProjectNeed,
    ProjectState,
    ProjectStep,
    RequestStatus,
    Role,
    Service,
    ServiceCategory,
    ServiceRequest,
    ServiceRequestStatus,
    TenderCpv,
    TenderRow,
    WorkingGroup,
    utcnow,
)
from storage.questions import QuestionRepository

# Set in a session's `info` when it queued outbox rows.
OUTBOX_QUEUED = "outbox_queued"


class OrganisationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, organisation_id: int) -> Organisation | None:
        return await self.session.get(Organisation, organisation_id)

    async def by_cui(self, cui: str) -> Organisation | None:
        return await self.session.scalar(select(Organisation).where(Organisation.cui == cui))

    async def by_name_key(self, name_key: str) -> Organisation | None:
        return await self.session.scalar(select(Organisation).where(Organisation.name_key == name_key))

    async def add(self, *, name: str, name_key: str, cui: str | None, sector: str | None = None) -> Organisation:
        organisation = Organisation(name=name, name_key=name_key, cui=cui, sector=sector)
        self.session.add(organisation)
        await self.session.flush()
        return organisation

    async def add_or_get(self, *, name: str, name_key: str, cui: str | None) -> Organisation:
        """The organisation with this name key or CUI, inserted unless it exists: of two transactions creating
        the same one at once, the second waits for the first (PostgreSQL) or its write (SQLite) and finds it."""
        table = cast(Table, Organisation.__table__)
        statement = _insert_for(self.session)(table).values(name=name, name_key=name_key, cui=cui)
        await self.session.execute(statement.on_conflict_do_nothing())
        return await self._inserted_or_existing(cui, name_key)

    async def _inserted_or_existing(self, cui: str | None, name_key: str) -> Organisation:
        """After an INSERT ... ON CONFLICT DO NOTHING: the row written, or the one that was there first."""
        found = await self.by_cui(cui) if cui else None
        found = found or await self.by_name_key(name_key)
        if found is None:  # pragma: no cover - the insert or the conflicting row guarantees one
            raise LookupError("organisation neither inserted nor found")
        return found

    async def list_with_counts(self) -> Sequence[tuple[Organisation, int]]:
        rows = await self.session.execute(
            select(Organisation, func.count(Person.id))
            .outerjoin(Person, Person.organisation_id == Organisation.id)
            .group_by(Organisation.id)
            .order_by(Organisation.name)
        )
        return [(org, count) for org, count in rows.all()]

    async def matching_many(self, cuis: Collection[str], name_keys: Collection[str]) -> list[RowMapping]:
        """Plain rows (id, name, name_key, cui, sector) of the organisations with any of these CUIs or name keys."""
        table = cast(Table, Organisation.__table__)
        columns = (table.c.id, table.c.name, table.c.name_key, table.c.cui, table.c.sector)
        found: dict[int, RowMapping] = {}
        for column, values in ((table.c.cui, cuis), (table.c.name_key, name_keys)):
            found.update((row["id"], row) for row in await _rows_where_in(self.session, columns, column, values))
        return sorted(found.values(), key=lambda row: row["id"])

    async def add_many(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
        """Insert organisations (name, name_key, cui, sector); their ids by name key. One that another
        transaction created meanwhile is not inserted again: its id is the existing one's, as `add_or_get`."""
        table = cast(Table, Organisation.__table__)
        statement = _insert_for(self.session)(table).on_conflict_do_nothing().returning(table.c.id, table.c.name_key)
        ids: dict[str, int] = {}
        for chunk in _chunks(rows):
            result = await self.session.execute(statement, [{"created_at": utcnow(), **row} for row in chunk])
            ids.update((name_key, org_id) for org_id, name_key in result.all())
        for row in rows:
            if row["name_key"] not in ids:
                ids[row["name_key"]] = (await self._inserted_or_existing(row.get("cui"), row["name_key"])).id
        return ids

    async def update_many(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Set the CUI and sector of organisations by id (each row: id, cui, sector)."""
        if not rows:
            return
        table = cast(Table, Organisation.__table__)
        statement = (
            update(table)
            .where(table.c.id == bindparam("organisation_id"))
            .values(cui=bindparam("new_cui"), sector=bindparam("new_sector"))
        )
        for chunk in _chunks(rows):
            await self.session.execute(
                statement,
                [{"organisation_id": row["id"], "new_cui": row["cui"], "new_sector": row["sector"]} for row in chunk],
            )


class PersonRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, person_id: int) -> Person | None:
        return await self.session.get(Person, person_id)

    async def by_telegram_id(self, telegram_id: int) -> Person | None:
        return await self.session.scalar(select(Person).where(Person.telegram_id == telegram_id))

    async def with_organisation(self, telegram_id: int) -> tuple[Person, Organisation | None, bool] | None:
        """The person, their organisation and whether they ever asked for a service, in one round trip: this
        runs for every update of a person not in the cache."""
        asked = select(ServiceRequest.id).where(ServiceRequest.person_id == Person.id).exists()
        row = (
            await self.session.execute(
                select(Person, Organisation, asked)
                .outerjoin(Organisation, Person.organisation_id == Organisation.id)
                .where(Person.telegram_id == telegram_id)
            )
        ).first()
        return (row[0], row[1], bool(row[2])) if row else None

    async def add(self, **fields: Any) -> Person:
        person = Person(**fields)
        self.session.add(person)
        await self.session.flush()
        return person

    async def fresh(self, person_id: int) -> Person | None:
        """The person as the database has them now, not as this session first read them."""
        return await self.session.get(Person, person_id, populate_existing=True)

    async def attach(self, person_id: int, organisation_id: int) -> bool:
        """Make the person a representative of the organisation unless they already represent one; False then."""
        result = await self.session.execute(
            update(Person)
            .where(Person.id == person_id, Person.organisation_id.is_(None))
            .values(organisation_id=organisation_id)
            .returning(Person.telegram_id)
            .execution_options(synchronize_session="fetch")
        )
        changed = result.scalars().all()
        # A statement, not a flush: the person cache learns of it here (see storage.db.changed_people).
        self.session.info.setdefault(PEOPLE_CHANGED, set()).update(changed)
        return bool(changed)

    async def managers(self) -> Sequence[Person]:
        """Everyone who handles requests: managers and admins, reachable ones only."""
        result = await self.session.scalars(
            select(Person)
            .where(
                Person.role.in_([Role.MANAGER.value, Role.ADMIN.value]),
                Person.status == PersonStatus.ACTIVE.value,
            )
            .order_by(Person.id)
        )
        return result.all()

    async def list_all(self, role: Role | None = None) -> Sequence[tuple[Person, Organisation | None]]:
        query = select(Person, Organisation).outerjoin(Organisation, Person.organisation_id == Organisation.id)
        if role is not None:
            query = query.where(Person.role == role.value)
        rows = await self.session.execute(query.order_by(Person.id))
        return [(person, org) for person, org in rows.all()]

    async def names(self, person_ids: Sequence[int]) -> dict[int, str]:
        """Full names by person id, in one query."""
        if not person_ids:
            return {}
        rows = await self.session.execute(
            select(Person.id, Person.first_name, Person.last_name).where(Person.id.in_(person_ids))
        )
        return {pid: f"{first} {last}" if last else first for pid, first, last in rows.all()}

    async def by_telegram_ids_many(self, telegram_ids: Collection[int]) -> list[RowMapping]:
        """Plain rows of the people with these Telegram ids: the columns an operator's import sets."""
        table = cast(Table, Person.__table__)
        columns = (
            table.c.id,
            table.c.telegram_id,
            table.c.first_name,
            table.c.role,
            table.c.organisation_id,
            table.c.position,
        )
        return await _rows_where_in(self.session, columns, table.c.telegram_id, telegram_ids)

    async def add_many(self, rows: Sequence[Mapping[str, Any]]) -> dict[int, int]:
        """Insert people (telegram_id, first_name, last_name, role, organisation_id, position); ids by Telegram id."""
        table = cast(Table, Person.__table__)
        statement = insert_into(table).returning(table.c.id, table.c.telegram_id)
        ids: dict[int, int] = {}
        for chunk in _chunks(rows):
            now = utcnow()
            result = await self.session.execute(
                statement,
                [{"status": PersonStatus.ACTIVE.value, "created_at": now, "updated_at": now, **row} for row in chunk],
            )
            ids.update((telegram_id, person_id) for person_id, telegram_id in result.all())
        # Statements, not flushes: the person cache learns of them here (see storage.db.changed_people).
        self.session.info.setdefault(PEOPLE_CHANGED, set()).update(ids)
        return ids

    async def update_many(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Set first_name, role, organisation_id and position of people by id (each row also has telegram_id)."""
        if not rows:
            return
        table = cast(Table, Person.__table__)
        statement = (
            update(table)
            .where(table.c.id == bindparam("person_id"))
            .values(
                first_name=bindparam("new_first_name"),
                role=bindparam("new_role"),
                organisation_id=bindparam("new_organisation_id"),
                position=bindparam("new_position"),
                updated_at=bindparam("new_updated_at"),
            )
        )
        for chunk in _chunks(rows):
            now = utcnow()
            await self.session.execute(
                statement,
                [
                    {
                        "person_id": row["id"],
                        "new_first_name": row["first_name"],
                        "new_role": row["role"],
                        "new_organisation_id": row["organisation_id"],
                        "new_position": row["position"],
                        "new_updated_at": now,
                    }
                    for row in chunk
                ],
            )
        self.session.info.setdefault(PEOPLE_CHANGED, set()).update(row["telegram_id"] for row in rows)

    async def count_of_organisation(self, organisation_id: int) -> int:
        count = await self.session.scalar(
            select(func.count(Person.id)).where(Person.organisation_id == organisation_id)
        )
        return int(count or 0)

    async def reachable_members(self) -> Sequence[Person]:
        """Members, managers and admins who have not blocked the bot: who announcements go to."""
        result = await self.session.scalars(
            select(Person)
            .where(
                Person.role.in_([Role.MEMBER.value, Role.MANAGER.value, Role.ADMIN.value]),
                Person.status == PersonStatus.ACTIVE.value,
            )
            .order_by(Person.id)
        )
        return result.all()


class JoinRequestRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, request_id: int, *, fresh: bool = False) -> JoinRequest | None:
        """The request; `fresh` reads it again even if this session has it (after losing a race, say)."""
        return await self.session.get(JoinRequest, request_id, populate_existing=fresh)

    async def pending_for(self, person_id: int) -> JoinRequest | None:
        return await self.session.scalar(
            select(JoinRequest).where(
                JoinRequest.person_id == person_id, JoinRequest.status == RequestStatus.PENDING.value
            )
        )

    async def pending(self, limit: int = 50) -> Sequence[tuple[JoinRequest, Person]]:
        rows = await self.session.execute(
            select(JoinRequest, Person)
            .join(Person, Person.id == JoinRequest.person_id)
            .where(JoinRequest.status == RequestStatus.PENDING.value)
            .order_by(JoinRequest.created_at, JoinRequest.id)
            .limit(limit)
        )
        return [(req, person) for req, person in rows.all()]

    async def add(self, **fields: Any) -> JoinRequest:
        request = JoinRequest(**fields)
        self.session.add(request)
        await self.session.flush()
        return request

    async def decide(
        self, request_id: int, *, status: RequestStatus, by_id: int | None, at: datetime, organisation_id: int | None
    ) -> bool:
        """Flip a pending request; False when somebody else decided it first.

        This statement is the decision: on PostgreSQL a second one waits for the first's commit and then finds
        the request no longer pending, on SQLite the writer lock orders them the same way. Nothing else may be
        written before it, so the loser has nothing to undo.
        """
        result = await self.session.execute(
            update(JoinRequest)
            .where(JoinRequest.id == request_id, JoinRequest.status == RequestStatus.PENDING.value)
            .values(status=status.value, decided_by_id=by_id, decided_at=at, organisation_id=organisation_id)
            .execution_options(synchronize_session="fetch")
        )
        return bool(getattr(result, "rowcount", 0))

    async def withdraw_pending(self, person_id: int) -> bool:
        """Withdraw the person's pending request, if they have one (they joined another way)."""
        result = await self.session.execute(
            update(JoinRequest)
            .where(JoinRequest.person_id == person_id, JoinRequest.status == RequestStatus.PENDING.value)
            .values(status=RequestStatus.WITHDRAWN.value)
            .execution_options(synchronize_session="fetch")
        )
        return bool(getattr(result, "rowcount", 0))


class InviteRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_code(self, code: str) -> InviteCode | None:
        return await self.session.scalar(select(InviteCode).where(InviteCode.code == code))

    async def add(self, **fields: Any) -> InviteCode:
        invite = InviteCode(**fields)
        self.session.add(invite)
        await self.session.flush()
        return invite

    async def consume(self, invite_id: int) -> bool:
        """Count one use, atomically, unless the code is used up."""
        result = await self.session.execute(
            update(InviteCode)
            .where(
                InviteCode.id == invite_id,
                (InviteCode.max_uses.is_(None)) | (InviteCode.uses < InviteCode.max_uses),
            )
            .values(uses=InviteCode.uses + 1)
            .execution_options(synchronize_session="fetch")
        )
        return bool(getattr(result, "rowcount", 0))

    async def release(self, invite_id: int) -> None:
        """Give back a use `consume` counted, in the same transaction, when the redemption did not happen."""
        await self.session.execute(
            update(InviteCode)
            .where(InviteCode.id == invite_id, InviteCode.uses > 0)
            .values(uses=InviteCode.uses - 1)
            .execution_options(synchronize_session="fetch")
        )

    async def of_organisation(self, organisation_id: int) -> Sequence[InviteCode]:
        result = await self.session.scalars(
            select(InviteCode).where(InviteCode.organisation_id == organisation_id).order_by(InviteCode.id)
        )
        return result.all()

    async def list_all(self) -> Sequence[tuple[InviteCode, Organisation]]:
        rows = await self.session.execute(
            select(InviteCode, Organisation)
            .join(Organisation, Organisation.id == InviteCode.organisation_id)
            .order_by(InviteCode.id)
        )
        return [(invite, org) for invite, org in rows.all()]

    async def labelled_of_organisations(self, organisation_ids: Collection[int]) -> list[RowMapping]:
        """Plain rows of the labelled invites of these organisations, oldest first."""
        table = cast(Table, InviteCode.__table__)
        columns = (
            table.c.id,
            table.c.code,
            table.c.organisation_id,
            table.c.label,
            table.c.max_uses,
            table.c.uses,
            table.c.revoked,
        )
        found = await _rows_where_in(
            self.session, columns, table.c.organisation_id, organisation_ids, table.c.label.is_not(None)
        )
        return sorted(found, key=lambda row: row["id"])

    async def add_many(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert invite codes (code, organisation_id, label, max_uses)."""
        table = cast(Table, InviteCode.__table__)
        for chunk in _chunks(rows):
            now = utcnow()
            await self.session.execute(
                insert_into(table), [{"uses": 0, "revoked": False, "created_at": now, **row} for row in chunk]
            )


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(
        self,
        action: str,
        *,
        actor_id: int | None = None,
        actor_label: str | None = None,
        subject: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.session.add(
            AuditEntry(
                action=action, actor_id=actor_id, actor_label=actor_label, subject=subject, details=details or {}
            )
        )

    async def record_many(self, entries: Sequence[Mapping[str, Any]]) -> None:
        """Record many entries (action, actor_label, subject, details) in bulk statements."""
        table = cast(Table, AuditEntry.__table__)
        for chunk in _chunks(entries):
            now = utcnow()
            await self.session.execute(
                insert_into(table),
                [
                    {"actor_id": None, "actor_label": None, "subject": None, "created_at": now, **entry}
                    for entry in chunk
                ],
            )

    async def acted(self, actor_id: int, action: str) -> bool:
        """Whether `actor_id` has an entry of `action` (through the actor's index)."""
        found = await self.session.scalar(
            select(AuditEntry.id).where(AuditEntry.actor_id == actor_id, AuditEntry.action == action).limit(1)
        )
        return found is not None

    async def recent(self, limit: int = 50) -> Sequence[AuditEntry]:
        result = await self.session.scalars(
            select(AuditEntry).order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc()).limit(limit)
        )
        return result.all()


_OUTBOX = cast(Table, OutboxMessage.__table__)
# Rows per INSERT when queueing: bounded memory for any audience, and well under both drivers' limit of
# 32,767 bound parameters per statement.
OUTBOX_CHUNK = 1000
# What a sender needs of a claimed row to send it.
_CLAIMED_COLUMNS = (
    _OUTBOX.c.id,
    _OUTBOX.c.batch,
    _OUTBOX.c.chat_id,
    _OUTBOX.c.person_id,
    _OUTBOX.c.locale,
    _OUTBOX.c.kind,
    _OUTBOX.c.content,
    _OUTBOX.c.attempts,
)

# Built once: these run after every send, where building the statement would cost as much as running it.
_MARK_SENT = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("row_id"), _OUTBOX.c.status != OutboxStatus.SENT.value)
    .values(
        status=OutboxStatus.SENT.value,
        telegram_message_id=bindparam("message_id"),
        sent_at=bindparam("at"),
        lease_until=None,
        error=None,
    )
)
_SETTLE = (
    update(_OUTBOX)
    .where(
        _OUTBOX.c.id == bindparam("row_id"),
        _OUTBOX.c.status == OutboxStatus.SENDING.value,
        _OUTBOX.c.leased_by == bindparam("holder"),
    )
    .values(
        status=bindparam("new_status"),
        attempts=bindparam("new_attempts"),
        next_attempt_at=bindparam("due"),
        error=bindparam("new_error"),
        lease_until=None,
    )
)


class OutboxRepository:
    """The outbox: rows queued in the caller's transaction, claimed and settled by senders (bot.delivery)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    async def add_many(
        self,
        batch: str,
        recipients: Iterable[tuple[int, int | None, str]],
        content: Mapping[str, Any],
        *,
        now: datetime,
        kind: str = "message",
    ) -> int:
        """Queue `content` (of `kind`) for each (chat_id, person_id, locale); a chat already in `batch` is skipped.

        Returns how many rows were written.
        """
        insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        statement = insert(_OUTBOX).on_conflict_do_nothing(index_elements=["batch", "chat_id"]).returning(_OUTBOX.c.id)
        common = {
            "batch": batch,
            "kind": kind,
            "content": content,
            "status": OutboxStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        written = 0
        iterator = iter(recipients)
        while chunk := list(islice(iterator, OUTBOX_CHUNK)):
            params = [
                {**common, "chat_id": chat_id, "person_id": person_id, "locale": locale}
                for chat_id, person_id, locale in chunk
            ]
            result = await self.session.execute(statement, params)
            written += len(result.all())
        if written:
            # Read after the commit by the transaction middleware, which then wakes the sender.
            self.session.info[OUTBOX_QUEUED] = True
        return written

    async def claim(self, *, limit: int, now: datetime, lease_until: datetime, leased_by: str) -> Sequence[RowMapping]:
        """Lease up to `limit` due rows to `leased_by`: pending ones whose time has come, and rows whose
        sender's lease ran out (it crashed or stalled). Rows another sender holds are skipped, not waited for.
        """
        expired = and_(_OUTBOX.c.status == OutboxStatus.SENDING.value, _OUTBOX.c.lease_until < now)
        due = and_(_OUTBOX.c.status == OutboxStatus.PENDING.value, _OUTBOX.c.next_attempt_at <= now)
        claimed: list[RowMapping] = []
        # Two statements rather than one with OR: each walks the (status, next_attempt_at) index and stops
        # at its limit, where an OR would sort every due row of a large announcement on each claim.
        for condition in (expired, due):
            wanted = limit - len(claimed)
            if wanted <= 0:
                break
            # FOR UPDATE SKIP LOCKED on PostgreSQL (SQLite renders nothing: its single writer suffices);
            # the outer condition is checked again for the rows the subquery picked.
            #
            # The pick is a MATERIALIZED CTE, run once. As a plain `IN (subquery)` PostgreSQL may plan a nested
            # loop semi join that rescans the subquery for every candidate row; each rescan skips the rows this
            # very statement has already updated and locks the next ones, so LIMIT bounded each rescan, not
            # the claim: one claim leased every due row (400 of 400 for `limit=50`), and a second sender found
            # nothing to do until the first had sent them all.
            picked = (
                select(_OUTBOX.c.id)
                .where(condition)
                .order_by(_OUTBOX.c.next_attempt_at, _OUTBOX.c.id)
                .limit(wanted)
                .with_for_update(skip_locked=True)
                .cte("picked")
                .prefix_with("MATERIALIZED", dialect="postgresql")
            )
            result = await self.session.execute(
                update(_OUTBOX)
                .where(_OUTBOX.c.id.in_(select(picked.c.id)), condition)
                .values(status=OutboxStatus.SENDING.value, lease_until=lease_until, leased_by=leased_by)
                .returning(*_CLAIMED_COLUMNS)
            )
            claimed.extend(result.mappings().all())
        claimed.sort(key=lambda row: row["id"])
        return claimed

    async def release_leases_of(self, leased_by: str, *, now: datetime) -> int:
        """Give back every row `leased_by` holds (a sender restarting under its own name), due at once."""
        result = await self.session.execute(
            update(_OUTBOX)
            .where(_OUTBOX.c.status == OutboxStatus.SENDING.value, _OUTBOX.c.leased_by == leased_by)
            .values(status=OutboxStatus.PENDING.value, next_attempt_at=now, lease_until=None, leased_by=None)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def renew(self, row_ids: Sequence[int], *, leased_by: str, lease_until: datetime) -> set[int]:
        """Extend the leases `leased_by` still holds among `row_ids`; returns the ids it still holds."""
        kept: set[int] = set()
        for start in range(0, len(row_ids), OUTBOX_CHUNK):
            result = await self.session.execute(
                update(_OUTBOX)
                .where(
                    _OUTBOX.c.id.in_(row_ids[start : start + OUTBOX_CHUNK]),
                    _OUTBOX.c.status == OutboxStatus.SENDING.value,
                    _OUTBOX.c.leased_by == leased_by,
                )
                .values(lease_until=lease_until)
                .returning(_OUTBOX.c.id)
            )
            kept.update(result.scalars().all())
        return kept

    async def recipients_now(self, person_ids: Iterable[int]) -> dict[int, tuple[str, str | None, str | None]]:
        """(status, language, telegram_language) of these people as they are now."""
        ids = sorted(set(person_ids))
        if not ids:
            return {}
        rows = await self.session.execute(
            select(Person.id, Person.status, Person.language, Person.telegram_language).where(Person.id.in_(ids))
        )
        return {row.id: (row.status, row.language, row.telegram_language) for row in rows}

    async def mark_sent(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Rows Telegram accepted: dicts of `id`, `telegram_message_id`, `sent_at`.

        Not conditional on the lease: the message went out, whoever holds the row now.
        """
        if not rows:
            return
        params = [{"row_id": r["id"], "message_id": r["telegram_message_id"], "at": r["sent_at"]} for r in rows]
        # One row is the common case with few sends in flight, and a plain execute is cheaper than executemany.
        await self.session.execute(_MARK_SENT, params[0] if len(params) == 1 else params)

    async def settle(self, rows: Sequence[Mapping[str, Any]], *, leased_by: str) -> None:
        """Rows not sent: dicts of `id`, `status`, `attempts`, `next_attempt_at`, `error`.

        Only rows `leased_by` still holds change: once a lease has run out and another sender took the row,
        this sender's late verdict is not the row's.
        """
        if not rows:
            return
        params = [
            {
                "row_id": r["id"],
                "holder": leased_by,
                "new_status": r["status"],
                "new_attempts": r["attempts"],
                "due": r["next_attempt_at"],
                "new_error": r["error"],
            }
            for r in rows
        ]
        await self.session.execute(_SETTLE, params[0] if len(params) == 1 else params)

    async def move_chat(self, row_id: int, chat_id: int, *, leased_by: str, now: datetime) -> bool:
        """Point a row at the supergroup its group became, due at once; False when that chat already has
        this batch's message (the row is then marked invalid).
        """
        row = (await self.session.execute(select(_OUTBOX.c.batch).where(_OUTBOX.c.id == row_id))).first()
        if row is None:
            return False
        taken = await self.session.scalar(
            select(_OUTBOX.c.id).where(_OUTBOX.c.batch == row.batch, _OUTBOX.c.chat_id == chat_id)
        )
        held = (
            _OUTBOX.c.id == row_id,
            _OUTBOX.c.status == OutboxStatus.SENDING.value,
            _OUTBOX.c.leased_by == leased_by,
        )
        if taken is not None:
            await self.session.execute(
                update(_OUTBOX)
                .where(*held)
                .values(status=OutboxStatus.INVALID.value, lease_until=None, error=f"migrated to {chat_id}, queued")
            )
            return False
        await self.session.execute(
            update(_OUTBOX)
            .where(*held)
            .values(status=OutboxStatus.PENDING.value, chat_id=chat_id, next_attempt_at=now, lease_until=None)
        )
        return True

    async def chats_of(self, batch: str) -> list[tuple[int, int | None, str]]:
        """(chat_id, person_id, locale) of every row of `batch`: the chats that were sent (or will be) its
        message, as `add_many` takes them."""
        rows = await self.session.execute(
            select(_OUTBOX.c.chat_id, _OUTBOX.c.person_id, _OUTBOX.c.locale)
            .where(_OUTBOX.c.batch == batch)
            .order_by(_OUTBOX.c.id)
        )
        return [(row.chat_id, row.person_id, row.locale) for row in rows]

    async def sent_messages(self, wanted: Iterable[tuple[str, int]]) -> dict[tuple[str, int], tuple[str, int | None]]:
        """(status, telegram_message_id) of the rows of these (batch, chat_id): what an edit row edits."""
        pairs = sorted(set(wanted))
        found: dict[tuple[str, int], tuple[str, int | None]] = {}
        for start in range(0, len(pairs), OUTBOX_CHUNK):
            chunk = pairs[start : start + OUTBOX_CHUNK]
            rows = await self.session.execute(
                select(_OUTBOX.c.batch, _OUTBOX.c.chat_id, _OUTBOX.c.status, _OUTBOX.c.telegram_message_id).where(
                    _OUTBOX.c.batch.in_({batch for batch, _chat in chunk}),
                    _OUTBOX.c.chat_id.in_({chat for _batch, chat in chunk}),
                )
            )
            for row in rows:
                found[(row.batch, row.chat_id)] = (row.status, row.telegram_message_id)
        return found

    async def cancel_pending(self, batch: str) -> int:
        """Withdraw what of `batch` has not gone out yet; returns how many rows were withdrawn.

        Rows a sender holds are withdrawn too: it notices at its next lease renewal and drops them, so only
        the messages already in flight (a few) still arrive.
        """
        result = await self.session.execute(
            delete(_OUTBOX).where(
                _OUTBOX.c.batch == batch,
                _OUTBOX.c.status.in_([OutboxStatus.PENDING.value, OutboxStatus.SENDING.value]),
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def mark_unreachable(self, person_ids: Iterable[int], *, now: datetime) -> None:
        """People who blocked the bot (or left Telegram): nothing more is sent until they write again."""
        ids = sorted(set(person_ids))
        if ids:
            await self.session.execute(
                update(Person)
                .where(Person.id.in_(ids), Person.status != PersonStatus.UNREACHABLE.value)
                .values(status=PersonStatus.UNREACHABLE.value, updated_at=now)
                .execution_options(synchronize_session=False)
            )

    async def unfinished(self) -> tuple[int, datetime | None]:
        """How many rows are pending or being sent, and the earliest moment one of them may be claimed."""
        pending = _OUTBOX.c.status == OutboxStatus.PENDING.value
        row = (
            await self.session.execute(
                select(
                    func.count(),
                    func.min(_OUTBOX.c.next_attempt_at).filter(pending),
                    func.min(_OUTBOX.c.lease_until).filter(~pending),
                ).where(_OUTBOX.c.status.in_([OutboxStatus.PENDING.value, OutboxStatus.SENDING.value]))
            )
        ).one()
        moments = [m for m in (row[1], row[2]) if m is not None]
        return int(row[0]), min(moments) if moments else None

    async def batch_counts(self, batch: str) -> dict[str, int]:
        rows = await self.session.execute(
            select(_OUTBOX.c.status, func.count()).where(_OUTBOX.c.batch == batch).group_by(_OUTBOX.c.status)
        )
        return {status: int(count) for status, count in rows.all()}

    async def batch_counts_many(self, batches: Collection[str]) -> dict[str, dict[str, int]]:
        """`batch_counts` of many batches in one query per thousand batches."""
        counts: dict[str, dict[str, int]] = {batch: {} for batch in batches}
        for chunk in _chunks(sorted(batches)):
            rows = await self.session.execute(
                select(_OUTBOX.c.batch, _OUTBOX.c.status, func.count())
                .where(_OUTBOX.c.batch.in_(chunk))
                .group_by(_OUTBOX.c.batch, _OUTBOX.c.status)
            )
            for batch, status, count in rows.all():
                counts[batch][status] = int(count)
        return counts

    async def batch_problems(self, batch: str, limit: int | None = None) -> Sequence[RowMapping]:
        """The rows of `batch` that did not reach their chat: blocked, failed, invalid."""
        query = (
            select(_OUTBOX.c.id, _OUTBOX.c.chat_id, _OUTBOX.c.person_id, _OUTBOX.c.status, _OUTBOX.c.error)
            .where(
                _OUTBOX.c.batch == batch,
                _OUTBOX.c.status.in_(
                    [OutboxStatus.BLOCKED.value, OutboxStatus.FAILED.value, OutboxStatus.INVALID.value]
                ),
            )
            .order_by(_OUTBOX.c.id)
        )
        if limit is not None:
            query = query.limit(limit)
        return (await self.session.execute(query)).mappings().all()


class AnnouncementRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, **fields: Any) -> Announcement:
        row = Announcement(**fields)
        self.session.add(row)
        await self.session.flush()
        return row

    async def get(self, announcement_id: int) -> Announcement | None:
        return await self.session.get(Announcement, announcement_id)

    async def _move(self, announcement_id: int, allowed: Collection[AnnouncementStatus], **values: Any) -> bool:
        result = await self.session.execute(
            update(Announcement)
            .where(Announcement.id == announcement_id, Announcement.status.in_([s.value for s in allowed]))
            .values(**values)
            .execution_options(synchronize_session="fetch")
        )
        return bool(getattr(result, "rowcount", 0))

    async def mark_queued(self, announcement_id: int, now: datetime) -> bool:
        """A scheduled announcement's time has come; False when it was cancelled or queued meanwhile."""
        return await self._move(
            announcement_id, [AnnouncementStatus.SCHEDULED], status=AnnouncementStatus.QUEUED.value, queued_at=now
        )

    async def mark_cancelled(self, announcement_id: int, now: datetime) -> bool:
        """Stop a scheduled or running announcement; False when somebody stopped it first."""
        return await self._move(
            announcement_id,
            [AnnouncementStatus.SCHEDULED, AnnouncementStatus.QUEUED],
            status=AnnouncementStatus.CANCELLED.value,
            cancelled_at=now,
        )

    async def due(self, now: datetime) -> Sequence[Announcement]:
        result = await self.session.scalars(
            select(Announcement)
            .where(
                Announcement.status == AnnouncementStatus.SCHEDULED.value,
                Announcement.scheduled_at <= now,
            )
            .order_by(Announcement.scheduled_at, Announcement.id)
            # Only spares a second job on PostgreSQL the wait; `mark_queued` decides who queues each one.
            .with_for_update(skip_locked=True)
        )
        return result.all()

    async def scheduled(self) -> Sequence[Announcement]:
        result = await self.session.scalars(
            select(Announcement)
            .where(Announcement.status == AnnouncementStatus.SCHEDULED.value)
            .order_by(Announcement.scheduled_at, Announcement.id)
        )
        return result.all()

    async def all_many(self) -> Sequence[Announcement]:
        """Every announcement, past ones too, oldest first."""
        return (await self.session.scalars(select(Announcement).order_by(Announcement.id))).all()


class CatalogueRepository:
    """Service categories and services."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def has_categories(self) -> bool:
        return await self.session.scalar(select(ServiceCategory.id).limit(1)) is not None

    async def all_categories(self) -> Sequence[ServiceCategory]:
        result = await self.session.scalars(
            select(ServiceCategory).order_by(ServiceCategory.position, ServiceCategory.id)
        )
        return result.all()

    async def all_services(self) -> Sequence[Service]:
        result = await self.session.scalars(select(Service).order_by(Service.category_id, Service.position, Service.id))
        return result.all()

    async def category(self, category_id: int) -> ServiceCategory | None:
        return await self.session.get(ServiceCategory, category_id)

    async def service(self, service_id: int) -> tuple[Service, ServiceCategory] | None:
        row = (
            await self.session.execute(
                select(Service, ServiceCategory)
                .join(ServiceCategory, ServiceCategory.id == Service.category_id)
                .where(Service.id == service_id)
            )
        ).first()
        return (row[0], row[1]) if row else None

    async def keys_in_use(self, model: type[Service] | type[ServiceCategory], prefix: str) -> set[str]:
        result = await self.session.scalars(select(model.key).where(model.key.startswith(prefix, autoescape=True)))
        return set(result.all())

    def _categories_shown(self, include_hidden: bool) -> list[Any]:
        return [] if include_hidden else [ServiceCategory.hidden.is_(False)]

    async def categories_page(
        self, *, include_hidden: bool, offset: int, limit: int
    ) -> Sequence[tuple[ServiceCategory, int]]:
        """A page of categories, each with how many services it shows."""
        joined = Service.category_id == ServiceCategory.id
        if not include_hidden:
            joined = and_(joined, Service.hidden.is_(False))
        rows = await self.session.execute(
            select(ServiceCategory, func.count(Service.id))
            .outerjoin(Service, joined)
            .where(*self._categories_shown(include_hidden))
            .group_by(ServiceCategory.id)
            .order_by(ServiceCategory.position, ServiceCategory.id)
            .offset(offset)
            .limit(limit)
        )
        return [(category, count) for category, count in rows.all()]

    async def count_categories(self, *, include_hidden: bool) -> int:
        total = await self.session.scalar(
            select(func.count(ServiceCategory.id)).where(*self._categories_shown(include_hidden))
        )
        return int(total or 0)

    def _services_shown(self, category_id: int, include_hidden: bool) -> list[Any]:
        conditions = [Service.category_id == category_id]
        if not include_hidden:
            conditions.append(Service.hidden.is_(False))
        return conditions

    async def services_page(
        self, category_id: int, *, include_hidden: bool, offset: int, limit: int
    ) -> Sequence[Service]:
        result = await self.session.scalars(
            select(Service)
            .where(*self._services_shown(category_id, include_hidden))
            .order_by(Service.position, Service.id)
            .offset(offset)
            .limit(limit)
        )
        return result.all()

    async def count_services(self, category_id: int, *, include_hidden: bool) -> int:
        total = await self.session.scalar(
            select(func.count(Service.id)).where(*self._services_shown(category_id, include_hidden))
        )
        return int(total or 0)

    def _found(self, words: Sequence[str], include_hidden: bool) -> list[Any]:
        # search_text starts with a space and separates words by one: " word" finds the start of a word.
        conditions: list[Any] = [Service.search_text.contains(" " + word, autoescape=True) for word in words]
        if not include_hidden:
            conditions += [Service.hidden.is_(False), ServiceCategory.hidden.is_(False)]
        return conditions

    async def search(
        self, words: Sequence[str], *, include_hidden: bool, offset: int, limit: int
    ) -> Sequence[tuple[Service, ServiceCategory]]:
        """Services whose folded text has a word starting with each of `words` (already folded)."""
        rows = await self.session.execute(
            select(Service, ServiceCategory)
            .join(ServiceCategory, ServiceCategory.id == Service.category_id)
            .where(*self._found(words, include_hidden))
            .order_by(ServiceCategory.position, ServiceCategory.id, Service.position, Service.id)
            .offset(offset)
            .limit(limit)
        )
        return [(service, category) for service, category in rows.all()]

    async def count_found(self, words: Sequence[str], *, include_hidden: bool) -> int:
        total = await self.session.scalar(
            select(func.count(Service.id))
            .join(ServiceCategory, ServiceCategory.id == Service.category_id)
            .where(*self._found(words, include_hidden))
        )
        return int(total or 0)

    async def services_of(self, category_id: int) -> Sequence[Service]:
        """Every service of a category, hidden ones too, in their order."""
        result = await self.session.scalars(
            select(Service).where(Service.category_id == category_id).order_by(Service.position, Service.id)
        )
        return result.all()

    async def last_position(self, category_id: int | None = None) -> int:
        """The highest position among a category's services, or among categories when `category_id` is None."""
        if category_id is None:
            found = await self.session.scalar(select(func.max(ServiceCategory.position)))
        else:
            found = await self.session.scalar(
                select(func.max(Service.position)).where(Service.category_id == category_id)
            )
        return int(found or 0)

    async def add_category(self, **fields: Any) -> ServiceCategory:
        category = ServiceCategory(**fields)
        self.session.add(category)
        await self.session.flush()
        return category

    async def add_service(self, **fields: Any) -> Service:
        service = Service(**fields)
        self.session.add(service)
        await self.session.flush()
        return service


class ServiceRequestRepository:
    """Members' requests for services."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, *, requester_telegram_id: int, **fields: Any) -> ServiceRequest:
        request = ServiceRequest(**fields)
        self.session.add(request)
        await self.session.flush()
        # The requester's remembered view says whether they have requests (see PersonView): forget it.
        self.session.info.setdefault(PEOPLE_CHANGED, set()).add(requester_telegram_id)
        return request

    async def get(self, request_id: int) -> ServiceRequest | None:
        return await self.session.get(ServiceRequest, request_id)

    async def move(
        self,
        request_id: int,
        *,
        allowed: Collection[ServiceRequestStatus],
        status: ServiceRequestStatus,
        handled_by_id: int,
        decline_reason: str | None = None,
    ) -> bool:
        """Change a request's status if it is still in one of `allowed`; False when another manager acted first."""
        result = await self.session.execute(
            update(ServiceRequest)
            .where(ServiceRequest.id == request_id, ServiceRequest.status.in_([s.value for s in allowed]))
            .values(status=status.value, handled_by_id=handled_by_id, decline_reason=decline_reason)
            .execution_options(synchronize_session="fetch")
        )
        return bool(getattr(result, "rowcount", 0))

    async def with_details(
        self, *conditions: Any, newest_first: bool = False, limit: int | None = None, fresh: bool = False
    ) -> Sequence[tuple[ServiceRequest, Service, Person, Organisation | None]]:
        """Requests with their service, the member and the member's organisation, in one query; `fresh` reads
        rows again that this session already has (the request another manager changed meanwhile)."""
        oldest_first = (ServiceRequest.created_at, ServiceRequest.id)
        order = (ServiceRequest.created_at.desc(), ServiceRequest.id.desc()) if newest_first else oldest_first
        query = (
            select(ServiceRequest, Service, Person, Organisation)
            .join(Service, Service.id == ServiceRequest.service_id)
            .join(Person, Person.id == ServiceRequest.person_id)
            .outerjoin(Organisation, Organisation.id == ServiceRequest.organisation_id)
            .where(*conditions)
            .order_by(*order)
        )
        if limit is not None:
            query = query.limit(limit)
        if fresh:
            query = query.execution_options(populate_existing=True)
        rows = await self.session.execute(query)
        return [(request, service, person, organisation) for request, service, person, organisation in rows.all()]

    async def detailed(
        self, request_id: int, *, fresh: bool = False
    ) -> tuple[ServiceRequest, Service, Person, Organisation | None] | None:
        found = await self.with_details(ServiceRequest.id == request_id, fresh=fresh)
        return found[0] if found else None

    async def of_person(
        self, person_id: int, limit: int
    ) -> Sequence[tuple[ServiceRequest, Service, Person, Organisation | None]]:
        # Every /profile runs this: the statement is built once, not per call.
        rows = await self.session.execute(_REQUESTS_OF_PERSON, {"person_id": person_id, "limit": limit})
        return [(request, service, person, organisation) for request, service, person, organisation in rows.all()]

    async def unfinished(self, limit: int) -> Sequence[tuple[ServiceRequest, Service, Person, Organisation | None]]:
        """Requests nobody has finished yet, oldest first: open ones and those a manager took."""
        waiting = [ServiceRequestStatus.OPEN.value, ServiceRequestStatus.TAKEN.value]
        return await self.with_details(ServiceRequest.status.in_(waiting), limit=limit)

    async def count_unfinished(self) -> int:
        waiting = [ServiceRequestStatus.OPEN.value, ServiceRequestStatus.TAKEN.value]
        count = await self.session.scalar(
            select(func.count(ServiceRequest.id)).where(ServiceRequest.status.in_(waiting))
        )
        return int(count or 0)


_REQUESTS_OF_PERSON = (
    select(ServiceRequest, Service, Person, Organisation)
    .join(Service, Service.id == ServiceRequest.service_id)
    .join(Person, Person.id == ServiceRequest.person_id)
    .outerjoin(Organisation, Organisation.id == ServiceRequest.organisation_id)
    .where(ServiceRequest.person_id == bindparam("person_id"))
    .order_by(ServiceRequest.created_at.desc(), ServiceRequest.id.desc())
    .limit(bindparam("limit"))
)


class WorkingGroupRepository:
    """Working groups, their memberships, confidentiality acceptances and history."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, group_id: int, *, fresh: bool = False) -> WorkingGroup | None:
        """The group; `fresh` reads it again even if this session has it (after `claim`)."""
        return await self.session.get(WorkingGroup, group_id, populate_existing=fresh)

    async def claim(self, group_id: int) -> bool:
        """Take the group's turn: False when it is dissolved (or gone).

        A write that changes nothing, so that changes to one group's members take turns on both engines: the
        row lock on PostgreSQL, the writer lock on SQLite, held to the commit. What the transaction reads after
        it is current, so the third organisation is counted exactly once and two presses of one person find
        each other's result. A SELECT ... FOR UPDATE would do it on PostgreSQL only.
        """
        result = await self.session.execute(
            update(WorkingGroup)
            .where(WorkingGroup.id == group_id, WorkingGroup.state != GroupState.DISSOLVED.value)
            .values(state=WorkingGroup.state, updated_at=WorkingGroup.updated_at)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def _change(self, group_id: int, *conditions: ColumnElement[bool], **values: Any) -> bool:
        result = await self.session.execute(
            update(WorkingGroup)
            .where(WorkingGroup.id == group_id, *conditions)
            .values(**values)
            .execution_options(synchronize_session="fetch")
        )
        return bool(getattr(result, "rowcount", 0))

    async def activate(self, group_id: int, at: datetime) -> bool:
        """A proposed group becomes active; False when it is not proposed (any more)."""
        return await self._change(
            group_id,
            WorkingGroup.state == GroupState.PROPOSED.value,
            state=GroupState.ACTIVE.value,
            updated_at=at,
        )

    async def flag(self, group_id: int, at: datetime) -> bool:
        """Mark an active group as fallen below three organisations; False when it is flagged already."""
        return await self._change(
            group_id,
            WorkingGroup.state == GroupState.ACTIVE.value,
            WorkingGroup.flagged_at.is_(None),
            flagged_at=at,
        )

    async def unflag(self, group_id: int) -> bool:
        """Clear the flag of a group that has three organisations again; False when it was not flagged."""
        return await self._change(group_id, WorkingGroup.flagged_at.is_not(None), flagged_at=None)

    async def by_ids(self, group_ids: Collection[int]) -> dict[int, WorkingGroup]:
        if not group_ids:
            return {}
        rows = await self.session.scalars(select(WorkingGroup).where(WorkingGroup.id.in_(group_ids)))
        return {group.id: group for group in rows.all()}

    async def by_keys(self, keys: Collection[str]) -> dict[str, WorkingGroup]:
        if not keys:
            return {}
        result = await self.session.scalars(select(WorkingGroup).where(WorkingGroup.key.in_(keys)))
        return {group.key: group for group in result.all() if group.key is not None}

    async def add(self, **fields: Any) -> WorkingGroup:
        group = WorkingGroup(**fields)
        self.session.add(group)
        await self.session.flush()
        return group

    @staticmethod
    def _listed(states: Collection[str] | None, member_id: int | None) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if states is not None:
            conditions.append(WorkingGroup.state.in_(states))
        if member_id is not None:
            conditions.append(
                WorkingGroup.id.in_(select(GroupMembership.group_id).where(GroupMembership.person_id == member_id))
            )
        return conditions

    async def count(self, *, states: Collection[str] | None, member_id: int | None) -> int:
        """How many groups there are in these states (all when None), of those `member_id` is in (when given)."""
        total = await self.session.scalar(select(func.count(WorkingGroup.id)).where(*self._listed(states, member_id)))
        return int(total or 0)

    async def page(
        self, *, states: Collection[str] | None, member_id: int | None, offset: int, limit: int
    ) -> Sequence[WorkingGroup]:
        """Groups as `count` selects them: active first, then proposed, dissolved last, oldest first in each."""
        rank = case(
            (WorkingGroup.state == GroupState.ACTIVE.value, 0),
            (WorkingGroup.state == GroupState.PROPOSED.value, 1),
            else_=2,
        )
        result = await self.session.scalars(
            select(WorkingGroup)
            .where(*self._listed(states, member_id))
            .order_by(rank, WorkingGroup.id)
            .offset(offset)
            .limit(limit)
        )
        return result.all()

    async def group_ids_of(self, person_id: int, group_ids: Collection[int]) -> set[int]:
        """Which of `group_ids` the person is in."""
        if not group_ids:
            return set()
        result = await self.session.scalars(
            select(GroupMembership.group_id).where(
                GroupMembership.person_id == person_id, GroupMembership.group_id.in_(group_ids)
            )
        )
        return set(result.all())

    async def membership(self, group_id: int, person_id: int) -> GroupMembership | None:
        return await self.session.scalar(
            select(GroupMembership).where(GroupMembership.group_id == group_id, GroupMembership.person_id == person_id)
        )

    async def add_membership(self, *, group_id: int, person_id: int, organisation_id: int, at: datetime) -> bool:
        """Put the person in the group; False when they are in it already (their other press, say)."""
        return await self._insert_once(
            GroupMembership,
            ["group_id", "person_id"],
            group_id=group_id,
            person_id=person_id,
            organisation_id=organisation_id,
            joined_at=at,
        )

    async def _insert_once(self, model: type[Any], unique: list[str], **values: Any) -> bool:
        """INSERT ... ON CONFLICT DO NOTHING on the unique columns: whether the row was written."""
        table = cast(Table, model.__table__)
        result = await self.session.execute(
            _insert_for(self.session)(table)
            .values(**values)
            .on_conflict_do_nothing(index_elements=unique)
            .returning(table.c.id)
        )
        return result.first() is not None

    async def remove_membership(self, group_id: int, person_id: int) -> bool:
        result = await self.session.execute(
            delete(GroupMembership).where(GroupMembership.group_id == group_id, GroupMembership.person_id == person_id)
        )
        return bool(getattr(result, "rowcount", 0))

    async def counts(self, group_id: int) -> tuple[int, int]:
        """(distinct member organisations, people) in the group."""
        row = (
            await self.session.execute(
                select(
                    func.count(func.distinct(GroupMembership.organisation_id)), func.count(GroupMembership.id)
                ).where(GroupMembership.group_id == group_id)
            )
        ).one()
        return int(row[0]), int(row[1])

    async def organisation_names(self, group_id: int, limit: int) -> list[str]:
        """The names of the member organisations in the group, alphabetically, at most `limit` of them."""
        result = await self.session.scalars(
            select(Organisation.name)
            .where(
                Organisation.id.in_(select(GroupMembership.organisation_id).where(GroupMembership.group_id == group_id))
            )
            .order_by(Organisation.name_key)
            .limit(limit)
        )
        return list(result.all())

    async def members(self, group_id: int) -> Sequence[Person]:
        """The people in the group who can be reached."""
        result = await self.session.scalars(
            select(Person)
            .join(GroupMembership, GroupMembership.person_id == Person.id)
            .where(GroupMembership.group_id == group_id, Person.status == PersonStatus.ACTIVE.value)
            .order_by(Person.id)
        )
        return result.all()

    async def acceptance(self, group_id: int, person_id: int) -> ConfidentialityAcceptance | None:
        return await self.session.scalar(
            select(ConfidentialityAcceptance).where(
                ConfidentialityAcceptance.group_id == group_id, ConfidentialityAcceptance.person_id == person_id
            )
        )

    async def add_acceptance(self, *, group_id: int, person_id: int, **fields: Any) -> bool:
        """Record an acceptance of the group's terms; False when the person had accepted them already."""
        return await self._insert_once(
            ConfidentialityAcceptance, ["group_id", "person_id"], group_id=group_id, person_id=person_id, **fields
        )

    async def acceptances(
        self, group_id: int, limit: int
    ) -> tuple[Sequence[tuple[ConfidentialityAcceptance, str]], int]:
        """The latest acceptances of the group's terms with the full name of who accepted, and their number."""
        total = await self.session.scalar(
            select(func.count(ConfidentialityAcceptance.id)).where(ConfidentialityAcceptance.group_id == group_id)
        )
        rows = await self.session.execute(
            select(ConfidentialityAcceptance, Person.first_name, Person.last_name)
            .join(Person, Person.id == ConfidentialityAcceptance.person_id)
            .where(ConfidentialityAcceptance.group_id == group_id)
            .order_by(ConfidentialityAcceptance.accepted_at.desc(), ConfidentialityAcceptance.id.desc())
            .limit(limit)
        )
        return [(row, f"{first} {last}" if last else first) for row, first, last in rows.all()], int(total or 0)

    async def add_event(
        self, group_id: int, kind: GroupEventKind, *, actor_id: int | None, details: dict[str, Any], at: datetime
    ) -> GroupEvent:
        event = GroupEvent(group_id=group_id, kind=kind.value, actor_id=actor_id, details=details, created_at=at)
        self.session.add(event)
        await self.session.flush()
        return event

    async def with_events(self, group_ids: Collection[int], kind: GroupEventKind) -> set[int]:
        """Which of these groups have at least one event of `kind`."""
        if not group_ids:
            return set()
        rows = await self.session.scalars(
            select(GroupEvent.group_id)
            .where(GroupEvent.group_id.in_(group_ids), GroupEvent.kind == kind.value)
            .distinct()
        )
        return set(rows.all())

    async def events(self, group_id: int, kinds: Collection[GroupEventKind], limit: int) -> Sequence[GroupEvent]:
        """The group's latest events of these kinds, newest first."""
        result = await self.session.scalars(
            select(GroupEvent)
            .where(GroupEvent.group_id == group_id, GroupEvent.kind.in_([kind.value for kind in kinds]))
            .order_by(GroupEvent.created_at.desc(), GroupEvent.id.desc())
            .limit(limit)
        )
        return result.all()


class ProjectRepository:
    """Projects, their plan and needs, the versions of organisations' commitments, and their history."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, **fields: Any) -> Project:
        project = Project(**fields)
        self.session.add(project)
        await self.session.flush()
        return project

    async def get(self, project_id: int, *, fresh: bool = False) -> Project | None:
        if fresh:
            return await self.session.get(Project, project_id, populate_existing=True)
        return await self.session.get(Project, project_id)

    async def steps(self, project_id: int) -> Sequence[ProjectStep]:
        rows = await self.session.scalars(
            select(ProjectStep).where(ProjectStep.project_id == project_id).order_by(ProjectStep.position)
        )
        return rows.all()

    async def replace_steps(self, project_id: int, steps: Iterable[Mapping[str, Any]]) -> None:
        await self.session.execute(delete(ProjectStep).where(ProjectStep.project_id == project_id))
        self.session.add_all(
            ProjectStep(project_id=project_id, position=position, **step) for position, step in enumerate(steps, 1)
        )
        await self.session.flush()

    async def needs(self, project_id: int) -> Sequence[ProjectNeed]:
        rows = await self.session.scalars(_card().needs, {"project_id": project_id})
        return rows.all()

    async def replace_needs(self, project_id: int, needs: Iterable[Mapping[str, Any]]) -> None:
        await self.session.execute(delete(ProjectNeed).where(ProjectNeed.project_id == project_id))
        self.session.add_all(ProjectNeed(project_id=project_id, **need) for need in needs)
        await self.session.flush()

    async def move(
        self, project_id: int, *, allowed: Collection[ProjectState], state: ProjectState, now: datetime
    ) -> bool:
        """Change the state if it is still one of `allowed`: the first manager to act wins, on both engines."""
        result = await self.session.execute(
            update(Project)
            .where(Project.id == project_id, Project.state.in_([a.value for a in allowed]))
            .values(state=state.value, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def claim_change(self, project_id: int, *, now: datetime) -> int | None:
        """Take the project's turn for a change to its commitments, if it is in preparation: its new change
        number, or None. The row lock (PostgreSQL) or the writer lock (SQLite) is held to the commit, so change
        numbers follow commit order."""
        result = await self.session.execute(
            update(Project)
            .where(Project.id == project_id, Project.state == ProjectState.PREPARATION.value)
            .values(changes=Project.changes + 1, updated_at=now)
            .returning(Project.changes)
            .execution_options(synchronize_session=False)
        )
        return result.scalar_one_or_none()

    async def latest_line(self, project_id: int, organisation_id: int, kind: str, unit: str) -> Commitment | None:
        return await self.session.scalar(
            select(Commitment).where(
                Commitment.project_id == project_id,
                Commitment.organisation_id == organisation_id,
                Commitment.kind == kind,
                Commitment.unit == unit,
                Commitment.latest.is_(True),
            )
        )

    async def add_version(self, previous: Commitment | None, **fields: Any) -> Commitment:
        """The next version of a line (the caller holds the project's turn): the previous one stops being latest."""
        if previous is not None:
            await self.session.execute(
                update(Commitment)
                .where(Commitment.id == previous.id, Commitment.latest.is_(True))
                .values(latest=False)
                .execution_options(synchronize_session=False)
            )
        version = Commitment(version=previous.version + 1 if previous else 1, latest=True, **fields)
        self.session.add(version)
        await self.session.flush()
        return version

    async def latest_commitments(self, project_id: int) -> Sequence[Commitment]:
        """The standing and withdrawn lines of a project, as they are now, oldest first."""
        rows = await self.session.scalars(
            select(Commitment)
            .where(Commitment.project_id == project_id, Commitment.latest.is_(True))
            .order_by(Commitment.id)
        )
        return rows.all()

    async def standing_sums(self, project_id: int) -> dict[tuple[str, str], int]:
        """(kind, unit) -> what stands committed to the project, in hundredths: the sum of the latest versions not
        withdrawn, the resource first committed first. Summed by the database: a large project's card reads its
        totals without loading every line."""
        rows = await self.session.execute(_card().sums, {"project_id": project_id})
        return {(kind, unit): int(total) for kind, unit, total in rows.all()}

    async def standing_lines(self, project_id: int, organisation_id: int) -> Sequence[Commitment]:
        """One organisation's standing lines in a project (their latest versions), oldest first."""
        rows = await self.session.scalars(_card().lines, {"project_id": project_id, "organisation_id": organisation_id})
        return rows.all()

    async def standing(self, project_id: int) -> list[tuple[int, int, datetime]]:
        """(organisation id, change number, time) of each organisation with a standing commitment, by the
        change at which its earliest standing line began: the ranking."""
        first = func.min(Commitment.standing_change)
        rows = await self.session.execute(
            select(Commitment.organisation_id, first, func.min(Commitment.standing_since))
            .where(
                Commitment.project_id == project_id,
                Commitment.latest.is_(True),
                Commitment.withdrawn.is_(False),
            )
            .group_by(Commitment.organisation_id)
            .order_by(first, Commitment.organisation_id)
        )
        # A standing line always has its change and time (only withdrawn versions have none).
        return [(int(org), int(cast(int, change)), cast(datetime, since)) for org, change, since in rows.all()]

    async def versions(self, project_id: int) -> Sequence[Commitment]:
        rows = await self.session.scalars(
            select(Commitment).where(Commitment.project_id == project_id).order_by(Commitment.id)
        )
        return rows.all()

    async def add_event(
        self, project_id: int, kind: str, *, actor_id: int | None, details: Mapping[str, Any], at: datetime
    ) -> ProjectEvent:
        event = ProjectEvent(project_id=project_id, kind=kind, actor_id=actor_id, details=dict(details), created_at=at)
        self.session.add(event)
        await self.session.flush()
        return event

    async def events(self, project_id: int, limit: int) -> Sequence[ProjectEvent]:
        rows = await self.session.scalars(_card().events, {"project_id": project_id, "limit": limit})
        return rows.all()

    async def card_head(self, project_id: int) -> tuple[Project, str | None, str | None, str | None, str | None] | None:
        """A project with what its card names beside it, in one query: the proposer's name, their organisation's
        name, the working group's titles (ro, en; None without a group)."""
        row = (await self.session.execute(_card().head, {"project_id": project_id})).first()
        if row is None:
            return None
        project, first, last, organisation, group_ro, group_en = row
        name = None if first is None else (f"{first} {last}" if last else first)
        if project.group_id is None:
            return project, name, organisation, None, None
        return project, name, organisation, group_ro or "", group_en or ""

    async def standing_named(self, project_id: int) -> list[tuple[int, int, datetime, str]]:
        """`standing` with each organisation's name: the card's ranking in one query."""
        rows = await self.session.execute(_card().ranking, {"project_id": project_id})
        return [
            (int(org), int(cast(int, change)), cast(datetime, since), name) for org, change, since, name in rows.all()
        ]

    async def steps_named(self, project_id: int) -> list[tuple[ProjectStep, str | None]]:
        """The action plan's steps in order, each with its owner organisation's name."""
        rows = await self.session.execute(_card().steps, {"project_id": project_id})
        return [(step, name) for step, name in rows.all()]

    async def recent_versions_named(self, project_id: int, limit: int) -> list[tuple[Commitment, str]]:
        """The newest commitment versions of a project, newest first, each with its organisation's name (the
        card's history)."""
        rows = await self.session.execute(_card().versions, {"project_id": project_id, "limit": limit})
        return [(version, name) for version, name in rows.all()]

    @staticmethod
    def _standing_count() -> Any:
        """Per project, how many organisations have a standing commitment (a correlated subquery)."""
        return (
            select(func.count(func.distinct(Commitment.organisation_id)))
            .where(
                Commitment.project_id == Project.id,
                Commitment.latest.is_(True),
                Commitment.withdrawn.is_(False),
            )
            .scalar_subquery()
        )

    def _listed(
        self, states: Collection[str] | None, organisation_id: int | None, person_id: int | None, competition: bool
    ) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if states is not None:
            conditions.append(Project.state.in_(list(states)))
        if organisation_id is not None or person_id is not None:
            mine: list[ColumnElement[bool]] = []
            if person_id is not None:
                mine.append(Project.proposed_by_id == person_id)
            if organisation_id is not None:
                mine.append(Project.organisation_id == organisation_id)
                mine.append(
                    Project.id.in_(
                        select(Commitment.project_id).where(
                            Commitment.organisation_id == organisation_id,
                            Commitment.latest.is_(True),
                            Commitment.withdrawn.is_(False),
                        )
                    )
                )
            conditions.append(or_(*mine))
        if competition:
            conditions.append(Project.places.is_not(None))
            conditions.append(self._standing_count() > Project.places)
        return conditions

    async def count(
        self,
        *,
        states: Collection[str] | None = None,
        organisation_id: int | None = None,
        person_id: int | None = None,
        competition: bool = False,
    ) -> int:
        """How many projects are in these states (all when None), proposed by the person or their organisation
        or with its standing commitments (when given), in competition (more organisations standing than places)."""
        conditions = self._listed(states, organisation_id, person_id, competition)
        total = await self.session.scalar(select(func.count(Project.id)).where(*conditions))
        return int(total or 0)

    async def page(
        self,
        *,
        offset: int,
        limit: int,
        states: Collection[str] | None = None,
        organisation_id: int | None = None,
        person_id: int | None = None,
        competition: bool = False,
    ) -> list[tuple[Project, int]]:
        """Projects as `count` selects them, with their number of organisations standing: in preparation first,
        then ideas, running, closed and cancelled; the newest first in each."""
        order = case(
            (Project.state == ProjectState.PREPARATION.value, 0),
            (Project.state == ProjectState.IDEA.value, 1),
            (Project.state == ProjectState.RUNNING.value, 2),
            (Project.state == ProjectState.CLOSED.value, 3),
            else_=4,
        )
        rows = await self.session.execute(
            select(Project, self._standing_count())
            .where(*self._listed(states, organisation_id, person_id, competition))
            .order_by(order, Project.id.desc())
            .offset(offset)
            .limit(limit)
        )
        return [(project, int(standing or 0)) for project, standing in rows.all()]

    async def people_of(self, organisation_ids: Collection[int]) -> Sequence[Person]:
        """The reachable members of these organisations (who is told about their commitments)."""
        if not organisation_ids:
            return []
        result = await self.session.scalars(
            select(Person)
            .where(
                Person.organisation_id.in_(list(organisation_ids)),
                Person.status == PersonStatus.ACTIVE.value,
                Person.role != Role.GUEST.value,
            )
            .order_by(Person.id)
        )
        return result.all()

    async def commitment(self, commitment_id: int) -> Commitment | None:
        return await self.session.get(Commitment, commitment_id)

    async def organisation_names(self, organisation_ids: Collection[int]) -> dict[int, str]:
        if not organisation_ids:
            return {}
        rows = await self.session.execute(
            select(Organisation.id, Organisation.name).where(Organisation.id.in_(list(organisation_ids)))
        )
        return {int(row_id): name for row_id, name in rows.all()}

    async def version_rows(self, project_id: int) -> Sequence[Any]:
        """Every version of a project's commitments as plain rows (no ORM objects: a large project has thousands),
        oldest first: organisation_id, kind, unit, amount_hundredths, note, version, author_id, created_at,
        withdrawn, latest."""
        rows = await self.session.execute(
            select(
                Commitment.organisation_id,
                Commitment.kind,
                Commitment.unit,
                Commitment.amount_hundredths,
                Commitment.note,
                Commitment.version,
                Commitment.author_id,
                Commitment.created_at,
                Commitment.withdrawn,
                Commitment.latest,
            )
            .where(Commitment.project_id == project_id)
            .order_by(Commitment.id)
        )
        return rows.all()

    async def people_names(self, person_ids: Collection[int]) -> dict[int, str]:
        """Full names ("First Last") of the authors of commitments."""
        if not person_ids:
            return {}
        rows = await self.session.execute(
            select(Person.id, Person.first_name, Person.last_name).where(Person.id.in_(list(person_ids)))
        )
        return {int(row_id): f"{first} {last}" if last else first for row_id, first, last in rows.all()}

    async def standing_totals(
        self, start: datetime, end: datetime, *, excluded_states: Collection[str]
    ) -> list[tuple[int, str, str, int, int]]:
        """(organisation id, kind, unit, sum in hundredths, number of projects) of the latest versions still
        standing whose standing began in [start, end), in projects not in `excluded_states`."""
        rows = await self.session.execute(
            select(
                Commitment.organisation_id,
                Commitment.kind,
                Commitment.unit,
                func.sum(Commitment.amount_hundredths),
                func.count(func.distinct(Commitment.project_id)),
            )
            .join(Project, Project.id == Commitment.project_id)
            .where(
                Commitment.latest.is_(True),
                Commitment.withdrawn.is_(False),
                Commitment.standing_since >= start,
                Commitment.standing_since < end,
                Project.state.not_in(list(excluded_states)),
            )
            .group_by(Commitment.organisation_id, Commitment.kind, Commitment.unit)
        )
        return [(int(org), kind, unit, int(total), int(count)) for org, kind, unit, total, count in rows.all()]

    async def standing_projects(
        self, start: datetime, end: datetime, *, excluded_states: Collection[str]
    ) -> dict[int, int]:
        """Per organisation, how many projects `standing_totals` counts it in."""
        rows = await self.session.execute(
            select(Commitment.organisation_id, func.count(func.distinct(Commitment.project_id)))
            .join(Project, Project.id == Commitment.project_id)
            .where(
                Commitment.latest.is_(True),
                Commitment.withdrawn.is_(False),
                Commitment.standing_since >= start,
                Commitment.standing_since < end,
                Project.state.not_in(list(excluded_states)),
            )
            .group_by(Commitment.organisation_id)
        )
        return {int(org): int(count) for org, count in rows.all()}


@dataclass(frozen=True)
class _CardStatements:
    head: Any
    sums: Any
    lines: Any
    ranking: Any
    steps: Any
    events: Any
    versions: Any
    needs: Any


@cache
def _card() -> _CardStatements:
    """The statements a project's card runs, built once with bound parameters: a card is read on every open, and
    building a statement costs about as much Python as running it (benchmarks/projects.py)."""
    project_id: Any = bindparam("project_id")
    limit: Any = bindparam("limit")
    standing = (Commitment.project_id == project_id, Commitment.latest.is_(True), Commitment.withdrawn.is_(False))
    proposer = aliased(Person)
    first_change = func.min(Commitment.standing_change)
    return _CardStatements(
        head=select(
            Project,
            proposer.first_name,
            proposer.last_name,
            Organisation.name,
            WorkingGroup.title_ro,
            WorkingGroup.title_en,
        )
        .outerjoin(proposer, proposer.id == Project.proposed_by_id)
        .outerjoin(Organisation, Organisation.id == Project.organisation_id)
        .outerjoin(WorkingGroup, WorkingGroup.id == Project.group_id)
        .where(Project.id == project_id),
        sums=select(Commitment.kind, Commitment.unit, func.sum(Commitment.amount_hundredths))
        .where(*standing)
        .group_by(Commitment.kind, Commitment.unit)
        .order_by(func.min(Commitment.id)),
        lines=select(Commitment)
        .where(*standing, Commitment.organisation_id == bindparam("organisation_id"))
        .order_by(Commitment.id),
        ranking=select(Commitment.organisation_id, first_change, func.min(Commitment.standing_since), Organisation.name)
        .join(Organisation, Organisation.id == Commitment.organisation_id)
        .where(*standing)
        .group_by(Commitment.organisation_id, Organisation.name)
        .order_by(first_change, Commitment.organisation_id),
        steps=select(ProjectStep, Organisation.name)
        .outerjoin(Organisation, Organisation.id == ProjectStep.owner_organisation_id)
        .where(ProjectStep.project_id == project_id)
        .order_by(ProjectStep.position),
        events=select(ProjectEvent)
        .where(ProjectEvent.project_id == project_id)
        .order_by(ProjectEvent.created_at.desc(), ProjectEvent.id.desc())
        .limit(limit),
        versions=select(Commitment, Organisation.name)
        .join(Organisation, Organisation.id == Commitment.organisation_id)
        .where(Commitment.project_id == project_id)
        .order_by(Commitment.id.desc())
        .limit(limit),
        needs=select(ProjectNeed).where(ProjectNeed.project_id == project_id).order_by(ProjectNeed.id),
    )


# What a notice says, as stored: a row whose values all equal a notice's has nothing new from it.
TENDER_CONTENT = (
    "procedure_id",
    "procedure_key",
    "version",
    "is_change",
    "kind",
    "title",
    "description",
    "buyer",
    "country",
    "places",
    "cpv",
    "value_hundredths",
    "currency",
    "deadline",
    "links",
    "published_at",
)


class TenderRepository:
    """Tenders unique by (source, source_id), written in bulk; the decisions (new, changed, older) are
    bot.services.tenders.store's."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def _table(self) -> Table:
        return cast(Table, TenderRow.__table__)

    async def get(self, tender_id: int) -> TenderRow | None:
        return await self.session.get(TenderRow, tender_id)

    async def rows_by_source_ids(self, keys: Collection[tuple[str, str]]) -> list[RowMapping]:
        """Plain rows (every column) of the tenders stored under these (source, source_id) pairs."""
        wanted = set(keys)
        rows = await _rows_where_in(
            self.session, list(self._table.c), self._table.c.source_id, {source_id for _, source_id in wanted}
        )
        return [row for row in rows if (row["source"], row["source_id"]) in wanted]

    async def rows_by_procedure_keys(self, procedure_keys: Collection[str]) -> list[RowMapping]:
        """Plain rows (every column) of the tenders of these procedures, in every source, by id."""
        rows = await _rows_where_in(self.session, list(self._table.c), self._table.c.procedure_key, procedure_keys)
        return sorted(rows, key=lambda row: row["id"])

    async def by_procedure_key(self, procedure_key: str) -> Sequence[TenderRow]:
        """The tenders of one procedure (its normalised id, see store.procedure_key), in every source, by id."""
        result = await self.session.scalars(
            select(TenderRow).where(TenderRow.procedure_key == procedure_key).order_by(TenderRow.id)
        )
        return result.all()

    async def upsert_many(self, rows: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], int]:
        """INSERT ... ON CONFLICT (source, source_id) DO UPDATE, a chunk of rows per statement; each row has
        every column but id and same_as_id. A stored row of a newer version than the one given is left as it
        is, even when another transaction stored it meanwhile; `first_seen_at` is never overwritten and
        `changed_at` only by a value. The ids of the rows written, by (source, source_id)."""
        if not rows:
            return {}
        table = self._table
        statement = _insert_for(self.session)(table)
        excluded = statement.excluded
        written = {name: excluded[name] for name in (*TENDER_CONTENT, "updated_at")}
        written["changed_at"] = func.coalesce(excluded.changed_at, table.c.changed_at)
        statement = statement.on_conflict_do_update(
            index_elements=["source", "source_id"], set_=written, where=table.c.version <= excluded.version
        ).returning(table.c.id, table.c.source, table.c.source_id)
        ids: dict[tuple[str, str], int] = {}
        for chunk in _chunks(rows):
            result = await self.session.execute(statement, chunk)
            ids.update(((source, source_id), tender_id) for tender_id, source, source_id in result.all())
        return ids

    async def replace_cpv(self, codes_by_tender: Mapping[int, Sequence[str]]) -> None:
        """Set the tender_cpv rows of these tenders to their codes (the main one first)."""
        table = cast(Table, TenderCpv.__table__)
        for chunk in _chunks(codes_by_tender):
            await self.session.execute(delete(table).where(table.c.tender_id.in_(chunk)))
        rows = [
            {"tender_id": tender_id, "code8": code, "position": position}
            for tender_id, codes in codes_by_tender.items()
            for position, code in enumerate(dict.fromkeys(codes))
        ]
        for chunk in _chunks(rows):
            await self.session.execute(insert_into(table), chunk)

    async def link_same(self, procedure_keys: Collection[str]) -> int:
        """Point every tender of these procedures at the first stored one of its procedure and kind
        (`same_as_id`, None for that first one). How many links changed."""
        if not procedure_keys:
            return 0
        table = self._table
        columns = (table.c.id, table.c.procedure_key, table.c.kind, table.c.same_as_id)
        first: dict[tuple[str, str], int] = {}
        changed: list[dict[str, Any]] = []
        for row in sorted(
            await _rows_where_in(self.session, columns, table.c.procedure_key, procedure_keys),
            key=lambda row: row["id"],
        ):
            canonical = first.setdefault((row["procedure_key"], row["kind"]), row["id"])
            same_as = None if canonical == row["id"] else canonical
            if row["same_as_id"] != same_as:
                changed.append({"row_id": row["id"], "same_as": same_as})
        statement = update(table).where(table.c.id == bindparam("row_id")).values(same_as_id=bindparam("same_as"))
        for chunk in _chunks(changed):
            await self.session.execute(statement.execution_options(synchronize_session=False), chunk)
        return len(changed)

    async def codes(self, tender_id: int) -> list[str]:
        """A tender's CPV codes from tender_cpv, the main one first."""
        table = cast(Table, TenderCpv.__table__)
        result = await self.session.scalars(
            select(table.c.code8).where(table.c.tender_id == tender_id).order_by(table.c.position)
        )
        return list(result.all())

    async def new_since(self, since: datetime, until: datetime | None = None) -> Sequence[TenderRow]:
        """Tenders first seen in [since, until), by id: what the alerting job matches as new."""
        return await self._between(TenderRow.first_seen_at, since, until)

    async def changed_since(self, since: datetime, until: datetime | None = None) -> Sequence[TenderRow]:
        """Tenders a change reached in [since, until) that were first seen before `since`, by id: what the
        alerting job sends as updates to those who got the original."""
        return await self._between(TenderRow.changed_at, since, until, TenderRow.first_seen_at < since)

    async def _between(
        self, column: Any, since: datetime, until: datetime | None, *conditions: Any
    ) -> Sequence[TenderRow]:
        bounds = [column >= since, *conditions]
        if until is not None:
            bounds.append(column < until)
        result = await self.session.scalars(select(TenderRow).where(*bounds).order_by(TenderRow.id))
        return result.all()


class Repositories:
    """All repositories on one session: what a unit of work hands to the services.

    Built on a session, or on a factory (`Repositories.lazily`) whose session is opened only when a
    repository is first used: most updates of a known person need no database at all.
    """

    def __init__(self, session: AsyncSession | None = None) -> None:
        self._session = session
        self._factory: async_sessionmaker[AsyncSession] | None = None

    @classmethod
    def lazily(cls, factory: async_sessionmaker[AsyncSession]) -> Repositories:
        repos = cls()
        repos._factory = factory
        return repos

    @property
    def opened(self) -> AsyncSession | None:
        """The session, if one was opened."""
        return self._session

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            if self._factory is None:
                raise RuntimeError("Repositories has neither a session nor a session factory")
            self._session = self._factory()
        return self._session

    @cached_property
    def organisations(self) -> OrganisationRepository:
        return OrganisationRepository(self.session)

    @cached_property
    def people(self) -> PersonRepository:
        return PersonRepository(self.session)

    @cached_property
    def projects(self) -> ProjectRepository:
        return ProjectRepository(self.session)

    @cached_property
    def join_requests(self) -> JoinRequestRepository:
        return JoinRequestRepository(self.session)

    @cached_property
    def invites(self) -> InviteRepository:
        return InviteRepository(self.session)

    @cached_property
    def audit(self) -> AuditRepository:
        return AuditRepository(self.session)

    @cached_property
    def outbox(self) -> OutboxRepository:
        return OutboxRepository(self.session)

    @cached_property
    def announcements(self) -> AnnouncementRepository:
        return AnnouncementRepository(self.session)

    @cached_property
    def catalogue(self) -> CatalogueRepository:
        return CatalogueRepository(self.session)

    @cached_property
    def service_requests(self) -> ServiceRequestRepository:
        return ServiceRequestRepository(self.session)

    @cached_property
    def groups(self) -> WorkingGroupRepository:
        return WorkingGroupRepository(self.session)

    @cached_property
    def tenders(self) -> TenderRepository:
        return TenderRepository(self.session)

    @cached_property
    def alert_profiles(self) -> AlertProfileRepository:
        return AlertProfileRepository(self.session)

    @cached_property
    def tender_alerts(self) -> TenderAlertRepository:
        return TenderAlertRepository(self.session)

    @cached_property
    def tender_sources(self) -> TenderSourceRepository:
        return TenderSourceRepository(self.session)

    @cached_property
    def questions(self) -> QuestionRepository:
        return QuestionRepository(self.session)
