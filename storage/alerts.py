"""Repositories of tender alerts (issue 11): members' alert profiles, the alerts themselves (one per person and
tender), and each configured source's health. The decisions are bot.services.tenders'."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AlertProfile, Person, TenderAlert, TenderCpv, TenderRow, TenderSourceState


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

    async def open_tenders(self, now: datetime, cpv_prefixes: Collection[str] | None = None) -> Sequence[TenderRow]:
        """The stored tenders still open at `now` (a deadline after it, or none), canonical ones only (not the
        copies of one procedure seen through another source), soonest deadline first (none last), then by id:
        what a profile's preview counts and its current matches list. With `cpv_prefixes` (a profile's codes'
        significant digits), only tenders with a code under one of them (read by range from tender_cpv)."""
        conditions: list[Any] = [
            TenderRow.same_as_id.is_(None),
            or_(TenderRow.deadline.is_(None), TenderRow.deadline > now),
        ]
        if cpv_prefixes is not None:
            if not cpv_prefixes:
                return []
            ranges = [
                TenderCpv.code8.between(prefix.ljust(8, "0"), prefix.ljust(8, "9")) for prefix in sorted(cpv_prefixes)
            ]
            conditions.append(TenderRow.id.in_(select(TenderCpv.tender_id).where(or_(*ranges))))
        result = await self.session.scalars(
            select(TenderRow)
            .where(*conditions)
            .order_by(TenderRow.deadline.is_(None), TenderRow.deadline, TenderRow.id)
        )
        return result.all()


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
