"""Operators' commands for scripts: `deliver`, past announcements and their reports, a bulk member import, and a
start-up that loads aiogram only for the commands that talk to Telegram."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cli import main
from bot.services import members
from storage.db import create_engine, create_session_factory, migrate, unit_of_work
from storage.models import AuditEntry, InviteCode, Organisation, Person, Role
from storage.repositories import Repositories

ROOT = Path(__file__).resolve().parent.parent
Cli = Callable[..., Awaitable[tuple[int, str, str]]]


def test_help_loads_no_aiogram() -> None:
    probe = (
        "import runpy, sys\n"
        "for argv in (['--help'], ['deliver', '--help'], ['announcements', '--help']):\n"
        "    sys.argv = ['clusterbot', *argv]\n"
        "    try:\n"
        "        runpy.run_module('bot', run_name='__main__')\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('aiogram loaded' if any(m.split('.')[0] == 'aiogram' for m in sys.modules) else 'no aiogram')\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "usage: clusterbot deliver" in done.stdout
    assert done.stdout.rstrip().endswith("no aiogram")


def test_deliver_without_a_token_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    assert main(["deliver"]) == 2


async def _clusterbot(env: dict[str, str], cwd: Path, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=90)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.slow
async def test_deliver_drains_the_outbox_once_and_the_report_names_who_was_not_reached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    from bot.sandbox.harness import SANDBOX_TOKEN
    from bot.sandbox.server import SandboxServer

    url = f"sqlite+aiosqlite:///{tmp_path / 'deliver.sqlite3'}"
    engine = create_engine(url)
    await migrate(engine)
    async with unit_of_work(create_session_factory(engine)) as session:
        repos = Repositories(session)
        for telegram_id, name in ((1001, "Ana Pop"), (1002, "Dan"), (3001, "Maria Ionescu")):
            first, _, last = name.partition(" ")
            await members.provision(
                repos,
                telegram_id=telegram_id,
                first_name=first,
                last_name=last or None,
                role=Role.MEMBER,
                organisation="EcoTech SRL",
            )
    await engine.dispose()
    (tmp_path / "all.html").write_text("Adunare joi / Assembly on Thursday", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    offline = {"DATABASE_URL": url, "DATA_DIR": str(tmp_path), "LOG_LEVEL": "WARNING", "BOT_TOKEN": None}
    # Queued by a bot that then crashed: nothing was sent.
    code, out, err = await cli("announce", "--text", str(tmp_path / "all.html"), env=offline)
    assert code == 0, err
    assert "announcement #1: 3 message(s) queued" in out

    async with SandboxServer() as server:
        for telegram_id, name in ((1001, "Ana"), (1002, "Dan"), (3001, "Maria")):
            server.add_user(telegram_id, name)
            server.open_private_chat(telegram_id)
        server.block(3001)
        online = {"BOT_TOKEN": SANDBOX_TOKEN, "TELEGRAM_API_URL": server.base_url}
        # The operator's own process, as after a crash: its settings from the environment, its log lines on
        # stderr, its exit code.
        environment = {name: value for name, value in {**os.environ, **offline, **online}.items() if value is not None}
        code, out, err = await _clusterbot(environment, tmp_path, "deliver")
        assert code == 0, err
        assert "2 sent, 1 blocked the bot, 0 chat(s) not found, 0 failed" in out
        assert "the outbox is empty" in out
        assert SANDBOX_TOKEN not in out + err
        # Again: nothing is queued twice, nothing sent twice.
        code, out, err = await cli("deliver", env=online)
        assert code == 0, err
        assert out.startswith("0 sent, 0 blocked the bot")
        for chat in (1001, 1002):
            assert [m.text for m in server.bot_messages(chat)] == ["Adunare joi / Assembly on Thursday"]
        assert SANDBOX_TOKEN not in out + err

    offline_again = {"BOT_TOKEN": None, "TELEGRAM_API_URL": None}
    code, out, err = await cli("announcements", "--report", "1", env=offline_again)
    assert code == 0, err
    assert out.splitlines() == [
        "announcement #1 (all, done): 2 sent, 1 blocked the bot, 0 chat(s) not found, 0 failed, 0 waiting",
        "Who was not reached:",
        "  Maria Ionescu: blocked the bot",
    ]
    code, out, err = await cli("announcements", "--report", "1", "--json")
    report = json.loads(out)
    assert (report["sent"], report["blocked"], report["waiting"], report["state"]) == (2, 1, 0, "done")
    assert report["not_reached"] == [
        {"name": "Maria Ionescu", "status": "blocked", "error": report["not_reached"][0]["error"]}
    ]

    code, out, err = await cli("announce", "--text", str(tmp_path / "all.html"), "--at", "2099-01-05 09:00")
    assert code == 0, err
    code, out, err = await cli("announcements", "--cancel", "2")
    assert code == 0, err
    code, out, err = await cli("announcements", "--all")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("#1\tall\tdone\t") and lines[0].endswith(
        "2 sent, 1 blocked the bot, 0 chat(s) not found, 0 failed, 0 waiting"
    )
    assert lines[1].startswith("#2\tall\tcancelled\t")
    code, out, err = await cli("announcements", "--all", "--json")
    assert [(a["id"], a["state"], a["sent"]) for a in json.loads(out)] == [(1, "done", 2), (2, "cancelled", 0)]
    code, out, err = await cli("announcements", "--report", "99")
    assert code == 1 and "refused: not found" in err


def _member_list(rows: int) -> str:
    lines = ["organisation,cui,sector,first_name,last_name,telegram_id,position,role"]
    for i in range(rows):
        telegram_id = str(700_000 + i) if i % 2 == 0 else ""
        role = "manager" if i % 50 == 0 else ""
        lines.append(f"Firma {i // 3} SRL,,sector {i % 4},Persoana{i},Nume{i},{telegram_id},director,{role}")
    return "\n".join(lines) + "\n"


async def test_a_bulk_import_run_again_changes_nothing(session_factory: async_sessionmaker[AsyncSession]) -> None:
    rows, errors = members.parse_member_csv(_member_list(300))
    assert errors == []

    async def state() -> tuple[list[tuple[object, ...]], ...]:
        async with session_factory() as session:
            orgs = await session.execute(select(Organisation.id, Organisation.name, Organisation.sector))
            people = await session.execute(
                select(Person.telegram_id, Person.role, Person.organisation_id, Person.position, Person.updated_at)
            )
            invites = await session.execute(select(InviteCode.code, InviteCode.label, InviteCode.organisation_id))
            return (sorted(map(tuple, orgs)), sorted(map(tuple, people)), sorted(map(tuple, invites)))

    async with unit_of_work(session_factory) as session:
        first = await members.import_members(Repositories(session), rows)
    assert (first.organisations, first.people, len(first.invites or [])) == (100, 150, 150)
    before = await state()
    async with unit_of_work(session_factory) as session:
        again = await members.import_members(Repositories(session), rows)
    assert (again.organisations, again.people) == (0, 150)
    assert [i.code for i in again.invites or []] == [i.code for i in first.invites or []]
    assert await state() == before
    async with session_factory() as session:
        imported = await session.scalar(select(func.count()).where(AuditEntry.action == "members.imported"))
        assert imported == 2
