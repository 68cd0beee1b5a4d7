"""The interactive sandbox, driven line by line without a terminal, and the real `clusterbot sandbox` command."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import PROJECT_ROOT, Settings
from bot.sandbox.console import Console, read_line, run_console
from bot.sandbox.harness import SandboxBot
from bot.sandbox.scenario import sandbox_settings
from bot.sandbox.seed import PEOPLE, everyone, load_people, seed


@pytest.fixture
async def console(tmp_path: Path, settings: Settings) -> AsyncIterator[Console]:
    database = tmp_path / "sandbox.sqlite3"
    async with SandboxBot(sandbox_settings(settings, database)) as sandbox:
        await seed(sandbox)
        users = await load_people(sandbox)
        yield Console(sandbox, users, "ana", database)


class Scripted:
    """A stand-in for input(): hands out the lines, then ends input as Ctrl-D does; remembers the prompts."""

    def __init__(self, lines: Iterable[str]) -> None:
        self.pending = list(lines)
        self.prompts: list[str] = []

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if not self.pending:
            raise EOFError
        return self.pending.pop(0)


async def test_banner_explains_and_lists_the_people(console: Console) -> None:
    banner = await console.banner()
    assert "Type a message to send it to the bot" in banner
    assert "/as NAME" in banner and "/quit" in banner
    for name in ("ana", "dan", "radu", "maria", "john", "ioana"):
        assert f"\n  {name} " in banner
    assert "radu   Radu, member of EcoTech SRL, ro, id 2001" in banner
    assert "ioana  Ioana, admin, en, id 4001" in banner
    assert "ana    Ana, guest, ro, id 1001   ← you" in banner
    assert banner.endswith("You are chatting as ana.")


async def test_send_then_tap_by_number_and_by_label(console: Console) -> None:
    welcome = await console.handle_line("/start")
    assert welcome.startswith("bot: 👋 Bună ziua, Ana!")
    assert "[1 🇷🇴 Română] [2 🇬🇧 English]" in welcome

    switched = await console.handle_line("2")
    assert "bot (toast): Language: 🇬🇧 English" in switched
    assert "bot: From now on I will write to you in English." in switched

    # A label without its emoji, in any case, presses the button too.
    profile = await console.handle_line("my PROFILE")
    assert "👤 Your profile" in profile and "Language: 🇬🇧 English" in profile

    # A number that is no button is just text.
    assert "I did not understand that" in await console.handle_line("42")
    # /send forces text even when it names a button.
    assert "I did not understand that" in await console.handle_line("/send 1")
    assert (await console.handle_line("/show")).startswith("bot: I did not understand that")


async def test_switching_people_and_seeing_what_others_receive(console: Console) -> None:
    assert (await console.handle_line("/as maria")).startswith("now chatting as maria: Maria, manager, ro")
    assert "(the bot has not written to maria yet" in await console.handle_line("/show")
    await console.handle_line("/start")
    people = await console.handle_line("/people")
    assert "maria  Maria, manager, ro, id 3001   ← you" in people
    assert "← you" not in people.split("maria", 1)[0]

    await console.handle_line("/as dan")
    await console.handle_line("/join")
    await console.handle_line("Green Biomass SRL")
    # Not 14399840: that is EcoTech SRL's, and the bot would recognise the organisation.
    await console.handle_line("RO 12345674")
    await console.handle_line("engineer")
    sent = await console.handle_line("send request")
    assert "bot: ✅ Your request has been sent" in sent
    assert "→ maria: 📥 Cerere de aderare la cluster" in sent

    await console.handle_line("/as maria")
    decided = await console.handle_line("aprob")
    assert "bot (edited): 📥 Cerere de aderare" in decided
    assert "→ dan: 🎉 Good news: your request was approved" in decided
    assert "dan    Dan, member of Green Biomass SRL, en" in await console.handle_line("/people")


async def test_mistakes_get_one_line_and_the_console_carries_on(console: Console) -> None:
    assert (await console.handle_line("/as nobody")).startswith("! nobody called 'nobody' is here; people: ana, dan")
    assert console.current == "ana"
    tap = await console.handle_line("/tap English")
    assert tap.startswith("! ") and "\n" not in tap
    await console.handle_line("/start")
    tap = await console.handle_line("/tap Teleport")
    assert tap.startswith("! ") and "no button matching 'Teleport'" in tap and "English" in tap
    assert "usage: /new" in await console.handle_line("/new bob")
    assert "unknown role 'king'" in await console.handle_line("/new bob king")
    assert "a member represents an organisation" in await console.handle_line("/new bob member")
    assert "'maria' is taken" in await console.handle_line("/new maria guest")
    assert "" == await console.handle_line("   ")
    # The bot still answers.
    assert "Bine ați revenit, Ana" in await console.handle_line("/start")


async def test_new_people_get_fresh_ids_and_can_talk(console: Console) -> None:
    added = await console.handle_line("/new bob member EcoTech SRL")
    assert added == "added bob: Bob, member of EcoTech SRL, ro, id 5001. /as bob to chat as them"
    assert "id 5002" in await console.handle_line("/new Carla manager")
    await console.handle_line("/as bob")
    assert "Reprezentați EcoTech SRL în cluster" in await console.handle_line("/start")


async def test_quit(console: Console) -> None:
    assert await console.handle_line("/quit") == "bye"
    assert console.done


async def test_seeding_is_idempotent_and_keeps_earlier_changes(console: Console) -> None:
    sandbox = console.sandbox
    await console.handle_line("/start")
    await console.handle_line("2")  # Ana chooses English
    assert await seed(sandbox) == []
    people = {view.telegram_id: view for view in await everyone(sandbox)}
    assert len(people) == len(PEOPLE)
    assert people[1001].language == "en"


async def test_read_line_hands_over_end_of_input() -> None:
    assert await read_line("> ", Scripted(["hello"])) == "hello"
    with pytest.raises(EOFError):
        await read_line("> ", Scripted([]))


async def test_run_console_ends_on_quit_or_end_of_input(tmp_path: Path, settings: Settings) -> None:
    out = io.StringIO()
    fake_input = Scripted(["/start", "1", "/as maria", "/quit", "never read"])
    assert await run_console(settings, input_fn=fake_input, out=out) == 0
    text = out.getvalue()
    assert "You are chatting as ana." in text
    assert "bot: 👋 Bună ziua, Ana!" in text
    assert "De acum înainte vă voi scrie în limba română" in text
    assert text.rstrip().endswith("bye")
    assert fake_input.prompts == ["ana> ", "ana> ", "ana> ", "maria> "]
    # The default database lives in the data directory and keeps people between runs.
    assert (tmp_path / "sandbox.sqlite3").exists()

    out = io.StringIO()
    assert await run_console(settings, input_fn=Scripted(["/new bob guest"]), out=out) == 0
    out = io.StringIO()
    assert await run_console(settings, as_name="Bob", input_fn=Scripted(["/start"]), out=out) == 0
    assert "bob    Bob, guest, ro, id 5001   ← you" in out.getvalue()
    assert "Bună ziua, Bob" in out.getvalue()


async def test_run_console_refuses_an_unknown_person(
    tmp_path: Path, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await run_console(settings, db=tmp_path / "other.sqlite3", as_name="zed", input_fn=Scripted([]))
    assert code == 2
    assert "nobody called 'zed'" in capsys.readouterr().err


# --------------------------------------------------------------------------------- the real command


def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BOT_TOKEN", "REDIS_URL", "ADMIN_IDS")}
    env.update(DATA_DIR=str(tmp_path), DEFAULT_LOCALE="ro", LOG_LEVEL="WARNING")
    return env


def test_cli_runs_a_scenario(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], captured_logs: io.StringIO
) -> None:
    # In this process (CI runs a scenario with the installed wheel's command, and the next test pipes the
    # console's input to a real one); `captured_logs` undoes the log handler the command installs.
    script = PROJECT_ROOT / "tests" / "scenarios" / "language_switch.jsonl"
    monkeypatch.chdir(PROJECT_ROOT)
    for name in ("DATABASE_URL", "BOT_TOKEN", "REDIS_URL", "ADMIN_IDS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {"DATA_DIR": str(tmp_path), "DEFAULT_LOCALE": "ro", "LOG_LEVEL": "WARNING"}.items():
        monkeypatch.setenv(name, value)
    code = main(["sandbox", "--script", str(script)])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    last = out.rstrip().splitlines()[-1]
    assert last.endswith("passed, 0 failed") and "Traceback" not in err
    # A scenario leaves nothing behind in the data directory.
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_cli_console_reads_piped_input(tmp_path: Path) -> None:
    db = tmp_path / "piped.sqlite3"
    done = subprocess.run(
        [sys.executable, "-m", "bot", "sandbox", "--db", str(db)],
        cwd=PROJECT_ROOT,
        env=cli_env(tmp_path),
        input="/start\n1\n/quit\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "👋 Bună ziua, Ana!" in done.stdout
    assert "De acum înainte vă voi scrie în limba română" in done.stdout
    assert done.stdout.rstrip().endswith("bye")
    assert db.exists()


# --------------------------------------------------------------------------------- what happens later


async def announce_now(console: Console) -> str:
    """Ioana (an admin, in English) sends an announcement to every member at once; the answer to "Send now"."""
    await console.handle_line("/as ioana")
    await console.handle_line("/start")
    await console.handle_line("/announce")
    await console.handle_line("1")  # all members
    await console.handle_line("The general assembly is on Friday.")
    await console.handle_line("1")  # the same text for everyone
    return await console.handle_line("/tap Send now")


async def test_an_announcements_progress_edited_after_the_action_is_shown_as_later(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    database = tmp_path / "sandbox.sqlite3"
    async with SandboxBot(sandbox_settings(make_settings(progress_interval=1.0), database)) as sandbox:
        await seed(sandbox)
        console = Console(sandbox, await load_people(sandbox), "ana", database)
        sent = await announce_now(console)
        # The answer to the press: the progress message and the members' copies, none of them "later".
        assert "bot: 📣 Announcement #1: 4 messages" in sent
        assert "→ radu: The general assembly is on Friday." in sent
        assert "later" not in sent
        # Nobody types; the progress message is edited a moment later into the report.
        later = ""
        for _ in range(100):
            await asyncio.sleep(0.05)
            later += await console.meanwhile()
            if "Done" in later:
                break
        assert later.startswith("bot (edited later): 📣 Announcement #1: 4 sent, 0 failed"), later
        assert "✅ Done." in later
        # Shown once: nothing more comes, and the next action's answer does not repeat it.
        assert await console.meanwhile() == ""
        assert "Announcement #1" not in await console.handle_line("/start")


async def test_what_nobody_printed_yet_comes_before_the_next_answer(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    database = tmp_path / "sandbox.sqlite3"
    async with SandboxBot(sandbox_settings(make_settings(progress_interval=1.0), database)) as sandbox:
        await seed(sandbox)
        console = Console(sandbox, await load_people(sandbox), "ana", database)
        await announce_now(console)
        await asyncio.sleep(2.0)  # the report is in place, and the console has not looked
        answer = await console.handle_line("/help")
        report, _, help_text = answer.partition("\nbot: ")
        assert report.startswith("bot (edited later): 📣 Announcement #1: 4 sent"), answer
        assert "✅ Done." in report and "later" not in help_text


class Slow(Scripted):
    """Scripted input where the person takes ``pause`` seconds before typing the lines in ``slow``."""

    def __init__(self, lines: Iterable[str], slow: set[str], pause: float) -> None:
        super().__init__(lines)
        self.slow, self.pause = slow, pause

    def __call__(self, prompt: str) -> str:
        if self.pending and self.pending[0] in self.slow:
            time.sleep(self.pause)
        return super().__call__(prompt)


async def test_the_console_prints_later_edits_while_the_prompt_waits(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    out = io.StringIO()
    lines = ["/as ioana", "/start", "/announce", "1", "Assembly on Friday.", "1", "/tap Send now", "/quit"]
    code = await run_console(make_settings(progress_interval=1.0), input_fn=Slow(lines, {"/quit"}, pause=3.0), out=out)
    assert code == 0
    text = out.getvalue()
    # While Ioana waited at the prompt: the report, then her prompt again; then her /quit.
    later = text.index("\nbot (edited later): 📣 Announcement #1: 4 sent")
    assert "✅ Done." in text[later:]
    assert "ioana> " in text[later:]
    assert text.rstrip().endswith("bye")
    assert "Messages the bot sends to other people meanwhile" in text and "'(edited later)'" in text


def test_clusterbot_as_name_opens_the_sandbox_as_that_person(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], captured_logs: io.StringIO
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("DATABASE_URL", "BOT_TOKEN", "REDIS_URL", "ADMIN_IDS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {"DATA_DIR": str(tmp_path), "DEFAULT_LOCALE": "ro", "LOG_LEVEL": "WARNING"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "stdin", io.StringIO("/start\n/quit\n"))
    assert main(["--as", "maria"]) == 0
    out = capsys.readouterr().out
    # A line while it starts, then the banner, then Maria's chat.
    assert out.startswith("Starting the sandbox…\n")
    assert "You are chatting as maria." in out
    assert "bot: 👋 Bună ziua, Maria!" in out
    assert (tmp_path / "sandbox.sqlite3").exists()

    # The same with the subcommand, and --db before it or after it.
    monkeypatch.setattr(sys, "stdin", io.StringIO("/quit\n"))
    assert main(["--db", str(tmp_path / "other.sqlite3"), "--as", "radu"]) == 0
    assert "You are chatting as radu." in capsys.readouterr().out
    assert (tmp_path / "other.sqlite3").exists()
    monkeypatch.setattr(sys, "stdin", io.StringIO("/quit\n"))
    assert main(["sandbox", "--as", "john"]) == 0
    assert "You are chatting as john." in capsys.readouterr().out

    # Somebody who is not there, and --as with another command, are refused with a word.
    assert main(["--as", "zed"]) == 2
    assert "nobody called 'zed'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:
        main(["--as", "maria", "db", "current"])
    assert refused.value.code == 2
    assert "--as and --db before a command belong to the sandbox" in capsys.readouterr().err
