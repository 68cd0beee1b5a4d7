"""Updates per second and latency of the full dispatcher stack, next to a bare aiogram echo bot fed the same way.

Both bots get the same updates (members' /start, menu taps, /menu) through `Dispatcher.feed_update`, and
both answer through the same in-process Bot API stand-in, which serialises each request and parses a
Telegram-shaped JSON answer with aiogram's own code, so only what happens inside the process differs:
middlewares, the database transaction (a real SQLite file), FSM, i18n, rendering.

A second measurement runs both bots against the local Bot API sandbox over HTTP (long polling), the way a
deployment runs against Telegram, timing each update from the user's action until the bot has handled it.

A third has N people act at the same moment (default 500), the bot handling updates as concurrent tasks as
`clusterbot run` does, on SQLite and on PostgreSQL: each sends /start, then asks to join (/join, organisation,
fiscal code, role, Send); it prints p50/p99 from the moment all updates are released until each person's
update is handled, and how many people got their answer without a "try again".

    python benchmarks/updates.py [--updates 4000] [--people 200] [--rounds 3] [--http-updates 1000]
                                 [--at-once 500] [--pg-url postgresql://postgres@127.0.0.1:5432/postgres]
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
from scratch import database

from bot.app import PinnedResponses, build_dispatcher, build_i18n, create_bot
from bot.config import Settings
from bot.middlewares import commit_before_telegram
from bot.services import members
from storage.db import create_engine, create_session_factory, migrate, unit_of_work
from storage.models import Role
from storage.repositories import Repositories

BOT_ID = 123456


class InstantTelegram(PinnedResponses, BaseSession):
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
    """Print and return updates per second; latencies are per update, in seconds."""
    ordered = sorted(latencies)
    rate = len(latencies) / elapsed
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[int(len(ordered) * 0.99) - 1] * 1000
    print(f"{name:<28} {rate:>9.0f} updates/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms")
    return rate


async def provision_members(settings: Settings, people: int) -> None:
    engine = create_engine(settings.database.effective_url)
    await migrate(engine)
    async with unit_of_work(create_session_factory(engine)) as session:
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
    await engine.dispose()


async def in_process(settings: Settings, updates: list[Update], warmup: list[Update], rounds: int) -> dict[str, list]:
    """Both bots fed through Dispatcher.feed_update, answering through InstantTelegram; rounds interleaved."""
    engine = create_engine(settings.database.effective_url)
    factory = create_session_factory(engine)
    bots = {
        "echo": (bare_echo_dispatcher(), Bot(f"{BOT_ID}:BENCH", session=InstantTelegram())),
        "full": (
            build_dispatcher(settings, factory, build_i18n()),
            commit_before_telegram(Bot(f"{BOT_ID}:BENCH", session=InstantTelegram())),
        ),
    }
    results: dict[str, list] = {"echo": [0.0, []], "full": [0.0, []]}
    for dp, bot in bots.values():
        await feed(dp, bot, warmup)
    for _ in range(rounds):
        for name, (dp, bot) in bots.items():
            elapsed, latencies = await feed(dp, bot, updates)
            results[name][0] += elapsed
            results[name][1].extend(latencies)
    await engine.dispose()
    return results


async def over_http(settings: Settings, count: int, people: int) -> dict[str, list]:
    """Both bots long-polling the local Bot API sandbox over HTTP; each update timed until it is handled."""
    from bot.app import runtime
    from bot.sandbox.client import SandboxUser
    from bot.sandbox.harness import SANDBOX_TOKEN
    from bot.sandbox.server import SandboxServer

    results: dict[str, list] = {}
    async with runtime(settings) as rt:
        for name, dp in (("echo", bare_echo_dispatcher()), ("full", rt.dispatcher)):
            async with SandboxServer() as server:
                bot = create_bot(settings, token=SANDBOX_TOKEN, api_url=server.base_url)
                polling = asyncio.create_task(
                    dp.start_polling(bot, handle_as_tasks=False, handle_signals=False, close_bot_session=False)
                )
                await server.wait_for_bot()
                users = [
                    SandboxUser(server, 10_000 + n, f"Member {10_000 + n}", language_code="ro") for n in range(people)
                ]
                for user in users:
                    await user.send("/start")
                latencies = []
                started = time.perf_counter()
                for n in range(count):
                    user = users[n % people]
                    step = (n // people) % 4
                    # The message to tap is looked up before the clock starts: that is test harness, not bot.
                    target = user.last_message if step in (1, 2) else None
                    t0 = time.perf_counter()
                    if target is None:
                        await user.send("/start" if step == 0 else "/menu")
                    else:
                        data = "menu:profile" if step == 1 else "menu:help"
                        update_id, _query = await server.user_taps(
                            user.user_id, user.chat_id, target.message_id, data, forged=True
                        )
                        await server.wait_handled(update_id)
                    latencies.append(time.perf_counter() - t0)
                results[name] = [time.perf_counter() - started, latencies]
                await dp.stop_polling()
                await polling
                await bot.session.close()
    return results


STEPS = ("/start", "/join", "organisation", "fiscal code", "Director", "Send request")
TRY_AGAIN = "Something went wrong on my side"


async def at_once(database_url: str, data_dir: Path, count: int) -> None:
    """`count` people doing each step of a join request at the same moment; the bot handles updates as tasks."""
    from bot.sandbox.harness import SandboxBot

    settings = Settings(database_url=database_url, data_dir=data_dir, bot_token=None, redis_url=None)
    async with SandboxBot(settings, concurrent=True) as sandbox:
        manager = await sandbox.person("maria", 3001, "Maria", language_code="en", role="manager")
        await manager.send("/start")
        people = [await sandbox.person(f"p{n}", 20_000 + n, f"Person {n}", language_code="en") for n in range(count)]
        for person in people:
            person.timeout = 300
        cuis = [f"RO {members.with_check_digit(1_000_000 + n)}" for n in range(count)]
        latencies: list[float] = []
        started_all = time.perf_counter()
        for step in STEPS:
            released = time.perf_counter()

            async def act(n: int, step: str = step, released: float = released) -> None:
                person = people[n]
                if step == "Send request":
                    await person.tap(step)
                else:
                    text = {"organisation": f"Firma {n} & <Co> SRL", "fiscal code": cuis[n]}.get(step, step)
                    await person.send(text)
                latencies.append(time.perf_counter() - released)

            await sandbox.at_once(*(act(n) for n in range(count)))
        elapsed = time.perf_counter() - started_all
        answered = sum(
            any("sent to the cluster's managers" in m.content for m in person.since_last_action) for person in people
        )
        failed = sum(any(TRY_AGAIN in m.content for m in person.messages) for person in people)
        report(f"  {len(STEPS)} steps x {count} people", elapsed, latencies)
        print(f"    join requests confirmed: {answered}/{count}; 'try again' seen by {failed}")


async def main(count: int, people: int, rounds: int, http_updates: int, together: int, pg_url: str) -> None:
    updates = make_updates(count, people)
    warmup = make_updates(min(400, count), people)
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            database_url=f"sqlite+aiosqlite:///{Path(folder) / 'bench.sqlite3'}", bot_token=None, redis_url=None
        )
        await provision_members(settings, people)
        print(f"{count} updates x {rounds} rounds ({people} members: /start, Profile, Help, /menu), SQLite file")
        print("in process, Bot API answered at once by an in-process stand-in:")
        results = await in_process(settings, updates, warmup, rounds)
        echo_rate = report("  bare aiogram echo bot", *results["echo"])
        full_rate = report("  clusterbot full stack", *results["full"])
        print(f"  ratio full stack / echo: {full_rate / echo_rate:.2f}")
        if http_updates:
            print(f"over HTTP through the local Bot API sandbox (long polling), {http_updates} updates:")
            results = await over_http(settings, http_updates, people)
            echo_rate = report("  bare aiogram echo bot", *results["echo"])
            full_rate = report("  clusterbot full stack", *results["full"])
            print(f"  ratio full stack / echo: {full_rate / echo_rate:.2f}")
        if together:
            print(f"{together} people at the same moment, updates handled as concurrent tasks, over HTTP:")
            print(" SQLite file:")
            await at_once(f"sqlite+aiosqlite:///{Path(folder) / 'together.sqlite3'}", Path(folder), together)
            if pg_url:
                print(" PostgreSQL:")
                async with database("postgresql", pg_url) as url:
                    await at_once(url, Path(folder), together)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=4000)
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3, help="in-process rounds, echo and full interleaved")
    parser.add_argument("--http-updates", type=int, default=1000, help="0 skips the HTTP measurement")
    parser.add_argument("--at-once", type=int, default=500, help="people acting at the same moment; 0 skips it")
    parser.add_argument(
        "--pg-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL database to create a scratch database from; empty skips PostgreSQL",
    )
    args = parser.parse_args()
    asyncio.run(main(args.updates, args.people, args.rounds, args.http_updates, args.at_once, args.pg_url))
