"""Scheduled jobs, defined in code; each takes `now` so that tests and scenarios run them at a given time."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.delivery import Sender
from bot.services import announcements
from bot.services.tenders import alerts as tender_alerts
from storage.db import unit_of_work
from storage.repositories import Repositories

log = logging.getLogger(__name__)

# The names `{"run": "JOB"}` scenario steps and operators use.
JOB_NAMES = ("announcements", "tender_alerts", "tender_digest", "deadline_reminders")


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
            "tender_alerts": self.tender_alerts,
            "tender_digest": self.tender_digest,
            "deadline_reminders": self.deadline_reminders,
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

    def _alert_policy(self) -> tender_alerts.AlertPolicy:
        tenders = self.settings.tenders
        return tender_alerts.AlertPolicy(
            rates=tenders.rates,
            quiet=tenders.quiet,
            tz=self.settings.tz,
            default_locale=self.settings.default_locale,
            digest_hour=tenders.digest_hour,
        )

    def _wake_sender(self, queued: int) -> None:
        if queued and self.sender is not None:
            self.sender.notify()

    async def tender_alerts(self, now: datetime | None = None) -> dict[str, int]:
        """New tenders matched against the active profiles (a transaction per batch of claimed tenders), the
        changes, then the instant alerts held back by quiet hours; what it did, counted. Running it twice, or in
        two processes at once, sends nothing twice (claimed tenders, unique alerts, outbox batches)."""
        now = now or datetime.now(UTC)
        policy = self._alert_policy()
        done = {"tenders": 0, "alerts": 0, "sent": 0, "waiting_sent": 0, "changes": 0}
        matcher: tender_alerts.Matcher | None = None
        while True:
            async with unit_of_work(self.session_factory) as session:
                repos = Repositories(session)
                if matcher is None:
                    matcher = await tender_alerts.Matcher.load(repos, policy)
                batch = await tender_alerts.match_new(repos, matcher, policy, now=now)
            done["tenders"] += batch.claimed
            done["alerts"] += batch.alerts
            done["sent"] += batch.sent
            self._wake_sender(batch.sent)
            if batch.claimed < tender_alerts.BATCH:
                break
        # Changes before the alerts held back: a held alert is worded from the tender as it is now, and its
        # member needs no update of what they have not read yet.
        for step, name in ((tender_alerts.send_changes, "changes"), (tender_alerts.send_waiting, "waiting_sent")):
            while True:
                async with unit_of_work(self.session_factory) as session:
                    claimed = await step(Repositories(session), policy, now=now)
                done[name] += claimed
                self._wake_sender(claimed)
                if claimed < tender_alerts.BATCH:
                    break
        if any(done.values()):
            log.info("tender alerts: %s", ", ".join(f"{name} {count}" for name, count in done.items()))
        return done

    async def tender_digest(self, now: datetime | None = None) -> int:
        """The daily digests due this hour; how many messages were queued."""
        async with unit_of_work(self.session_factory) as session:
            queued = await tender_alerts.send_digests(
                Repositories(session), self._alert_policy(), now=now or datetime.now(UTC)
            )
        if queued:
            log.info("tender digests: %d message(s) queued", queued)
        self._wake_sender(queued)
        return queued

    async def deadline_reminders(self, now: datetime | None = None) -> int:
        """Reminders of followed tenders' deadlines (7 and 2 days before); how many were queued."""
        async with unit_of_work(self.session_factory) as session:
            queued = await tender_alerts.send_reminders(
                Repositories(session), self._alert_policy(), now=now or datetime.now(UTC)
            )
        if queued:
            log.info("deadline reminders: %d queued", queued)
        self._wake_sender(queued)
        return queued

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
