"""What the sandbox starts with (people, the services catalogue, working groups), and how everyone in its
database is brought back each run."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.app import fill_empty_content
from bot.sandbox.client import SandboxUser
from bot.sandbox.harness import SandboxBot
from bot.services import members
from bot.services.members import PersonView
from storage.db import unit_of_work
from storage.models import Role
from storage.repositories import Repositories

# Ids that `/new` hands out start here, clear of the seed's.
FIRST_FREE_ID = 5001


@dataclass(frozen=True)
class SeedPerson:
    name: str
    telegram_id: int
    first_name: str
    language_code: str
    role: Role
    organisation: str | None = None
    cui: str | None = None


# One of each kind of person, in both languages, so that every screen has someone to show it to.
PEOPLE: tuple[SeedPerson, ...] = (
    SeedPerson("ana", 1001, "Ana", "ro", Role.GUEST),
    SeedPerson("dan", 1002, "Dan", "en", Role.GUEST),
    SeedPerson("radu", 2001, "Radu", "ro", Role.MEMBER, "EcoTech SRL", "14399840"),
    SeedPerson("maria", 3001, "Maria", "ro", Role.MANAGER),
    SeedPerson("john", 3002, "John", "en", Role.MANAGER),
    SeedPerson("ioana", 4001, "Ioana", "en", Role.ADMIN),
)


def name_for(first_name: str) -> str:
    """The console name of a person: their first name, lower case, with no spaces."""
    return re.sub(r"\s+", "_", first_name.strip().casefold()) or "someone"


async def seed_content(sandbox: SandboxBot) -> None:
    """The services catalogue and the working groups, so that the sandbox always has something to show."""
    assert sandbox.rt is not None
    # As a real first start does: only what is empty is filled, so earlier sessions' edits stay.
    await fill_empty_content(sandbox.rt.session_factory, actor_label="sandbox-seed")


async def seed(sandbox: SandboxBot, people: tuple[SeedPerson, ...] = PEOPLE) -> list[str]:
    """Put the content and the seed people in the database unless they are there already; returns the names added.

    Idempotent: a person already in the database is left as earlier sessions left them (an approved
    guest stays a member), so seeding every run never undoes what was tried before.
    """
    assert sandbox.rt is not None
    await seed_content(sandbox)
    added = []
    async with unit_of_work(sandbox.rt.session_factory) as session:
        repos = Repositories(session)
        for person in people:
            if await repos.people.by_telegram_id(person.telegram_id) is not None:
                continue
            await members.provision(
                repos,
                telegram_id=person.telegram_id,
                first_name=person.first_name,
                language_code=person.language_code,
                role=person.role,
                organisation=person.organisation,
                cui=person.cui,
                actor_label="sandbox-seed",
            )
            added.append(person.name)
    return added


async def everyone(sandbox: SandboxBot) -> list[PersonView]:
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        return await members.list_people(Repositories(session))


def register(sandbox: SandboxBot, name: str, person: PersonView) -> SandboxUser:
    """Make a person of the database a Telegram user of this sandbox session, without touching the database."""
    if person.role is Role.ADMIN:
        # Admins come from configuration in production; the sandbox configures them for itself.
        sandbox.settings.admin_ids = sandbox.settings.admin_ids | {person.telegram_id}
    user = SandboxUser(
        sandbox.server,
        person.telegram_id,
        person.first_name,
        last_name=person.last_name,
        username=person.username,
        language_code=person.telegram_language,
    )
    # People of the console's database have used the bot before: their chats exist, so managers get
    # join requests without first sending /start in this session.
    sandbox.server.open_private_chat(person.telegram_id)
    sandbox.people[name] = user
    return user


async def load_people(sandbox: SandboxBot) -> dict[str, SandboxUser]:
    """Everyone in the database, by console name (the seed's names for the seed people)."""
    # A database from elsewhere (--db) may give a seed id to someone else, who keeps their own name.
    seeded = {(person.telegram_id, person.first_name): person.name for person in PEOPLE}
    users: dict[str, SandboxUser] = {}
    for person in sorted(await everyone(sandbox), key=lambda p: p.telegram_id):
        name = seeded.get((person.telegram_id, person.first_name)) or name_for(person.first_name)
        if name in users:
            name = f"{name}{person.telegram_id}"
        users[name] = register(sandbox, name, person)
    return users


async def add_person(
    sandbox: SandboxBot,
    name: str,
    telegram_id: int,
    *,
    role: Role,
    language_code: str,
    organisation: str | None = None,
) -> SandboxUser:
    """A new person, written to the database (so they are back next session) and registered in the sandbox."""
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        view = await members.provision(
            Repositories(session),
            telegram_id=telegram_id,
            first_name=name[:1].upper() + name[1:],
            language_code=language_code,
            role=role,
            organisation=organisation,
            actor_label="sandbox",
        )
    return register(sandbox, name, view)


def next_free_id(users: dict[str, SandboxUser]) -> int:
    return max([FIRST_FREE_ID - 1, *(user.user_id for user in users.values())]) + 1


__all__ = [
    "PEOPLE",
    "SeedPerson",
    "add_person",
    "everyone",
    "load_people",
    "name_for",
    "next_free_id",
    "seed",
    "seed_content",
]
