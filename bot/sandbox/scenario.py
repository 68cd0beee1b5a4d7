"""Scenarios: JSON Lines scripts of people talking to the real bot in the sandbox, run as checks with a transcript."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from bot.config import Settings
from bot.jobs import JOB_NAMES
from bot.sandbox.client import BotMessage, ButtonNotFound, CannotTap, SandboxUser, render
from bot.sandbox.harness import SandboxBot
from bot.sandbox.seed import seed_content
from bot.sandbox.server import SandboxServer, SandboxUsageError
from bot.services.members import MembershipError
from storage.db import unit_of_work
from storage.models import Role
from storage.repositories import Repositories

ROLES = tuple(role.value for role in Role)
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SHOWN_EVENTS = ("sent", "edited", "deleted", "callback_answer")
# Step headers quote what was sent; a 3,000-character message would drown the transcript.
_HEADER_TEXT_LIMIT = 80


class ScenarioProblem(Exception):
    """A scenario line that cannot be run as written."""

    def __init__(self, line: int, message: str, data: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message
        self.data = data


# --------------------------------------------------------------------------------------------- bot activity


@dataclass(frozen=True)
class Activity:
    """One thing the bot did that a person can see: a message sent, edited or deleted, or a tap answered."""

    kind: str
    chat_id: int
    message: BotMessage | None = None
    # For answered taps: who tapped, what they were told, and whether it was an alert (else a toast).
    user_id: int | None = None
    answer: str | None = None
    alert: bool = False


def bot_activity(server: SandboxServer, since: int) -> list[Activity]:
    """What the bot did after event ``since``, in every chat, oldest first; silent tap answers are left out."""
    found: list[Activity] = []
    for event in server.events(since=since, kinds=_SHOWN_EVENTS):
        if event.kind == "callback_answer":
            text = event.data.get("text")
            if text:
                found.append(
                    Activity(
                        "answer",
                        event.chat_id,
                        user_id=event.data.get("user_id"),
                        answer=str(text),
                        alert=bool(event.data.get("show_alert")),
                    )
                )
        elif event.state is not None:
            found.append(Activity(event.kind, event.chat_id, BotMessage.from_state(event.state, seq=event.seq)))
    return found


def message_body(message: BotMessage) -> str:
    """``render()`` without its own edit/delete marks, which the transcripts put in their headers."""
    return render(replace(message, edited=False, deleted=False))


def indent_block(head: str, body: str, indent: int) -> str:
    """``head`` followed by the first line of ``body``; the other lines aligned ``indent`` spaces in."""
    lines = body.split("\n") or [""]
    pad = " " * indent
    return "\n".join([head + lines[0], *(pad + line if line else "" for line in lines[1:])])


def quote_text(text: str) -> str:
    """A sent text as shown in a header: one line, shortened when very long."""
    flat = text.replace("\n", "⏎")
    if len(flat) <= _HEADER_TEXT_LIMIT:
        return flat
    return f"{flat[:60]}… ({len(text)} characters)"


def excerpt(text: str, start: int = 0, end: int | None = None, width: int = 40) -> str:
    """Text around ``text[start:end]`` on one line, for error messages."""
    end = len(text) if end is None else end
    left = max(0, start - width)
    right = min(len(text), end + width)
    snippet = text[left:right].replace("\n", " ⏎ ")
    return ("…" if left else "") + snippet + ("…" if right < len(text) else "")


def searchable(message: BotMessage) -> str:
    """What an expectation is matched against: the text or caption, then the button labels."""
    return "\n".join([message.content, *message.labels])


# --------------------------------------------------------------------------------------------- step kinds


@dataclass(frozen=True)
class Step:
    line: int
    kind: StepKind
    data: Mapping[str, Any]

    @property
    def actor(self) -> str | None:
        name = self.data.get("as")
        return None if name is None else str(name)


@dataclass
class Outcome:
    ok: bool = True
    # Shown after the step header: what matched, what was captured, the alert text...
    detail: str | None = None
    error: str | None = None


@dataclass
class Checks:
    """What static validation knows at a given line: people declared so far and variables captured."""

    people: dict[str, int] = field(default_factory=dict)
    variables: set[str] = field(default_factory=set)


Runner = Callable[["ScenarioRun", Step], Awaitable[Outcome]]


@dataclass(frozen=True)
class StepKind:
    """A kind of scenario step, recognised by its ``key``; registered in KINDS by ``@step_kind``."""

    key: str
    fields: Mapping[str, tuple[type, ...]]
    required: frozenset[str]
    run: Runner
    describe: Callable[[Step], str]
    # Steps that act as a declared person carry "as".
    acts_as_person: bool = True
    # Expectations get a ✓/✗ mark; actions are marked only when they fail.
    is_check: bool = False
    # Fields where ${var} is replaced by a captured value (escaped in regex fields).
    text_fields: frozenset[str] = frozenset()
    regex_fields: frozenset[str] = frozenset()
    validate: Callable[[Step, Checks], None] | None = None


KINDS: dict[str, StepKind] = {}


def step_kind(
    key: str,
    *,
    fields: Mapping[str, type | tuple[type, ...]],
    required: tuple[str, ...] = (),
    describe: Callable[[Step], str],
    acts_as_person: bool = True,
    is_check: bool = False,
    text_fields: tuple[str, ...] = (),
    regex_fields: tuple[str, ...] = (),
    validate: Callable[[Step, Checks], None] | None = None,
) -> Callable[[Runner], Runner]:
    """Register a step kind; adding a kind of step to the language is one decorated function."""

    def register(run: Runner) -> Runner:
        all_fields = {name: kinds if isinstance(kinds, tuple) else (kinds,) for name, kinds in fields.items()}
        if acts_as_person:
            all_fields["as"] = (str,)
        KINDS[key] = StepKind(
            key=key,
            fields=all_fields,
            required=frozenset({key, *required, *(("as",) if acts_as_person else ())}),
            run=run,
            describe=describe,
            acts_as_person=acts_as_person,
            is_check=is_check,
            text_fields=frozenset(text_fields),
            regex_fields=frozenset(regex_fields),
            validate=validate,
        )
        return run

    return register


def _where(step: Step) -> str:
    chat = step.data.get("chat")
    return "" if chat is None else f" in group {chat}"


def _regex(step: Step, key: str) -> str:
    return f"/{step.data[key]}/"


def _check_regex(*keys: str) -> Callable[[Step, Checks], None]:
    def validate(step: Step, checks: Checks) -> None:
        for key in keys:
            try:
                # Variables become literal text at run time; any name stands in for them here.
                re.compile(_VARIABLE.sub("x", str(step.data[key])))
            except re.error as error:
                raise ValueError(f"{key!r} is not a valid regular expression: {error}") from None

    return validate


def _check_chat(step: Step, checks: Checks) -> None:
    chat = step.data.get("chat")
    if chat is not None and chat >= 0:
        raise ValueError(f'"chat" is a group chat id, which is negative (for example -100123), not {chat}')


def _check_regex_and_chat(*keys: str) -> Callable[[Step, Checks], None]:
    regex = _check_regex(*keys)

    def validate(step: Step, checks: Checks) -> None:
        regex(step, checks)
        _check_chat(step, checks)

    return validate


# --- declaring a person


def _describe_person(step: Step) -> str:
    data = step.data
    role = data.get("role", "guest")
    organisation = data.get("organisation")
    what = f"{role} of {organisation}" if organisation else role
    language = data.get("language_code", "en")
    return f"+ {data['user']}: {data.get('first_name', data['user'])} (id {data['id']}, {language}), {what}"


def _validate_person(step: Step, checks: Checks) -> None:
    data = step.data
    name = data["user"]
    if not name.strip():
        raise ValueError('"user" must name the person, for example "member1"')
    if name in checks.people:
        raise ValueError(f"{name!r} is already declared")
    if data["id"] <= 0:
        raise ValueError(f'"id" is a positive Telegram user id, not {data["id"]}')
    taken = {telegram_id: who for who, telegram_id in checks.people.items()}
    if data["id"] in taken:
        raise ValueError(f"id {data['id']} is already {taken[data['id']]!r}'s")
    role = data.get("role", "guest")
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    if role == "member" and not data.get("organisation"):
        raise ValueError(f'a member represents an organisation: add "organisation": "EcoTech SRL" to {name!r}')
    if "first_name" in data and not data["first_name"].strip():
        raise ValueError('"first_name" must not be empty')
    checks.people[name] = data["id"]


@step_kind(
    "user",
    fields={
        "user": str,
        "id": int,
        "first_name": str,
        "last_name": str,
        "username": str,
        "language_code": str,
        "role": str,
        "organisation": str,
    },
    required=("id",),
    describe=_describe_person,
    acts_as_person=False,
    validate=_validate_person,
)
async def _declare(run: ScenarioRun, step: Step) -> Outcome:
    data = step.data
    name = str(data["user"])
    person = await run.sandbox.person(
        name,
        data["id"],
        data.get("first_name", name),
        language_code=data.get("language_code", "en"),
        role=data.get("role", "guest"),
        organisation=data.get("organisation"),
        last_name=data.get("last_name"),
        username=data.get("username"),
    )
    run.people[name] = person
    run.names[person.chat_id] = name
    run.marks[name] = run.server.last_seq
    return Outcome()


# --- acting


def _describe_send(step: Step) -> str:
    chat = step.data.get("chat")
    to = "" if chat is None else f" group {chat}:"
    return f"{step.actor} →{to} {quote_text(str(step.data['send']))}"


def _validate_send(step: Step, checks: Checks) -> None:
    if not step.data["send"].strip():
        raise ValueError("Telegram cannot send an empty message")
    _check_chat(step, checks)


@step_kind(
    "send",
    fields={"send": str, "chat": int},
    describe=_describe_send,
    text_fields=("send",),
    validate=_validate_send,
)
async def _send(run: ScenarioRun, step: Step) -> Outcome:
    person = run.person(step)
    text = str(step.data["send"])
    chat = await run.chat_for(step, person)
    run.begin_action(step)
    await person.send(text, chat_id=chat)
    return Outcome()


def _describe_tap(step: Step) -> str:
    button = step.data["tap"]
    shown = f"button {button}" if isinstance(button, int) else f'"{button}"'
    return f"{step.actor} taps {shown}{_where(step)}"


def _validate_tap(step: Step, checks: Checks) -> None:
    button = step.data["tap"]
    if isinstance(button, int) and button < 1:
        raise ValueError(f"buttons are numbered from 1, in reading order; {button} is not one")
    if isinstance(button, str) and not button.strip():
        raise ValueError('"tap" needs part of a button label, or its number')
    _check_chat(step, checks)


@step_kind(
    "tap",
    fields={"tap": (str, int), "chat": int},
    describe=_describe_tap,
    text_fields=("tap",),
    validate=_validate_tap,
)
async def _tap(run: ScenarioRun, step: Step) -> Outcome:
    person = run.person(step)
    chat = step.data.get("chat")
    run.begin_action(step)
    button = step.data["tap"]
    try:
        await person.tap(button, chat_id=chat)
    except ButtonNotFound as error:
        where = f"in group {chat}" if chat is not None else f"to {step.actor}"
        if not error.labels:
            return Outcome(False, error=f"the bot has no message with buttons {where}, so there is nothing to tap")
        if isinstance(button, str) and any(button.casefold() in label.casefold() for label in error.labels):
            raise  # several labels match: the client's message names them
        listing = ", ".join(f'{number} "{label}"' for number, label in enumerate(error.labels, 1))
        wanted = f"number {button}" if isinstance(button, int) else f'with "{button}" in its label'
        return Outcome(
            False,
            error=f"no button {wanted} on the newest message with buttons {where}; the buttons are: {listing}",
        )
    return Outcome()


def _validate_forge(step: Step, checks: Checks) -> None:
    if not step.data["forge"]:
        raise ValueError('"forge" is the callback data to send, e.g. "jr:1:approve"')
    _check_chat(step, checks)


@step_kind(
    "forge",
    fields={"forge": str, "chat": int},
    describe=lambda step: f'{step.actor} forges a tap with data "{step.data["forge"]}"{_where(step)}',
    text_fields=("forge",),
    validate=_validate_forge,
)
async def _forge(run: ScenarioRun, step: Step) -> Outcome:
    """A tap carrying callback data no button has, as a modified client can send: the bot must refuse it."""
    person = run.person(step)
    chat = step.data.get("chat", person.chat_id)
    messages = run.server.bot_messages(chat)
    if not messages:
        return Outcome(False, error="a forged tap needs a bot message to come from, and there is none yet")
    run.begin_action(step)
    update_id, query_id = await run.server.user_taps(
        person.user_id, chat, messages[-1].message_id, str(step.data["forge"]), forged=True
    )
    run.forged[person_name(step)] = query_id
    await run.server.wait_handled(update_id, timeout=person.timeout)
    return Outcome()


# --- operators and the clock


def _validate_now(step: Step, checks: Checks) -> None:
    value = step.data.get("now")
    if value is not None:
        moment = datetime.fromisoformat(str(value))
        if moment.tzinfo is None:
            raise ValueError(f'"now" needs a time zone, for example "2026-11-24T10:00:00+02:00", not {value!r}')


def _validate_run(step: Step, checks: Checks) -> None:
    if step.data["run"] not in JOB_NAMES:
        raise ValueError(f"unknown job {step.data['run']!r}; jobs: {', '.join(JOB_NAMES)}")
    _validate_now(step, checks)


@step_kind(
    "run",
    fields={"run": str, "now": str},
    describe=lambda step: f"run job {step.data['run']}" + (f" at {step.data['now']}" if "now" in step.data else ""),
    acts_as_person=False,
    validate=_validate_run,
)
async def _run_job(run: ScenarioRun, step: Step) -> Outcome:
    now = datetime.fromisoformat(str(step.data["now"])) if "now" in step.data else None
    await run.sandbox.run_job(str(step.data["run"]), now)
    return Outcome()


def _validate_announce(step: Step, checks: Checks) -> None:
    texts = step.data["announce"]
    if not texts or not all(isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in texts.items()):
        raise ValueError('"announce" maps languages to texts: {"ro": "...", "en": "..."}')
    if step.data.get("audience", "all") not in ("all", "ro", "en"):
        raise ValueError('"audience" is all, ro or en')
    if step.data.get("at") is not None:
        moment = datetime.fromisoformat(str(step.data["at"]))
        if moment.tzinfo is None:
            raise ValueError('"at" needs a time zone, for example "2026-11-24T10:00:00+02:00"')


@step_kind(
    "announce",
    fields={"announce": dict, "audience": str, "at": str},
    describe=lambda step: (
        f"operator announces to {step.data.get('audience', 'all')}"
        + (f" at {step.data['at']}" if "at" in step.data else "")
    ),
    acts_as_person=False,
    validate=_validate_announce,
)
async def _announce(run: ScenarioRun, step: Step) -> Outcome:
    """What `clusterbot announce` does: queue an announcement (now, or scheduled), as an operator."""
    from bot.services import announcements

    assert run.sandbox.rt is not None
    at = datetime.fromisoformat(str(step.data["at"])) if "at" in step.data else None
    async with unit_of_work(run.sandbox.rt.session_factory) as session:
        await announcements.create(
            Repositories(session),
            audience=announcements.Audience(step.data.get("audience", "all")),
            content=announcements.make_content(dict(step.data["announce"])),
            default_locale=run.sandbox.settings.default_locale,
            at=at,
            actor_label="scenario",
        )
    return Outcome()


def _validate_import(step: Step, checks: Checks) -> None:
    from bot.services.tenders.sources import FORMATS

    if step.data.get("format") not in FORMATS:
        raise ValueError(f'"format" is one of {", ".join(FORMATS)}, not {step.data.get("format")!r}')
    if not str(step.data["import_tenders"]).strip():
        raise ValueError('"import_tenders" names a file, relative to the scenario')
    _validate_now(step, checks)


@step_kind(
    "import_tenders",
    fields={"import_tenders": str, "format": str, "source": str, "now": str},
    required=("format",),
    describe=lambda step: f"import {step.data['format']} tenders from {step.data['import_tenders']}",
    acts_as_person=False,
    validate=_validate_import,
)
async def _import_tenders(run: ScenarioRun, step: Step) -> Outcome:
    """Store the tenders of a file as a fetch of a source of that format would (TED: a search response)."""
    from bot.services.tenders.fetch import SourceError
    from bot.services.tenders.sources import store_document

    assert run.sandbox.rt is not None
    path = Path(str(step.data["import_tenders"]))
    if not path.is_absolute():
        path = run.base / path
    try:
        data = await asyncio.to_thread(path.read_bytes)
    except OSError as error:
        return Outcome(False, error=f"cannot read {path}: {error.strerror or error}")
    kind = str(step.data["format"])
    now = datetime.fromisoformat(str(step.data["now"])) if "now" in step.data else datetime.now(UTC)
    try:
        parsed, result = await store_document(
            run.sandbox.rt.session_factory, kind, data, str(step.data.get("source", kind)), now=now
        )
    except SourceError as error:
        return Outcome(False, error=f"{path.name} is not a {kind} file: {error}")
    return Outcome(
        detail=f"{len(parsed.tenders)} tenders read ({len(parsed.problems)} skipped): "
        f"{result.new} new, {result.changes} changed"
    )


# --- expecting


def _matches(run: ScenarioRun, step: Step) -> tuple[list[BotMessage], re.Pattern[str]]:
    key = step.kind.key
    pattern = re.compile(str(step.data[key]), re.IGNORECASE | re.DOTALL)
    return run.messages_for(step), pattern


def _nothing_since(step: Step) -> str:
    return f"the bot sent {step.actor}{_where(step)} nothing since their last action"


@step_kind(
    "expect",
    fields={"expect": str, "chat": int},
    describe=lambda step: f"{step.actor} expect {_regex(step, 'expect')}{_where(step)}",
    is_check=True,
    regex_fields=("expect",),
    validate=_check_regex_and_chat("expect"),
)
async def _expect(run: ScenarioRun, step: Step) -> Outcome:
    messages, pattern = _matches(run, step)
    for message in reversed(messages):
        if pattern.search(searchable(message)):
            return Outcome()
    if not messages:
        return Outcome(False, error=_nothing_since(step))
    latest = excerpt(searchable(messages[-1]), 0, 0, 100)
    which = "the only message" if len(messages) == 1 else f"any of the {len(messages)} messages"
    return Outcome(False, error=f'no match in {which} since their last action; the latest: "{latest}"')


@step_kind(
    "expect_not",
    fields={"expect_not": str, "chat": int},
    describe=lambda step: f"{step.actor} expect_not {_regex(step, 'expect_not')}{_where(step)}",
    is_check=True,
    regex_fields=("expect_not",),
    validate=_check_regex_and_chat("expect_not"),
)
async def _expect_not(run: ScenarioRun, step: Step) -> Outcome:
    messages, pattern = _matches(run, step)
    for message in messages:
        text = searchable(message)
        found = pattern.search(text)
        if found:
            return Outcome(False, error=f'matched: "{excerpt(text, found.start(), found.end())}"')
    return Outcome()


@step_kind(
    "expect_alert",
    fields={"expect_alert": str},
    describe=lambda step: f"{step.actor} expect_alert {_regex(step, 'expect_alert')}",
    is_check=True,
    regex_fields=("expect_alert",),
    validate=_check_regex("expect_alert"),
)
async def _expect_alert(run: ScenarioRun, step: Step) -> Outcome:
    text, alert = run.last_answer(step)
    if not text:
        return Outcome(False, error=f"the bot did not answer {step.actor}'s last tap with a text")
    pattern = re.compile(str(step.data["expect_alert"]), re.IGNORECASE | re.DOTALL)
    shown = f'{"alert" if alert else "toast"}: "{text}"'
    if pattern.search(text):
        return Outcome(detail=shown)
    return Outcome(False, error=f"no match; {shown}")


def _validate_capture(step: Step, checks: Checks) -> None:
    _check_regex("capture")(step, checks)
    _check_chat(step, checks)
    into = step.data["into"]
    if not _IDENTIFIER.fullmatch(into):
        raise ValueError(f'"into" names a variable (letters, digits, _), not {into!r}')
    checks.variables.add(into)


@step_kind(
    "capture",
    fields={"capture": str, "into": str, "chat": int},
    required=("into",),
    describe=lambda step: f"{step.actor} capture {_regex(step, 'capture')} into {step.data['into']}{_where(step)}",
    is_check=True,
    regex_fields=("capture",),
    validate=_validate_capture,
)
async def _capture(run: ScenarioRun, step: Step) -> Outcome:
    messages, pattern = _matches(run, step)
    for message in reversed(messages):
        found = pattern.search(searchable(message))
        if found:
            # The first group when the pattern has one, else the whole match.
            value = found.group(1) if pattern.groups else found.group(0)
            if value is None:
                continue
            run.variables[str(step.data["into"])] = value
            return Outcome(detail=f'{step.data["into"]} = "{value}"')
    if not messages:
        return Outcome(False, error=_nothing_since(step))
    return Outcome(False, error="no message since their last action matches")


def person_name(step: Step) -> str:
    assert step.actor is not None
    return step.actor


# --------------------------------------------------------------------------------------------- parsing


def _kind_of(data: Mapping[str, Any]) -> StepKind:
    keys = [key for key in data if key in KINDS]
    listing = ", ".join(KINDS)
    if not keys:
        unknown = [key for key in data if key != "as"]
        if unknown:
            raise ValueError(f"unknown key {unknown[0]!r}; a step is one of: {listing}")
        raise ValueError(f"this step does nothing; a step is one of: {listing}")
    if len(keys) > 1:
        raise ValueError(f"one step does one thing; this one has {keys[0]!r} and {keys[1]!r}")
    return KINDS[keys[0]]


def _check_fields(kind: StepKind, data: Mapping[str, Any]) -> None:
    for key in data:
        if key not in kind.fields:
            allowed = ", ".join(sorted(kind.fields))
            raise ValueError(f"unknown key {key!r} for a {kind.key!r} step; it takes: {allowed}")
    for key in sorted(kind.required):
        if key not in data:
            raise ValueError(f"a {kind.key!r} step needs {key!r}")
    for key, value in data.items():
        types = kind.fields[key]
        # JSON true/false are Python bools, which are ints too: never accept them as numbers.
        if isinstance(value, bool) or not isinstance(value, types):
            wanted = " or ".join({str: "a string", int: "a whole number"}.get(t, t.__name__) for t in types)
            raise ValueError(f"{key!r} must be {wanted}, not {json.dumps(value, ensure_ascii=False)}")


def _check_variables(step: Step, checks: Checks) -> None:
    for key in step.kind.text_fields | step.kind.regex_fields:
        value = step.data.get(key)
        if isinstance(value, str):
            for name in _VARIABLE.findall(value):
                if name not in checks.variables:
                    raise ValueError(f'${{{name}}} is used before a "capture" step put a value "into" {name!r}')


def is_comment(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith(("#", "//"))


def count_steps(text: str) -> int:
    return sum(1 for line in text.splitlines() if not is_comment(line))


def parse_scenario(text: str) -> list[Step]:
    """Every step of a scenario, checked before anything runs; ScenarioProblem names the first bad line."""
    steps: list[Step] = []
    checks = Checks()
    for number, raw in enumerate(text.splitlines(), 1):
        if is_comment(raw):
            continue
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as error:
            raise ScenarioProblem(number, f"invalid JSON: {error.msg} (column {error.colno})") from None
        if not isinstance(data, dict):
            raise ScenarioProblem(number, 'a step is one JSON object, such as {"as": "ana", "send": "/start"}')
        try:
            kind = _kind_of(data)
            _check_fields(kind, data)
            step = Step(number, kind, data)
            if kind.acts_as_person and step.actor not in checks.people:
                raise ValueError(
                    f"nobody called {step.actor!r} has been declared yet; declare them first, "
                    f'e.g. {{"user": "{step.actor}", "id": 1001}}'
                )
            if kind.validate is not None:
                kind.validate(step, checks)
            _check_variables(step, checks)
        except ValueError as error:
            raise ScenarioProblem(number, str(error), data) from None
        steps.append(step)
    return steps


# --------------------------------------------------------------------------------------------- running


@dataclass
class StepResult:
    step: Step
    outcome: Outcome
    activity: list[Activity]
    header: str


class ScenarioRun:
    """The state of one scenario run: the sandbox, the people by name, captured variables."""

    def __init__(self, sandbox: SandboxBot, base: Path | None = None) -> None:
        self.sandbox = sandbox
        self.server = sandbox.server
        # Where the scenario's file is: the files its steps name are read from there.
        self.base = base or Path.cwd()
        self.people: dict[str, SandboxUser] = {}
        self.names: dict[int, str] = {}
        # Per person: the last event before their latest action (group chats have no since_last_action).
        self.marks: dict[str, int] = {}
        self.variables: dict[str, str] = {}
        self.groups: set[int] = set()
        # Per person whose latest action was a forged tap: its callback query id. SandboxUser does not
        # know about forged taps, so for those people expectations use the marks above instead.
        self.forged: dict[str, str] = {}

    def begin_action(self, step: Step) -> None:
        name = person_name(step)
        self.marks[name] = self.server.last_seq
        self.forged.pop(name, None)

    def last_answer(self, step: Step) -> tuple[str | None, bool]:
        """(text, shown as alert) of the answer to the person's latest tap, forged or not."""
        query_id = self.forged.get(person_name(step))
        if query_id is None:
            return self.person(step).last_callback_answer or (None, False)
        answer = self.server.callback_answer(query_id) or {}
        return answer.get("text"), bool(answer.get("show_alert"))

    def person(self, step: Step) -> SandboxUser:
        return self.people[person_name(step)]

    def chat_name(self, chat_id: int) -> str:
        if chat_id in self.names:
            return self.names[chat_id]
        return f"group {chat_id}" if chat_id < 0 else f"chat {chat_id}"

    async def chat_for(self, step: Step, person: SandboxUser) -> int | None:
        """The group the step happens in, created with the bot in it on first use; None for the private chat."""
        chat = step.data.get("chat")
        if chat is None:
            return None
        if chat not in self.groups:
            supergroup = str(chat).startswith("-100")
            self.server.add_group(chat, f"Group {chat}", supergroup=supergroup)
            await self.server.wait_handled(self.server.add_bot_to_group(chat, person.user_id))
            self.groups.add(chat)
        return int(chat)

    def messages_for(self, step: Step) -> list[BotMessage]:
        """Bot messages to the step's person (or in its group) since that person's last action."""
        person = self.person(step)
        chat = step.data.get("chat")
        if chat is None and person_name(step) not in self.forged:
            return person.since_last_action
        if chat is None:
            chat = person.chat_id
        since = self.marks.get(person_name(step), 0)
        return [
            BotMessage.from_state(event.state, seq=event.seq, edited=event.kind == "edited")
            for event in self.server.events(chat, since=since, kinds=("sent", "edited"))
            if event.state is not None
        ]

    def resolve(self, step: Step) -> Step:
        """The step with ${var} replaced by captured values (escaped where the field is a regex)."""
        data = dict(step.data)

        def literal(found: re.Match[str]) -> str:
            return self.variables[found.group(1)]

        def escaped(found: re.Match[str]) -> str:
            return re.escape(self.variables[found.group(1)])

        for key in step.kind.text_fields | step.kind.regex_fields:
            value = data.get(key)
            if isinstance(value, str):
                data[key] = _VARIABLE.sub(escaped if key in step.kind.regex_fields else literal, value)
        return replace(step, data=data)

    async def execute(self, step: Step) -> StepResult:
        step = self.resolve(step)
        since = self.server.last_seq
        try:
            outcome = await step.kind.run(self, step)
            if not step.kind.is_check:
                # What members receive through the outbox arrives within the step, as it would by then.
                await self.sandbox.deliver()
        except (ButtonNotFound, CannotTap, SandboxUsageError, ValueError) as error:
            outcome = Outcome(False, error=str(error))
        except TimeoutError as error:
            outcome = Outcome(False, error=f"the bot did not finish: {error}")
        except MembershipError as error:
            outcome = Outcome(False, error=f"refused: {error.reason.value.replace('_', ' ')}")
        except Exception as error:  # a scenario reports, it never dies with a traceback
            outcome = Outcome(False, error=f"unexpected {type(error).__name__}: {error}")
        return StepResult(step, outcome, bot_activity(self.server, since), step.kind.describe(step))


# --------------------------------------------------------------------------------------------- reporting


class TextReport:
    """The readable transcript: one block per step, then the summary."""

    def __init__(self, out: TextIO, total_lines: int) -> None:
        self.out = out
        self.width = max(2, len(str(total_lines)))

    def emit(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def step(self, result: StepResult, run: ScenarioRun) -> None:
        outcome = result.outcome
        mark = ("✓ " if outcome.ok else "✗ ") if result.step.kind.is_check or not outcome.ok else ""
        header = f"{result.step.line:>{self.width}}  {mark}{result.header}"
        if outcome.detail:
            header += f" — {outcome.detail}"
        if outcome.error:
            header += f" — {outcome.error}"
        self.emit(header)
        pad = " " * (self.width + 4)
        for activity in result.activity:
            self.emit(pad + describe_activity(activity, run.chat_name, indent=len(pad) + 6))

    def problem(self, problem: ScenarioProblem) -> None:
        self.emit(f"{problem.line:>{self.width}}  ✗ line {problem.line}: {problem.message}")

    def summary(self, steps: int, passed: int, failed: int) -> None:
        left = steps - passed - failed
        tail = f", {left} not run" if left else ""
        self.emit(f"{steps} steps: {passed} passed, {failed} failed{tail}")


class JsonReport:
    """One JSON object per step, then {"summary": ...}; for tools."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def emit(self, obj: Mapping[str, Any]) -> None:
        print(json.dumps(obj, ensure_ascii=False), file=self.out, flush=True)

    def step(self, result: StepResult, run: ScenarioRun) -> None:
        messages = []
        answers = []
        for activity in result.activity:
            if activity.kind == "answer":
                to = run.chat_name(activity.user_id or activity.chat_id)
                answers.append({"to": to, "text": activity.answer, "alert": activity.alert})
                continue
            assert activity.message is not None
            entry: dict[str, Any] = {
                "to": run.chat_name(activity.chat_id),
                "chat_id": activity.chat_id,
                "text": activity.message.content,
                "buttons": activity.message.buttons,
                "edited": activity.kind == "edited",
            }
            if activity.kind == "deleted":
                entry["deleted"] = True
            messages.append(entry)
        self.emit(
            {
                "line": result.step.line,
                "step": dict(result.step.data),
                "ok": result.outcome.ok,
                "messages": messages,
                "answers": answers,
                "detail": result.outcome.detail,
                "error": result.outcome.error,
            }
        )

    def problem(self, problem: ScenarioProblem) -> None:
        self.emit(
            {
                "line": problem.line,
                "step": None if problem.data is None else dict(problem.data),
                "ok": False,
                "messages": [],
                "answers": [],
                "detail": None,
                "error": problem.message,
            }
        )

    def summary(self, steps: int, passed: int, failed: int) -> None:
        counts = {"steps": steps, "passed": passed, "failed": failed, "not_run": steps - passed - failed}
        self.emit({"summary": counts})


def describe_activity(activity: Activity, name_of: Callable[[int], str], *, indent: int) -> str:
    """One transcript block: `bot → maria: …` with the rendered message, or a tap's answer."""
    if activity.kind == "answer":
        kind = "alert" if activity.alert else "toast"
        return f"bot → {name_of(activity.user_id or activity.chat_id)} ({kind}): {activity.answer}"
    assert activity.message is not None
    mark = {"edited": " (edited)", "deleted": " (deleted)"}.get(activity.kind, "")
    return indent_block(f"bot → {name_of(activity.chat_id)}{mark}: ", message_body(activity.message), indent)


@contextlib.contextmanager
def quiet_libraries() -> Iterator[None]:
    """aiogram logs every update and alembic every migration at INFO: noise next to a transcript or a prompt."""
    loggers = [
        logging.getLogger(name) for name in ("aiogram", "alembic", "bot.jobs", "bot.delivery", "bot.services.tenders")
    ]
    previous = [logger.level for logger in loggers]
    # Someone who asked for DEBUG wants to see everything.
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        for logger in loggers:
            logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, previous, strict=True):
            logger.setLevel(level)


def sandbox_settings(settings: Settings, database: Path) -> Settings:
    """The deployment's settings on a private SQLite file, with no Telegram token, no Redis, and no tender
    source on the internet (the console points "ted" at a local stand-in; scenarios import files)."""
    return settings.replace(
        database_url=f"sqlite+aiosqlite:///{database}",
        bot_token=None,
        redis_url=None,
        tender_sources="[]",
        # Admins are declared by the scenario or the console's people, not taken from the environment.
        admin_ids=frozenset(),
    )


async def run_scenario(
    text: str,
    settings: Settings,
    *,
    db: Path | None = None,
    as_json: bool = False,
    out: TextIO | None = None,
    base: Path | None = None,
) -> int:
    """Run a scenario given as text; 0 when every step passed, else 1. Files its steps name are read relative
    to `base` (the scenario file's directory; default the current one)."""
    out = sys.stdout if out is None else out
    total = count_steps(text)
    report: TextReport | JsonReport = JsonReport(out) if as_json else TextReport(out, len(text.splitlines()))
    try:
        steps = parse_scenario(text)
    except ScenarioProblem as problem:
        report.problem(problem)
        report.summary(total, 0, 1)
        return 1
    with contextlib.ExitStack() as cleanup:
        if db is None:
            directory = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="clusterbot-scenario-")))
            database = directory / "scenario.sqlite3"
        else:
            db.parent.mkdir(parents=True, exist_ok=True)
            database = db
        cleanup.enter_context(quiet_libraries())
        passed = failed = 0
        async with SandboxBot(sandbox_settings(settings, database)) as sandbox:
            await seed_content(sandbox)
            run = ScenarioRun(sandbox, base)
            for step in steps:
                result = await run.execute(step)
                report.step(result, run)
                if not result.outcome.ok:
                    failed += 1
                    break
                passed += 1
        report.summary(total, passed, failed)
        return 0 if failed == 0 else 1


async def run_scenario_file(
    path: Path,
    settings: Settings,
    db: Path | None = None,
    *,
    as_json: bool = False,
    out: TextIO | None = None,
) -> int:
    """`clusterbot sandbox --script FILE`: 0 when every step passed, 1 when one failed, 2 when unreadable.

    One JSON object per line; blank lines and lines starting with # or // are comments:

    * ``{"user": "ana", "id": 1001, "first_name": "Ana", "language_code": "ro", "role": "member",
      "organisation": "EcoTech SRL"}`` declares a person (role: guest, member, manager, admin;
      ``last_name`` and ``username`` optional; a member needs an organisation).
    * ``{"as": "ana", "send": "/start"}`` sends a message; ``"chat": -100123`` sends it in a group.
    * ``{"as": "ana", "tap": "English"}`` presses a button of the newest message with buttons, by part of
      its label or by number.
    * ``{"as": "ana", "expect": "REGEX"}`` / ``"expect_not"``: a message to ana since her last action
      (text and button labels; case-insensitive) matches / none does. ``"chat"`` looks in a group.
    * ``{"as": "ana", "forge": "jr:1:approve"}``: a tap with callback data no button carries.
    * ``{"as": "ana", "expect_alert": "REGEX"}``: the answer to ana's last tap (or forged tap) matches.
    * ``{"as": "ana", "capture": "start=([A-Za-z0-9_-]+)", "into": "code"}``: keep the first group for ``${code}``
      in later steps.
    * ``{"import_tenders": "PATH", "format": "ted|ocds|rss|csv"}``: store the tenders of a file (relative to the
      scenario) as a fetch would; ``"source"`` names the source (default: the format), ``"now"`` the time.

    The run stops at the first failed step. Every run starts from a fresh database unless ``db`` is given;
    either way the services catalogue and the working groups are there (an empty catalogue is seeded).
    """
    try:
        text = await asyncio.to_thread(Path(path).read_text, encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        print(f"cannot read the scenario {path}: {reason}", file=sys.stderr)
        return 2
    return await run_scenario(text, settings, db=db, as_json=as_json, out=out, base=Path(path).parent)


__all__ = [
    "KINDS",
    "Activity",
    "ScenarioProblem",
    "bot_activity",
    "describe_activity",
    "parse_scenario",
    "run_scenario",
    "run_scenario_file",
    "step_kind",
]
