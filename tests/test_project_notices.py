"""Projects' notices through the notice path: who is told of a proposal, of a manager's move, of a new place in
the ranking and of an outcome in a competition, and nobody else; the person acting is not told of their own
commitment, their colleagues are; each notice is read in its reader's language when it goes out."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import date
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import build_i18n
from bot.sandbox.client import SandboxUser
from bot.sandbox.harness import SandboxBot
from bot.services import groups, members, projects
from bot.services.members import PersonView
from handlers.notices import renderer
from storage.db import unit_of_work
from storage.models import OutboxMessage, Person, ProjectState, Role
from storage.repositories import Repositories

Factory = async_sessionmaker[AsyncSession]
_IDS: Iterator[int] = itertools.count(70_000)
LEI = "RON"
ODD = "Compost <urban> & verde"


async def person(
    repos: Repositories, name: str, role: Role = Role.MEMBER, organisation: str | None = None, language: str = "ro"
) -> PersonView:
    return await members.provision(
        repos,
        telegram_id=next(_IDS),
        first_name=name,
        role=role,
        language_code=language,
        organisation=organisation if organisation is not None else (f"{name} SRL" if role is Role.MEMBER else None),
    )


async def told(factory: Factory, kind: str, batch: str | None = None) -> dict[int, list[dict[str, Any]]]:
    """Who has a notice of `kind` waiting (person id -> its parameters), in the batches starting with `batch`."""
    async with unit_of_work(factory) as session:
        rows = (await session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind))).all()
    found: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        if batch is None or row.batch.startswith(batch):
            assert row.person_id is not None
            found.setdefault(row.person_id, []).append(row.content)
    return found


def worded(kind: str, params: dict[str, Any], locale: str) -> str:
    return str(renderer(build_i18n("ro"))(kind, params, locale)["text"])


async def prepared(factory: Factory, manager: PersonView, proposer: PersonView, *, group_id: int | None = None) -> int:
    async with unit_of_work(factory) as session:
        repos = Repositories(session)
        project = await projects.propose(
            repos, proposer, title=ODD, description="Din deșeuri verzi.", locale="ro", group_id=group_id
        )
        await projects.set_plan(repos, proposer, project.id, [("Studiu de fezabilitate", None, date(2027, 3, 1))])
        await projects.set_budget(repos, proposer, project.id, 12_500_00, "RON")
        await projects.move(repos, manager, project.id, ProjectState.PREPARATION, reason="Plan și buget gata.")
        return project.id


async def commit(factory: Factory, who: PersonView, project_id: int, amount: int | None = 1_000_00) -> None:
    async with unit_of_work(factory) as session:
        repos = Repositories(session)
        if amount is None:
            await projects.withdraw(repos, who, project_id, kind="money", unit=LEI)
        else:
            await projects.commit(repos, who, project_id, kind="money", unit=LEI, hundredths=amount)


async def test_a_proposal_is_told_to_its_proposer_the_managers_and_the_groups_members_each_once(
    session_factory: Factory,
) -> None:
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        maria = await person(repos, "Maria", Role.MANAGER, language="en")
        ion = await person(repos, "Ion", Role.MANAGER, organisation="Cluster Eco")
        ana = await person(repos, "Ana")
        bogdan = await person(repos, "Bogdan", language="en")
        carmen = await person(repos, "Carmen")
        group = await groups.propose(
            repos, ana, title="Nămoluri", objective="Valorificarea nămolurilor.", locale="ro", default_locale="ro"
        )
        await groups.join(repos, bogdan, group.id, "ro")
        # A manager who takes part in the group reads the managers' wording, once.
        await groups.join(repos, ion, group.id, "ro")
    async with unit_of_work(session_factory) as session:
        project = await projects.propose(
            Repositories(session), ana, title=ODD, description="Din deșeuri.", locale="ro", group_id=group.id
        )
    proposed = await told(session_factory, "project.proposed")
    assert {who: [p["to"] for p in params] for who, params in proposed.items()} == {
        ana.id: ["proposer"],
        maria.id: ["manager"],
        ion.id: ["manager"],
        bogdan.id: ["group"],
    }
    assert carmen.id not in proposed
    params = proposed[bogdan.id][0]
    assert params["project_id"] == project.id and params["proposer"] == "Ana (Ana SRL)"
    text = worded("project.proposed", params, "en")
    assert "Ana (Ana SRL) proposed a project for your working group <b>Nămoluri 🇷🇴</b>" in text
    assert "Compost &lt;urban&gt; &amp; verde" in text
    mine = worded("project.proposed", proposed[ana.id][0], "ro")
    assert "Proiectul dumneavoastră <b>Compost &lt;urban&gt; &amp; verde</b> a fost propus." in mine

    # On one's own, with no working group: the proposer and the managers only.
    async with unit_of_work(session_factory) as session:
        alone = await projects.propose(
            Repositories(session), carmen, title="Solar", description="Panouri.", locale="ro"
        )
    second = await told(session_factory, "project.proposed", f"project:{alone.id}:")
    assert sorted(second) == sorted([carmen.id, maria.id, ion.id])


async def test_every_move_tells_everyone_involved_with_the_reason_but_not_the_manager_who_moved_it(
    session_factory: Factory,
) -> None:
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        maria = await person(repos, "Maria", Role.MANAGER)
        john = await person(repos, "John", Role.MANAGER, language="en")
        ana = await person(repos, "Ana")
        andrei = await person(repos, "Andrei", organisation="Ana SRL", language="en")
        bogdan = await person(repos, "Bogdan")
        carmen = await person(repos, "Carmen")
        elena = await person(repos, "Elena")
        outsider = await person(repos, "Dan")
        group = await groups.propose(
            repos, elena, title="Nămoluri", objective="Valorificarea nămolurilor.", locale="ro", default_locale="ro"
        )
        await groups.join(repos, carmen, group.id, "ro")
        await groups.join(repos, ana, group.id, "ro")
    project_id = await prepared(session_factory, maria, ana, group_id=group.id)
    # Into preparation: nobody has committed yet; the proposer and the group's members are told.
    first = await told(session_factory, "project.state", f"project:{project_id}:state:")
    assert sorted(first) == sorted([ana.id, elena.id, carmen.id])
    assert first[ana.id][0]["state"] == "preparation"

    await commit(session_factory, andrei, project_id)
    await commit(session_factory, bogdan, project_id)
    async with unit_of_work(session_factory) as session:
        await projects.move(
            Repositories(session), john, project_id, ProjectState.RUNNING, reason="Resurse <strânse> & gata"
        )
    moves = await told(session_factory, "project.state", f"project:{project_id}:state:")
    running = {who for who, params in moves.items() if any(p["state"] == "running" for p in params)}
    # Ana's organisation stands through Andrei's commitment: both of its people are told.
    assert running == {ana.id, andrei.id, bogdan.id, elena.id, carmen.id}
    assert john.id not in moves and maria.id not in moves and outsider.id not in moves
    params = next(p for p in moves[andrei.id] if p["state"] == "running")
    assert params["reason"] == "Resurse <strânse> & gata"
    assert "is now running.\nReason: Resurse &lt;strânse&gt; &amp; gata" in worded("project.state", params, "en")
    assert "este acum în desfășurare.\nMotivul: Resurse &lt;strânse&gt;" in worded("project.state", params, "ro")


async def test_a_new_place_is_told_to_each_organisation_whose_rank_changed_but_not_to_the_one_who_acted(
    session_factory: Factory,
) -> None:
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        maria = await person(repos, "Maria", Role.MANAGER)
        ana = await person(repos, "Ana")
        andrei = await person(repos, "Andrei", organisation="Ana SRL")
        bogdan = await person(repos, "Bogdan")
        bianca = await person(repos, "Bianca", organisation="Bogdan SRL", language="en")
        carmen = await person(repos, "Carmen")
    project_id = await prepared(session_factory, maria, ana)
    await commit(session_factory, ana, project_id)
    await commit(session_factory, bogdan, project_id)
    await commit(session_factory, carmen, project_id)
    ranks = await told(session_factory, "project.rank")
    # Each newcomer took the next place: only its colleagues heard of it, nobody else's place changed.
    assert {who: [(p["rank"], p["count"]) for p in params] for who, params in ranks.items()} == {
        andrei.id: [(1, 1)],
        bianca.id: [(2, 2)],
    }
    assert "Your organisation is now in place 2 of 2 in the project" in worded(
        "project.rank", ranks[bianca.id][0], "en"
    )
    # Ana changes her amount: nobody's place changes, nobody is told.
    await commit(session_factory, ana, project_id, 2_000_00)
    assert await told(session_factory, "project.rank") == ranks

    async with unit_of_work(session_factory) as session:
        withdrawn = await projects.withdraw(Repositories(session), ana, project_id, kind="money", unit=LEI)
    assert withdrawn.rank is None
    change = await told(session_factory, "project.rank", f"project:{project_id}:rank:")
    after = {who: [(p["rank"], p["count"]) for p in params][-1] for who, params in change.items() if who != andrei.id}
    assert after == {bianca.id: (1, 2), bogdan.id: (1, 2), carmen.id: (2, 2)}
    # Andrei hears that his organisation lost its place; Ana, who withdrew, hears nothing.
    assert [p["rank"] for p in change[andrei.id]] == [1, None]
    assert ana.id not in change
    lost = worded("project.rank", change[andrei.id][-1], "ro")
    assert "Organizația dumneavoastră nu mai are un loc în proiectul" in lost


async def test_closing_the_list_tells_each_organisation_its_outcome_and_a_withdrawal_moves_a_waiting_one_up(
    session_factory: Factory,
) -> None:
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        maria = await person(repos, "Maria", Role.MANAGER)
        ana, bogdan, carmen, dan = [await person(repos, name) for name in ("Ana", "Bogdan", "Carmen", "Dan")]
        bianca = await person(repos, "Bianca", organisation="Bogdan SRL")
    project_id = await prepared(session_factory, maria, ana)
    async with unit_of_work(session_factory) as session:
        project = await Repositories(session).projects.get(project_id)
        assert project is not None
        project.places = 2
    for who in (ana, bogdan, carmen, dan):
        await commit(session_factory, who, project_id)
    async with unit_of_work(session_factory) as session:
        await projects.close_list(Repositories(session), maria, project_id)
    outcomes = await told(session_factory, "project.outcome")
    assert {who: [(p["outcome"], p["rank"]) for p in params] for who, params in outcomes.items()} == {
        ana.id: [("participant", 1)],
        bogdan.id: [("participant", 2)],
        bianca.id: [("participant", 2)],
        carmen.id: [("waiting", 3)],
        dan.id: [("waiting", 4)],
    }
    waiting = worded("project.outcome", outcomes[dan.id][0], "ro")
    assert "așteaptă, pe locul 4 din 4, unul dintre cele 2 locuri ale proiectului" in waiting
    ranks_before = await told(session_factory, "project.rank")

    # Bogdan withdraws: Carmen moves up (told once, of her outcome), Dan is one place nearer, Bianca hears that
    # her organisation lost its place.
    await commit(session_factory, bogdan, project_id, None)
    moved = await told(session_factory, "project.outcome", f"project:{project_id}:outcome:")
    assert {who: len(params) for who, params in moved.items()} == {
        ana.id: 1,
        bogdan.id: 1,
        bianca.id: 1,
        carmen.id: 2,
        dan.id: 1,
    }
    assert (moved[carmen.id][-1]["outcome"], moved[carmen.id][-1]["rank"]) == ("moved_up", 2)
    text = worded("project.outcome", moved[carmen.id][-1], "en")
    assert "A participant withdrew from the project" in text and "place 2 of 3" in text
    ranks = await told(session_factory, "project.rank")
    new = {who: params[len(ranks_before.get(who, [])) :] for who, params in ranks.items()}
    assert {who: [p["rank"] for p in params] for who, params in new.items() if params} == {
        dan.id: [3],
        bianca.id: [None],
    }


async def test_notices_reach_people_in_the_language_they_read_when_sent_and_open_the_project(
    sandbox: SandboxBot,
) -> None:
    maria = await sandbox.person("maria", 3001, "Maria", language_code="ro", role="manager")
    ana = await sandbox.person("ana", 1001, "Ana", language_code="ro", role="member", organisation="EcoTech SRL")
    elena = await sandbox.person("elena", 1004, "Elena", language_code="en", role="member", organisation="EcoTech SRL")
    dan = await sandbox.person("dan", 1002, "Dan", language_code="en", role="member", organisation="Bio SRL")
    for who in (maria, ana, elena, dan):
        await who.send("/start")
    assert sandbox.rt is not None
    factory = sandbox.rt.session_factory

    async def view(telegram_id: int) -> PersonView:
        async with unit_of_work(factory) as session:
            repos = Repositories(session)
            row = await repos.people.by_telegram_id(telegram_id)
            assert row is not None
            return await members.get_person(repos, row.id)

    maria_view, ana_view, dan_view = await view(3001), await view(1001), await view(1002)
    project_id = await prepared(factory, maria_view, ana_view)
    # Queued while Maria read Romanian; she switches to English before the sender gets to it.
    async with unit_of_work(factory) as session:
        await session.execute(update(Person).where(Person.telegram_id == 3001).values(language="en"))
    await sandbox.deliver()
    # Messages arrive as Telegram shows them: the title's markup characters as text.
    # Written in Romanian only: an English reader sees it marked so.
    assert "Ana (EcoTech SRL) proposed a new project: Compost <urban> & verde 🇷🇴." in said(maria)
    assert "💡 Proiectul dumneavoastră Compost <urban> & verde a fost propus." in said(ana)
    # Ana reads the move to preparation in Romanian; Maria made it and is not told.
    assert "Proiectul Compost <urban> & verde este acum în pregătire.\nMotivul: Plan și buget gata." in said(ana)
    assert "is now in preparation" not in said(maria)

    ana_had = len(ana.messages)
    await commit(factory, ana_view, project_id)
    await commit(factory, dan_view, project_id)
    async with unit_of_work(factory) as session:
        await projects.withdraw(Repositories(session), ana_view, project_id, kind="money", unit=LEI)
    await sandbox.deliver()
    assert "Your organisation is now in place 1 of 1 in the project" in (dan.last_text or "")
    assert "Your organisation no longer has a place in the project" in (elena.last_text or "")
    # Ana withdrew herself: she sees it in the chat, the notice path tells her nothing of it.
    assert len(ana.messages) == ana_had
    assert "Your organisation is now in place 1 of 1 in the project" in said(elena)
    await dan.tap("Open the project")
    assert "📁 Compost <urban> & verde" in (dan.last_text or "")
    assert "Your organisation is in place 1 of 1." in (dan.last_text or "")


def said(who: SandboxUser) -> str:
    return "\n\n".join(message.content for message in who.messages)
