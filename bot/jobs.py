"""Scheduled jobs, defined in code; each takes `now` so that tests and scenarios run them at a given time."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.delivery import Sender
from bot.leader import Leader, leader_for
from bot.services import announcements, privacy
from bot.services.tenders import alerts as tender_alerts
from bot.services.tenders import sources
from bot.services.tenders.fetch import FetchPolicy
from bot.services.tenders.sources import FetchOutcome
from storage.db import unit_of_work
from storage.repositories import Repositories

log = logging.getLogger(__name__)

# The names `{"run": "JOB"}` scenario steps and operators use.
JOB_NAMES = ("announcements", "fetch_tenders", "tender_alerts", "tender_digest", "deadline_reminders", "purge")

# When the scheduler runs each job (APScheduler trigger and its arguments); a job named here but absent from
# `Jobs.by_name` is not scheduled. `announcements` runs every SCHEDULER_INTERVAL seconds (see `scheduler`).
SCHEDULE: dict[str, tuple[str, dict[str, Any]]] = {
    # Looks every minute for the sources whose `every_minutes` have passed.
    "fetch_tenders": ("interval", {"minutes": 1}),
    # Matches what fetches stored (a fetch that stored something also runs it at once), and sends what waited
    # out the quiet hours.
    "tender_alerts": ("interval", {"minutes": 10}),
    # Every profile's digest hour comes at the top of an hour.
    "tender_digest": ("cron", {"minute": 1}),
    "deadline_reminders": ("cron", {"minute": 31}),
    # Retention (RETENTION_DAYS): once a day, at night.
    "purge": ("cron", {"hour": 3, "minute": 17}),
}
# How late a missed run may still start (a run missed by more is skipped; missed runs are coalesced).
MISFIRE_GRACE_SECONDS = 300


class Jobs:
    """The bot's jobs by name, for the scheduler and for `{"run": "JOB"}` scenario steps."""

    def __init__(
        self,
        settings: Settings,
        session_factory: async_sessionmaker[AsyncSession],
        sender: Sender | None,
        *,
        leader: Leader | None = None,
        fetch_policy: FetchPolicy | None = None,
    ) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.sender = sender
        self._leader = leader
        # Tests' timeouts and waits for every source; None: each source's own (`sources.policy_for`).
        self.fetch_policy = fetch_policy
        self.by_name: dict[str, Callable[[datetime | None], Awaitable[Any]]] = {
            "announcements": self.queue_due_announcements,
            "fetch_tenders": self.fetch_tenders,
            "tender_alerts": self.tender_alerts,
            "tender_digest": self.tender_digest,
            "deadline_reminders": self.deadline_reminders,
            "purge": self.purge,
        }
        assert tuple(self.by_name) == JOB_NAMES

    @property
    def leader(self) -> Leader:
        """Each scheduled run, and each source's fetch, holds its lock: with several processes it runs in one
        (chosen on first use, from the database and REDIS_URL)."""
        if self._leader is None:
            self._leader = leader_for(self.settings, self.session_factory.kw["bind"])
        return self._leader

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

    async def fetch_tenders(self, now: datetime | None = None, *, source: str | None = None) -> list[FetchOutcome]:
        """Fetch every source whose schedule says it is due (or the one named, due or not), one after the other:
        one source's failure never stops the others. A source another process (or a manager's "Fetch now") is
        fetching is skipped. Then, when something new or changed was stored, the alert job runs."""
        now = now or datetime.now(UTC)
        if source is not None:
            sources.source_settings(self.settings, source)  # KeyError for a name that is not configured
            names = [source]
        else:
            known = await sources.states(self.session_factory)
            names = [s.name for s in self.settings.tenders.sources if sources.due(known.get(s.name), s, now)]
        outcomes: list[FetchOutcome] = []
        for name in names:
            outcome = await self.fetch_one(name, now)
            if outcome is not None:
                outcomes.append(outcome)
        if any(outcome.stored_something for outcome in outcomes) and "tender_alerts" in self.by_name:
            await self.run_led("tender_alerts", now)
        return outcomes

    async def fetch_now(self, names: Sequence[str], now: datetime | None = None) -> list[FetchOutcome | None]:
        """Fetch these sources now, due or not (a manager's "Fetch now"): an outcome per name, None for one
        being fetched already. Then the alert job, when something new or changed was stored."""
        outcomes = [await self.fetch_one(name, now) for name in names]
        if any(o is not None and o.stored_something for o in outcomes) and "tender_alerts" in self.by_name:
            await self.run_led("tender_alerts", now)
        return outcomes

    async def fetch_one(self, name: str, now: datetime | None = None) -> FetchOutcome | None:
        """Fetch one source under its lock; None when it is being fetched already (here or elsewhere)."""
        async with self.leader.hold(f"tender_source:{name}") as got:
            if not got:
                log.info("tender source %s is being fetched already: skipped", name)
                return None
            try:
                return await sources.fetch_source(
                    self.session_factory, self.settings, name, now=now, policy=self.fetch_policy
                )
            except Exception:
                # Not the source's doing (a bug, the database): logged, and the other sources go on.
                log.exception("fetching tender source %s failed unexpectedly", name)
                return FetchOutcome(name, False, detail="unexpected error")

    async def run_led(self, name: str, now: datetime | None = None) -> Any:
        """Run a job if this process gets its leader lock; another process holding it: this run is skipped."""
        async with self.leader.hold(f"job:{name}") as got:
            if not got:
                log.info("job %s runs in another process: skipped here", name)
                return None
            return await self.by_name[name](now)

    async def _scheduled(self, name: str) -> None:
        try:
            await self.run_led(name)
        except Exception:
            log.exception("job %s failed", name)

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

    async def purge(self, now: datetime | None = None) -> dict[str, int]:
        """Delivered (or failed) outbox rows and tender alerts older than RETENTION_DAYS are deleted, a
        transaction per batch; running it twice deletes nothing more."""
        before = privacy.retention_cutoff(now or datetime.now(UTC), self.settings.retention_days)
        done = {"outbox": 0, "tender_alerts": 0}
        while True:
            async with unit_of_work(self.session_factory) as session:
                outbox, alerts = await privacy.purge_step(Repositories(session), before=before)
            done["outbox"] += outbox
            done["tender_alerts"] += alerts
            if max(outbox, alerts) < privacy.PURGE_BATCH:
                break
        if any(done.values()):
            log.info("purge: %d outbox row(s), %d tender alert(s)", done["outbox"], done["tender_alerts"])
        return done

    async def run(self, name: str, now: datetime | None = None) -> Any:
        if name not in self.by_name:
            raise KeyError(f"no job {name!r}; jobs: {', '.join(sorted(self.by_name))}")
        return await self.by_name[name](now)

    def scheduler(self) -> AsyncIOScheduler:
        """APScheduler in this process (3.x: one process per job store, so nothing is shared)."""
        scheduler = AsyncIOScheduler(timezone=self.settings.tz)
        table: dict[str, tuple[str, dict[str, Any]]] = {
            "announcements": ("interval", {"seconds": self.settings.scheduler.interval}),
            **SCHEDULE,
        }
        for name in self.by_name:
            if name not in table:
                log.warning("job %s has no schedule: it runs only when asked", name)
                continue
            trigger, arguments = table[name]
            scheduler.add_job(
                self._scheduled,
                trigger,
                args=[name],
                id=name,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=MISFIRE_GRACE_SECONDS,
                **arguments,
            )
        return scheduler
