"""App factory: the Bot, the Dispatcher with its middlewares and routers, and the running bot's lifetime."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage, SimpleEventIsolation
from aiogram.methods import Response, TelegramMethod
from aiogram.types import BotCommand, BotCommandScopeAllPrivateChats
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.delivery import Sender, startup_heap_frozen
from bot.i18n import DOMAIN, LOCALES_DIR, SUPPORTED_LOCALES, Translated, compile_catalogues
from bot.jobs import Jobs
from bot.middlewares import (
    CleanInputMiddleware,
    LocaleMiddleware,
    OversizedInputMiddleware,
    PersonCache,
    PersonMiddleware,
    TransactionMiddleware,
    commit_before_telegram,
)
from bot.services import catalogue, groups
from handlers import notices, setup_routers
from storage.db import create_session_factory, engine_for, migrate, unit_of_work
from storage.repositories import Repositories

log = logging.getLogger(__name__)


class PinnedResponses:
    """Keeps aiogram's `Response[T]` classes alive.

    aiogram parses every answer with `Response[method.__returning__]`; pydantic caches such parametrised
    classes only weakly, so between garbage collections they are built anew, about 10 ms each: measured,
    212 rebuilds while sending 3,000 messages, half the sender's CPU. A strong reference per type stops it.
    """

    _responses: ClassVar[dict[Any, Any]] = {}

    def check_response(self, bot: Bot, method: TelegramMethod[Any], status_code: int, content: str) -> Any:
        returning = method.__returning__
        if returning not in self._responses:
            self._responses[returning] = Response[returning]  # type: ignore[valid-type]
        return super().check_response(bot, method, status_code, content)  # type: ignore[misc]


class BotSession(PinnedResponses, AiohttpSession):
    """aiogram's HTTP session, with the parsed answer types kept alive."""


def build_i18n(default_locale: str = "ro", path: Path = LOCALES_DIR) -> I18n:
    """aiogram's I18n on the catalogues, compiled first when needed; its texts format with `bot.i18n.typeset`
    (no "S.R.L.." after a name ending with a period). Not a subclass: aiogram keeps the current I18n in a
    context variable of each class, and `gettext` looks in I18n's."""
    compile_catalogues(path)
    i18n = I18n(path=path, default_locale=default_locale, domain=DOMAIN)
    plain = i18n.gettext

    def gettext(singular: str, plural: str | None = None, n: int = 1, locale: str | None = None) -> str:
        return Translated(plain(singular, plural, n, locale))

    i18n.gettext = gettext  # type: ignore[method-assign]
    return i18n


def create_bot(settings: Settings, *, token: str | None = None, api_url: str | None = None) -> Bot:
    secret = token or (settings.telegram.bot_token.get_secret_value() if settings.telegram.bot_token else None)
    if not secret:
        raise ValueError("BOT_TOKEN is not set")
    base = api_url or settings.telegram.api_url
    session = BotSession(api=TelegramAPIServer.from_base(base)) if base else BotSession()
    bot = Bot(secret, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    # What an update tells people follows its commit; see bot.middlewares.UpdateWork.
    return commit_before_telegram(bot)


def create_storage(settings: Settings) -> BaseStorage:
    """Conversation state: in memory for one process, in Redis when replicas must share it."""
    if settings.redis_url:
        from aiogram.fsm.storage.redis import RedisStorage

        return RedisStorage.from_url(settings.redis_url)
    return MemoryStorage()


def build_dispatcher(
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    i18n: I18n,
    storage: BaseStorage | None = None,
) -> Dispatcher:
    storage = storage or create_storage(settings)
    # Redis isolation serialises one person's updates across replicas; in memory a lock per chat does it.
    isolation = storage.create_isolation() if hasattr(storage, "create_isolation") else SimpleEventIsolation()
    dispatcher = Dispatcher(
        storage=storage,
        events_isolation=isolation,
        settings=settings,
        session_factory=session_factory,
        i18n=i18n,
    )
    # Several replicas cannot tell each other what changed: there every update reads the person afresh.
    cache = PersonCache(0 if settings.redis_url else settings.person_cache_seconds)
    dispatcher.update.outer_middleware(CleanInputMiddleware())
    dispatcher.update.outer_middleware(TransactionMiddleware(session_factory, cache))
    dispatcher.update.outer_middleware(PersonMiddleware(settings, cache))
    dispatcher.update.outer_middleware(LocaleMiddleware(i18n, settings.default_locale))
    dispatcher.message.middleware(OversizedInputMiddleware(settings.max_text_length))
    dispatcher.include_router(setup_routers(settings))
    return dispatcher


async def publish_commands(bot: Bot, i18n: I18n) -> None:
    """The command list Telegram shows in the chat menu, in each language."""
    names = ("start", "menu", "services", "groups", "projects", "tenders", "profile", "language", "join", "help")
    for locale in SUPPORTED_LOCALES:
        with i18n.context(), i18n.use_locale(locale):
            commands = [BotCommand(command=name, description=command_description(name)) for name in names]
        await bot.set_my_commands(commands, scope=BotCommandScopeAllPrivateChats(), language_code=locale)
    with i18n.context(), i18n.use_locale("en"):
        commands = [BotCommand(command=name, description=command_description(name)) for name in names]
    await bot.set_my_commands(commands, scope=BotCommandScopeAllPrivateChats())


def command_description(name: str) -> str:
    from aiogram.utils.i18n import gettext as _

    return {
        "start": _("Welcome and main menu"),
        "menu": _("Main menu"),
        "services": _("The cluster's services: browse, search, request"),
        "groups": _("Working groups: join, leave, propose"),
        "projects": _("Projects: propose, commit resources, see your rank"),
        "tenders": _("Tender alerts: your profiles"),
        "profile": _("Your organisation, role, language and requests"),
        "language": _("Choose Romanian or English"),
        "join": _("Ask to join the cluster"),
        "help": _("What I can do"),
    }[name]


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    i18n: I18n
    dispatcher: Dispatcher


@asynccontextmanager
async def runtime(
    settings: Settings, *, storage: BaseStorage | None = None, upgrade: bool = True
) -> AsyncIterator[Runtime]:
    """Everything a running bot needs except the Bot itself; the database is migrated to head first."""
    engine = engine_for(settings.database)
    try:
        if upgrade:
            await migrate(engine)
        session_factory = create_session_factory(engine)
        i18n = build_i18n(settings.default_locale)
        dispatcher = build_dispatcher(settings, session_factory, i18n, storage)
        yield Runtime(settings, engine, session_factory, i18n, dispatcher)
        await dispatcher.storage.close()
    finally:
        await engine.dispose()


async def fill_empty_content(session_factory: async_sessionmaker[AsyncSession], actor_label: str = "system") -> None:
    """A new deployment starts with the cluster's services and working groups; later starts leave them as the
    managers made them (`clusterbot seed` reloads the files on purpose)."""
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        await catalogue.ensure_catalogue(repos, actor_label=actor_label)
        if not await repos.groups.count(states=None, member_id=None):
            await groups.seed_groups(repos, actor_label=actor_label)


def create_sender(
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    bot: Bot,
    *,
    name: str | None = None,
    i18n: I18n | None = None,
) -> Sender:
    """The one place a deployment's sender is built: the bot's, `run_sender`'s and the CLI's.

    It words notices with the registry of notice kinds (`handlers.notices`) and `i18n`'s catalogues.

    The rate is `effective_delivery_rate` (DELIVERY_RATE, else 25/s, or 1,000/s with ALLOW_PAID_BROADCAST);
    the name is `effective_sender_name` unless `name` gives a stable one of its own.
    """
    return Sender(
        session_factory,
        bot,
        rate=settings.delivery.effective_rate,
        paid_broadcast=settings.delivery.allow_paid_broadcast,
        name=name or settings.delivery.effective_sender_name,
        render=notices.renderer(i18n or build_i18n(settings.default_locale)),
    )


async def run_polling(settings: Settings) -> None:
    """The bot, its delivery engine and its scheduled jobs in one process, until SIGINT/SIGTERM."""
    async with runtime(settings) as rt:
        await fill_empty_content(rt.session_factory)
        bot = create_bot(settings)
        sender = create_sender(settings, rt.session_factory, bot, i18n=rt.i18n)
        # Handlers' transactions wake it when they queue messages (see TransactionMiddleware).
        rt.dispatcher["sender"] = sender
        scheduler = Jobs(settings, rt.session_factory, sender).scheduler()
        stop = asyncio.Event()
        delivering = asyncio.create_task(sender.run(stop))
        try:
            await publish_commands(bot, rt.i18n)
            await bot.delete_webhook(drop_pending_updates=False)
            scheduler.start()
            # A full garbage collection would otherwise walk every start-up object: a pause of about 0.25 s.
            with startup_heap_frozen():
                await rt.dispatcher.start_polling(bot, handle_signals=True, close_bot_session=False)
        finally:
            scheduler.shutdown(wait=False)
            stop.set()
            await delivering
            await bot.session.close()
