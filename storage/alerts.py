"""Repositories of tender alerts (issue 11): members' alert profiles, the alerts themselves (one per person and
tender), and each configured source's health. The decisions are bot.services.tenders'."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AlertProfile, TenderAlert, TenderSourceState


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
