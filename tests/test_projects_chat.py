"""Projects in the chat, as members and managers use them: the list and the card, commitments typed in either
language, ranks, withdrawals, the internal competition, managers' moves; and what is refused (an idea without
plan and budget, bad amounts, forged buttons, guests, a demoted manager)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import date

import pytest
from sqlalchemy import select, update

from bot.config import Settings
from bot.sandbox.client import SandboxUser
from bot.sandbox.harness import SandboxBot
from bot.services import members, projects
from bot.services.members import PersonView
from storage.db import unit_of_work
from storage.models import Commitment, Person, Project, ProjectState, Role
from storage.repositories import Repositories


@pytest.fixture
async def sandbox(migrated_url: str, make_settings: Callable[..., Settings]) -> AsyncIterator[SandboxBot]:
    async with SandboxBot(make_settings(migrated_url)) as running:
        yield running


async def cast(sandbox: SandboxBot) -> dict[str, SandboxUser]:
    people = {
        "maria": await sandbox.person("maria", 3001, "Maria", language_code="en", role="manager"),
        "ana": await sandbox.person("ana", 1001, "Ana", language_code="ro", role="member", organisation="EcoTech SRL"),
        "elena": await sandbox.person(
            "elena", 1004, "Elena", language_code="ro", role="member", organisation="EcoTech SRL"
        ),
        "dan": await sandbox.person("dan", 1002, "Dan", language_code="en", role="member", organisation="Bio & <Med>"),
        "radu": await sandbox.person(
            "radu", 1005, "Radu", language_code="en", role="member", organisation="Green Energy SRL"
        ),
        "gigi": await sandbox.person("gigi", 1003, "Gigi", language_code="ro"),
    }
    for person in people.values():
        await person.send("/start")
    return people


async def view_of(sandbox: SandboxBot, telegram_id: int) -> PersonView:
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        person = await session.scalar(select(Person).where(Person.telegram_id == telegram_id))
        assert person is not None
        return await members.get_person(Repositories(session), person.id)


async def a_project(
    sandbox: SandboxBot, proposer: SandboxUser, *, prepared: bool = True, places: int | None = None
) -> int:
    """Ana's idea, and (unless `prepared` is False) its plan, budget and needs, moved to preparation by Maria."""
    assert sandbox.rt is not None
    ana = await view_of(sandbox, proposer.user_id)
    maria = await view_of(sandbox, 3001)
    async with unit_of_work(sandbox.rt.session_factory) as session:
        repos = Repositories(session)
        project = await projects.propose(
            repos, ana, title="Compost din nămol", description="Un proiect pilot de compostare.", locale="ro"
        )
        project.places = places
        project_id = project.id
    if not prepared:
        return project_id
    async with unit_of_work(sandbox.rt.session_factory) as session:
        repos = Repositories(session)
        await projects.set_plan(repos, ana, project_id, [("Studiu de fezabilitate", None, date(2027, 3, 15))])
        await projects.set_budget(repos, ana, project_id, 250_000_00, "RON")
        await projects.set_needs(
            repos, ana, project_id, {("money", "RON"): 50_000_00, ("person_days", "person_days"): 60_00}
        )
        await projects.move(repos, maria, project_id, ProjectState.PREPARATION, reason="Plan și buget gata")
    return project_id


def seen(who: SandboxUser) -> str:
    """The newest message the person sees, no-break spaces (between an amount and its currency) as spaces."""
    return (who.last_text or "").replace("\u00a0", " ")


async def open_project(who: SandboxUser) -> None:
    await who.send("/projects")
    await who.tap("Compost")


async def commit_money(who: SandboxUser, typed: str, *, note: str | None = None) -> None:
    romanian = who.info["language_code"] == "ro"
    await open_project(who)
    await who.tap("Angajați resurse" if romanian else "Commit resources")
    await who.tap("🎯 Bani (RON)" if romanian else "🎯 Money (RON)")
    await who.send(typed)
    if note is None:
        await who.tap("Fără notă" if romanian else "Skip the note")
    else:
        await who.send(note)
    await who.tap("✅")


async def stored_lines(sandbox: SandboxBot) -> list[Commitment]:
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        return list((await session.scalars(select(Commitment).order_by(Commitment.id))).all())


async def test_three_organisations_commit_and_see_their_ranks_in_their_language(sandbox: SandboxBot) -> None:
    people = await cast(sandbox)
    ana, elena, dan, radu = (people[n] for n in ("ana", "elena", "dan", "radu"))
    await a_project(sandbox, ana)

    await commit_money(dan, "5,000.50")
    assert dan.last_callback_answer == ("✅ Committed. Your organisation is in place 1 of 1.", True)
    assert "RON 5,000.50 of RON 50,000.00" in seen(dan)
    assert "Your organisation is in place 1 of 1." in seen(dan)
    # The organisation's name is shown as written, < and & included.
    assert "1. Bio & <Med>" in seen(dan)

    # Ana writes the Romanian way: a decimal comma, dots between thousands.
    await commit_money(ana, "12.500,00", note="Din bugetul de cercetare")
    assert ana.last_callback_answer == (
        "✅ Angajament înregistrat. Organizația dumneavoastră este pe locul 2 din 2.",
        True,
    )
    assert "17.500,50 lei din 50.000,00 lei" in seen(ana)

    await commit_money(radu, "1000")
    assert "Your organisation is in place 3 of 3." in seen(radu)

    # Elena, Ana's colleague, shares EcoTech's place: committing person-days keeps it second.
    await open_project(elena)
    await elena.tap("Angajați resurse")
    await elena.tap("🎯 Zile-om")
    await elena.send("20")
    await elena.tap("Fără notă")
    await elena.tap("✅")
    assert elena.last_callback_answer == (
        "✅ Angajament înregistrat. Organizația dumneavoastră este pe locul 2 din 3.",
        True,
    )
    assert "20 de zile-om din 60 de zile-om" in seen(elena)

    lines = await stored_lines(sandbox)
    assert [(line.amount_hundredths, line.unit) for line in lines] == [
        (5_000_50, "RON"),
        (12_500_00, "RON"),
        (1_000_00, "RON"),
        (20_00, "person_days"),
    ]
    assert lines[1].note == "Din bugetul de cercetare"


async def test_withdrawing_moves_the_others_up_and_a_change_keeps_the_place(sandbox: SandboxBot) -> None:
    people = await cast(sandbox)
    ana, dan, radu = (people[n] for n in ("ana", "dan", "radu"))
    await a_project(sandbox, ana)
    await commit_money(dan, "100")
    await commit_money(radu, "200")

    # Dan raises his amount: his organisation keeps the first place.
    await open_project(dan)
    await dan.tap("✏️ money")
    await dan.send("300")
    await dan.tap("Skip the note")
    await dan.tap("✅")
    assert "Your organisation is in place 1 of 2." in seen(dan)
    assert [line.version for line in await stored_lines(sandbox)] == [1, 1, 2]

    await open_project(dan)
    await dan.tap("↩️ Withdraw")
    assert "it loses its place" in seen(dan)
    await dan.tap("↩️ Withdraw")
    assert dan.last_callback_answer == ("↩️ Withdrawn. Your organisation has no commitment left here.", True)

    await open_project(radu)
    assert "Your organisation is in place 1 of 1." in seen(radu)


async def test_an_idea_without_plan_and_budget_takes_no_commitment(sandbox: SandboxBot) -> None:
    people = await cast(sandbox)
    ana, dan, maria = people["ana"], people["dan"], people["maria"]
    project_id = await a_project(sandbox, ana, prepared=False)

    await open_project(dan)
    assert "It still needs: an action plan, a budget" not in seen(dan)
    assert "To be prepared it still needs: an action plan, a budget." in seen(dan)
    assert not any("Commit" in label for label in (dan.last_message.labels if dan.last_message else []))
    # The button is not there; pressed anyway (forged), it is refused with the reason.
    answer = await dan.forge(f"p:commit:{project_id}:0:all:0")
    assert answer == (
        "This project takes commitments only while it is in preparation, once it has an action plan and a budget.",
        True,
    )
    # A manager who tries to move it to preparation is told what is missing, before any reason is asked.
    await open_project(maria)
    await maria.tap("To preparation")
    assert maria.last_callback_answer == (
        "This project cannot move to preparation yet. It still needs: an action plan, a budget.",
        True,
    )
    assert await stored_lines(sandbox) == []


async def test_bad_amounts_are_explained_and_the_form_stays_open(sandbox: SandboxBot) -> None:
    people = await cast(sandbox)
    dan = people["dan"]
    await a_project(sandbox, people["ana"])
    await open_project(dan)
    await dan.tap("Commit resources")
    await dan.tap("🎯 Money (RON)")
    for typed, said in [
        ("a lot", "Please write a number"),
        ("-5", "greater than zero"),
        ("0", "greater than zero"),
        ("1,000,000,000,000,000", "more than one thousand billion"),
        ("12.345", "at most two decimals"),
        # 100 times the 50,000 RON the project needs, and then some.
        ("5,000,001", "more than a hundred times what the project needs"),
    ]:
        await dan.send(typed)
        assert said in seen(dan), typed
    await dan.send("1,500")
    assert "RON 1,500.00" in seen(dan)
    await dan.tap("Skip the note")
    await dan.tap("✅")
    assert [line.amount_hundredths for line in await stored_lines(sandbox)] == [1_500_00]


async def test_forged_commitment_buttons_and_guests_change_nothing(sandbox: SandboxBot) -> None:
    people = await cast(sandbox)
    ana, dan, gigi = people["ana"], people["dan"], people["gigi"]
    project_id = await a_project(sandbox, ana)
    await commit_money(ana, "100")
    ana_line = (await stored_lines(sandbox))[0].id

    # Dan presses a withdraw button naming Ana's commitment: not his organisation's.
    answer = await dan.forge(f"p:withdraw:{project_id}:{ana_line}:all:0")
    assert answer is not None and "not for one of your organisation's commitments" in (answer[0] or "")
    answer = await dan.forge(f"p:change:{project_id}:{ana_line}:all:0")
    assert answer is not None and "not for one of your organisation's commitments" in (answer[0] or "")
    # Of another project, or no row at all.
    answer = await ana.forge(f"p:withdraw:{project_id + 1}:{ana_line}:all:0")
    assert answer is not None and answer[1]
    # A unit index no kind has.
    await open_project(dan)
    await dan.tap("Commit resources")
    answer = await dan.forge("pk:money:7")
    assert answer is not None and "does not fit this resource" in (answer[0] or "")

    # A guest sees no project and commits nothing.
    await gigi.send("/projects")
    assert "Proiectele sunt pentru membrii clusterului" in seen(gigi)
    assert gigi.last_message is not None and "🤝 Aderați la cluster" in gigi.last_message.labels
    await gigi.send("/start")
    await gigi.forge(f"p:commit:{project_id}:0:all:0")
    assert "Proiectele sunt pentru membrii clusterului" in seen(gigi)
    assert [line.withdrawn for line in await stored_lines(sandbox)] == [False]


async def test_competition_rule_list_and_a_waiting_organisation_moving_up(sandbox: SandboxBot) -> None:
    people = await cast(sandbox)
    ana, dan, radu, maria = (people[n] for n in ("ana", "dan", "radu", "maria"))
    await a_project(sandbox, ana, places=2)
    await commit_money(dan, "100")
    await commit_money(ana, "100")
    await open_project(radu)
    assert "In competition" not in seen(radu)
    await commit_money(radu, "100")
    assert "⚔️ In competition" in seen(radu)
    assert "The participants have not recorded their rule yet." in seen(radu)

    await radu.tap("Record the agreed rule")
    await radu.send("Cine aduce mai mulți bani intră primul")
    assert "Rule agreed by the participants: Cine aduce mai mulți bani intră primul" in seen(radu)

    await open_project(maria)
    await maria.tap("Close the list")
    await maria.tap("🔒 Close the list")
    assert maria.last_callback_answer == ("🔒 The list is closed. Taking part: 2; waiting: 1.", False)
    assert "The list is closed." in seen(maria)

    await open_project(radu)
    assert "It is waiting: it moves up when a participant withdraws." in seen(radu)
    await open_project(dan)
    assert "✅ It takes part." in seen(dan)
    await dan.tap("↩️ Withdraw")
    await dan.tap("↩️ Withdraw")
    await open_project(radu)
    assert "Your organisation is in place 2 of 2. 2 places. ✅ It takes part." in seen(radu)


async def test_managers_move_a_project_with_a_reason_and_a_demoted_one_is_refused(sandbox: SandboxBot) -> None:
    people = await cast(sandbox)
    ana, maria, dan = people["ana"], people["maria"], people["dan"]
    project_id = await a_project(sandbox, ana)

    await open_project(dan)
    assert not any("Start it" in label for label in (dan.last_message.labels if dan.last_message else []))
    answer = await dan.forge(f"p:move:{project_id}:3:all:0")
    assert answer is not None and answer[1]

    await open_project(maria)
    await maria.tap("Start it")
    assert "from in preparation to running" in seen(maria)
    await maria.send("Finanțarea a fost aprobată")
    await maria.tap("✅ Move it")
    assert maria.last_callback_answer == ("✅ The project is now running.", False)
    assert "Status: 🚀 running" in seen(maria)
    assert "now running. Reason: Finanțarea a fost aprobată" in seen(maria)

    # Maria starts closing it, and is demoted before she gives the reason: refused, and the form ends.
    await maria.tap("Close it")
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        await session.execute(update(Person).where(Person.telegram_id == 3001).values(role=Role.MEMBER.value))
    await maria.send("Gata")
    assert "only the cluster's managers can do that" in seen(maria)
    async with unit_of_work(sandbox.rt.session_factory) as session:
        project = await session.get(Project, project_id)
        assert project is not None and project.state == ProjectState.RUNNING.value


async def test_three_organisations_confirming_at_the_same_instant_rank_in_commit_order(sandbox: SandboxBot) -> None:
    people = await cast(sandbox)
    ana, dan, radu = (people[n] for n in ("ana", "dan", "radu"))
    project_id = await a_project(sandbox, ana)
    for who, typed in ((ana, "100"), (dan, "200"), (radu, "300")):
        romanian = who.info["language_code"] == "ro"
        await open_project(who)
        await who.tap("Angajați resurse" if romanian else "Commit resources")
        await who.tap("🎯 Bani (RON)" if romanian else "🎯 Money (RON)")
        await who.send(typed)
        await who.tap("Fără notă" if romanian else "Skip the note")
    # All three press "Commit" in one batch of updates, handled concurrently as in production.
    await sandbox.at_once(ana.tap("✅"), dan.tap("✅"), radu.tap("✅"))

    lines = await stored_lines(sandbox)
    assert len(lines) == 3
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        ranking = await projects.ranking(Repositories(session), project_id)
    # The ranking is the order the changes were taken in (the project's change counter), one place each.
    by_change = sorted(lines, key=lambda line: line.standing_change or 0)
    assert [s.organisation_id for s in ranking] == [line.organisation_id for line in by_change]
    assert sorted(line.standing_change or 0 for line in lines) == [1, 2, 3]
    # Each was told the place it had when it committed: 1 of 1, 2 of 2, 3 of 3, in commit order.
    telegram_of = {ana.user_id: ana, dan.user_id: dan, radu.user_id: radu}
    async with unit_of_work(sandbox.rt.session_factory) as session:
        authors = {line.organisation_id: await session.get(Person, line.author_id) for line in lines}
    for rank, standing in enumerate(ranking, 1):
        author = authors[standing.organisation_id]
        assert author is not None
        answer = (telegram_of[author.telegram_id].last_callback_answer or ("", False))[0] or ""
        assert answer.endswith((f"in place {rank} of {rank}.", f"pe locul {rank} din {rank}.")), answer


async def test_a_commitment_that_fails_at_commit_is_not_announced_and_not_kept(
    sandbox: SandboxBot, failing_commits: Callable[[str], None]
) -> None:
    people = await cast(sandbox)
    dan = people["dan"]
    await a_project(sandbox, people["ana"])
    await open_project(dan)
    await dan.tap("Commit resources")
    await dan.tap("🎯 Money (RON)")
    await dan.send("2,500")
    await dan.tap("Skip the note")
    failing_commits("commitments")
    await dan.tap("✅")
    answer = dan.last_callback_answer
    assert answer is not None and "Something went wrong and nothing was saved" in (answer[0] or "")
    assert not any("Committed" in message.content for message in dan.since_last_action)
    assert await stored_lines(sandbox) == []


async def test_a_card_with_sixty_organisations_fits_one_message(sandbox: SandboxBot) -> None:
    people = await cast(sandbox)
    dan = people["dan"]
    project_id = await a_project(sandbox, people["ana"])
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        repos = Repositories(session)
        for number in range(60):
            member = await members.provision(
                repos,
                telegram_id=50_000 + number,
                first_name=f"Rep{number}",
                role=Role.MEMBER,
                organisation=f"Societatea <Cooperativă> & Asociații Nr. {number} " + "Ă" * 120,
            )
            await projects.commit(repos, member, project_id, kind="money", unit="RON", hundredths=(number + 1) * 100)
    await commit_money(dan, "10")
    card = seen(dan)
    # The sandbox refuses a message over 4,096 characters, so the card arriving is the proof; it still names the
    # first organisations, the reader's own place, and says how many more there are.
    assert "1. Societatea <Cooperativă> & Asociații Nr. 0 " in card
    assert "Your organisation is in place 61 of 61." in card
    assert "more" in card
