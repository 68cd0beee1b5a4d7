"""Delivery engine figures: pacing under Telegram's free limits, faults, paid-broadcast throughput, queueing memory.

1. Free limits in the sandbox (30 msg/s overall, 1 msg/s per chat): the sender at 25/s and at 29/s, with the
   sandbox answering at once and with 100 ms added to every answer; sustained msgs/s against the configured
   rate (target >= 0.95) and 429s (target 0).
2. Faults at 25/s under the same limits: 2% 5xx and 2% dropped connections, half of them after the message
   was accepted; recipients never reached (target 0) and duplicates (only the drops after acceptance may).
3. Paid broadcast, no sandbox limits, the sandbox in a process of its own: msgs/s one sender process
   sustains on SQLite and on PostgreSQL, and its CPU time per message; with the default concurrency and
   with one send at a time, and once with 100 ms added to every answer. msgs/s counts the drain alone
   (recipients / its wall time, from the first claim to the last commit); sustained is the sandbox's, from
   its first delivery to its last. The sender's pace is 1000/s at most (Telegram's paid ceiling), so both
   stay just under 1000; the rows with pace "none" lift it (rate 5000/s, not a paid broadcast) to show what
   one sender process can do beyond that ceiling. Both processes keep the collector off their start-up
   objects, the sender as `run_sender` does: otherwise a full collection pauses either for about 0.3 s in a
   5 s run.
4. Peak memory of queueing one announcement for 50,000 recipients in one transaction.
5. Crashes of the whole bot: `clusterbot run` in a process of its own against the sandbox (free limits),
   600 messages queued and sent at 25/s, the process SIGKILLed after 150, 300 and 450 deliveries and started
   again. Per start: process start to polling (the first getUpdates), process start and polling to the first
   resend of a row the killed run held; and the whole run against the 24 s the messages take at 25/s. Once
   under the default SENDER_NAME (stable: the restart takes its rows back at once) and once with a new name
   at every start (what every start was before there was a stable name: the rows wait out their 30 s lease).

    python benchmarks/delivery.py [--recipients 750] [--paid-recipients 5000] [--queue-recipients 50000]
                                  [--crash-recipients 600]
                                  [--pg-admin-url postgresql://postgres@127.0.0.1:5432/postgres] [--skip 1,2]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import secrets
import signal
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import IO, Any

from aiogram import Bot
from aiogram.client.telegram import TelegramAPIServer
from scratch import database, pg_available
from sqlalchemy import select

from bot.app import BotSession
from bot.delivery import Sender, startup_heap_frozen
from bot.outbox import Recipient, queue
from bot.sandbox.server import SandboxServer
from storage.db import create_engine, create_session_factory, unit_of_work
from storage.models import OutboxMessage, OutboxStatus
from storage.repositories import Repositories

TOKEN = "7000000001:sandbox-not-a-secret"
FIRST_USER = 600_000_001
CONTENT = {
    "ro": {
        "text": "<b>Anunț pentru membri</b>\nȘedința lunară a clusterului are loc joi la ora 10, la sediu. "
        + "Detalii în programul atașat. " * 8,
        "parse_mode": "HTML",
    },
    "en": {
        "text": "<b>Announcement for members</b>\nThe cluster's monthly meeting is on Thursday at 10, at the office. "
        + "Details in the attached programme. " * 8,
        "parse_mode": "HTML",
    },
}


def recipients(count: int) -> list[Recipient]:
    return [Recipient(FIRST_USER + i, None, "ro" if i % 2 else "en") for i in range(count)]


def open_chats(server: SandboxServer, count: int) -> None:
    for i in range(count):
        server.add_user(FIRST_USER + i, f"Member {i}")
        server.open_private_chat(FIRST_USER + i)


async def queue_batch(url: str, count: int, batch: str = "announcement:1") -> None:
    engine = create_engine(url)
    try:
        async with unit_of_work(create_session_factory(engine)) as session:
            await queue(Repositories(session), batch, recipients(count), CONTENT)
    finally:
        await engine.dispose()


async def drain(url: str, api_url: str, **options: Any) -> tuple[Sender, float, float]:
    """Drain the outbox with a sender of its own; the sender, and the wall and CPU seconds of the drain alone."""
    engine = create_engine(url)
    session = BotSession(api=TelegramAPIServer.from_base(api_url))
    try:
        sender = Sender(create_session_factory(engine), Bot(TOKEN, session=session), poll_interval=0.05, **options)
        with startup_heap_frozen():
            wall, cpu = time.monotonic(), time.process_time()
            await sender.drain()
            wall, cpu = time.monotonic() - wall, time.process_time() - cpu
        return sender, wall, cpu
    finally:
        await session.close()
        await engine.dispose()


def sustained_rate(server: SandboxServer) -> float:
    """Messages per second between the first delivery and the last."""
    times = [event.time for event in server.events(kinds=["sent"])]
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0


# ---------------------------------------------------------------------------------------------- 1 and 2


async def free_limits(count: int, pg_admin_url: str) -> None:
    print(f"\n1. Free limits (sandbox: 30 msg/s overall, 1 msg/s per chat), {count} recipients, SQLite")
    print(f"   {'rate':>5} {'latency':>8} {'sustained':>10} {'fraction':>9} {'429s':>5} {'wall s':>7}")
    for rate in (25.0, 29.0):
        for latency in (0.0, 0.1):
            async with SandboxServer() as server, database("sqlite", pg_admin_url) as url:
                server.set_rate_limits(global_per_second=30, per_chat_per_second=1)
                server.set_latency(latency)
                open_chats(server, count)
                await queue_batch(url, count)
                sender, wall, _cpu = await drain(url, server.base_url, rate=rate)
                sustained = sustained_rate(server)
                assert sender.stats.sent == count and sum(server.stats.delivered.values()) == count
                print(
                    f"   {rate:>5.0f} {latency * 1000:>6.0f}ms {sustained:>10.2f} {sustained / rate:>9.3f} "
                    f"{server.stats.rate_limited:>5} {wall:>7.1f}"
                )


async def faults(count: int, pg_admin_url: str) -> None:
    print(f"\n2. Faults at 25/s under the free limits, {count} recipients, SQLite:")
    print("   2% 5xx, 1% connections dropped before Telegram saw the request, 1% dropped after it accepted it")
    async with SandboxServer(seed=7) as server, database("sqlite", pg_admin_url) as url:
        server.set_rate_limits(global_per_second=30, per_chat_per_second=1)
        server.set_faults(error_5xx_rate=0.02, drop_before_rate=0.01, drop_after_rate=0.01)
        open_chats(server, count)
        await queue_batch(url, count)
        sender, wall, _cpu = await drain(url, server.base_url, rate=25.0)
        delivered = server.stats.delivered
        never = sum(1 for r in recipients(count) if delivered[r.chat_id] == 0)
        duplicates = sum(n - 1 for n in delivered.values() if n > 1)
        stats = server.stats
        print(
            f"   injected: {stats.errors_5xx} 5xx, {stats.dropped_before} dropped before, "
            f"{stats.dropped_after} dropped after acceptance"
        )
        print(
            f"   never reached: {never}   duplicates: {duplicates} (drops after acceptance: {stats.dropped_after})   "
            f"retried: {sender.stats.retried}   failed: {sender.stats.failed}   429s: {stats.rate_limited}   "
            f"wall: {wall:.1f} s"
        )


# ---------------------------------------------------------------------------------------------- 3


async def serve_sandbox(count: int, latency: float) -> None:
    """The sandbox in a process of its own (so the sender's CPU time is its own): prints its URL, serves until
    stdin closes, then prints what it saw as JSON."""
    async with SandboxServer() as server:
        server.set_latency(latency)
        open_chats(server, count)
        # Its own full collections (0.3 s with the world above) would count against the sender.
        gc.collect()
        gc.freeze()
        print(server.base_url, flush=True)
        started = time.process_time()
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        delivered = server.stats.delivered
        print(
            json.dumps(
                {
                    "delivered": sum(delivered.values()),
                    "duplicates": sum(n - 1 for n in delivered.values() if n > 1),
                    "cpu": time.process_time() - started,
                    "sustained": sustained_rate(server),
                }
            ),
            flush=True,
        )


async def paid_broadcast(count: int, pg_admin_url: str, backends: list[str]) -> None:
    print(f"\n3. Paid broadcast (rate 1000/s), no sandbox limits, sandbox in another process, {count} recipients")
    print(
        f"   {'database':>10} {'pace':>6} {'latency':>8} {'concurrency':>11} {'msgs/s':>8} {'sustained':>10} "
        f"{'CPU ms/msg':>11} {'sandbox CPU ms/msg':>19}"
    )
    runs = [(backend, True, 0.0, concurrency) for backend in backends for concurrency in (None, 1)]
    runs.append(("sqlite", True, 0.1, None))
    runs += [(backend, False, 0.0, None) for backend in backends]
    for backend, paced, latency, concurrency in runs:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--serve-sandbox",
            str(count),
            "--latency",
            str(latency),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert child.stdout is not None and child.stdin is not None
        api_url = (await child.stdout.readline()).decode().strip()
        try:
            async with database(backend, pg_admin_url) as url:
                await queue_batch(url, count)
                sender, wall, cpu = await drain(
                    url,
                    api_url,
                    rate=1000.0 if paced else 5000.0,
                    paid_broadcast=paced,
                    concurrency=concurrency,
                )
        finally:
            child.stdin.close()
            seen = json.loads((await child.stdout.readline()).decode())
            await child.wait()
        assert sender.stats.sent == count == seen["delivered"], (sender.stats, seen)
        print(
            f"   {backend:>10} {'1000/s' if paced else 'none':>6} {latency * 1000:>6.0f}ms {sender.concurrency:>11} "
            f"{count / wall:>8.0f} "
            f"{seen['sustained']:>10.0f} {cpu / count * 1000:>11.2f} "
            f"{seen['cpu'] / count * 1000:>19.2f}"
        )


# ---------------------------------------------------------------------------------------------- 4


async def queue_memory(count: int, pg_admin_url: str, backends: list[str]) -> None:
    print(f"\n4. Queueing one announcement ({len(json.dumps(CONTENT))} bytes of content) for {count} recipients")
    print(f"   {'database':>10} {'seconds':>8} {'peak traced MiB':>16} {'max RSS MiB before':>19} {'after':>6}")
    for backend in backends:
        async with database(backend, pg_admin_url) as url:
            engine = create_engine(url)
            try:
                factory = create_session_factory(engine)
                # Warm up (connection, statement compilation) so the figures are the queueing's own.
                async with unit_of_work(factory) as session:
                    await queue(Repositories(session), "warm-up", recipients(10), CONTENT)
                rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                # Timed without tracemalloc, which slows allocation down several times.
                elapsed = time.monotonic()
                written = await _queue_generated(factory, "announcement:timed", count)
                elapsed = time.monotonic() - elapsed
                rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                tracemalloc.start()
                await _queue_generated(factory, "announcement:traced", count)
                _current, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
            finally:
                await engine.dispose()
        assert written == count
        print(f"   {backend:>10} {elapsed:>8.1f} {peak / 2**20:>16.1f} {rss_before:>19.0f} {rss_after:>6.0f}")
    print("   (one transaction each, recipients generated lazily; max RSS is the whole process's so far)")


async def _queue_generated(factory: Any, batch: str, count: int) -> int:
    async with unit_of_work(factory) as session:
        generated = (Recipient(FIRST_USER + i, None, "ro" if i % 2 else "en") for i in range(count))
        return await queue(Repositories(session), batch, generated, CONTENT)


# ---------------------------------------------------------------------------------------------- 5

PROJECT_ROOT = Path(__file__).resolve().parent.parent


async def _held_chats(url: str) -> set[int]:
    """Chats whose rows a (killed) sender still holds."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(OutboxMessage.chat_id).where(OutboxMessage.status == OutboxStatus.SENDING.value)
            )
            return set(rows.scalars().all())
    finally:
        await engine.dispose()


async def _wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.01)


async def crashes(count: int, pg_admin_url: str, backends: list[str]) -> None:
    kills = (count // 4, count // 2, 3 * count // 4)
    ideal = count / 25.0
    print(
        f"\n5. `clusterbot run` SIGKILLed after {', '.join(map(str, kills))} of {count} messages at 25/s "
        f"(free limits), started again each time; {ideal:.0f} s of sending"
    )
    print(
        f"   {'database':>10} {'names':>9} {'start->polling s':>17} {'start->resend s':>16} "
        f"{'polling->resend s':>18} {'wall s':>7} {'idle s':>7} {'dups':>5}"
    )
    for backend in backends:
        for stable in (True, False):
            async with SandboxServer() as server, database(backend, pg_admin_url) as url:
                server.set_rate_limits(global_per_second=30, per_chat_per_second=1)
                open_chats(server, count)
                await queue_batch(url, count)
                row = await _crash_run(server, url, count, kills, stable)
            polling, resend, after_polling, wall, dups = row
            print(
                f"   {backend:>10} {'stable' if stable else 'new each':>9} {_figures(polling):>17} "
                f"{_figures(resend):>16} {_figures(after_polling):>18} {wall:>7.1f} {wall - ideal:>7.1f} {dups:>5}"
            )
    print("   (several figures: one per restart; idle = wall - sending time, the starts included)")


def _log_file(path: Path) -> IO[str]:
    return path.open("w")


def _figures(values: list[float]) -> str:
    return " ".join(f"{value:.2f}" for value in values) or "-"


async def _crash_run(
    server: SandboxServer, url: str, count: int, kills: tuple[int, ...], stable: bool
) -> tuple[list[float], list[float], list[float], float, int]:
    def delivered() -> int:
        return sum(1 for n in server.stats.delivered.values() if n)

    with tempfile.TemporaryDirectory() as directory:
        env = {
            **os.environ,
            "BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": server.base_url,
            "DATABASE_URL": url,
            "DATA_DIR": directory,
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(PROJECT_ROOT),
        }
        env.pop("SENDER_NAME", None)
        polling: list[float] = []
        resend: list[float] = []
        after_polling: list[float] = []
        held: set[int] = set()
        began = time.time()
        for start in range(len(kills) + 1):
            if not stable:
                env["SENDER_NAME"] = f"bench-{secrets.token_hex(4)}"
            polls = server.stats.calls["getUpdates"]
            seen = server.last_seq
            started = time.time()
            # In a directory of its own, so a developer's .env is not read.
            log = _log_file(Path(directory) / f"bot-{start}.log")
            child = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", cwd=directory, env=env, stdout=log, stderr=log
            )
            try:
                await _wait(lambda p=polls: server.stats.calls["getUpdates"] > p, 60, "polling")
                polled = time.time()
                if start:
                    polling.append(polled - started)
                    await _wait(
                        lambda s=seen, h=held: any(e.chat_id in h for e in server.events(since=s, kinds=["sent"])),
                        60,
                        "the first resend",
                    )
                    first = min(e.time for e in server.events(since=seen, kinds=["sent"]) if e.chat_id in held)
                    resend.append(first - started)
                    after_polling.append(first - polled)
                if start < len(kills):
                    await _wait(lambda k=kills[start]: delivered() >= k, 120, f"{kills[start]} deliveries")
                    child.send_signal(signal.SIGKILL)
                    await child.wait()
                    held = await _held_chats(url)
                else:
                    await _wait(lambda: delivered() >= count, 120, "every delivery")
                    wall = time.time() - began
            except TimeoutError:
                print((Path(directory) / f"bot-{start}.log").read_text()[-3000:])
                raise
            finally:
                log.close()
                if child.returncode is None:
                    child.send_signal(signal.SIGTERM)
                    try:
                        await asyncio.wait_for(child.wait(), 20)
                    except TimeoutError:
                        child.kill()
                        await child.wait()
    dups = sum(n - 1 for n in server.stats.delivered.values() if n > 1)
    return polling, resend, after_polling, wall, dups


# ---------------------------------------------------------------------------------------------- main


async def main(args: argparse.Namespace) -> None:
    skip = {part.strip() for part in args.skip.split(",") if part.strip()}
    backends = ["sqlite"]
    if await pg_available(args.pg_admin_url):
        backends.append("postgresql")
    else:
        print(f"PostgreSQL not reachable at {args.pg_admin_url}: SQLite only")
    print(
        f"recipients: {args.recipients} (cases 1-2), {args.paid_recipients} (case 3), "
        f"{args.queue_recipients} (case 4); Python {sys.version.split()[0]}"
    )
    if "1" not in skip:
        await free_limits(args.recipients, args.pg_admin_url)
    if "2" not in skip:
        await faults(args.recipients, args.pg_admin_url)
    if "3" not in skip:
        await paid_broadcast(args.paid_recipients, args.pg_admin_url, backends)
    if "4" not in skip:
        await queue_memory(args.queue_recipients, args.pg_admin_url, backends)
    if "5" not in skip:
        await crashes(args.crash_recipients, args.pg_admin_url, backends)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--recipients", type=int, default=750, help="cases 1 and 2 (3000 makes each run 2 min)")
    parser.add_argument("--paid-recipients", type=int, default=5000)
    parser.add_argument("--queue-recipients", type=int, default=50_000)
    parser.add_argument("--crash-recipients", type=int, default=600)
    parser.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--skip", default="", help="comma-separated case numbers to leave out")
    parser.add_argument("--serve-sandbox", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--latency", type=float, default=0.0, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.serve_sandbox is not None:
        asyncio.run(serve_sandbox(arguments.serve_sandbox, arguments.latency))
    else:
        asyncio.run(main(arguments))
