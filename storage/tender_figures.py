"""The managers' figures of tender alerts (issue 11, /tenders_admin): per day, tenders stored, alerts made,
alerts followed and alerts marked not relevant. Days are given as their bounds (the caller knows the time
zone), and each table is read once, a sum per day and figure, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import TenderAlert, TenderRow


@dataclass(frozen=True)
class DayCounts:
    start: datetime
    tenders: int = 0
    alerts: int = 0
    follows: int = 0
    not_relevant: int = 0


def _per_day(column: Any, bounds: Sequence[datetime]) -> list[Any]:
    return [
        func.coalesce(func.sum(case((and_(column >= start, column < end), 1), else_=0)), 0)
        for start, end in itertools.pairwise(bounds)
    ]


async def daily_counts(session: AsyncSession, bounds: Sequence[datetime]) -> list[DayCounts]:
    """One `DayCounts` per day between consecutive `bounds` (aware datetimes, ascending): tenders first seen
    then (every source's row), alerts created, followed and marked not relevant then."""
    days = len(bounds) - 1
    if days < 1:
        return []
    first, last = bounds[0], bounds[-1]
    tenders = (
        await session.execute(
            select(*_per_day(TenderRow.first_seen_at, bounds)).where(
                TenderRow.first_seen_at >= first, TenderRow.first_seen_at < last
            )
        )
    ).one()
    alerts = (
        await session.execute(
            select(
                *_per_day(TenderAlert.created_at, bounds),
                *_per_day(TenderAlert.followed_at, bounds),
                *_per_day(TenderAlert.not_relevant_at, bounds),
            ).where(
                or_(
                    *(
                        and_(column >= first, column < last)
                        for column in (TenderAlert.created_at, TenderAlert.followed_at, TenderAlert.not_relevant_at)
                    )
                )
            )
        )
    ).one()
    return [
        DayCounts(
            start=bounds[day],
            tenders=int(tenders[day]),
            alerts=int(alerts[day]),
            follows=int(alerts[days + day]),
            not_relevant=int(alerts[2 * days + day]),
        )
        for day in range(days)
    ]
