"""The delivery engine: every bulk message goes through the outbox, and a sender drains it within Telegram's limits.

Services queue messages through `bot.outbox` (one row per recipient in the caller's transaction; no aiogram
there). A `Sender` (an asyncio task in the bot process, or a process of its own through `run_sender`), built
by `bot.app.create_sender`, claims due rows with a lease, sends them and records each outcome.

Guarantees, and their limits:
- Nobody is skipped: a row is finished only by Telegram's answer (sent, blocked, invalid) or by running out
  of attempts (failed). A sender that dies leaves its rows leased. Restarted under the same name (the
  `sender_name` setting, by default one per host and database) it takes them back as it starts; any other
  sender takes them over only once their lease lapses (30 s), which is for senders that are gone. So two
  live senders must never share a name: replicas on one host and database each set their own SENDER_NAME.
- A row is marked sent only after Telegram accepted it, so a crash can send twice only what was in flight:
  a send slot is freed once its outcome is committed, hence at most `concurrency` messages per crash
  (one with `concurrency=1`). The pace keeps only about rate x latency requests in flight (2-3 at 25/s
  with 100 ms answers), but a rate above 1/latency needs several: overlap and "one at most" conflict.
- Two senders never send one row: rows are claimed with `FOR UPDATE SKIP LOCKED` on PostgreSQL and under
  SQLite's single writer, and a sender stops sending a row whose lease it could not renew.
- Limits: a global rate (token bucket), one message per second per chat counted from the previous answer,
  20 per minute per group, and a 429 pauses every send of this process for `retry_after`. The pause and the
  rate are per process: several replicas sharing them through Redis is still to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import heapq
import logging
import math
import os
import random
import secrets
import signal
import socket
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.bulk_send import BulkSender, send_arguments
from bot.config import Settings
from bot.i18n import resolve_locale
from bot.logs import RedactTokens
from bot.notices import EDIT_OF, NoticeKind, Render, UnknownNotice, render_messages
from bot.outbox import BatchReport, InvalidContent, pick_language, validate_content
from storage.db import create_session_factory, engine_for, unit_of_work
from storage.models import OutboxStatus, PersonStatus
from storage.repositories import Repositories

log = logging.getLogger(__name__)

DEFAULT_RATE = 25.0
PAID_BROADCAST_RATE = 1000.0
ERROR_MAX = 200
# Longest an outcome waits for others to share its commit (only while other sends may still answer).
GROUP_COMMIT_WAIT = 0.01
# When the rows a restarted sender takes back are due: before anything else pending (claims go in order of
# due time), as they were already being sent. Due "now" they would wait behind the whole rest of the batch:
# measured, 17 s after the restart with 600 messages at 25/s.
RESUMED_DUE = datetime(2000, 1, 1, tzinfo=UTC)


# How long an edit waits for the message it edits while that one is still going out.
EDIT_WAIT = timedelta(seconds=3)


# ---------------------------------------------------------------------------------------------- sending


async def edit_content(bot: Bot, chat_id: int, message_id: int, message: Mapping[str, Any]) -> int:
    """Edit a sent message into one language's version of a stored notice; the message's id. A photo or a
    document (the version has a "caption") gets its caption edited, a text message its text.

    Telegram's "message is not modified" (it already reads so) counts as done."""
    try:
        if "caption" in message:
            await bot.edit_message_caption(
                chat_id=chat_id,
                message_id=message_id,
                caption=message["caption"],
                parse_mode=message.get("parse_mode"),
                reply_markup=message.get("reply_markup"),
            )
        else:
            await bot.edit_message_text(
                chat_id=chat_id,
                message_id=message_id,
                text=message["text"],
                parse_mode=message.get("parse_mode"),
                reply_markup=message.get("reply_markup"),
            )
    except TelegramBadRequest as error:
        if "not modified" not in str(error.message).lower():
            raise
    return message_id


async def send_content(bot: Bot, chat_id: int, message: Mapping[str, Any], *, paid_broadcast: bool = False) -> int:
    """Send one language's version of a stored message (text, photo or document); its Telegram message id."""
    name, arguments = send_arguments(message, chat_id, paid_broadcast=paid_broadcast)
    sent = await getattr(bot, name)(**arguments)
    return sent.message_id


# ---------------------------------------------------------------------------------------------- the sender


@dataclass
class SenderStats:
    sent: int = 0
    failed: int = 0
    blocked: int = 0
    invalid: int = 0
    # Transient failures (5xx, connection, timeout) that will be tried again later.
    retried: int = 0
    # 429 answers; each paused all sending.
    rate_limited: int = 0
    migrated: int = 0
    claimed: int = 0
    # Claimed rows given back unsent (stopping, or a lease that could not be kept).
    released: int = 0


@dataclass(eq=False, slots=True)
class _Job:
    id: int
    batch: str
    chat_id: int
    person_id: int | None
    locale: str
    content: Mapping[str, Any]
    attempts: int
    # Loop time until which this sender surely holds the row (the lease, as last renewed).
    held_until: float
    # An edit row (`bot.notices.tell_copies`): the message it edits in `chat_id` instead of sending one.
    edit_message_id: int | None = None


@dataclass(eq=False, slots=True)
class _Outcome:
    job: _Job
    status: OutboxStatus
    error: str | None = None
    message_id: int | None = None
    due: datetime | None = None
    attempts: int | None = None
    new_chat_id: int | None = None
    unreachable: bool = False
    recorded: asyncio.Future[None] | None = None


def _default_name() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


class Sender:
    """Drains the outbox: claims due rows, sends them within the limits, records what Telegram answered.

    `name` identifies this sender's leases and must be unique among live senders. Given explicitly (a stable
    name per replica: the bot passes `settings.delivery.effective_sender_name`), a restart first takes back what the
    previous run under that name held, without waiting for the leases to lapse; the default name is unique
    per process, so its rows wait out their leases after a crash.

    `render` words notices (`bot.notices`) in their recipient's language as they are claimed; the bot's is
    `handlers.notices.renderer`, and the default knows only messages written out in every language. A row it
    cannot word, or whose wording Telegram would refuse, is marked invalid with the reason.

    With aiogram's Bot on its aiohttp session, messages go out as `bot.bulk_send.BulkSender` posts them (the
    request built once per batch and language); any other bot (a stand-in in tests) is called through its
    send methods.
    """

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        bot: Bot,
        *,
        rate: float = DEFAULT_RATE,
        paid_broadcast: bool = False,
        per_chat_interval: float = 1.0,
        group_per_minute: int = 20,
        concurrency: int | None = None,
        lease_seconds: float = 30.0,
        max_attempts: int = 5,
        retry_base: float = 2.0,
        retry_cap: float = 300.0,
        request_timeout: float = 15.0,
        poll_interval: float = 0.5,
        name: str | None = None,
        render: Render = render_messages,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
    ) -> None:
        if rate <= 0 or (concurrency is not None and concurrency < 1) or lease_seconds <= 0 or max_attempts < 1:
            raise ValueError("rate, concurrency, lease_seconds and max_attempts must be positive")
        self.session_factory = session_factory
        self.bot = bot
        self.render = render
        self.paid_broadcast = paid_broadcast
        self._bulk = BulkSender.for_bot(bot, paid_broadcast=paid_broadcast)
        self._redact = RedactTokens((getattr(bot, "token", ""),)).redact
        # Paid broadcast lifts Telegram's ceiling, not ours: the configured rate still applies below it.
        self.rate = min(rate, PAID_BROADCAST_RATE) if paid_broadcast else rate
        self.per_chat_interval = per_chat_interval
        self.group_per_minute = group_per_minute
        # Enough requests in flight to keep the rate with answers taking up to 0.3 s; at most 100, the
        # connections aiogram's HTTP session opens to one host. The pace keeps fewer in flight when answers
        # come quicker, and a crash can send twice only what is in flight.
        self.concurrency = concurrency or min(100, max(4, math.ceil(self.rate * 0.3)))
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.request_timeout = request_timeout
        self.poll_interval = poll_interval
        self.stable_name = name is not None
        self.name = (name or _default_name())[:64]
        self.stats = SenderStats()
        self._now = now
        self._rng = rng or random.Random()

        # Claim about half a second of sending at a time: short claim transactions, and little held at once.
        self._claim_size = max(10, min(500, int(self.rate / 2)))
        self._low_water = max(self.concurrency, self._claim_size // 2)
        self._interval = 1.0 / self.rate
        # A send may start up to one interval (at least 5 ms) early, so a late wake-up is caught up on.
        self._tolerance = max(self._interval, 0.005)

        self._running = False
        self._ready: deque[_Job] = deque()
        self._deferred: list[tuple[float, int, _Job]] = []
        self._deferred_seq = 0
        self._in_flight: dict[int, _Job] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._claiming: asyncio.Task[None] | None = None
        self._results: list[_Outcome] = []
        self._tat = 0.0
        self._paused_until = 0.0
        self._next_claim_at = 0.0
        self._exhausted = False
        self._chat_ready_at: dict[int, float] = {}
        self._chats_in_flight: set[int] = set()
        self._group_sends: dict[int, deque[float]] = {}
        self._wake = asyncio.Event()
        self._flush_wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._closing = False
        self._slots = asyncio.Semaphore(self.concurrency)

    # ------------------------------------------------------------------------------------------ public

    def notify(self) -> None:
        """Rows were queued and committed: look at the outbox now rather than at the next poll."""
        self._next_claim_at = 0.0
        self._wake.set()

    async def run(self, stop_event: asyncio.Event) -> None:
        """Send until `stop_event` is set, then finish what is in flight and give back what was not sent."""
        await self._work(stop_event, until_empty=None)

    async def drain(self, until_empty: bool = True) -> None:
        """Send until the outbox has nothing pending or being sent (`until_empty`), waiting out retries and
        other senders' leases; or only until nothing is due right now.
        """
        await self._work(None, until_empty=until_empty)

    # ------------------------------------------------------------------------------------------ main loop

    async def _work(self, stop_event: asyncio.Event | None, *, until_empty: bool | None) -> None:
        if self._running:
            raise RuntimeError(f"sender {self.name} is already running")
        self._running = True
        self._closing = False
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._flush_wake = asyncio.Event()
        helpers = [
            asyncio.create_task(self._flush_loop(), name=f"outbox-flush:{self.name}"),
            asyncio.create_task(self._renew_loop(), name=f"outbox-renew:{self.name}"),
        ]
        if stop_event is not None:
            helpers.append(asyncio.create_task(self._watch(stop_event)))
        try:
            if self.stable_name:
                await self._resume_own_leases()
            await self._dispatch(until_empty)
        finally:
            self._stop.set()
            await self._shutdown(helpers)
            self._running = False

    async def _watch(self, stop_event: asyncio.Event) -> None:
        await stop_event.wait()
        self._stop.set()
        self._wake.set()

    async def _dispatch(self, until_empty: bool | None) -> None:
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            # Cleared before looking, so whatever happens from here on (a send finishing, notify) wakes `_idle`.
            self._wake.clear()
            nothing_due = self._fill()
            job = self._next_job()
            if job is None:
                if not (self._ready or self._deferred or self._in_flight or self._results or self._claiming):
                    if until_empty is False and nothing_due:
                        return
                    if until_empty and await self._outbox_empty():
                        return
                await self._idle()
                continue
            # A slot first, then the pace: the token is taken when the request can really start.
            await self._slots.acquire()
            if not await self._take_token():
                self._slots.release()
                self._ready.appendleft(job)
                return
            if loop.time() > job.held_until - self._send_margin():
                # The lease could not be renewed in time: another sender may take the row over.
                self._slots.release()
                self._release([job])
                continue
            self._in_flight[job.id] = job
            self._chats_in_flight.add(job.chat_id)
            self._note_group_send(job.chat_id, loop.time())
            task = asyncio.create_task(self._send(job))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _send_margin(self) -> float:
        return min(self.request_timeout, self.lease_seconds / 4)

    async def _idle(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        wait = self.poll_interval
        if self._deferred:
            wait = min(wait, self._deferred[0][0] - now)
        if self._next_claim_at > now:
            wait = min(wait, self._next_claim_at - now)
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    def _fill(self) -> bool:
        """Start claiming more rows when few are left; True when the last claim found nothing more due."""
        if self._claiming is None:
            now = asyncio.get_running_loop().time()
            held = len(self._ready) + len(self._deferred)
            if held < self._low_water and now >= self._next_claim_at and now >= self._paused_until:
                # In the background: the rows still held keep going out at the pace meanwhile.
                self._claiming = asyncio.create_task(self._claim_more(self._claim_size - held))
                return False
        return self._exhausted and self._claiming is None

    async def _claim_more(self, wanted: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            jobs = await self._claim(wanted)
        except Exception:
            log.exception("claiming outbox rows failed; trying again shortly")
            self._next_claim_at = loop.time() + max(self.poll_interval, 1.0)
            self._exhausted = False
        else:
            self._ready.extend(jobs)
            # Fewer than asked for: nothing more is due, so poll instead of claiming again at once.
            self._exhausted = len(jobs) < wanted
            self._next_claim_at = loop.time() + self.poll_interval if self._exhausted else 0.0
        finally:
            self._claiming = None
            self._wake.set()

    def _next_job(self) -> _Job | None:
        now = asyncio.get_running_loop().time()
        due: list[_Job] = []
        while self._deferred and self._deferred[0][0] <= now:
            due.append(heapq.heappop(self._deferred)[2])
        self._ready.extendleft(reversed(due))
        while self._ready:
            job = self._ready.popleft()
            ready_at = self._chat_free_at(job.chat_id, now)
            if ready_at <= now:
                return job
            self._deferred_seq += 1
            heapq.heappush(self._deferred, (ready_at, self._deferred_seq, job))
        return None

    def _chat_free_at(self, chat_id: int, now: float) -> float:
        if chat_id in self._chats_in_flight:
            # Known only once the answer is in: the next message waits `per_chat_interval` after it.
            return now + max(self.per_chat_interval, 0.05)
        ready_at = self._chat_ready_at.get(chat_id, 0.0)
        sends = self._group_sends.get(chat_id)
        if sends is not None and len(sends) >= self.group_per_minute:
            ready_at = max(ready_at, sends[0] + 60.0)
        return ready_at

    def _note_group_send(self, chat_id: int, now: float) -> None:
        if chat_id >= 0 or self.group_per_minute <= 0:
            return
        sends = self._group_sends.setdefault(chat_id, deque(maxlen=self.group_per_minute))
        sends.append(now)

    def _chat_done(self, chat_id: int) -> None:
        now = asyncio.get_running_loop().time()
        self._chats_in_flight.discard(chat_id)
        self._chat_ready_at[chat_id] = now + self.per_chat_interval
        if len(self._chat_ready_at) > 4 * self._claim_size + 1000:
            self._chat_ready_at = {c: t for c, t in self._chat_ready_at.items() if t > now}
            self._group_sends = {c: s for c, s in self._group_sends.items() if s and s[-1] + 60.0 > now}

    async def _take_token(self) -> bool:
        """Wait for the global pace and any 429 pause; False when the sender is stopping."""
        loop = asyncio.get_running_loop()
        while True:
            if self._stop.is_set():
                return False
            now = loop.time()
            wait = max(self._paused_until - now, self._tat - now - self._tolerance)
            if wait <= 0:
                self._tat = max(self._tat, now) + self._interval
                return True
            if wait < 0.1:
                # The gap between two sends (1 ms at 1000/s): a plain sleep costs a fraction of `wait_for`'s task,
                # and a stop is seen right after it.
                await asyncio.sleep(wait)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), wait)

    # ------------------------------------------------------------------------------------------ sending

    async def _send(self, job: _Job) -> None:
        try:
            try:
                outcome = await self._attempt(job)
            except Exception as error:
                # A bug of ours (say, content that slipped past validation): record it, keep the sender going.
                log.exception("outbox row %s could not be sent", job.id)
                outcome = _Outcome(job, OutboxStatus.FAILED, error=self._error_text(error), attempts=job.attempts + 1)
            finally:
                self._chat_done(job.chat_id)
            if outcome.status is OutboxStatus.SENDING:
                # Flood control: the same row goes first once the pause is over; nothing to record.
                self._ready.appendleft(job)
                return
            outcome.recorded = asyncio.get_running_loop().create_future()
            self._results.append(outcome)
            # The first outcome starts a group commit; the others end its wait once every slot waits for it.
            if len(self._results) == 1 or len(self._results) >= self.concurrency:
                self._flush_wake.set()
            # The slot stays taken until the outcome is committed: this bounds what a crash can send twice.
            await outcome.recorded
        finally:
            self._in_flight.pop(job.id, None)
            self._slots.release()
            self._wake.set()

    async def _attempt(self, job: _Job) -> _Outcome:
        loop = asyncio.get_running_loop()
        locale, message = pick_language(job.content, job.locale)
        budget = min(self.request_timeout, job.held_until - loop.time() - 0.05)
        try:
            if budget <= 0:
                raise TimeoutError
            message_id = await self._call(job, locale, message, budget)
        except TelegramRetryAfter as error:
            self.stats.rate_limited += 1
            self._paused_until = max(self._paused_until, loop.time() + error.retry_after)
            log.warning("Telegram asked to wait %s s; all sending paused", error.retry_after)
            return _Outcome(job, OutboxStatus.SENDING)
        except TelegramMigrateToChat as error:
            return _Outcome(job, OutboxStatus.PENDING, new_chat_id=error.migrate_to_chat_id)
        except TelegramForbiddenError as error:
            return _Outcome(job, OutboxStatus.BLOCKED, error=self._error_text(error), unreachable=True)
        except TelegramBadRequest as error:
            # "chat not found" and, since content is validated when queued, nothing else expected.
            return _Outcome(job, OutboxStatus.INVALID, error=self._error_text(error))
        except TelegramUnauthorizedError as error:
            # The token is wrong: not the row's fault, so no attempt is spent; wait for the operator.
            log.error("Telegram refused the bot token; outbox sending paused for a minute")
            self._paused_until = max(self._paused_until, loop.time() + 60.0)
            return self._retry(job, error, count=False, delay=60.0)
        except (TelegramAPIError, ClientDecodeError, TimeoutError) as error:
            return self._retry(job, error)
        return _Outcome(job, OutboxStatus.SENT, message_id=message_id)

    def _error_text(self, error: BaseException) -> str:
        text = getattr(error, "message", None) or str(error) or type(error).__name__
        # aiohttp's messages may quote the request URL, and with it the token: the outbox never stores it.
        return self._redact(text.replace("\n", " "))[:ERROR_MAX]

    def _retry(self, job: _Job, error: BaseException, *, count: bool = True, delay: float | None = None) -> _Outcome:
        attempts = job.attempts + 1 if count else job.attempts
        text = self._error_text(error)
        if attempts >= self.max_attempts:
            return _Outcome(job, OutboxStatus.FAILED, error=text, attempts=attempts)
        if delay is None:
            backoff = min(self.retry_cap, self.retry_base * 2 ** (attempts - 1))
            delay = backoff * self._rng.uniform(0.75, 1.25)
        return _Outcome(
            job, OutboxStatus.PENDING, error=text, attempts=attempts, due=self._now() + timedelta(seconds=delay)
        )

    async def _call(self, job: _Job, locale: str, message: Mapping[str, Any], budget: float) -> int:
        if job.edit_message_id is not None:
            async with asyncio.timeout(budget):
                return await edit_content(self.bot, job.chat_id, job.edit_message_id, message)
        if self._bulk is not None and (request := self._bulk.request((job.batch, locale), message)) is not None:
            return await self._bulk.send(request, job.chat_id, budget)
        async with asyncio.timeout(budget):
            return await send_content(self.bot, job.chat_id, message, paid_broadcast=self.paid_broadcast)

    # ------------------------------------------------------------------------------------------ database

    async def _claim(self, limit: int) -> list[_Job]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        now = self._now()
        finished: list[dict[str, Any]] = []
        jobs: list[_Job] = []
        # The rows of a batch nearly always carry one message: held once rather than per row, it costs less
        # memory, and less garbage collection of rows that live as long as they wait.
        contents: dict[str, Mapping[str, Any]] = {}
        worded_memo: dict[tuple[str, str], tuple[Any, Mapping[str, Any] | str]] = {}
        async with unit_of_work(self.session_factory) as session:
            repos = Repositories(session)
            rows = await repos.outbox.claim(
                limit=limit, now=now, lease_until=now + timedelta(seconds=self.lease_seconds), leased_by=self.name
            )
            people = await repos.outbox.recipients_now(r["person_id"] for r in rows if r["person_id"] is not None)
            edited = await repos.outbox.sent_messages(
                (str(r["content"][EDIT_OF]), r["chat_id"])
                for r in rows
                if r["kind"] != NoticeKind.MESSAGE.value and EDIT_OF in r["content"]
            )
            for row in rows:
                person = people.get(row["person_id"]) if row["person_id"] is not None else None
                if person is not None and person[0] in (PersonStatus.UNREACHABLE.value, PersonStatus.FORGOTTEN.value):
                    # They blocked the bot earlier: nothing is sent until they write to it again.
                    finished.append(
                        {
                            "id": row["id"],
                            "status": OutboxStatus.BLOCKED.value,
                            "attempts": row["attempts"],
                            "next_attempt_at": now,
                            "error": "recipient unreachable",
                        }
                    )
                else:
                    locale = resolve_locale(person[1], person[2], row["locale"]) if person else row["locale"]
                    if row["kind"] == NoticeKind.MESSAGE.value:
                        content = contents.setdefault(row["batch"], row["content"])
                        if content != row["content"]:
                            content = row["content"]
                    else:
                        edit_message_id: int | None = None
                        if EDIT_OF in row["content"]:
                            status, edit_message_id = edited.get(
                                (str(row["content"][EDIT_OF]), row["chat_id"]), ("", None)
                            )
                            if status in (OutboxStatus.PENDING.value, OutboxStatus.SENDING.value):
                                # The message to edit is still going out: the edit waits for it, no attempt spent.
                                finished.append(
                                    {
                                        "id": row["id"],
                                        "status": OutboxStatus.PENDING.value,
                                        "attempts": row["attempts"],
                                        "next_attempt_at": now + EDIT_WAIT,
                                        "error": None,
                                    }
                                )
                                continue
                            if edit_message_id is None:
                                finished.append(
                                    {
                                        "id": row["id"],
                                        "status": OutboxStatus.INVALID.value,
                                        "attempts": row["attempts"],
                                        "next_attempt_at": now,
                                        "error": "no message to edit",
                                    }
                                )
                                continue
                        worded = self._word(row, locale, worded_memo)
                        if isinstance(worded, str):
                            finished.append(
                                {
                                    "id": row["id"],
                                    "status": OutboxStatus.INVALID.value,
                                    "attempts": row["attempts"],
                                    "next_attempt_at": now,
                                    "error": worded,
                                }
                            )
                            continue
                        content = worded
                    jobs.append(
                        _Job(
                            id=row["id"],
                            batch=row["batch"],
                            chat_id=row["chat_id"],
                            person_id=row["person_id"],
                            locale=locale,
                            content=content,
                            attempts=row["attempts"],
                            held_until=started + self.lease_seconds,
                            edit_message_id=None if row["kind"] == NoticeKind.MESSAGE.value else edit_message_id,
                        )
                    )
            await repos.outbox.settle(finished, leased_by=self.name)
        self.stats.claimed += len(rows)
        invalid = sum(1 for row in finished if row["status"] == OutboxStatus.INVALID.value)
        self.stats.invalid += invalid
        self.stats.blocked += sum(1 for row in finished if row["status"] == OutboxStatus.BLOCKED.value)
        return jobs

    def _word(
        self, row: RowMapping, locale: str, memo: dict[tuple[str, str], tuple[Any, Mapping[str, Any] | str]]
    ) -> Mapping[str, Any] | str:
        """A notice row in `locale`, as {locale: message}; or why it cannot be sent. A batch's rows nearly always
        carry one notice, worded once per language."""
        key = (row["batch"], locale)
        known = memo.get(key)
        if known is not None and known[0] == row["content"]:
            return known[1]
        worded: Mapping[str, Any] | str
        try:
            message = self.render(row["kind"], row["content"], locale)
            worded = {locale: message}
            validate_content(worded)
        except UnknownNotice:
            worded = f"no wording for notice kind {row['kind']!r}"[:ERROR_MAX]
            log.error("outbox row %s: %s", row["id"], worded)
        except InvalidContent as error:
            worded = f"notice {row['kind']} worded badly: {error.reason}"[:ERROR_MAX]
            log.error("outbox row %s: %s", row["id"], worded)
        except Exception as error:
            # A bug of ours in a wording: the row is marked invalid, the sender goes on.
            worded = f"notice {row['kind']} could not be worded: {type(error).__name__}"[:ERROR_MAX]
            log.exception("outbox row %s could not be worded", row["id"])
        memo[key] = (row["content"], worded)
        return worded

    async def _outbox_empty(self) -> bool:
        try:
            async with unit_of_work(self.session_factory) as session:
                count, _next = await Repositories(session).outbox.unfinished()
        except Exception:
            log.exception("reading the outbox failed")
            return False
        return count == 0

    async def _resume_own_leases(self) -> None:
        async with unit_of_work(self.session_factory) as session:
            taken_back = await Repositories(session).outbox.release_leases_of(self.name, now=RESUMED_DUE)
        if taken_back:
            log.info("sender %s resumes %d rows its previous run held", self.name, taken_back)

    def _release(self, jobs: Iterable[_Job]) -> None:
        now = self._now()
        for job in jobs:
            self.stats.released += 1
            self._results.append(_Outcome(job, OutboxStatus.PENDING, attempts=job.attempts, due=now))
        self._flush_wake.set()

    async def _flush_loop(self) -> None:
        """Record outcomes, as many per transaction as pile up within `GROUP_COMMIT_WAIT` (a group commit)."""
        while True:
            if not self._results:
                if self._closing:
                    return
                await self._flush_wake.wait()
                self._flush_wake.clear()
                continue
            if not self._closing and len(self._results) < self.concurrency:
                # Other sends may answer meanwhile. A commit costs more CPU than a send: one per answer would
                # halve the rate, and the wait only keeps slots a little longer.
                self._flush_wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(GROUP_COMMIT_WAIT):
                        await self._flush_wake.wait()
            outcomes, self._results = self._results, []
            pause = 0.2
            while True:
                try:
                    await self._record(outcomes)
                    break
                except Exception:
                    log.exception("recording %d outbox outcomes failed; retrying", len(outcomes))
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, 5.0)
            for outcome in outcomes:
                if outcome.recorded is not None and not outcome.recorded.done():
                    outcome.recorded.set_result(None)

    async def _record(self, outcomes: list[_Outcome]) -> None:
        now = self._now()
        sent: list[dict[str, Any]] = []
        settled: list[dict[str, Any]] = []
        moved: list[_Outcome] = []
        unreachable: list[int] = []
        for outcome in outcomes:
            job = outcome.job
            if outcome.status is OutboxStatus.SENT:
                sent.append({"id": job.id, "telegram_message_id": outcome.message_id, "sent_at": now})
            elif outcome.new_chat_id is not None:
                moved.append(outcome)
            else:
                settled.append(
                    {
                        "id": job.id,
                        "status": outcome.status.value,
                        "attempts": job.attempts if outcome.attempts is None else outcome.attempts,
                        "next_attempt_at": outcome.due or now,
                        "error": outcome.error,
                    }
                )
                if outcome.unreachable and job.person_id is not None:
                    unreachable.append(job.person_id)
        async with unit_of_work(self.session_factory) as session:
            outbox = Repositories(session).outbox
            await outbox.mark_sent(sent)
            await outbox.settle(settled, leased_by=self.name)
            for outcome in moved:
                assert outcome.new_chat_id is not None
                await outbox.move_chat(outcome.job.id, outcome.new_chat_id, leased_by=self.name, now=now)
            await outbox.mark_unreachable(unreachable, now=now)
        self._count(outcomes)

    def _count(self, outcomes: list[_Outcome]) -> None:
        stats = self.stats
        for outcome in outcomes:
            status = outcome.status
            if status is OutboxStatus.SENT:
                stats.sent += 1
            elif outcome.new_chat_id is not None:
                stats.migrated += 1
            elif status is OutboxStatus.BLOCKED:
                stats.blocked += 1
            elif status is OutboxStatus.INVALID:
                stats.invalid += 1
            elif status is OutboxStatus.FAILED:
                stats.failed += 1
            elif status is OutboxStatus.PENDING and outcome.error is not None:
                stats.retried += 1
        if any(o.new_chat_id is not None or o.status is OutboxStatus.PENDING for o in outcomes):
            # Migrated and released rows are due again at once: look before concluding nothing is due.
            self._next_claim_at = 0.0
            self._exhausted = False

    async def _renew_loop(self) -> None:
        """Keep the leases of the rows this sender holds, and drop any it turns out to have lost."""
        loop = asyncio.get_running_loop()
        while True:
            # Often enough that a withdrawn batch (`OutboxRepository.cancel_pending`) stops within seconds.
            await asyncio.sleep(min(self.lease_seconds / 3, 2.0))
            held = [*self._ready, *(entry[2] for entry in self._deferred), *self._in_flight.values()]
            if not held:
                continue
            started = loop.time()
            now = self._now()
            try:
                async with unit_of_work(self.session_factory) as session:
                    kept = await Repositories(session).outbox.renew(
                        [job.id for job in held],
                        leased_by=self.name,
                        lease_until=now + timedelta(seconds=self.lease_seconds),
                    )
            except Exception:
                log.exception("renewing outbox leases failed")
                continue
            for job in held:
                if job.id in kept:
                    job.held_until = started + self.lease_seconds
            # Rows finished meanwhile are not held any more either; only those still waiting here are lost.
            waiting = {job.id for job in self._ready} | {entry[2].id for entry in self._deferred}
            lost = {job.id for job in held if job.id not in kept and job.id in waiting}
            if lost:
                log.info("sender %s no longer holds %d rows (taken over or withdrawn)", self.name, len(lost))
                self._ready = deque(job for job in self._ready if job.id not in lost)
                self._deferred = [entry for entry in self._deferred if entry[2].id not in lost]
                heapq.heapify(self._deferred)

    async def _shutdown(self, helpers: list[asyncio.Task[None]]) -> None:
        if self._claiming is not None:
            await self._claiming
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        unsent = [*self._ready, *(entry[2] for entry in self._deferred)]
        self._ready.clear()
        self._deferred.clear()
        if unsent:
            self._release(unsent)
        self._closing = True
        self._flush_wake.set()
        flusher, others = helpers[0], helpers[1:]
        for task in others:
            task.cancel()
        try:
            await flusher
        finally:
            for task in others:
                with contextlib.suppress(asyncio.CancelledError):
                    await task


# ---------------------------------------------------------------------------------------------- process


@contextlib.contextmanager
def startup_heap_frozen() -> Iterator[None]:
    """Keep the garbage collector off every object that exists now, until the block ends.

    What a process has loaded by then (aiogram's types, SQLAlchemy: some 250,000 objects) lives as long as it
    does, yet each full collection walks it all: a pause of about 0.25 s, 250 messages at 1000/s that the pace
    never makes up. Frozen, a full collection walks only what came later. Undone at the end, so a process that
    runs a sender only for a while (a test) is left as it was.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def run_sender(settings: Settings, bot: Bot, stop_event: asyncio.Event | None = None) -> None:
    """Run a sender on its own until `stop_event` is set, or until SIGINT/SIGTERM when none is given.

    Built by `bot.app.create_sender`, like the bot's own: the same rate rule and the same name
    (`effective_sender_name`), so next to a bot on the same host and database one of the two needs a
    SENDER_NAME of its own. The database must already be migrated.
    """
    # Imported here: bot.app builds the whole bot on top of this module.
    from bot.app import create_sender

    engine = engine_for(settings.database)
    stop = stop_event or asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    if stop_event is None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop.set)
                handled.append(signum)
    try:
        sender = create_sender(settings, create_session_factory(engine), bot)
        paid = " (paid broadcast)" if sender.paid_broadcast else ""
        log.info("sender %s started at %.0f msg/s%s", sender.name, sender.rate, paid)
        with startup_heap_frozen():
            await sender.run(stop)
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
        await engine.dispose()


__all__ = [
    # At home in bot.outbox; re-exported for bot.cli (announce, announcements --all) until it imports them there.
    "BatchReport",
    "InvalidContent",
    "Sender",
    "SenderStats",
    "run_sender",
    "send_content",
    "startup_heap_frozen",
]
