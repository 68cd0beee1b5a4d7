"""Proposing and editing projects in the chat, in Romanian and in English: a member proposes a project for their
working group, writes its plan with Romanian dates and owners matched by name, its budget, needs, places and
deadline; a manager adds the English text; bad input is said and changes nothing; someone no longer allowed is
told why and the conversation ends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import date

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.sandbox.client import SandboxUser
from bot.sandbox.harness import SandboxBot
from bot.services import groups, members, projects
from bot.services.groups import seed_groups
from bot.services.members import PersonView
from storage.db import unit_of_work
from storage.models import Project, ProjectEvent, ProjectNeed, ProjectState, ProjectStep, Role
from storage.repositories import Repositories


@pytest.fixture
async def sandbox(migrated_url: str, make_settings: Callable[..., Settings]) -> AsyncIterator[SandboxBot]:
    async with SandboxBot(make_settings(migrated_url)) as running:
        assert running.rt is not None
        async with unit_of_work(running.rt.session_factory) as session:
            await seed_groups(Repositories(session))
        yield running


async def cast(sandbox: SandboxBot) -> dict[str, SandboxUser]:
    people = {
        "ana": await sandbox.person("ana", 1001, "Ana", language_code="ro", role="member", organisation="EcoTech SRL"),
        "dan": await sandbox.person("dan", 1002, "Dan", language_code="en", role="member", organisation="Bio & Co SRL"),
        "maria": await sandbox.person("maria", 3001, "Maria", language_code="en", role="manager"),
        "gigi": await sandbox.person("gigi", 1003, "Gigi", language_code="ro"),
    }
    for person in people.values():
        await person.send("/start")
    return people


async def the_project(sandbox: SandboxBot) -> Project:
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        project = await session.scalar(select(Project).order_by(Project.id.desc()))
    assert project is not None
    return project


async def view_of(repos: Repositories, telegram_id: int) -> PersonView:
    row = await repos.people.by_telegram_id(telegram_id)
    assert row is not None
    return await members.get_person(repos, row.id)


async def join_sludge(sandbox: SandboxBot, telegram_id: int) -> None:
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        repos = Repositories(session)
        person = await view_of(repos, telegram_id)
        group = (await repos.groups.by_keys(["sludge"]))["sludge"]
        await groups.join(repos, person, group.id, default_locale="ro")


def text_of(who: SandboxUser) -> str:
    return who.last_text or ""


async def test_a_member_proposes_a_project_for_their_group_and_plans_it_in_romanian(sandbox: SandboxBot) -> None:
    people = await cast(sandbox)
    ana, dan, maria = people["ana"], people["dan"], people["maria"]
    await join_sludge(sandbox, 1001)

    await ana.send("/projects")
    await ana.tap("💡")
    assert "1/3" in text_of(ana)
    await ana.send("Compost <urban> & verde")
    assert "2/3" in text_of(ana)
    await ana.send("Compost din deșeuri verzi, cu <laboratoare> & parteneri.")
    assert "3/3" in text_of(ana)
    assert ana.last_message is not None and "Fără grup de lucru" in ana.last_message.labels
    await ana.tap("Tehnologii avansate")
    summary = text_of(ana)
    assert "Compost <urban> & verde" in summary and "Tehnologii avansate de tratare" in summary
    await ana.tap("💡")
    assert ana.last_callback_answer == ("💡 Proiectul dumneavoastră a fost propus.", False)
    card = text_of(ana)
    assert "📁 Compost <urban> & verde" in card
    assert "Grup de lucru: Tehnologii avansate" in card
    project = await the_project(sandbox)
    assert (project.title_ro, project.title_en, project.state) == ("Compost <urban> & verde", None, "idea")
    assert project.group_id is not None

    # The action plan, typed one step a line, with Romanian dates and an owner written in lower case.
    await ana.tap("Modificați proiectul")
    assert "Ce doriți să schimbați?" in text_of(ana)
    await ana.tap("Planul de acțiune")
    assert "Studiu de fezabilitate; EcoTech SRL; 15 martie 2027" in text_of(ana)
    await ana.send(
        "Studiu de fezabilitate; ecotech srl; 15 martie 2027\nAnalize; Nimeni SRL; 30.04.2027\nRaport; -; cândva"
    )
    refused = text_of(ana)
    assert "Planul nu a fost preluat" in refused
    assert "Rândul 2: nicio organizație membră nu se numește „Nimeni SRL”" in refused
    assert "Rândul 3: Nu am putut citi data" in refused
    await ana.send(
        "Studiu de fezabilitate; ecotech srl; 15 martie 2027\n"
        "Analize de laborator; Bio & Co S.R.L.; 30.04.2027\n"
        "Raport final; -; 1 iun. 2027"
    )
    read = text_of(ana)
    assert "Am citit acest plan" in read
    assert "1. Studiu de fezabilitate — EcoTech SRL, până la 15 mar. 2027" in read
    assert "2. Analize de laborator — Bio & Co SRL, până la 30 apr. 2027" in read
    assert "3. Raport final — fără responsabil deocamdată, până la 1 iun. 2027" in read
    await ana.tap("Salvați planul")
    assert ana.last_callback_answer == ("🗺 Planul a fost salvat.", False)
    assert "1. Studiu de fezabilitate — EcoTech SRL, până la 15 mar. 2027" in text_of(ana)

    # The budget, as Romanians write it.
    await ana.tap("Modificați proiectul")
    await ana.tap("Bugetul")
    await ana.send("250.000")
    assert "Vă rog să adăugați moneda" in text_of(ana)
    await ana.send("250.000 USD")
    assert "Bugetul se exprimă în RON sau EUR." in text_of(ana)
    await ana.send("-5 lei")
    assert "mai mare decât zero" in text_of(ana)
    await ana.send("250.000 lei")
    assert any("Bugetul a fost salvat: 250.000,00\u00a0lei." in m.content for m in ana.since_last_action)
    assert "Buget: 250.000,00\u00a0lei" in text_of(ana)
    assert (await the_project(sandbox)).budget_hundredths == 250_000_00

    # What it needs: money in euro, then person-days; a bad amount is said and asked again.
    await ana.tap("Modificați proiectul")
    await ana.tap("Resursele necesare")
    await ana.tap("Bani")
    await ana.tap("EUR")
    await ana.send("mult")
    assert "Vă rog să scrieți un număr" in text_of(ana)
    await ana.send("50.000")
    assert "Până acum:" in text_of(ana) and "50.000,00\u00a0EUR" in text_of(ana)
    await ana.tap("Zile-om")
    await ana.send("120")
    assert "120 de zile-om" in text_of(ana)
    await ana.tap("Atât")
    assert "Salvați aceste resurse necesare?" in text_of(ana)
    await ana.tap("Salvați resursele")
    assert "0,00\u00a0EUR din 50.000,00\u00a0EUR" in text_of(ana)

    # Places and a deadline typed in Romanian: the end of that day in the cluster's time zone.
    await ana.tap("Modificați proiectul")
    await ana.tap("Locuri")
    await ana.send("zero")
    assert "de la 1 la 1000" in text_of(ana)
    await ana.send("0")
    assert "de la 1 la 1000" in text_of(ana)
    await ana.send("3")
    assert "Locuri: 3 organizații" in text_of(ana)
    await ana.tap("Modificați proiectul")
    await ana.tap("Termenul pentru angajamente")
    await ana.send("ieri")
    assert "Data a trecut" in text_of(ana)
    await ana.send("30 iunie 2027")
    assert any("sfârșitul zilei de 30 iun. 2027" in m.content for m in ana.since_last_action)
    assert "Angajamente până la: 30 iun. 2027, 23:59" in text_of(ana)

    project = await the_project(sandbox)
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        steps = (await session.scalars(select(ProjectStep).order_by(ProjectStep.position))).all()
        needs = (await session.scalars(select(ProjectNeed).order_by(ProjectNeed.id))).all()
        edited = (await session.scalars(select(ProjectEvent).where(ProjectEvent.kind == "edited"))).all()
        repos = Repositories(session)
        names = await repos.projects.organisation_names(
            {s.owner_organisation_id for s in steps if s.owner_organisation_id}
        )
    assert [(s.text, names.get(s.owner_organisation_id or 0), s.due_on) for s in steps] == [
        ("Studiu de fezabilitate", "EcoTech SRL", date(2027, 3, 15)),
        ("Analize de laborator", "Bio & Co SRL", date(2027, 4, 30)),
        ("Raport final", None, date(2027, 6, 1)),
    ]
    assert [(n.kind, n.unit, n.target_hundredths) for n in needs] == [
        ("money", "EUR", 50_000_00),
        ("person_days", "person_days", 120_00),
    ]
    assert project.places == 3
    assert project.commitments_deadline is not None
    local = project.commitments_deadline.astimezone(sandbox.settings.tz)
    assert (local.date(), local.hour, local.minute) == (date(2027, 6, 30), 23, 59)
    assert [e.details["fields"] for e in edited] == [["plan"], ["budget"], ["needs"], ["places"], ["deadline"]]

    # Another member sees the card without the edit button; a forged one is refused and changes nothing.
    await dan.send("/projects")
    await dan.tap("Compost")
    assert dan.last_message is not None and not any("Edit the project" in label for label in dan.last_message.labels)
    text, alert = await dan.forge(f"p:edit:{project.id}:0:all:0")
    assert alert and text == "Only the member who proposed this project and the cluster's managers edit it."
    text, alert = await dan.forge(f"pe:{project.id}:budget")
    assert alert and text == "Only the member who proposed this project and the cluster's managers edit it."

    # The manager adds the English text, reads the budget in English, and moves it to preparation.
    await maria.send("/projects")
    await maria.tap("Compost")
    assert "Budget: RON\u00a0250,000.00" in text_of(maria)
    await maria.tap("Edit the project")
    await maria.tap("The text in English")
    assert "Not written yet." in text_of(maria)
    assert maria.last_message is not None and "Keep it" not in maria.last_message.labels
    await maria.send("Urban <compost> & green")
    await maria.send("Compost from green waste.")
    assert maria.last_callback_answer is None
    assert "📁 Urban <compost> & green" in text_of(maria)
    async with unit_of_work(sandbox.rt.session_factory) as session:
        repos = Repositories(session)
        manager = await view_of(repos, 3001)
        await projects.move(repos, manager, project.id, ProjectState.PREPARATION, reason="Plan și buget gata.")
    await ana.send("/projects")
    await ana.tap("Compost")
    assert "Stare: 🛠 în pregătire" in text_of(ana)
    assert (await the_project(sandbox)).title_en == "Urban <compost> & green"


async def test_an_english_member_writes_the_budget_as_english_does(sandbox: SandboxBot) -> None:
    people = await cast(sandbox)
    dan = people["dan"]
    await dan.send("/projects")
    await dan.tap("💡")
    await dan.send("Biomass <pellets> & heat")
    await dan.send("Pellets from the cluster's biomass.")
    # Dan takes part in no group: no group question.
    assert "Please check your proposal" in text_of(dan)
    assert "Not for a working group." in text_of(dan)
    await dan.tap("💡")
    await dan.tap("Edit the project")
    await dan.tap("Budget")
    await dan.send("RON 250,000.00")
    assert "Budget: RON\u00a0250,000.00" in text_of(dan)
    assert (await the_project(sandbox)).budget_hundredths == 250_000_00
    await dan.tap("Edit the project")
    await dan.tap("Budget")
    await dan.send("€50,000")
    assert "Budget: €50,000.00" in text_of(dan)
    await dan.tap("Edit the project")
    await dan.tap("Deadline")
    await dan.send("March 15, 2027")
    assert "Commitments until: 15 Mar 2027, 23:59" in text_of(dan)
    await dan.tap("Edit the project")
    await dan.tap("Action plan")
    await dan.send("Pilot plant; ecotech srl; 15 March 2027\nHeat study; Nobody Ltd; 1 April 2027")
    assert 'Line 2: no member organisation is called "Nobody Ltd"' in text_of(dan)
    await dan.send("Pilot plant; ecotech srl; 15 March 2027\nHeat study; -; 1 April 2027")
    assert "1. Pilot plant — EcoTech SRL, by 15 Mar 2027" in text_of(dan)
    await dan.tap("Save the plan")
    assert "2. Heat study — no owner yet, by 1 Apr 2027" in text_of(dan)
    # The other language is the managers' to add.
    text, alert = await dan.forge(f"pe:{(await the_project(sandbox)).id}:other")
    assert alert and text == "The cluster's managers add a project's text in the other language."


async def test_someone_no_longer_allowed_midway_is_told_why_and_the_form_ends(sandbox: SandboxBot) -> None:
    people = await cast(sandbox)
    ana, maria, gigi = people["ana"], people["maria"], people["gigi"]
    await ana.send("/projects")
    await ana.tap("💡")
    await ana.send("Compost")
    await ana.send("Din deșeuri verzi.")
    await ana.tap("💡")
    project = await the_project(sandbox)

    # The project is cancelled while Ana types its budget.
    await ana.tap("Modificați proiectul")
    await ana.tap("Bugetul")
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        repos = Repositories(session)
        manager = await view_of(repos, 3001)
        await projects.move(repos, manager, project.id, ProjectState.CANCELLED, reason="Fără fonduri.")
    await ana.send("250.000 lei")
    assert "Acest proiect nu mai poate fi modificat" in text_of(ana)
    await ana.send("250.000 lei")
    assert "Acest proiect nu mai poate fi modificat" not in text_of(ana)
    assert (await the_project(sandbox)).budget_hundredths is None

    # Ana is demoted while she proposes another one.
    await ana.send("/projects")
    await ana.tap("💡")
    await ana.send("Alt proiect")
    async with unit_of_work(sandbox.rt.session_factory) as session:
        await members.set_role(Repositories(session), 1001, Role.GUEST)
    await ana.send("Descriere.")
    assert "Proiectele sunt pentru membrii clusterului" in text_of(ana)
    assert (await the_project(sandbox)).id == project.id

    # A guest cannot begin; the manager (no organisation) is told why too.
    text, alert = await gigi.forge("p:propose:0:0:all:0")
    assert alert and text is not None and text.startswith("Proiectele sunt pentru membrii clusterului")
    await maria.send("/projects")
    await maria.tap("💡")
    text, alert = maria.last_callback_answer or (None, False)
    assert alert and text is not None and text.startswith("Only member organisations")
