"""A working group leads somewhere (issue 12): its card names its member organisations, managers attach the
group's own Telegram chat that only the people in it see (on the card and when they join), guests are invited to
join the cluster instead of being offered Join, Mine or Propose, a dissolved group's card says so, buttons show
short titles cut between words, and a member corrects a proposal with Back and Edit before sending it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.sandbox.client import SandboxUser
from bot.sandbox.harness import SandboxBot
from bot.services.groups import GroupError, GroupRefusal, packaged_seed, parse_chat_link, parse_seed, seed_groups
from handlers.keyboards import clip_words
from storage.db import unit_of_work
from storage.models import AuditEntry, WorkingGroup
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
        "maria": await sandbox.person("maria", 3001, "Maria", language_code="en", role="manager"),
        "ana": await sandbox.person("ana", 1001, "Ana", language_code="ro", role="member", organisation="EcoTech SRL"),
        "dan": await sandbox.person(
            "dan", 1002, "Dan", language_code="en", role="member", organisation="Bio <&> Co S.R.L."
        ),
        "radu": await sandbox.person(
            "radu", 1005, "Radu", language_code="en", role="member", organisation="Green Energy SRL"
        ),
        "gigi": await sandbox.person("gigi", 1003, "Gigi", language_code="ro"),
    }
    for person in people.values():
        await person.send("/start")
    return people


async def group_row(sandbox: SandboxBot, key: str) -> WorkingGroup:
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        group = await session.scalar(select(WorkingGroup).where(WorkingGroup.key == key))
    assert group is not None
    return group


async def audit_actions(sandbox: SandboxBot) -> list[str]:
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        rows = await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))
        return [action for action in rows if action.startswith("group.chat_link")]


def labels(who: SandboxUser) -> list[str]:
    assert who.last_message is not None
    return who.last_message.labels


async def open_sludge(who: SandboxUser) -> None:
    await who.send("/groups")
    await who.tap("Tratarea nămolurilor" if who.info["language_code"] == "ro" else "Sludge treatment")


async def test_the_card_names_the_organisations_and_members_see_the_chat_a_manager_attached(
    sandbox: SandboxBot,
) -> None:
    people = await cast(sandbox)
    maria, ana, dan, radu, gigi = (people[name] for name in ("maria", "ana", "dan", "radu", "gigi"))

    # Ana and Dan join; the card names both organisations, escaped, alphabetically.
    await open_sludge(ana)
    await ana.tap("Intrați în grup")
    await open_sludge(dan)
    await dan.tap("Join the group")
    card = dan.last_text or ""
    assert "Member organisations:\n• Bio <&> Co S.R.L.\n• EcoTech SRL" in card
    assert "2 member organisations, 2 people" in card
    # Without a chat, the message telling Dan he is in has no button.
    joined = dan.messages[-1]
    assert 'You\'re a member of the group "Advanced technologies for sludge treatment and recovery" now.' in (
        joined.content
    )
    assert joined.labels == []

    # The manager: a link that is not a Telegram chat is refused and the question stays open.
    await open_sludge(maria)
    assert "💬 Add the chat link" in labels(maria)
    await maria.tap("Add the chat link")
    assert "Send the link of the group's own Telegram chat" in (maria.last_text or "")
    for wrong in ("https://example.com/chat", "t.me/share", "https://t.me/+abc", "javascript:alert(1)"):
        await maria.send(wrong)
        assert "This is not a link to a Telegram chat" in (maria.last_text or ""), wrong
        assert labels(maria) == ["✖️ Cancel"]
    assert (await group_row(sandbox, "sludge")).chat_link is None
    await maria.send("t.me/+AbCdEf012345")
    assert "💬 Saved: the people in the group see its chat now." in maria.messages[-2].content
    assert "only its members see it" in (maria.last_text or "")
    assert (await group_row(sandbox, "sludge")).chat_link == "https://t.me/+AbCdEf012345"
    assert "💬 Change the chat link" in labels(maria)

    # The people in it see it on the card, with a button that opens it.
    await open_sludge(ana)
    assert "💬 Chatul de Telegram al grupului: https://t.me/+AbCdEf012345" in (ana.last_text or "")
    assert "💬 Deschideți chatul grupului" in labels(ana)
    # Someone not in the group does not, nor does a guest.
    for outsider in (radu, gigi):
        await open_sludge(outsider)
        assert "t.me" not in (outsider.last_text or "")
        assert not any("chat" in label.lower() for label in labels(outsider))
    # Radu joins: the message telling him he is in opens the group's chat.
    await radu.tap("Join the group")
    joined = radu.messages[-1]
    assert "Its members talk in the group's Telegram chat" in joined.content
    assert joined.labels == ["💬 Open the group chat"]
    assert "https://t.me/+AbCdEf012345" in (radu.last_text or "")

    # The manager removes it: nobody sees it any more; removing it twice is refused.
    await open_sludge(maria)
    await maria.tap("Change the chat link")
    assert "Now: https://t.me/+AbCdEf012345" in (maria.last_text or "")
    await maria.tap("Remove the chat link")
    assert maria.last_callback_answer == ("🗑 The chat link is removed.", False)
    await maria.forge(f"g:unlink:{(await group_row(sandbox, 'sludge')).id}:all:0")
    assert maria.last_callback_answer == ("This group has no chat link to remove.", True)
    await open_sludge(ana)
    assert "t.me" not in (ana.last_text or "")
    assert await audit_actions(sandbox) == ["group.chat_link_set", "group.chat_link_removed"]

    # A member cannot attach or remove a link with a forged button.
    sludge = await group_row(sandbox, "sludge")
    for data in (f"g:link:{sludge.id}:all:0", f"g:unlink:{sludge.id}:all:0"):
        await ana.forge(data)
        assert ana.last_callback_answer is not None and ana.last_callback_answer[1]
    assert (await group_row(sandbox, "sludge")).chat_link is None


async def test_a_guest_is_invited_to_join_the_cluster_instead_of_join_mine_and_propose(sandbox: SandboxBot) -> None:
    gigi = (await cast(sandbox))["gigi"]
    await gigi.send("/groups")
    listing = labels(gigi)
    assert "Ale mele" not in listing and "💡 Propuneți un grup" not in listing
    assert "🤝 Aderați la cluster" in listing
    assert "După aderarea organizației dumneavoastră la cluster" in (gigi.last_text or "")
    await gigi.tap("Eco-materiale urbane")
    card = labels(gigi)
    assert "🔒 Citiți condițiile și intrați" not in card and "✅ Intrați în grup" not in card
    assert "🤝 Aderați la cluster" in card
    await gigi.tap("Aderați la cluster")
    assert "1/3" in (gigi.last_text or "")


async def test_a_dissolved_group_says_when_it_was_dissolved(sandbox: SandboxBot) -> None:
    maria = (await cast(sandbox))["maria"]
    await maria.send("/groups")
    await maria.tap("Disaster management")
    assert "🔓 Open to every member organisation." in (maria.last_text or "")
    await maria.tap("Dissolve")
    await maria.send("Nobody works on it any more.")
    # Dissolving cannot be undone: it is confirmed first.
    assert "Nobody can join it afterwards" in (maria.last_text or "")
    assert labels(maria) == ["🗑 Dissolve", "✖️ Cancel"]
    await maria.tap("🗑 Dissolve")
    card = maria.last_text or ""
    assert "⚫ Dissolved on " in card and "nobody can join it." in card
    assert "Open to every member organisation" not in card


async def test_buttons_show_short_titles_and_cut_long_ones_between_words(sandbox: SandboxBot) -> None:
    people = await cast(sandbox)
    ana, dan = people["ana"], people["dan"]
    await dan.send("/groups")
    shown = [label for label in labels(dan) if label[0] in "🟢🟡⚫"]
    seeds = {seed.key: seed for seed in parse_seed(packaged_seed())}
    assert shown[0] == "🟡 Water treatment"
    assert all(seed.short_title is not None for seed in seeds.values())
    # The card keeps the full title.
    await dan.tap("Water treatment")
    assert "Integrated water-treatment systems and treatment plants" in (dan.last_text or "")

    # A member's group has no short title: its button cuts the title between words.
    await ana.send("/groups")
    await ana.tap("Propuneți un grup")
    long_title = "Reabilitarea energetică a clădirilor publice din județele regiunii Centru și Nord-Vest"
    await ana.send(long_title)
    await ana.send("Renovăm împreună școli și spitale.")
    await ana.tap("💡 Propuneți")
    await ana.send("/groups")
    await ana.tap("Ale mele")
    label = next(label for label in labels(ana) if label.startswith("🟡 Reabilitarea"))
    assert label == "🟡 Reabilitarea energetică a clădirilor publice… ✅"
    assert long_title[len("Reabilitarea energetică a clădirilor publice")] == " ", "cut between words"


def test_chat_links_are_checked_and_written_one_way() -> None:
    for typed, kept in (
        ("https://t.me/+AbCdEf012345", "https://t.me/+AbCdEf012345"),
        ("  t.me/joinchat/AbCdEf012345 ", "https://t.me/joinchat/AbCdEf012345"),
        ("https://t.me/ClusterApa", "https://t.me/ClusterApa"),
        ("http://telegram.me/ClusterApa/", "https://t.me/ClusterApa"),
    ):
        assert parse_chat_link(typed) == kept
    for wrong in (
        None,
        "",
        "https://t.me/",
        "https://t.me/abc",
        "https://t.me/joinchat",
        "https://t.me/share",
        "https://t.me/+short",
        "https://t.me/ClusterApa/12",
        "https://evil.example/t.me/ClusterApa",
        "https://t.me.evil.example/ClusterApa",
        "tg://resolve?domain=ClusterApa",
    ):
        with pytest.raises(GroupError) as refused:
            parse_chat_link(wrong)
        assert refused.value.reason is GroupRefusal.BAD_CHAT_LINK


def test_labels_are_cut_between_words() -> None:
    assert clip_words("Tratarea apei", 48) == "Tratarea apei"
    assert clip_words("Sisteme integrate de tratare a apei și stații de epurare", 30) == "Sisteme integrate de tratare…"
    assert clip_words("Supercalifragilisticexpialidocious", 10) == "Supercali…"
    assert clip_words("Apă, sol și aer", 6) == "Apă…"
