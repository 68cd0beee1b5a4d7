"""Repositories of tender alerts (issue 11): members' alert profiles, the alerts themselves (one per person and
tender), and each configured source's health. The decisions are bot.services.tenders'."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.bulk import _chunks, _insert_for, _rows_where_in
from storage.models import (
    AlertDelivery,
    AlertProfile,
    Person,
    PersonStatus,
    Role,
    TenderAlert,
    TenderCpv,
    TenderRow,
    TenderSourceState,
)


class AlertProfileRepository:
    """Members' alert profiles."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, profile_id: int) -> AlertProfile | None:
        return await self.session.get(AlertProfile, profile_id)

    async def add(self, profile: AlertProfile) -> AlertProfile:
        self.session.add(profile)
        await self.session.flush()
        return profile

    async def of_person(self, person_id: int) -> Sequence[AlertProfile]:
        """A person's profiles, oldest first."""
        result = await self.session.scalars(
            select(AlertProfile).where(AlertProfile.person_id == person_id).order_by(AlertProfile.id)
        )
        return result.all()

    async def count_of_person(self, person_id: int) -> int:
        return int(
            await self.session.scalar(
                select(func.count()).select_from(AlertProfile).where(AlertProfile.person_id == person_id)
            )
            or 0
        )

    async def active(self) -> Sequence[AlertProfile]:
        """Every profile not paused, by id: what the alert job matches against."""
        result = await self.session.scalars(
            select(AlertProfile).where(AlertProfile.paused.is_(False)).order_by(AlertProfile.id)
        )
        return result.all()

    async def delete(self, profile: AlertProfile) -> None:
        await self.session.delete(profile)
        await self.session.flush()

    # --- members' own profiles in the chat (bot.services.tenders.profiles) -------------------------------------

    async def lock_of_person(self, person_id: int) -> None:
        """Hold the person's profiles until the transaction ends (a no-op UPDATE takes their row locks), so that
        two saves at once count one after the other: the second waits for the first to commit, then counts its
        profile too. SQLite has one writer at a time anyway."""
        await self.session.execute(
            update(AlertProfile)
            .where(AlertProfile.person_id == person_id)
            .values(person_id=AlertProfile.person_id)
            .execution_options(synchronize_session=False)
        )

    async def of_organisation(self, organisation_id: int, except_person_id: int) -> list[tuple[AlertProfile, Person]]:
        """The profiles of an organisation's other representatives (kept with the organisation they were saved
        for, whoever represents it now), with their owners, by owner then id."""
        result = await self.session.execute(
            select(AlertProfile, Person)
            .join(Person, Person.id == AlertProfile.person_id)
            .where(AlertProfile.organisation_id == organisation_id, AlertProfile.person_id != except_person_id)
            .order_by(Person.first_name, Person.id, AlertProfile.id)
        )
        return [(profile, person) for profile, person in result.all()]

    async def update_of_person(self, profile_id: int, person_id: int, values: dict[str, Any]) -> bool:
        """Set `values` on the person's profile; False when no such profile of theirs exists (any more)."""
        result = await self.session.execute(
            update(AlertProfile)
            .where(AlertProfile.id == profile_id, AlertProfile.person_id == person_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool(cast(CursorResult[Any], result).rowcount)

    async def set_paused(self, profile_id: int, person_id: int, paused: bool) -> bool:
        """Pause or resume the person's profile if it is not so already; whether this call changed it."""
        result = await self.session.execute(
            update(AlertProfile)
            .where(
                AlertProfile.id == profile_id,
                AlertProfile.person_id == person_id,
                AlertProfile.paused.is_not(paused),
            )
            .values(paused=paused)
            .execution_options(synchronize_session=False)
        )
        return bool(cast(CursorResult[Any], result).rowcount)

    async def delete_of_person(self, profile_id: int, person_id: int) -> bool:
        """Delete the person's profile; False when it was not theirs or is gone already (a second press)."""
        result = await self.session.execute(
            delete(AlertProfile)
            .where(AlertProfile.id == profile_id, AlertProfile.person_id == person_id)
            .execution_options(synchronize_session=False)
        )
        return bool(cast(CursorResult[Any], result).rowcount)

    async def open_tenders(
        self,
        now: datetime,
        cpv_prefixes: Collection[str] | None = None,
        *,
        kinds: Collection[str] | None = None,
        countries: Collection[str] | None = None,
        open_after: datetime | None = None,
    ) -> Sequence[TenderRow]:
        """The stored tenders still open at `now` (a deadline after it, or none), canonical ones only (not the
        copies of one procedure seen through another source), soonest deadline first (none last), then by id:
        what a profile's preview counts and its current matches list. With `cpv_prefixes` (a profile's codes'
        significant digits), only tenders with a code under one of them (read by range from tender_cpv).

        The rest narrows the rows read as matching would (a preview reads far fewer rows): `kinds`, only those
        kinds; `countries` (non-empty), only tenders of those countries; `open_after`, a deadline after it (a
        profile's minimum days left) or none."""
        conditions: list[Any] = [
            TenderRow.same_as_id.is_(None),
            or_(TenderRow.deadline.is_(None), TenderRow.deadline > max(now, open_after or now)),
        ]
        if kinds is not None:
            conditions.append(TenderRow.kind.in_(sorted(kinds)))
        if countries:
            conditions.append(TenderRow.country.in_(sorted(countries)))
        if cpv_prefixes is not None:
            if not cpv_prefixes:
                return []
            ranges = [
                TenderCpv.code8.between(prefix.ljust(8, "0"), prefix.ljust(8, "9")) for prefix in sorted(cpv_prefixes)
            ]
            conditions.append(TenderRow.id.in_(select(TenderCpv.tender_id).where(or_(*ranges))))
        # Plain read-only rows with TenderRow's columns as attributes, not ORM objects: no identity map to fill,
        # about half the cost for thousands of rows (benchmarks/preview.py); callers only read them.
        table = cast(Table, TenderRow.__table__)
        result = await self.session.execute(
            select(*table.c).where(*conditions).order_by(TenderRow.deadline.is_(None), TenderRow.deadline, TenderRow.id)
        )
        return cast(Sequence[TenderRow], result.all())


class TenderAlertRepository:
    """Alerts, unique by (person, tender)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, alert_id: int) -> TenderAlert | None:
        return await self.session.get(TenderAlert, alert_id)

    async def of_person_and_tender(self, person_id: int, tender_id: int) -> TenderAlert | None:
        return await self.session.scalar(
            select(TenderAlert).where(TenderAlert.person_id == person_id, TenderAlert.tender_id == tender_id)
        )

    # --- the alert job's claims (bot.services.tenders.alerts) ----------------------------------------------------
    # Each claim is one conditional UPDATE: a row another transaction claimed meanwhile fails its condition when
    # PostgreSQL re-reads it, and SQLite has one writer at a time. On PostgreSQL the pick skips rows another
    # transaction holds (FOR UPDATE SKIP LOCKED), so that a second process takes the next batch instead of
    # waiting, and is a MATERIALIZED CTE, read once, as in the outbox's claim. On SQLite it is a plain subquery:
    # sqlite3 opens its transaction only before a statement that begins with UPDATE, INSERT or DELETE, so an
    # UPDATE written "WITH picked AS (...) UPDATE ..." would run, and commit, outside the caller's transaction
    # (a claim kept while the alerts of the same transaction were rolled back: tested).

    async def _claim(
        self, table: Table, condition: Any, values: Mapping[str, Any], limit: int, returning: Sequence[Any]
    ) -> list[dict[str, Any]]:
        pick = select(table.c.id).where(condition).order_by(table.c.id).limit(limit)
        if self.session.get_bind().dialect.name == "postgresql":
            picked = (
                pick.with_for_update(skip_locked=True).cte("picked").prefix_with("MATERIALIZED", dialect="postgresql")
            )
            chosen: Any = select(picked.c.id)
        else:
            chosen = pick.scalar_subquery()
        result = await self.session.execute(
            update(table)
            .where(table.c.id.in_(chosen), condition)
            .values(**values)
            .returning(*returning)
            .execution_options(synchronize_session=False)
        )
        return sorted((dict(row) for row in result.mappings()), key=lambda row: row["id"])

    async def claim_unmatched_tenders(self, *, now: datetime, limit: int) -> list[dict[str, Any]]:
        """Claim up to `limit` tenders never matched (`matched_at` set to `now`; a change they carry counts as
        seen, `change_matched_at`): their plain rows, by id."""
        table = cast(Table, TenderRow.__table__)
        return await self._claim(
            table,
            table.c.matched_at.is_(None),
            {"matched_at": now, "change_matched_at": table.c.changed_at},
            limit,
            list(table.c),
        )

    async def claim_changed_tenders(self, *, limit: int) -> list[dict[str, Any]]:
        """Claim up to `limit` matched tenders a change reached since their last change was sent
        (`change_matched_at` set to their `changed_at`): their plain rows, by id."""
        table = cast(Table, TenderRow.__table__)
        condition = and_(
            table.c.matched_at.is_not(None),
            table.c.changed_at.is_not(None),
            or_(table.c.change_matched_at.is_(None), table.c.change_matched_at < table.c.changed_at),
        )
        return await self._claim(table, condition, {"change_matched_at": table.c.changed_at}, limit, list(table.c))

    async def tender_rows(self, tender_ids: Collection[int]) -> dict[int, dict[str, Any]]:
        """Plain rows of these tenders, by id."""
        table = cast(Table, TenderRow.__table__)
        rows = await _rows_where_in(self.session, list(table.c), table.c.id, set(tender_ids))
        return {row["id"]: dict(row) for row in rows}

    async def members_among(self, person_ids: Collection[int]) -> dict[int, Person]:
        """Those of these people who may get alerts: members or managers of an organisation, reachable."""
        found: dict[int, Person] = {}
        for chunk in _chunks(sorted(set(person_ids))):
            result = await self.session.scalars(
                select(Person).where(
                    Person.id.in_(chunk),
                    Person.role.in_([Role.MEMBER.value, Role.MANAGER.value, Role.ADMIN.value]),
                    Person.status == PersonStatus.ACTIVE.value,
                    Person.organisation_id.is_not(None),
                )
            )
            found.update((person.id, person) for person in result.all())
        return found

    async def add_new(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """INSERT ... ON CONFLICT (person_id, tender_id) DO NOTHING; each row has person_id, tender_id,
        profile_id, delivery, created_at, sent_at. The rows written (id, person_id, tender_id, delivery,
        sent_at): an alert that exists already, whoever wrote it, is not among them."""
        table = cast(Table, TenderAlert.__table__)
        statement = (
            _insert_for(self.session)(table)
            .on_conflict_do_nothing(index_elements=["person_id", "tender_id"])
            .returning(table.c.id, table.c.person_id, table.c.tender_id, table.c.delivery, table.c.sent_at)
        )
        written: list[dict[str, Any]] = []
        for chunk in _chunks(rows):
            written.extend(dict(row) for row in (await self.session.execute(statement, chunk)).mappings())
        return written

    async def claim_waiting_instant(self, *, now: datetime, limit: int) -> list[dict[str, Any]]:
        """Claim up to `limit` instant alerts held back (quiet hours): `sent_at` set; (id, person_id, tender_id)."""
        table = cast(Table, TenderAlert.__table__)
        condition = and_(table.c.delivery == AlertDelivery.INSTANT.value, table.c.sent_at.is_(None))
        return await self._claim(
            table, condition, {"sent_at": now}, limit, [table.c.id, table.c.person_id, table.c.tender_id]
        )

    async def sent_of_tenders(self, tender_ids: Collection[int]) -> list[dict[str, Any]]:
        """The alerts already sent of these tenders (id, person_id, tender_id, followed_at, not_relevant_at): who
        gets a change."""
        table = cast(Table, TenderAlert.__table__)
        columns = [table.c.id, table.c.person_id, table.c.tender_id, table.c.followed_at, table.c.not_relevant_at]
        rows = await _rows_where_in(
            self.session, columns, table.c.tender_id, set(tender_ids), table.c.sent_at.is_not(None)
        )
        return [dict(row) for row in rows]

    async def mark_change_sent(self, alert_ids: Collection[int], now: datetime) -> None:
        table = cast(Table, TenderAlert.__table__)
        for chunk in _chunks(sorted(set(alert_ids))):
            await self.session.execute(update(table).where(table.c.id.in_(chunk)).values(change_sent_at=now))

    async def waiting_digest(self) -> list[dict[str, Any]]:
        """Digest alerts not yet sent, with their profile's digest hour (None: the profile is gone):
        (id, person_id, tender_id, digest_hour), by id."""
        table = cast(Table, TenderAlert.__table__)
        result = await self.session.execute(
            select(table.c.id, table.c.person_id, table.c.tender_id, AlertProfile.digest_hour)
            .outerjoin(AlertProfile, AlertProfile.id == table.c.profile_id)
            .where(table.c.delivery == AlertDelivery.DIGEST.value, table.c.sent_at.is_(None))
            .order_by(table.c.id)
        )
        return [dict(row) for row in result.mappings()]

    async def claim_unsent(self, alert_ids: Collection[int], now: datetime) -> list[dict[str, Any]]:
        """Set `sent_at` of those of these alerts still unsent; the ones claimed (id, person_id, tender_id)."""
        table = cast(Table, TenderAlert.__table__)
        claimed: list[dict[str, Any]] = []
        for chunk in _chunks(sorted(set(alert_ids))):
            result = await self.session.execute(
                update(table)
                .where(table.c.id.in_(chunk), table.c.sent_at.is_(None))
                .values(sent_at=now)
                .returning(table.c.id, table.c.person_id, table.c.tender_id)
                .execution_options(synchronize_session=False)
            )
            claimed.extend(dict(row) for row in result.mappings())
        return sorted(claimed, key=lambda row: row["id"])

    async def followed_due(self, *, until: datetime, now: datetime) -> list[dict[str, Any]]:
        """Followed alerts (still relevant) of tenders whose deadline is in (now, until] and that miss a
        reminder: (id, person_id, tender_id, deadline, reminded_7_at, reminded_2_at), by id."""
        table = cast(Table, TenderAlert.__table__)
        tenders = cast(Table, TenderRow.__table__)
        result = await self.session.execute(
            select(
                table.c.id,
                table.c.person_id,
                table.c.tender_id,
                tenders.c.deadline,
                table.c.reminded_7_at,
                table.c.reminded_2_at,
            )
            .join(tenders, tenders.c.id == table.c.tender_id)
            .where(
                table.c.followed_at.is_not(None),
                table.c.not_relevant_at.is_(None),
                or_(table.c.reminded_7_at.is_(None), table.c.reminded_2_at.is_(None)),
                tenders.c.deadline > now,
                tenders.c.deadline <= until,
            )
            .order_by(table.c.id)
        )
        return [dict(row) for row in result.mappings()]

    async def claim_reminder(self, alert_id: int, days: int, now: datetime) -> bool:
        """Claim the `days` (7 or 2) reminder of an alert; the 2-day one also stands for a 7-day one not sent.
        False when it was claimed already (or the alert is no longer followed)."""
        table = cast(Table, TenderAlert.__table__)
        column = table.c.reminded_7_at if days == 7 else table.c.reminded_2_at
        values: dict[str, Any] = {column.name: now}
        if days != 7:
            values["reminded_7_at"] = func.coalesce(table.c.reminded_7_at, now)
        result = await self.session.execute(
            update(table)
            .where(table.c.id == alert_id, column.is_(None), table.c.followed_at.is_not(None))
            .values(**values)
            .returning(table.c.id)
            .execution_options(synchronize_session=False)
        )
        return result.first() is not None

    # --- the member's buttons ---------------------------------------------------------------------------------

    async def set_followed(self, alert_id: int, person_id: int, at: datetime | None) -> bool:
        """Follow (`at`) or unfollow (None) one of the person's alerts; following takes back a "not relevant".
        False when the alert is not theirs."""
        values: dict[str, Any] = {"followed_at": at}
        if at is not None:
            values["not_relevant_at"] = None
        return await self._set(alert_id, person_id, values)

    async def set_not_relevant(self, alert_id: int, person_id: int, at: datetime | None) -> bool:
        """Mark (`at`) one of the person's alerts not relevant, which also stops following it, or take it back
        (None). False when the alert is not theirs."""
        values: dict[str, Any] = {"not_relevant_at": at}
        if at is not None:
            values["followed_at"] = None
        return await self._set(alert_id, person_id, values)

    async def _set(self, alert_id: int, person_id: int, values: Mapping[str, Any]) -> bool:
        table = cast(Table, TenderAlert.__table__)
        result = await self.session.execute(
            update(table)
            .where(table.c.id == alert_id, table.c.person_id == person_id)
            .values(**values)
            .returning(table.c.id)
            .execution_options(synchronize_session=False)
        )
        return result.first() is not None

    async def state_of(self, alert_id: int) -> dict[str, Any] | None:
        """(id, person_id, tender_id, followed_at, not_relevant_at) of an alert, read from the database."""
        table = cast(Table, TenderAlert.__table__)
        result = await self.session.execute(
            select(
                table.c.id, table.c.person_id, table.c.tender_id, table.c.followed_at, table.c.not_relevant_at
            ).where(table.c.id == alert_id)
        )
        row = result.mappings().first()
        return None if row is None else dict(row)

    # --- managers' figures ------------------------------------------------------------------------------------

    async def weekly_counts(self, since: datetime, until: datetime) -> dict[str, int]:
        """Alerts created, followed and marked not relevant in [since, until): a week's figures."""
        table = cast(Table, TenderAlert.__table__)
        counts: dict[str, int] = {}
        for name, column in (
            ("alerts", table.c.created_at),
            ("followed", table.c.followed_at),
            ("not_relevant", table.c.not_relevant_at),
        ):
            counts[name] = int(
                await self.session.scalar(
                    select(func.count()).select_from(table).where(column >= since, column < until)
                )
                or 0
            )
        return counts


class TenderSourceRepository:
    """Each configured source's health, by name."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, name: str) -> TenderSourceState | None:
        return await self.session.get(TenderSourceState, name)

    async def all(self) -> Sequence[TenderSourceState]:
        result = await self.session.scalars(select(TenderSourceState).order_by(TenderSourceState.name))
        return result.all()

    async def ensure(self, name: str, kind: str) -> TenderSourceState:
        """The source's row, created empty on its first run (two processes creating it at once: one wins)."""
        state = await self.get(name)
        if state is not None:
            return state
        try:
            async with self.session.begin_nested():
                state = TenderSourceState(name=name, kind=kind, last_fetched=0, last_new=0, last_changed=0)
                self.session.add(state)
                await self.session.flush()
        except IntegrityError:
            state = await self.get(name)
            assert state is not None
        return state

    async def _update(self, name: str, *conditions: Any, **values: Any) -> int:
        result = await self.session.execute(
            update(TenderSourceState)
            .where(TenderSourceState.name == name, *conditions)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        assert isinstance(result, CursorResult)
        return int(result.rowcount or 0)

    async def record_success(
        self, name: str, *, now: datetime, fetched: int, new: int, changed: int, fetched_until: datetime | None
    ) -> bool:
        """A run that worked: counts, the window fetched so far, the incident closed. True when an incident
        had been reported (so its recovery is to be told), exactly once however many runs race."""
        recovered = await self._update(
            name, TenderSourceState.incident_reported_at.is_not(None), incident_reported_at=None
        )
        values: dict[str, Any] = {
            "last_run_at": now,
            "last_success_at": now,
            "last_fetched": fetched,
            "last_new": new,
            "last_changed": changed,
            "runs": TenderSourceState.runs + 1,
            "error": None,
            "error_since": None,
        }
        if fetched_until is not None:
            values["fetched_until"] = fetched_until
        await self._update(name, **values)
        await self._refresh(name)
        return recovered == 1

    async def record_failure(
        self, name: str, *, now: datetime, fetched: int, new: int, changed: int, error: str
    ) -> bool:
        """A run that failed (what it stored before failing counted): the incident opened, or kept open since
        it began. True when this incident is to be reported now: the first failure of it, exactly once."""
        await self._update(
            name,
            last_run_at=now,
            last_fetched=fetched,
            last_new=new,
            last_changed=changed,
            runs=TenderSourceState.runs + 1,
            failures=TenderSourceState.failures + 1,
            error=error[:500],
            error_since=func.coalesce(TenderSourceState.error_since, now),
        )
        report = await self._update(name, TenderSourceState.incident_reported_at.is_(None), incident_reported_at=now)
        await self._refresh(name)
        return report == 1

    async def _refresh(self, name: str) -> None:
        state = await self.get(name)
        if state is not None:
            await self.session.refresh(state)
