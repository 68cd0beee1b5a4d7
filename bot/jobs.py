"""Scheduled jobs, defined in code; each takes `now` so that tests and scenarios run them at a given time."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.delivery import Sender
from bot.services import announcements
from storage.db import unit_of_work
from storage.repositories import Repositories

log = logging.getLogger(__name__)

# The names `{"run": "JOB"}` scenario steps and operators use.
JOB_NAMES = ("announcements",)


class Jobs:
    """The bot's jobs by name, for the scheduler and for `{"run": "JOB"}` scenario steps."""

    def __init__(
        self, settings: Settings, session_factory: async_sessionmaker[AsyncSession], sender: Sender | None
    ) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.sender = sender
        self.by_name: dict[str, Callable[[datetime | None], Awaitable[Any]]] = {
            "announcements": self.queue_due_announcements,
        }
        assert tuple(self.by_name) == JOB_NAMES

    async def queue_due_announcements(self, now: datetime | None = None) -> list[int]:
        """Scheduled announcements whose time has come go to the outbox; running it twice queues nothing twice."""
        async with unit_of_work(self.session_factory) as session:
            ids = await announcements.queue_due(
                Repositories(session), default_locale=self.settings.default_locale, now=now
            )
        if ids:
            log.info("queued announcement(s) %s", ", ".join(map(str, ids)))
            if self.sender is not None:
                self.sender.notify()
        return ids

    async def run(self, name: str, now: datetime | None = None) -> Any:
        if name not in self.by_name:
            raise KeyError(f"no job {name!r}; jobs: {', '.join(sorted(self.by_name))}")
        return await self.by_name[name](now)

    def scheduler(self) -> AsyncIOScheduler:
        """APScheduler in this process (3.x: one process per job store, so nothing is shared)."""
        scheduler = AsyncIOScheduler(timezone=self.settings.tz)
        scheduler.add_job(
            self.queue_due_announcements,
            "interval",
            seconds=self.settings.scheduler.interval,
            id="announcements",
            coalesce=True,
            max_instances=1,
        )
        return scheduler
