"""Forged button presses, field by field: every callback prefix with digits that are not ASCII, negative and zero
ids, ids past 32 and 64 bits, unknown actions, a wrong number of fields and empty fields. Each gets a polite
alert and nothing is logged as an error, on both databases."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.sandbox.client import SandboxUser
from bot.sandbox.harness import SandboxBot
from bot.services import catalogue
from bot.services.groups import seed_groups
from storage.db import unit_of_work
from storage.models import Service, WorkingGroup
from storage.repositories import Repositories
from tests.test_catalogue_chat import SMALL

STALE = "This button is no longer valid. Open /menu for a fresh one."
NO_SERVICE = "This service is not available any more."
NO_CATEGORY = "This category is not available any more."
NO_REQUEST = "This request no longer exists."
NO_GROUP = "This working group does not exist."
NO_ANNOUNCEMENT = "This announcement no longer exists."

# Ids that no row can have: each press is refused before it reaches a handler.
MALFORMED_IDS = {
    "superscript two": "²",
    "arabic-indic digits": "١٢",
    "negative": "-1",
    "zero": "0",
    "2^63": str(2**63),
    "2^64": str(2**64),
    "plus sign": "+5",
    "space": " 5",
    "underscore": "1_0",
    "leading zero": "07",
    "empty": "",
}
# Ids in range that no row has: they reach the database (past PostgreSQL's int32 and far past any real id).
MISSING_IDS = {"2^31": str(2**31), "2^62": str(2**62)}
# Pages: 0 is the first; beyond the sane maximum or not a number, the press is stale. (An empty field is the
# field's default, as aiogram unpacks it: the first page; where the page has no default, see STALE_PRESSES.)
BAD_PAGES = {"superscript two": "²", "negative": "-1", "2^31": str(2**31), "2^63": str(2**63), "plus": "+1"}


@dataclass(frozen=True)
class Forged:
    """Callback data with one field forged: `{}` marks it; `who` presses, after sending `before` (a state)."""

    template: str
    who: str
    missing: str | None = None  # the answer when the id is in range but no row has it
    before: str | None = None


ID_FIELDS = [
    Forged("ann:group:{}", "maria", STALE, before="/announce"),
    Forged("ann:stop:{}", "maria", NO_ANNOUNCEMENT),
    Forged("ann:unreached:{}", "maria"),
    Forged("sv:cat:{}:0:", "radu", NO_CATEGORY),
    Forged("sv:card:{}:0:", "radu", NO_SERVICE),
    Forged("sv:ask:{}:0:", "radu", NO_SERVICE),
    Forged("se:edit:{}:0:", "maria", NO_SERVICE),
    Forged("se:hide:{}:0:", "maria", NO_SERVICE),
    Forged("se:up:{}:0:", "maria", NO_SERVICE),
    Forged("se:add:{}:0:", "maria", NO_CATEGORY),
    Forged("se:rename:{}:0:", "maria", NO_CATEGORY),
    Forged("se:chide:{}:0:", "maria", NO_CATEGORY),
    Forged("se:cdown:{}:0:", "maria", NO_CATEGORY),
    Forged("sr:{}:take", "maria", NO_REQUEST),
    Forged("sr:{}:decline", "maria", NO_REQUEST),
    Forged("g:card:{}:all:0", "radu", NO_GROUP),
    Forged("g:join:{}:all:0", "radu", NO_GROUP),
    Forged("g:terms:{}:all:0", "radu", NO_GROUP),
    Forged("g:accept:{}:all:0", "radu", NO_GROUP),
    Forged("g:leave:{}:all:0", "radu", NO_GROUP),
    Forged("g:dissolve:{}:all:0", "maria", NO_GROUP),
    Forged("g:transform:{}:all:0", "maria", NO_GROUP),
    Forged("g:translate:{}:all:0", "maria", NO_GROUP),
    Forged("g:confidential:{}:all:0", "maria", NO_GROUP),
    Forged("jr:{}:approve", "maria", NO_REQUEST),
    Forged("jr:{}:reject", "maria", NO_REQUEST),
]

PAGE_FIELDS = [
    Forged("ann:groups:{}", "maria", before="/announce"),
    Forged("sv:home:0:{}:", "radu"),
    Forged("sv:cat:{category}:{}:", "radu"),
    Forged("sv:find:0:{}:swater", "radu"),
    Forged("se:hide:{service}:{}:", "maria"),
    Forged("gl:all:{}", "radu"),
    Forged("g:card:{group}:all:{}", "radu"),
]

# Whole presses that no button carries: unknown actions and views, a wrong number of fields, empty fields,
# a card's way back that is not one, and an id where the action takes none.
STALE_PRESSES = [
    "menu:fly",
    "menu:",
    "menu",
    "menu:home:1",
    "join:fly",
    "join",
    "join:send:1",
    "lang",
    "lang:en:1",
    "jr:1:fly",
    "jr:1",
    "jr:1:approve:1",
    "ann:fly:1",
    "ann:audience:group",
    "ann:audience:",
    "ann:stop",
    "ann:stop:1:2",
    "ann:",
    "ann",
    "ann:send:1",
    "sv:fly:1:0:",
    "sv:card:1",
    "sv:card:1:0",
    "sv:card:1:0::",
    "sv:home:1:0:",
    "sv:card:{service}:0:c²",
    "sv:card:{service}:0:c-1",
    "sv:card:{service}:0:c" + str(2**63),
    "sv:card:{service}:0:x",
    "sv:find:0:0:t²",
    "sv:find:0:0:c1",
    "se:fly:1:0:",
    "se:hide:1:0",
    "se:new:1:0:",
    "se:export:{service}:0:",
    "sr:1:fly",
    "sr:1",
    "sr::take",
    "sf:fly",
    "sf",
    "sf:cancel:1",
    "g:fly:1:all:0",
    "g:card:1:fly:0",
    "g:card:1:all",
    "g:card:1:all:0:0",
    "g:propose:1:all:0",
    "gl:fly:0",
    "gl:all",
    "gl:all:",
    "ann:groups:",
    "gf:fly",
    "gf",
    "gf:cancel:1",
    "",
    ":",
    "nonsense",
]


@pytest.fixture
async def sandbox(migrated_url: str, make_settings: Callable[..., Settings]) -> AsyncIterator[SandboxBot]:
    async with SandboxBot(make_settings(migrated_url)) as running:
        assert running.rt is not None
        async with unit_of_work(running.rt.session_factory) as session:
            repos = Repositories(session)
            await catalogue.seed_catalogue(repos, path=SMALL)
            await seed_groups(repos)
        yield running


async def cast(sandbox: SandboxBot) -> dict[str, SandboxUser]:
    people = {
        "maria": await sandbox.person("maria", 3001, "Maria", language_code="en", role="manager"),
        "radu": await sandbox.person(
            "radu", 2001, "Radu", language_code="en", role="member", organisation="EcoTech SRL"
        ),
    }
    for person in people.values():
        await person.send("/start")
    return people


async def real_ids(sandbox: SandboxBot) -> dict[str, int]:
    """Ids of rows that exist, for the presses whose other field is the forged one."""
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        service = await session.scalar(select(Service).where(Service.key == "capital"))
        group = await session.scalar(select(WorkingGroup.id).where(WorkingGroup.key == "sludge"))
    assert service is not None and group is not None
    return {"service": service.id, "category": service.category_id, "group": group}


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]


async def misanswered(
    who: SandboxUser, data: str, expected: tuple[str | None, bool], caplog: pytest.LogCaptureFixture
) -> list[tuple[str, tuple[str | None, bool], list[str]]]:
    """Forge `data`: [] when the answer is `expected` and nothing was logged as an error, else what happened."""
    answer = await who.forge(data)
    logged = errors(caplog)
    caplog.clear()
    return [] if answer == expected and not logged else [(data, answer, logged)]


@pytest.mark.parametrize("forged", ID_FIELDS, ids=lambda forged: forged.template)
async def test_forged_ids_are_refused_politely(
    sandbox: SandboxBot, forged: Forged, caplog: pytest.LogCaptureFixture
) -> None:
    people = await cast(sandbox)
    who = people[forged.who]
    if forged.before:
        await who.send(forged.before)
    wrong = []
    with caplog.at_level(logging.ERROR):
        for value in MALFORMED_IDS.values():
            wrong += await misanswered(who, forged.template.format(value), (STALE, True), caplog)
        # Without a row to speak of, a plain answer without an alert is polite too (who was not reached: none).
        expected = (forged.missing, True) if forged.missing else (None, False)
        for value in MISSING_IDS.values():
            wrong += await misanswered(who, forged.template.format(value), expected, caplog)
    assert wrong == []


@pytest.mark.parametrize("forged", PAGE_FIELDS, ids=lambda forged: forged.template)
async def test_forged_pages_are_refused_politely(
    sandbox: SandboxBot, forged: Forged, caplog: pytest.LogCaptureFixture
) -> None:
    people = await cast(sandbox)
    ids = await real_ids(sandbox)
    who = people[forged.who]
    if forged.before:
        await who.send(forged.before)
    wrong = []
    with caplog.at_level(logging.ERROR):
        for value in BAD_PAGES.values():
            wrong += await misanswered(who, forged.template.replace("{}", value).format(**ids), (STALE, True), caplog)
        # A page past the end is answered with the last one, not refused.
        data = forged.template.replace("{}", "99999").format(**ids)
        answer = await who.forge(data)
        if answer[1] or errors(caplog):
            wrong.append((data, answer, errors(caplog)))
    assert wrong == []


async def test_presses_no_button_carries_are_stale(sandbox: SandboxBot, caplog: pytest.LogCaptureFixture) -> None:
    people = await cast(sandbox)
    ids = await real_ids(sandbox)
    wrong = []
    with caplog.at_level(logging.ERROR):
        for who in people.values():
            for template in STALE_PRESSES:
                wrong += await misanswered(who, template.format(**ids), (STALE, True), caplog)
    assert wrong == []


async def test_a_row_with_a_64_bit_id_is_found_from_its_button(sandbox: SandboxBot) -> None:
    """Ids past 32 bits are rows like any other: the card of a service numbered 2^40 opens."""
    assert sandbox.rt is not None
    big = 2**40
    async with unit_of_work(sandbox.rt.session_factory) as session:
        service = await session.scalar(select(Service).where(Service.key == "capital"))
        assert service is not None
        service.id = big
    people = await cast(sandbox)
    radu = people["radu"]
    answer = await radu.forge(f"sv:card:{big}:0:")
    assert answer == (None, False)
    assert "Access to capital" in (radu.last_text or "")
