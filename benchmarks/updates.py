"""Updates per second and latency of the full dispatcher stack, next to a bare aiogram echo bot fed the same way.

Both bots get the same updates (members' /start, menu taps, /menu) through `Dispatcher.feed_update`, and
both answer through the same in-process Bot API stand-in, which serialises each request and parses a
Telegram-shaped JSON answer with aiogram's own code, so only what happens inside the process differs:
middlewares, the database transaction (a real SQLite file), FSM, i18n, rendering.

    python benchmarks/updates.py [--updates 4000] [--people 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from aiogram import Bot, Dispatcher, F
from aiogram.client.session.base import BaseSession
from aiogram.methods import AnswerCallbackQuery, TelegramMethod
from aiogram.types import CallbackQuery, Message, Update

from bot.app import build_dispatcher
from bot.config import Settings
from bot.i18n import build_i18n
from bot.services import members
from storage.db import create_engine, create_session_factory, migrate, unit_of_work
from storage.models import Role
from storage.repositories import Repositories

BOT_ID = 123456


class InstantTelegram(BaseSession):
    """Answers every call at once with a result shaped like Telegram's, parsed by aiogram as usual."""

    def __init__(self) -> None:
        super().__init__()
        self.message_id = 0
        self.calls = 0

    async def make_request(self, bot: Bot, method: TelegramMethod[Any], timeout: int | None = None) -> Any:
        self.calls += 1
        # Serialise the request the way aiogram's HTTP session does before it posts the form.
        payload: dict[str, Any] = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files={})
            if prepared:
                payload[key] = prepared
        if isinstance(method, AnswerCallbackQuery) or method.__api_method__ in ("editMessageReplyMarkup",):
            result: Any = True
        elif method.__api_method__ == "getMe":
            result = {"id": BOT_ID, "is_bot": True, "first_name": "Clusterbot", "username": "clusterbot_bench_bot"}
        else:
            self.message_id += 1
            result = {
                "message_id": self.message_id,
                "date": int(time.time()),
                "chat": {"id": payload.get("chat_id", 1), "type": "private", "first_name": "x"},
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "Clusterbot"},
                "text": payload.get("text", ""),
            }
        body = json.dumps({"ok": True, "result": result})
        response = self.check_response(bot=bot, method=method, status_code=200, content=body)
        return response.result

    async def close(self) -> None:
        return None

    async def stream_content(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - never downloads
        raise NotImplementedError


def make_updates(count: int, people: int) -> list[Update]:
    """A member's /start, then taps on Profile and Help, then /menu, round-robin over `people` members."""
    updates = []
    now = int(time.time())
    for n in range(count):
        user_id = 10_000 + n % people
        user = {"id": user_id, "is_bot": False, "first_name": f"Member {user_id}", "language_code": "ro"}
        chat = {"id": user_id, "type": "private", "first_name": user["first_name"]}
        step = (n // people) % 4
        if step in (0, 3):
            text = "/start" if step == 0 else "/menu"
            message = {
                "message_id": n + 1,
                "date": now,
                "chat": chat,
                "from": user,
                "text": text,
                "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}],
            }
            updates.append(Update.model_validate({"update_id": n + 1, "message": message}))
        else:
            data = "menu:profile" if step == 1 else "menu:help"
            bot_message = {"message_id": 1, "date": now, "chat": chat, "text": "menu"}
            query = {"id": str(n), "from": user, "chat_instance": "1", "data": data, "message": bot_message}
            updates.append(Update.model_validate({"update_id": n + 1, "callback_query": query}))
    return updates


def bare_echo_dispatcher() -> Dispatcher:
    dp = Dispatcher()

    @dp.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    @dp.callback_query()
    async def tapped(query: CallbackQuery) -> None:
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.answer(query.data or "")

    return dp


async def feed(dp: Dispatcher, bot: Bot, updates: list[Update]) -> tuple[float, list[float]]:
    latencies = []
    started = time.perf_counter()
    for update in updates:
        t0 = time.perf_counter()
        await dp.feed_update(bot, update)
        latencies.append(time.perf_counter() - t0)
    return time.perf_counter() - started, latencies


def report(name: str, elapsed: float, latencies: list[float]) -> float:
    ordered = sorted(latencies)
    rate = len(latencies) / elapsed
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[int(len(ordered) * 0.99) - 1] * 1000
    print(f"{name:<28} {rate:>9.0f} updates/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms")
    return rate


async def main(count: int, people: int) -> None:
    updates = make_updates(count, people)
    warmup = make_updates(min(200, count), people)

    echo_bot = Bot(f"{BOT_ID}:BENCH", session=InstantTelegram())
    echo_dp = bare_echo_dispatcher()
    await feed(echo_dp, echo_bot, warmup)
    echo_elapsed, echo_latencies = await feed(echo_dp, echo_bot, updates)

    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(database_url=f"sqlite+aiosqlite:///{Path(folder) / 'bench.sqlite3'}", bot_token=None)
        engine = create_engine(settings.effective_database_url)
        await migrate(engine)
        factory = create_session_factory(engine)
        async with unit_of_work(factory) as session:
            repos = Repositories(session)
            for n in range(people):
                await members.provision(
                    repos,
                    telegram_id=10_000 + n,
                    first_name=f"Member {10_000 + n}",
                    language_code="ro",
                    role=Role.MEMBER,
                    organisation=f"Organisation {n % 40}",
                )
        full_bot = Bot(f"{BOT_ID}:BENCH", session=InstantTelegram())
        full_dp = build_dispatcher(settings, factory, build_i18n())
        await feed(full_dp, full_bot, warmup)
        full_elapsed, full_latencies = await feed(full_dp, full_bot, updates)
        await engine.dispose()

    print(f"{count} updates ({people} members: /start, Profile, Help, /menu), SQLite file, one process")
    echo_rate = report("bare aiogram echo bot", echo_elapsed, echo_latencies)
    full_rate = report("clusterbot full stack", full_elapsed, full_latencies)
    print(f"ratio full stack / echo: {full_rate / echo_rate:.2f} (target >= 0.5)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=4000)
    parser.add_argument("--people", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.updates, args.people))
