"""`clusterbot sandbox`: chat with the real bot from a terminal, as any of a few pretend people."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import re
import sys
import threading
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import TextIO

from bot.config import Settings
from bot.sandbox.client import ButtonNotFound, CannotTap, SandboxUser
from bot.sandbox.harness import SandboxBot
from bot.sandbox.scenario import Activity, bot_activity, indent_block, message_body, quiet_libraries, sandbox_settings
from bot.sandbox.seed import PEOPLE, add_person, everyone, load_people, next_free_id, seed
from bot.sandbox.server import SandboxUsageError
from bot.sandbox.ted import TedStandIn, sandbox_notices
from bot.services.members import MembershipError, PersonView
from storage.models import Role

DEFAULT_PERSON = "ana"
_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
# Labels start with an emoji ("❓ Help"); typing "help" should still press it.
_LABEL_DECORATION = re.compile(r"^[\W_]+", re.UNICODE)

InputFn = Callable[[str], str]
# Seconds between the console's looks for what the bot did while nobody typed.
WATCH_EVERY = 0.5

CONSOLE_HELP = """\
Console commands (anything else is sent to the bot):
  /as NAME                         chat as someone else
  /people                          who is here, with their roles
  /new NAME ROLE [ORGANISATION]    add a person (ROLE: guest, member, manager or admin)
  /show                            the last message the bot sent you, again
  /tap TEXT|N                      press a button by part of its label or its number
  /send TEXT                       send TEXT even if it looks like a button or a number
  /?                               this list
  /quit                            leave (Ctrl-D works too)"""


class Console:
    """The console without the terminal: one input line in, the text to print out."""

    def __init__(self, sandbox: SandboxBot, users: dict[str, SandboxUser], current: str, database: Path) -> None:
        self.sandbox = sandbox
        self.users = users
        self.current = current
        self.database = database
        self.done = False
        # Everything the bot did up to here has been shown (or happened before the console opened).
        self._cursor = sandbox.server.last_seq
        # One action, or one look for what happened meanwhile, at a time: their outputs never interleave.
        self._lock = asyncio.Lock()
        self._jobs_due_at = 0.0
        self._commands: dict[str, Callable[[str], Awaitable[str]]] = {
            "/as": self._switch,
            "/people": self._people,
            "/new": self._new,
            "/show": self._show,
            "/tap": self._forced_tap,
            "/send": self._forced_send,
            "/?": self._help,
            "/quit": self._quit,
        }

    @property
    def user(self) -> SandboxUser:
        return self.users[self.current]

    # ------------------------------------------------------------------ input

    async def handle_line(self, line: str) -> str:
        """Act on one line typed at the prompt; returns what to print ("" for nothing)."""
        text = line.strip()
        if not text:
            return ""
        word, _, rest = text.partition(" ")
        command = self._commands.get(word.casefold())
        try:
            if command is not None:
                return await command(rest.strip())
            button = self._button_for(text)
            if button is not None:
                return await self._act(lambda: self.user.tap(button))
            return await self._act(lambda: self.user.send(text))
        except (ButtonNotFound, CannotTap, SandboxUsageError) as error:
            return f"! {error}"
        except TimeoutError as error:
            return f"! the bot did not finish: {error}"
        except MembershipError as error:
            return f"! refused: {error.reason.value.replace('_', ' ')}"
        except Exception as error:  # a typo at the prompt must not end the session
            return f"! unexpected {type(error).__name__}: {error}"

    def _button_for(self, text: str) -> int | None:
        """The number of the button that ``text`` presses on the newest message with buttons, if any."""
        labels = self._newest_labels()
        if text.isdigit():
            number = int(text)
            return number if 1 <= number <= len(labels) else None
        wanted = text.casefold()
        for number, label in enumerate(labels, 1):
            if wanted in (label.casefold(), _LABEL_DECORATION.sub("", label).casefold()):
                return number
        return None

    def _newest_labels(self) -> list[str]:
        # The same message SandboxUser.tap would press: inline keyboards stay, removed reply keyboards do not.
        reply_keyboard_removed = False
        for state in reversed(self.sandbox.server.bot_messages(self.user.chat_id)):
            if state.buttons and (state.inline or not reply_keyboard_removed):
                return [str(button.get("text", "")) for row in state.buttons for button in row]
            if state.reply_markup and state.reply_markup.get("remove_keyboard"):
                reply_keyboard_removed = True
        return []

    # ------------------------------------------------------------------ acting

    async def _act(self, action: Callable[[], Awaitable[object]]) -> str:
        async with self._lock:
            # What the bot did while the prompt waited and nobody has printed yet comes first, marked as such.
            earlier = self._since_cursor(later=True)
            since = self.sandbox.server.last_seq
            await action()
            # Announcements go through the outbox: deliver them now, as the running bot's sender would.
            await self.sandbox.deliver()
            shown = [self._describe(activity) for activity in bot_activity(self.sandbox.server, since)]
            self._cursor = self.sandbox.server.last_seq
        answer = "\n".join(shown) if shown else "(the bot did not answer)"
        return f"{earlier}\n{answer}" if earlier else answer

    async def meanwhile(self, now: float | None = None) -> str:
        """What the bot did since the last action's answer was printed, each line marked "later" ("" for
        nothing): an announcement's progress message edited every few seconds, its report, a scheduled one
        going out. Runs the scheduler's announcement job once every SCHEDULER_INTERVAL seconds (``now``: the
        event loop's clock) and delivers what it queued, as the running bot would while nobody types."""
        async with self._lock:
            clock = asyncio.get_running_loop().time() if now is None else now
            if clock >= self._jobs_due_at:
                self._jobs_due_at = clock + self.sandbox.settings.scheduler.interval
                await self.sandbox.run_job("announcements")
            return self._since_cursor(later=True)

    def _since_cursor(self, *, later: bool) -> str:
        shown = [self._describe(activity, later=later) for activity in bot_activity(self.sandbox.server, self._cursor)]
        self._cursor = self.sandbox.server.last_seq
        return "\n".join(shown)

    def _describe(self, activity: Activity, *, later: bool = False) -> str:
        recipient = activity.user_id if activity.kind == "answer" else activity.chat_id
        head = "bot" if recipient == self.user.chat_id else f"→ {self._name_of(recipient)}"
        if activity.kind == "answer":
            return f"{head} ({'alert' if activity.alert else 'toast'}): {activity.answer}"
        assert activity.message is not None
        if later:
            mark = {"edited": " (edited later)", "deleted": " (deleted later)"}.get(activity.kind, " (later)")
        else:
            mark = {"edited": " (edited)", "deleted": " (deleted)"}.get(activity.kind, "")
        head = f"{head}{mark}: "
        return indent_block(head, message_body(activity.message), len(head))

    def _name_of(self, chat_id: int | None) -> str:
        for name, user in self.users.items():
            if user.chat_id == chat_id:
                return name
        return f"chat {chat_id}"

    async def _forced_tap(self, rest: str) -> str:
        if not rest:
            return "! /tap needs part of a button label, or its number"
        button: int | str = int(rest) if rest.isdigit() else rest
        return await self._act(lambda: self.user.tap(button))

    async def _forced_send(self, rest: str) -> str:
        if not rest:
            return "! /send needs the text to send"
        return await self._act(lambda: self.user.send(rest))

    # ------------------------------------------------------------------ console commands

    async def _switch(self, rest: str) -> str:
        name = rest.casefold()
        if not name:
            return f"! /as needs a name: {', '.join(self.users)}"
        if name not in self.users:
            return f"! nobody called {rest!r} is here; people: {', '.join(self.users)} (or add one with /new)"
        self.current = name
        view = (await self._views()).get(self.user.user_id)
        about = f": {describe_person(view)}" if view else ""
        return f"now chatting as {name}{about}"

    async def _people(self, rest: str) -> str:
        return await self.people_listing()

    async def people_listing(self) -> str:
        views = await self._views()
        width = max(len(name) for name in self.users)
        lines = ["People:"]
        for name, user in self.users.items():
            view = views.get(user.user_id)
            about = describe_person(view) if view else user.info.get("first_name", "")
            you = "   ← you" if name == self.current else ""
            lines.append(f"  {name:<{width}}  {about}{you}")
        return "\n".join(lines)

    async def _new(self, rest: str) -> str:
        usage = "! usage: /new NAME ROLE [ORGANISATION], e.g. /new bob member EcoTech SRL"
        parts = rest.split(maxsplit=2)
        if len(parts) < 2:
            return usage
        name, role_text = parts[0].casefold(), parts[1].casefold()
        organisation = parts[2] if len(parts) > 2 else None
        if not _NAME.fullmatch(name):
            return f"! {parts[0]!r} cannot be a name: letters, digits and _, starting with a letter"
        if name in self.users:
            return f"! {name!r} is taken"
        try:
            role = Role(role_text)
        except ValueError:
            return f"! unknown role {parts[1]!r}; roles are {', '.join(r.value for r in Role)}"
        if role is Role.MEMBER and not organisation:
            return f"! a member represents an organisation: /new {name} member EcoTech SRL"
        telegram_id = next_free_id(self.users)
        language = self.sandbox.settings.default_locale
        user = await add_person(
            self.sandbox, name, telegram_id, role=role, language_code=language, organisation=organisation
        )
        self.users[name] = user
        view = (await self._views()).get(telegram_id)
        about = describe_person(view) if view else role.value
        return f"added {name}: {about}. /as {name} to chat as them"

    async def _show(self, rest: str) -> str:
        message = self.user.last_message
        if message is None:
            return f"(the bot has not written to {self.current} yet; try /start)"
        return indent_block("bot: ", message_body(message), len("bot: "))

    async def _help(self, rest: str) -> str:
        return CONSOLE_HELP

    async def _quit(self, rest: str) -> str:
        self.done = True
        return "bye"

    async def _views(self) -> dict[int, PersonView]:
        return {view.telegram_id: view for view in await everyone(self.sandbox)}

    # ------------------------------------------------------------------ start

    async def banner(self) -> str:
        return "\n".join(
            [
                "clusterbot sandbox: the real bot, talking to a pretend Telegram on this computer.",
                f"Its database is {self.database}: people, organisations and requests are kept between runs",
                "(delete the file to start over); the chats themselves start empty each time.",
                "",
                "Type a message to send it to the bot as the person you are chatting as. The bot's answers are",
                "printed with their buttons numbered: type a number, or a button's label, to press it.",
                "Messages the bot sends to other people meanwhile are shown as '→ name: …'; what it sends or edits",
                "later, while you are at the prompt (an announcement's progress, its report), is marked '(later)'",
                "or '(edited later)'.",
                "Try /start, /services, /groups, /join, /profile, /language; managers also have /requests, /announce",
                "and /service_requests, and edit services and groups from their screens, and /tenders_admin (tender",
                "sources: 'Fetch now' asks a local TED stand-in with a few invented notices).",
                "As in Telegram, the bot writes only to people who have started it: those listed below have.",
                "",
                CONSOLE_HELP,
                "",
                await self.people_listing(),
                "",
                f"You are chatting as {self.current}.",
            ]
        )


def describe_person(view: PersonView) -> str:
    """ "Radu, member of EcoTech SRL, ro, id 2001": what the console says about someone."""
    role = view.role.value
    if view.organisation_name:
        role = f"{role} of {view.organisation_name}"
    language = view.language or view.telegram_language or "?"
    return f"{view.full_name}, {role}, {language}, id {view.telegram_id}"


async def read_line(prompt: str, input_fn: InputFn = input) -> str:
    """``input_fn(prompt)`` without blocking the event loop; EOFError when input ends.

    A daemon thread rather than the loop's executor: a thread stuck in input() must not keep the
    process alive after Ctrl-C.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str] = loop.create_future()

    def settle(value: str | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value or "")

    def worker() -> None:
        try:
            value = input_fn(prompt)
        except BaseException as error:  # EOFError above all; handed to the loop, never lost in the thread
            loop.call_soon_threadsafe(settle, None, error)
        else:
            loop.call_soon_threadsafe(settle, value, None)

    threading.Thread(target=worker, name="sandbox-console-input", daemon=True).start()
    return await future


def piped_input(prompt: str) -> str:
    """input() for a console whose input is a pipe or a file: the builtin input() of a thread waiting on a pipe
    holds up the event loop (nothing the bot does meanwhile would be printed), reading sys.stdin does not."""
    print(prompt, end="", flush=True)
    line = sys.stdin.readline()
    if not line:
        raise EOFError
    return line.removesuffix("\n")


def _pick_first_person(users: dict[str, SandboxUser], as_name: str | None) -> str | None:
    if as_name:
        wanted = as_name.casefold()
        return wanted if wanted in users else None
    if DEFAULT_PERSON in users:
        return DEFAULT_PERSON
    return next(iter(users), None)


async def run_console(
    settings: Settings,
    db: Path | None = None,
    as_name: str | None = None,
    *,
    input_fn: InputFn = input,
    out: TextIO | None = None,
) -> int:
    """The interactive sandbox; returns 0 on /quit or end of input, 2 when ``as_name`` is nobody."""
    out = sys.stdout if out is None else out
    database = db if db is not None else settings.data_dir / "sandbox.sqlite3"
    database.parent.mkdir(parents=True, exist_ok=True)
    if input_fn is input and sys.stdin.isatty():
        # Line editing and history at the prompt, where the platform has readline.
        with contextlib.suppress(ImportError):
            importlib.import_module("readline")
    elif input_fn is input:
        input_fn = piped_input
    with quiet_libraries():
        # A local TED stand-in with a few recent notices: the "ted" source points at it, so that "Fetch now" in
        # /tenders_admin works without the internet.
        async with (
            TedStandIn(sandbox_notices(date.today())) as ted,
            SandboxBot(
                sandbox_settings(settings, database).replace(
                    tender_sources=json.dumps([{"name": "ted", "kind": "ted", "url": ted.base_url, "rate": 10}])
                )
            ) as sandbox,
        ):
            await seed(sandbox, PEOPLE)
            users = await load_people(sandbox)
            current = _pick_first_person(users, as_name)
            if current is None:
                print(f"nobody called {as_name!r} is in the sandbox; people: {', '.join(users)}", file=sys.stderr)
                return 2
            console = Console(sandbox, users, current, database)
            print(await console.banner(), file=out, flush=True)
            watching = asyncio.create_task(watch_meanwhile(console, out), name="sandbox-console-meanwhile")
            try:
                while not console.done:
                    try:
                        line = await read_line(f"{console.current}> ", input_fn)
                    except EOFError:
                        print(file=out)
                        break
                    except asyncio.CancelledError:
                        # Ctrl-C at the prompt: leave as tidily as /quit, stopping the bot and closing the database.
                        print("\nbye", file=out)
                        return 130
                    reply = await console.handle_line(line)
                    if reply:
                        print(reply, file=out, flush=True)
            finally:
                watching.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watching
    return 0


async def watch_meanwhile(console: Console, out: TextIO, every: float = WATCH_EVERY) -> None:
    """While the prompt waits, print what the bot does meanwhile (an announcement's progress edited, its
    report, a scheduled one going out), then the prompt again."""
    while True:
        await asyncio.sleep(every)
        try:
            text = await console.meanwhile()
        except Exception as error:  # the console carries on, as it does after a mistake at the prompt
            text = f"! while waiting: {type(error).__name__}: {error}"
        if text:
            print(f"\n{text}", file=out)
            print(f"{console.current}> ", end="", file=out, flush=True)


__all__ = ["Console", "describe_person", "piped_input", "read_line", "run_console", "watch_meanwhile"]
