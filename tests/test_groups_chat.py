"""Working groups in the chat: members join, propose and leave; managers transform, dissolve, translate and
mark groups confidential; guests and forged buttons are refused."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import func, select, update

from bot.config import Settings
from bot.sandbox.client import SandboxUser
from bot.sandbox.harness import SandboxBot
from bot.services.groups import packaged_seed, parse_seed, seed_groups
from storage.db import unit_of_work
from storage.models import ConfidentialityAcceptance, GroupEvent, GroupState, Person, Role, WorkingGroup
from storage.repositories import Repositories

TERMS = {seed.key: seed.terms for seed in parse_seed(packaged_seed()) if seed.terms}


@pytest.fixture
async def sandbox(migrated_url: str, make_settings: Callable[..., Settings]) -> AsyncIterator[SandboxBot]:
    async with SandboxBot(make_settings(migrated_url)) as running:
        assert running.rt is not None
        async with unit_of_work(running.rt.session_factory) as session:
            await seed_groups(Repositories(session))
        yield running


async def group_row(sandbox: SandboxBot, key: str | None = None, *, title_ro: str | None = None) -> WorkingGroup:
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        query = select(WorkingGroup).where(
            WorkingGroup.key == key if key is not None else WorkingGroup.title_ro == title_ro
        )
        group = await session.scalar(query)
    assert group is not None
    return group


def said(who: SandboxUser, text: str) -> bool:
    return any(text in message.content for message in who.messages)


async def people(sandbox: SandboxBot) -> dict[str, SandboxUser]:
    cast = {
        "maria": await sandbox.person("maria", 3001, "Maria", language_code="en", role="manager"),
        "ana": await sandbox.person("ana", 1001, "Ana", language_code="ro", role="member", organisation="EcoTech SRL"),
        "elena": await sandbox.person(
            "elena", 1004, "Elena", language_code="ro", role="member", organisation="EcoTech SRL"
        ),
        "dan": await sandbox.person("dan", 1002, "Dan", language_code="en", role="member", organisation="Bio SRL"),
        "radu": await sandbox.person(
            "radu", 1005, "Radu", language_code="en", role="member", organisation="Green Energy SRL"
        ),
        "gigi": await sandbox.person("gigi", 1003, "Gigi", language_code="ro"),
    }
    for person in cast.values():
        await person.send("/start")
    return cast


def reads_romanian(who: SandboxUser) -> bool:
    return bool(who.info["language_code"] == "ro")


async def open_sludge(who: SandboxUser) -> None:
    await who.send("/groups")
    await who.tap("Tehnologii avansate" if reads_romanian(who) else "Advanced technologies")


async def test_three_organisations_make_a_group_active_and_everyone_is_told(sandbox: SandboxBot) -> None:
    cast = await people(sandbox)
    ana, elena, dan, radu, maria, gigi = (cast[n] for n in ("ana", "elena", "dan", "radu", "maria", "gigi"))

    await ana.tap("👥")
    assert "Grupuri de lucru" in (ana.last_text or "")
    await ana.tap("Tehnologii avansate")
    assert "așteaptă încă 3 organizații membre" in (ana.last_text or "")
    await ana.tap("Intrați în grup")
    assert ana.last_callback_answer == ("✅ Ați intrat în grup.", False)
    assert "Faceți parte din acest grup" in (ana.last_text or "")

    # A second person of the same organisation: still one organisation.
    await open_sludge(elena)
    await elena.tap("Intrați în grup")
    assert "1 organizație membră, 2 persoane" in (elena.last_text or "")
    assert "așteaptă încă 2 organizații membre" in (elena.last_text or "")

    await open_sludge(dan)
    await dan.tap("Join the group")
    assert "2 member organisations, 3 people" in (dan.last_text or "")
    await sandbox.deliver()
    assert not said(maria, "is now active")

    await open_sludge(radu)
    await radu.tap("Join the group")
    assert "State: 🟢 active" in (radu.last_text or "")
    await sandbox.deliver()
    for member in (dan, radu, maria):
        assert said(member, "The working group Advanced technologies for sludge treatment and recovery is now active")
    for member in (ana, elena):
        assert said(member, "Grupul de lucru Tehnologii avansate de tratare și valorificare a nămolurilor este activ")
    assert not any("activ" in message.content for message in gigi.messages)
    assert (await group_row(sandbox, "sludge")).state == GroupState.ACTIVE.value


async def test_leaving_below_three_organisations_flags_the_group_to_managers(sandbox: SandboxBot) -> None:
    cast = await people(sandbox)
    ana, elena, dan, radu, maria = (cast[n] for n in ("ana", "elena", "dan", "radu", "maria"))
    for member in (ana, elena, dan, radu):
        await open_sludge(member)
        await member.tap("Intrați în grup" if reads_romanian(member) else "Join the group")
    await sandbox.deliver()

    # Elena leaves, but Ana still represents EcoTech: three organisations, nothing to flag.
    await elena.tap("Părăsiți grupul")
    assert "Părăsiți grupul de lucru „" in (elena.last_text or "")
    assert elena.last_message is not None and elena.last_message.labels == ["Da, părăsesc grupul", "⬅️ Înapoi"]
    await elena.tap("Da, părăsesc grupul")
    await sandbox.deliver()
    assert not said(maria, "below three")

    await radu.tap("Leave the group")
    # Asked first; Back returns to the card, nothing changed.
    assert 'Leave the working group "Advanced technologies' in (radu.last_text or "")
    await radu.tap("Back")
    assert radu.last_message is not None and "🚪 Leave the group" in radu.last_message.labels
    await radu.tap("Leave the group")
    await radu.tap("Yes, leave")
    assert radu.last_callback_answer == ("You left the group.", False)
    await sandbox.deliver()
    assert said(maria, "Advanced technologies for sludge treatment and recovery is below three member organisations")
    assert not said(dan, "below three")
    await open_sludge(maria)
    card = maria.last_text or ""
    assert "⚠️ Below three member organisations since" in card
    assert "fell below three member organisations" in card
    assert (await group_row(sandbox, "sludge")).flagged_at is not None

    # Radu comes back: the flag is cleared, and the history says so.
    await open_sludge(radu)
    await radu.tap("Join the group")
    assert "⚠️" not in (radu.last_text or "")
    assert "has three member organisations again" in (radu.last_text or "")
    assert (await group_row(sandbox, "sludge")).flagged_at is None


async def test_a_guest_can_look_but_not_join_or_propose(sandbox: SandboxBot) -> None:
    cast = await people(sandbox)
    gigi, maria = cast["gigi"], cast["maria"]
    await open_sludge(gigi)
    assert "Tehnologii avansate de tratare și valorificare a nămolurilor" in (gigi.last_text or "")
    await gigi.tap("Intrați în grup")
    assert "Grupurile de lucru sunt pentru organizațiile membre" in (gigi.last_text or "")
    assert gigi.last_message is not None and "🤝 Aderați la cluster" in gigi.last_message.labels
    await gigi.send("/groups")
    await gigi.tap("Propuneți un grup")
    assert "Grupurile de lucru sunt pentru organizațiile membre" in (gigi.last_text or "")
    await gigi.send("Grupul meu")
    assert "Care este obiectivul" not in (gigi.last_text or "")
    # The button leads into the cluster.
    await gigi.tap("Aderați la cluster")
    assert "1/3" in (gigi.last_text or "")

    # A manager who represents no organisation may look, and is told politely why they cannot join.
    await open_sludge(maria)
    await maria.tap("Join the group")
    text, alert = maria.last_callback_answer or (None, False)
    assert alert and text is not None and text.startswith("Only member organisations take part in working groups")
    assert "0 member organisations, 0 people" in (maria.last_text or "")


async def test_forged_buttons_are_refused_in_the_readers_language(sandbox: SandboxBot) -> None:
    cast = await people(sandbox)
    ana, dan, maria = cast["ana"], cast["dan"], cast["maria"]
    disaster = await group_row(sandbox, "disaster-management")
    eco = await group_row(sandbox, "eco-materials")
    await maria.send("/groups")
    await maria.tap("Disaster management")
    await maria.tap("Dissolve")
    await maria.send("No member organisation works on it.")
    await maria.tap("🗑 Dissolve")

    await dan.send("/groups")
    for data, expected in (
        ("g:join:9999:all:0", "This working group does not exist."),
        (f"g:join:{disaster.id}:all:0", "This working group has been dissolved: it cannot be joined"),
        (f"g:accept:{disaster.id}:all:0", "This working group has been dissolved: it cannot be joined"),
        (f"g:join:{eco.id}:all:0", "This group is confidential: please read and accept its terms before joining."),
        (f"g:dissolve:{eco.id}:all:0", "Sorry, only the cluster's managers can do that."),
        (f"g:transform:{eco.id}:all:0", "Sorry, only the cluster's managers can do that."),
        (f"g:confidential:{eco.id}:all:0", "Sorry, only the cluster's managers can do that."),
        (f"g:leave:{eco.id}:all:0", "You do not take part in this group."),
        ("g:card:9999:all:0", "This working group does not exist."),
        ("g:join:x:all:0", "This button is no longer valid. Open /menu for a fresh one."),
        ("g:fly:1:all:0", "This button is no longer valid. Open /menu for a fresh one."),
        ("gl:secret:0", "This button is no longer valid. Open /menu for a fresh one."),
        ("gf:confirm", "This button is no longer valid. Open /menu for a fresh one."),
    ):
        text, alert = await dan.forge(data)
        assert alert and text is not None and text.startswith(expected), (data, text)
    await ana.send("/groups")
    text, alert = await ana.forge(f"g:join:{disaster.id}:all:0")
    assert (
        alert
        and text == "Acest grup de lucru a fost dizolvat: nu se mai poate intra în el și nu mai poate fi modificat."
    )
    assert (await group_row(sandbox, "eco-materials")).state == GroupState.PROPOSED.value


async def test_a_confidential_group_is_joined_only_after_accepting_its_terms(sandbox: SandboxBot) -> None:
    cast = await people(sandbox)
    ana, maria = cast["ana"], cast["maria"]
    eco = await group_row(sandbox, "eco-materials")
    await maria.send("/groups")
    await maria.tap("Eco-materials")
    assert "Nobody has accepted its terms yet." in (maria.last_text or "")
    await ana.send("/groups")
    await ana.tap("Eco-materiale")
    assert "🔒 Confidențial" in (ana.last_text or "")
    await ana.tap("Citiți condițiile și intrați")
    terms = TERMS["eco-materials"]
    assert terms is not None and terms["ro"] in (ana.last_text or "")
    await ana.tap("Anulați")
    assert "Faceți parte" not in (ana.last_text or "")
    await ana.tap("Citiți condițiile și intrați")
    await ana.tap("Accept")
    assert ana.last_callback_answer == ("✅ Ați intrat în grup.", False)
    assert "✅ Faceți parte din acest grup." in (ana.last_text or "")

    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        acceptance = await session.scalar(
            select(ConfidentialityAcceptance).where(ConfidentialityAcceptance.group_id == eco.id)
        )
    assert acceptance is not None
    assert (acceptance.locale, acceptance.terms) == ("ro", terms["ro"])

    await maria.send("/groups")
    await maria.tap("Eco-materials")
    card = maria.last_text or ""
    assert "1 person accepted the terms:" in card
    assert "• Ana, " in card and "🇷🇴" in card
    # Members do not see who accepted.
    assert "accepted the terms" not in (ana.last_text or "") and "au acceptat" not in (ana.last_text or "")


async def test_managers_transform_then_dissolve_and_members_are_told_why(sandbox: SandboxBot) -> None:
    cast = await people(sandbox)
    ana, dan, maria, radu = cast["ana"], cast["dan"], cast["maria"], cast["radu"]
    for member in (ana, dan):
        await member.send("/groups")
        await member.tap("Sisteme integrate" if reads_romanian(member) else "Integrated water")
        await member.tap("Intrați în grup" if reads_romanian(member) else "Join the group")

    await maria.send("/groups")
    await maria.tap("Integrated water")
    await maria.tap("Transform")
    assert "Current objective: Brings together technology providers" in (maria.last_text or "")
    await maria.send("Stații de epurare mici pentru comunele din regiune.")
    await maria.send("Small treatment plants for the region's villages.")
    await maria.send("The members want a narrower, fundable aim.")
    assert "Transform Integrated water-treatment systems and treatment plants?" in (maria.last_text or "")
    await maria.tap("🔁 Transform")
    assert maria.last_callback_answer == ("🔁 Transformed; everyone in the group is told why.", False)
    card = maria.last_text or ""
    assert card.index("Small treatment plants for the region's villages.") < card.index("History")
    assert "transformed with a new objective. Reason: The members want a narrower, fundable aim." in card
    assert "Previous objective: Brings together technology providers" in card
    await sandbox.deliver()
    assert said(dan, "has a new objective.\nReason: The members want a narrower, fundable aim.")
    assert said(ana, "are un obiectiv nou.\nMotivul: The members want a narrower, fundable aim.")
    assert said(ana, "Noul obiectiv: Stații de epurare mici pentru comunele din regiune.")
    assert not said(radu, "new objective")

    # One text only: readers of the other language see it marked with its flag.
    await maria.tap("Transform")
    await maria.send("Doar stații de epurare.")
    await maria.tap("Only the Romanian text")
    await maria.send("Simpler.")
    await maria.tap("🔁 Transform")
    await dan.send("/groups")
    await dan.tap("Integrated water")
    assert "Doar stații de epurare. 🇷🇴" in (dan.last_text or "")

    await maria.tap("Dissolve")
    await maria.send("Its members moved to the sludge group.")
    assert "Nobody can join it afterwards" in (maria.last_text or "")
    await maria.tap("🗑 Dissolve")
    assert "State: ⚫ dissolved" in (maria.last_text or "")
    assert "dissolved. Reason: Its members moved to the sludge group." in (maria.last_text or "")
    assert maria.last_message is not None and maria.last_message.labels == ["⬅️ Working groups"]
    await sandbox.deliver()
    assert said(dan, "has been dissolved.\nReason: Its members moved to the sludge group.")
    assert said(ana, "a fost dizolvat.\nMotivul: Its members moved to the sludge group.")
    # Dan's card from before still has a Leave button: it is refused now.
    await dan.tap("Leave the group", message=dan.messages[-3])
    assert dan.last_callback_answer is not None and "has been dissolved" in (dan.last_callback_answer[0] or "")


async def test_a_member_proposes_in_romanian_and_a_manager_adds_english(sandbox: SandboxBot) -> None:
    cast = await people(sandbox)
    ana, dan, maria = cast["ana"], cast["dan"], cast["maria"]
    await ana.send("/groups")
    await ana.tap("Propuneți un grup")
    assert "Scrieți în română" in (ana.last_text or "")
    await ana.send("/cancel")
    assert "Am anulat" in (ana.last_text or "")
    await ana.send("Hidrogen verde")
    assert "Care este obiectivul" not in (ana.last_text or "")

    await ana.send("/groups")
    await ana.tap("Propuneți un grup")
    await ana.send("Hidrogen verde")
    await ana.tap("Anulați")
    assert "Am oprit. Nu s-a schimbat nimic." in (ana.last_text or "")

    await ana.send("/groups")
    await ana.tap("Propuneți un grup")
    await ana.send("Hidrogen <verde> & curat")
    await ana.send("Producția de hidrogen din surse regenerabile, cu proiecte comune.")
    assert "Hidrogen &lt;verde&gt;" not in (ana.last_text or "")  # escaped on the way, shown as typed
    assert "Hidrogen <verde> & curat" in (ana.last_text or "")
    await ana.tap("Propuneți")
    assert ana.last_callback_answer == ("💡 Grupul dumneavoastră a fost propus.", False)
    card = ana.last_text or ""
    assert "Hidrogen <verde> & curat" in card and "așteaptă încă 2 organizații membre" in card
    assert "Faceți parte din acest grup" in card and "propus de un membru" in card

    await dan.send("/groups")
    await dan.tap("Proposed")
    await dan.tap("Next")
    await dan.tap("Hidrogen")
    assert "Hidrogen <verde> & curat 🇷🇴" in (dan.last_text or "")
    assert "1 member organisation, 1 person" in (dan.last_text or "")
    assert dan.last_message is not None and not any("Add English" in label for label in dan.last_message.labels)

    await maria.send("/groups")
    await maria.tap("Proposed")
    await maria.tap("Next")
    await maria.tap("Hidrogen")
    await maria.tap("Add English")
    assert "Send the title in English" in (maria.last_text or "")
    await maria.send("Clean <green> hydrogen")
    assert "Send the objective in English" in (maria.last_text or "")
    await maria.send("Producing hydrogen from renewable sources, with joint projects.")
    assert maria.since_last_action[0].content == "🌐 Saved: the group now reads in English too."
    await dan.send("/groups")
    await dan.tap("Proposed")
    await dan.tap("Next")
    await dan.tap("Clean")
    assert "Clean <green> hydrogen\n\nProducing hydrogen from renewable sources" in (dan.last_text or "")
    assert "🇷🇴" not in (dan.last_text or "")


async def test_the_list_pages_and_filters(sandbox: SandboxBot) -> None:
    cast = await people(sandbox)
    dan = cast["dan"]
    await dan.send("/groups")
    first = dan.last_message
    assert first is not None and "All groups: 9 groups, page 1 of 2." in first.content
    assert sum(label[0] in "🟢🟡⚫" for label in first.labels) == 8
    await dan.tap("Next")
    assert "page 2 of 2" in (dan.last_text or "")
    assert dan.last_message is not None and dan.last_message.edited
    assert any("Solid-biomass value chain 🔒" in label for label in dan.last_message.labels)
    await dan.tap("Solid-biomass")
    await dan.tap("Working groups")
    assert "page 2 of 2" in (dan.last_text or "")
    await dan.tap("Mine")
    assert "You do not take part in any working group yet." in (dan.last_text or "")


async def group_snapshot(sandbox: SandboxBot, key: str) -> tuple[object, ...]:
    """What a manager's action would change: the group's row and the number of its history events."""
    group = await group_row(sandbox, key)
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        events = await session.scalar(
            select(func.count()).select_from(GroupEvent).where(GroupEvent.group_id == group.id)
        )
    columns = ("state", "confidential", "title_ro", "title_en", "objective_ro", "objective_en", "terms_ro", "terms_en")
    return (*(getattr(group, column) for column in columns), group.updated_at, events)


async def test_a_member_pressing_a_managers_button_is_refused_and_the_group_is_unchanged(sandbox: SandboxBot) -> None:
    cast = await people(sandbox)
    dan = cast["dan"]
    water = await group_row(sandbox, "water-treatment")
    before = await group_snapshot(sandbox, "water-treatment")
    await dan.send("/groups")
    for action in ("dissolve", "transform", "translate", "confidential"):
        answer = await dan.forge(f"g:{action}:{water.id}:all:0")
        assert answer == ("Sorry, only the cluster's managers can do that.", True), action
        # No manager's conversation was started: a text after it is not taken as a reason or a text.
        await dan.send("No member organisation works on it.")
        assert (dan.last_text or "").startswith("I did not understand that. Choose from the menu"), action
    assert await group_snapshot(sandbox, "water-treatment") == before


async def test_a_manager_whose_role_is_taken_away_midway_is_stopped(sandbox: SandboxBot) -> None:
    cast = await people(sandbox)
    maria = cast["maria"]
    before = await group_snapshot(sandbox, "water-treatment")
    await maria.send("/groups")
    await maria.tap("Integrated water")
    await maria.tap("Dissolve")
    assert "Why is it dissolved?" in (maria.last_text or "")

    # The command line (or another replica) takes her role away in the middle of the conversation.
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        await session.execute(update(Person).where(Person.telegram_id == 3001).values(role=Role.MEMBER.value))
    await maria.send("No member organisation works on it.")
    assert maria.last_text == "Sorry, only the cluster's managers can do that."
    # The conversation is over: the main menu is offered, and the next text is not taken as the reason.
    assert maria.last_message is not None and "👥 Working groups" in maria.last_message.labels
    await maria.send("No member organisation works on it.")
    assert (maria.last_text or "").startswith("I did not understand that. Choose from the menu")
    assert await group_snapshot(sandbox, "water-treatment") == before


async def test_a_manager_whose_role_is_taken_away_before_confirming_is_stopped(sandbox: SandboxBot) -> None:
    cast = await people(sandbox)
    maria = cast["maria"]
    before = await group_snapshot(sandbox, "water-treatment")
    await maria.send("/groups")
    await maria.tap("Integrated water")
    await maria.tap("Dissolve")
    await maria.send("No member organisation works on it.")
    assert "Nobody can join it afterwards" in (maria.last_text or "")

    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        await session.execute(update(Person).where(Person.telegram_id == 3001).values(role=Role.MEMBER.value))
    await maria.tap("🗑 Dissolve")
    assert maria.last_callback_answer == ("Sorry, only the cluster's managers can do that.", True)
    # The conversation is over: a text is not answered with "use the buttons above".
    await maria.send("Please dissolve it.")
    assert (maria.last_text or "").startswith("I did not understand that. Choose from the menu")
    assert await group_snapshot(sandbox, "water-treatment") == before
