"""Repositories of tender alerts (issue 11): members' alert profiles, the alerts themselves (one per person and
tender), and each configured source's health. The decisions are bot.services.tenders'."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, or_, select, update
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
