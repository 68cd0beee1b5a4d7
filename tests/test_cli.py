"""The operator's command line: help, no token, migrations, members, invites and the member list import."""

from __future__ import annotations

import csv
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from bot.cli import main


@pytest.fixture
def operator_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A deployment of its own: an SQLite file in a temporary folder, no token, a known bot username."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.setenv("BOT_USERNAME", "cluster_test_bot")
    for name in ("BOT_TOKEN", "REDIS_URL", "ADMIN_IDS"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_every_subcommand_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    # In this process: that --help loads no aiogram needs a fresh one (tests/test_cli_ops.py).
    for args in (
        [],
        ["run"],
        ["sandbox"],
        ["db"],
        ["db", "upgrade"],
        ["members"],
        ["members", "import"],
        ["members", "add"],
    ):
        with pytest.raises(SystemExit) as done:
            main([*args, "--help"])
        assert done.value.code == 0, args
        assert "usage: clusterbot" in capsys.readouterr().out


def test_run_without_token_points_to_the_sandbox(operator_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run"]) == 2
    assert "clusterbot sandbox" in capsys.readouterr().err


def test_migrations_and_people_from_the_command_line(operator_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "current"]) == 0
    assert "empty" in capsys.readouterr().out
    from alembic.script import ScriptDirectory

    from storage.db import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert main(["db", "upgrade"]) == 0
    assert f"revision {head}" in capsys.readouterr().out

    assert main(["members", "add", "--telegram-id", "501", "--name", "Ana Pop", "--organisation", "EcoTech SRL"]) == 0
    assert "Ana Pop (501): member, EcoTech SRL" in capsys.readouterr().out
    assert main(["members", "make-manager", "501"]) == 0
    assert "is now a manager" in capsys.readouterr().out
    assert main(["members", "make-manager", "999"]) == 1
    assert "person not found" in capsys.readouterr().err

    assert main(["members", "list", "--role", "manager"]) == 0
    rows = list(csv.reader(capsys.readouterr().out.splitlines()))
    assert rows[1][:4] == ["501", "Ana Pop", "manager", "EcoTech SRL"]

    assert main(["members", "invite", "ecotech s.r.l.", "--uses", "3"]) == 0
    link = capsys.readouterr().out.strip()
    assert link.startswith("https://t.me/cluster_test_bot?start=")
    assert main(["members", "invites"]) == 0
    assert "used 0/3" in capsys.readouterr().out
    assert main(["members", "invite", "Nobody SA"]) == 1


def test_member_list_import_reports_bad_lines_and_writes_invite_links(
    operator_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = operator_env / "bad.csv"
    bad.write_text("organisation,cui,first_name\nEcoTech SRL,123,Ana\n,,\n Bio SRL,,Dan\n", encoding="utf-8")
    assert main(["members", "import", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "line 2: CUI '123' has a wrong check digit" in err
    assert "nothing was imported" in err

    good = operator_env / "members.csv"
    good.write_text(
        "organisation,cui,sector,first_name,last_name,telegram_id,position,role\n"
        "EcoTech SRL,RO14399840,environment,Ana,Pop,501,director,manager\n"
        "EcoTech SRL,,,Dan,Ionescu,,engineer,\n"
        "Clinica Verde,,health,Elena,Marin,,doctor,\n",
        encoding="utf-8",
    )
    out = operator_env / "invites.csv"
    assert main(["members", "import", str(good), "--out", str(out)]) == 0
    assert "2 new organisation(s), 1 person(s) added, 2 invite link(s)" in capsys.readouterr().out
    with out.open(encoding="utf-8") as handle:
        invites = list(csv.DictReader(handle))
    assert [(row["organisation"], row["name"]) for row in invites] == [
        ("EcoTech SRL", "Dan Ionescu"),
        ("Clinica Verde", "Elena Marin"),
    ]
    assert all(row["invite_link"].startswith("https://t.me/cluster_test_bot?start=") for row in invites)

    assert main(["members", "list"]) == 0
    listing = capsys.readouterr().out
    assert "Ana Pop,manager,EcoTech SRL,director" in listing


async def test_approving_from_the_command_line_tells_the_applicant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Callable[..., Awaitable[tuple[int, str, str]]]
) -> None:
    from bot.sandbox.client import SandboxUser
    from bot.sandbox.harness import SANDBOX_TOKEN
    from bot.sandbox.server import SandboxServer
    from bot.services import members
    from storage.db import create_engine, create_session_factory, migrate, unit_of_work
    from storage.repositories import Repositories

    url = f"sqlite+aiosqlite:///{tmp_path / 'approve.sqlite3'}"
    engine = create_engine(url)
    await migrate(engine)
    async with unit_of_work(create_session_factory(engine)) as session:
        repos = Repositories(session)
        elena = await members.touch_person(
            repos,
            telegram_id=1003,
            first_name="Elena",
            last_name=None,
            username=None,
            language_code="ro",
            admin_ids=(),
        )
        request = await members.submit_join_request(
            repos, elena, organisation_name="Clinica Verde", cui="14399840", position="medic", default_locale="ro"
        )
    await engine.dispose()

    async with SandboxServer() as server:
        applicant = SandboxUser(server, 1003, "Elena", language_code="ro")
        await server.user_sends(applicant.user_id, "/start")  # she has started the bot: it may write to her
        monkeypatch.chdir(tmp_path)
        env = {
            "DATABASE_URL": url,
            "DATA_DIR": str(tmp_path),
            "BOT_TOKEN": SANDBOX_TOKEN,
            "TELEGRAM_API_URL": server.base_url,
        }
        # The decision is committed with its notice in the outbox; the CLI itself sends nothing.
        code, out, err = await cli("members", "approve", str(request.id), env=env)
        assert code == 0, err
        assert f"request #{request.id} approved" in out
        assert "Elena is told by the running bot" in out
        assert applicant.last_text is None or "aprobată" not in applicant.last_text
        # What sends it when no bot is running: `clusterbot deliver`.
        code, delivered, err = await cli("deliver", env=env)
        assert code == 0, err
        assert "Clinica Verde" in (applicant.last_text or "")
        assert "aprobată" in (applicant.last_text or "")
        assert SANDBOX_TOKEN not in out + err + delivered


def test_operator_schedules_lists_and_cancels_an_announcement(
    operator_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["members", "requests"]) == 0
    assert "no join requests are waiting" in capsys.readouterr().out
    assert main(["members", "add", "--telegram-id", "501", "--name", "Ana Pop", "--organisation", "EcoTech SRL"]) == 0
    text = operator_env / "all.html"
    text.write_text("<b>Adunare</b> joi / <b>Assembly</b> on Thursday", encoding="utf-8")
    capsys.readouterr()

    assert main(["announce", "--text", str(text), "--at", "2099-01-05 09:00"]) == 0
    assert "announcement #1 scheduled for 2099-01-05 09:00" in capsys.readouterr().out
    assert main(["announcements"]) == 0
    assert "#1\tall\t2099-01-05 09:00" in capsys.readouterr().out
    assert main(["announcements", "--cancel", "1"]) == 0
    assert "announcement #1 cancelled; 0 message(s) withdrawn" in capsys.readouterr().out
    assert main(["announcements"]) == 0
    assert capsys.readouterr().out == ""

    assert main(["announce", "--text", str(text)]) == 0
    assert "announcement #2: 1 message(s) queued" in capsys.readouterr().out
    bad = operator_env / "bad.html"
    bad.write_text("<b>unclosed", encoding="utf-8")
    assert main(["announce", "--text", str(bad)]) == 1
    assert "not queued" in capsys.readouterr().err
    assert main(["announcements", "--cancel", "99"]) == 1
    assert "refused: not found" in capsys.readouterr().err


def test_operator_announces_to_a_working_group(operator_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["seed"]) == 0
    text = operator_env / "group.html"
    text.write_text("Întâlnirea grupului / The group's meeting", encoding="utf-8")
    capsys.readouterr()
    assert main(["announce", "--group", "sludge", "--text", str(text), "--at", "2099-01-05 09:00"]) == 0
    assert "announcement #1 scheduled for 2099-01-05 09:00" in capsys.readouterr().out
    assert main(["announcements"]) == 0
    assert "#1\tgroup Advanced technologies for sludge" in capsys.readouterr().out
    # Nobody has joined it yet: queued now, it reaches nobody, and says so.
    assert main(["announce", "--group", "sludge", "--text", str(text)]) == 0
    assert "announcement #2: 0 message(s) queued" in capsys.readouterr().out
    assert main(["announce", "--group", "no-such-group", "--text", str(text)]) == 1
    assert "not queued: no such working group (no-such-group)" in capsys.readouterr().err
