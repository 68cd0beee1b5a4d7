"""Repositories of tender alerts (issue 11): members' alert profiles, the alerts themselves (one per person and
tender), and each configured source's health. The decisions are bot.services.tenders'."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
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
