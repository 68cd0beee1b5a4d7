"""The real bot (dispatcher, database, languages) polling a local SandboxServer: what tests, the console
and scenarios drive."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.types import Update

from bot.app import Runtime, create_bot, create_sender, publish_commands, runtime
from bot.config import Settings
from bot.delivery import Sender
from bot.jobs import Jobs
from bot.sandbox.client import SandboxUser
from bot.sandbox.server import SandboxServer
from bot.services import members
from storage.db import unit_of_work
from storage.models import Role
from storage.repositories import Repositories

# Telegram tokens are `<bot id>:<secret>`; the sandbox accepts any of that shape.
SANDBOX_TOKEN = "7000000001:sandbox-not-a-secret"
SANDBOX_BOT_USERNAME = "clusterbot_sandbox_bot"

T = TypeVar("T")


class SandboxBot:
    """Starts the sandbox server (unless given one) and the bot polling it; people are provisioned by name.

    With `concurrent=True` polling runs as `clusterbot run` does in production, every update a task of its
    own (`handle_as_tasks=True`), and the bot reports to the sandbox when it finished each one; otherwise
    updates are handled one after the other and the next getUpdates confirms each. Either way a test's
    `await ana.send(...)` returns with every reply in place. `at_once` starts several actions in one batch.
    """

    def __init__(self, settings: Settings, *, server: SandboxServer | None = None, concurrent: bool = True) -> None:
        self.settings = settings
        self.concurrent = concurrent
        self.server = server or SandboxServer(bot_username=SANDBOX_BOT_USERNAME)
        self._own_server = server is None
        self.people: dict[str, SandboxUser] = {}
        self.rt: Runtime | None = None
        self.bot: Bot | None = None
        self._runtime_cm: contextlib.AbstractAsyncContextManager[Runtime] | None = None
        self._polling: asyncio.Task[None] | None = None
        self.sender: Sender | None = None
        self.jobs: Jobs | None = None

    async def __aenter__(self) -> SandboxBot:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        if self._own_server:
            await self.server.start()
        self._runtime_cm = runtime(self.settings)
        self.rt = await self._runtime_cm.__aenter__()
        self.bot = create_bot(self.settings, token=SANDBOX_TOKEN, api_url=self.server.base_url)
        self.sender = create_sender(self.settings, self.rt.session_factory, self.bot, i18n=self.rt.i18n)
        self.rt.dispatcher["sender"] = self.sender
        self.jobs = Jobs(self.settings, self.rt.session_factory, self.sender)
        await publish_commands(self.bot, self.rt.i18n)
        if self.concurrent:
            self._report_handling(self.rt.dispatcher)
        self._polling = asyncio.create_task(
            self.rt.dispatcher.start_polling(
                self.bot,
                handle_as_tasks=self.concurrent,
                handle_signals=False,
                close_bot_session=False,
                polling_timeout=10,
            )
        )
        await self.server.wait_for_bot()

    def _report_handling(self, dispatcher: Dispatcher) -> None:
        # Around the whole of feed_update, error handlers included: the sandbox hears when nothing more follows.
        feed_update = dispatcher.feed_update
        server = self.server

        async def feed_and_report(bot: Bot, update: Update, **kwargs: Any) -> Any:
            try:
                return await feed_update(bot, update, **kwargs)
            finally:
                server.report_handled(update.update_id)

        self.server.expect_handling_reports()
        dispatcher.feed_update = feed_and_report  # type: ignore[method-assign]

    async def at_once(self, *actions: Awaitable[T]) -> list[T]:
        """Run people's actions (`ana.tap(...)`, `radu.send(...)`) so that their updates reach the bot in one
        getUpdates batch and, with `concurrent=True`, are handled at the same time; returns their results."""
        before = self.server.updates_queued
        with self.server.held():
            tasks = [asyncio.ensure_future(action) for action in actions]
            await self.server.wait_until(
                lambda: self.server.updates_queued - before >= len(tasks) or any(t.done() for t in tasks),
                what="every action queued its update",
            )
        return list(await asyncio.gather(*tasks))

    async def deliver(self) -> None:
        """Send whatever the outbox holds (announcements, alerts), as the bot's sender would by now."""
        assert self.sender is not None
        await self.sender.drain()

    async def run_job(self, name: str, now: datetime | None = None) -> Any:
        """Run one scheduled job at `now`, then deliver what it queued."""
        assert self.jobs is not None
        result = await self.jobs.run(name, now)
        await self.deliver()
        return result

    async def stop(self) -> None:
        if self.rt is not None and self._polling is not None:
            with contextlib.suppress(RuntimeError):
                await self.rt.dispatcher.stop_polling()
            with contextlib.suppress(asyncio.CancelledError):
                await self._polling
        if self.bot is not None:
            await _close_plain_http(self.bot)
        if self._runtime_cm is not None:
            await self._runtime_cm.__aexit__(None, None, None)
        if self._own_server:
            await self.server.stop()

    async def person(
        self,
        name: str,
        telegram_id: int,
        first_name: str | None = None,
        *,
        language_code: str | None = "en",
        role: Role | str = Role.GUEST,
        organisation: str | None = None,
        cui: str | None = None,
        last_name: str | None = None,
        username: str | None = None,
    ) -> SandboxUser:
        """A Telegram user in the sandbox, provisioned in the database as an operator would."""
        role = Role(role)
        if role is Role.ADMIN:
            # Admins are configured by Telegram id, as in production.
            self.settings.admin_ids = self.settings.admin_ids | {telegram_id}
        user = SandboxUser(
            self.server,
            telegram_id,
            first_name or name,
            last_name=last_name,
            username=username,
            language_code=language_code,
        )
        assert self.rt is not None
        if role is not Role.GUEST or organisation:
            async with unit_of_work(self.rt.session_factory) as session:
                await members.provision(
                    Repositories(session),
                    telegram_id=telegram_id,
                    first_name=first_name or name,
                    last_name=last_name,
                    username=username,
                    language_code=language_code,
                    # Admins come from ADMIN_IDS; provisioning one makes them a manager in the database.
                    role=Role.MANAGER if role is Role.ADMIN else role,
                    organisation=organisation,
                    cui=cui,
                    actor_label="sandbox",
                )
        self.people[name] = user
        return user


async def _close_plain_http(bot: Bot) -> None:
    """Close the bot's HTTP session without aiogram's 250 ms wait for TLS connections to wind down: the
    sandbox speaks plain HTTP on the loopback, so there are none, and every test, scenario and console run
    paid for it at exit."""
    client = bot.session._session if isinstance(bot.session, AiohttpSession) else None
    if client is None:
        await bot.session.close()
    elif not client.closed:
        await client.close()
