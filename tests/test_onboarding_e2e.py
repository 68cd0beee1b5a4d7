"""People's stories through the real bot and the sandbox over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot.config import Settings
from bot.sandbox.harness import SANDBOX_BOT_USERNAME, SandboxBot
from bot.services import members
from storage.db import unit_of_work
from storage.models import AuditEntry, Person, Role


async def audit_actions(sandbox: SandboxBot) -> list[str]:
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        return list((await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all())


async def test_guest_is_welcomed_in_romanian_and_switches_to_english(sandbox: SandboxBot) -> None:
    ana = await sandbox.person("ana", 1001, "Ana", language_code="ro")
    await ana.send("/start")
    welcome = ana.last_message
    assert welcome is not None
    assert "Bună ziua, Ana" in welcome.content
    assert "Confidențialitate" in welcome.content
    assert "🇬🇧 English" in welcome.labels and "🇷🇴 Română" in welcome.labels

    await ana.tap("English")
    assert "From now on I will write to you in English" in (ana.last_text or "")
    assert ana.last_callback_answer == ("Language: 🇬🇧 English", False)

    # The choice is kept: a later command answers in English although Telegram says "ro".
    await ana.send("/profile")
    assert "Your profile" in (ana.last_text or "")
    assert "Language: 🇬🇧 English" in (ana.last_text or "")
    await ana.send("/language")
    await ana.tap("Română")
    assert "De acum înainte vă voi scrie în limba română" in (ana.last_text or "")
    await ana.send("/help")
    assert "/profile" in (ana.last_text or "") and "Iată ce comenzi înțeleg" in (ana.last_text or "")


async def test_join_request_is_approved_by_a_manager_and_everyone_is_told(sandbox: SandboxBot) -> None:
    maria = await sandbox.person("maria", 3001, "Maria", language_code="ro", role="manager")
    john = await sandbox.person("john", 3002, "John", language_code="en", role="manager")
    dan = await sandbox.person("dan", 1002, "Dan", language_code="en")
    # Managers must have started the bot for it to write to them.
    await maria.send("/start")
    await john.send("/start")

    await dan.send("/start")
    await dan.tap("Join the cluster")
    assert "1/3" in (dan.last_text or "")
    await dan.send("Green Biomass SRL")
    await dan.send("RO 14399841")
    assert "not valid" in (dan.last_text or "")
    await dan.send("RO 14399840")
    await dan.send("Project manager")
    summary = dan.last_message
    assert summary is not None and "Green Biomass SRL" in summary.content and "14399840" in summary.content
    await dan.tap("Send request")
    assert "sent to the cluster's managers" in (dan.last_text or "")
    await sandbox.deliver()  # notices to others go through the outbox, as the running bot's sender sends them

    card_ro = maria.last_message
    card_en = john.last_message
    assert card_ro is not None and card_en is not None
    assert "Cerere de aderare" in card_ro.content and "Green Biomass SRL" in card_ro.content
    assert card_ro.labels == ["✅ Aprob", "❌ Refuz"]
    assert "Request to join the cluster" in card_en.content and "A new organisation" in card_en.content

    await maria.tap("Aprob")
    assert "Aprobată de Maria" in (maria.last_text or "")
    assert maria.last_message is not None and maria.last_message.labels == []

    # The second manager's card is stale until the sender edits it: a polite refusal, and its buttons go away.
    await john.tap("Approve")
    assert john.last_callback_answer == ("This request has already been decided.", True)
    assert john.last_message is not None and john.last_message.labels == []
    await sandbox.deliver()
    assert "your request was approved" in (dan.last_text or "")
    assert "Green Biomass SRL" in (dan.last_text or "")
    # Then it says who decided and when, like every manager's copy.
    assert "✅ Approved by Maria," in (john.last_text or "")

    await dan.send("/profile")
    assert "Organisation: Green Biomass SRL" in (dan.last_text or "")
    assert "Role in the cluster: member" in (dan.last_text or "")
    assert (await audit_actions(sandbox))[-2:] == ["join.requested", "join.approved"]


async def test_rejected_request_and_a_second_request_while_pending(sandbox: SandboxBot) -> None:
    maria = await sandbox.person("maria", 3001, "Maria", language_code="ro", role="manager")
    await maria.send("/start")
    elena = await sandbox.person("elena", 1003, "Elena", language_code="ro")
    await elena.send("/join")
    await elena.send("Clinica Verde")
    await elena.send("14399840")
    await elena.send("director")
    await elena.tap("Trimiteți")
    await elena.send("/join")
    assert "deja" in (elena.last_text or "")
    await elena.send("/profile")
    assert "așteaptă" in (elena.last_text or "")

    await maria.send("/requests")
    assert "Clinica Verde" in (maria.last_text or "")
    await maria.tap("Refuz")
    await maria.tap("Fără motiv")
    await maria.tap("Da, refuz")
    await sandbox.deliver()
    assert "nu au aprobat cererea de aderare a organizației Clinica Verde" in (elena.last_text or "")
    await elena.send("/profile")
    assert "Rol în cluster: vizitator" in (elena.last_text or "")
    assert "join.rejected" in await audit_actions(sandbox)


async def test_invite_link_attaches_a_representative_at_once(sandbox: SandboxBot) -> None:
    maria = await sandbox.person("maria", 3001, "Maria", language_code="en", role="manager")
    await sandbox.person("radu", 2001, "Radu", role="member", organisation="EcoTech SRL")
    await maria.send("/invite ecotech s.r.l.")
    text = maria.last_text or ""
    prefix = f"https://t.me/{SANDBOX_BOT_USERNAME}?start="
    assert prefix in text
    code = text.split(prefix, 1)[1].split()[0]

    bob = await sandbox.person("bob", 1004, "Bob", language_code="en")
    await bob.send(f"/start {code}")
    assert "You now represent EcoTech SRL" in (bob.last_text or "")
    await bob.send("/join")
    assert "You already represent EcoTech SRL" in (bob.last_text or "")

    carol = await sandbox.person("carol", 1005, "Carol", language_code="en")
    await carol.send("/start not-a-real-code")
    assert "not valid any more" in (carol.last_text or "")
    # The menu path: paste the whole link.
    await carol.tap("invite code")
    await carol.send(f"Here it is: https://t.me/{SANDBOX_BOT_USERNAME}?start={code}")
    assert "You now represent EcoTech SRL" in (carol.last_text or "")

    # Members cannot make invites.
    await bob.send("/invite EcoTech SRL")
    assert "only the cluster's managers" in (bob.last_text or "")


async def test_forged_and_stale_buttons_are_refused_politely(sandbox: SandboxBot) -> None:
    eve = await sandbox.person("eve", 1006, "Eve", language_code="en")
    await eve.send("/start")
    server = sandbox.server
    menu = eve.last_message
    assert menu is not None

    async def forge(data: str) -> tuple[str | None, bool] | None:
        update_id, query_id = await server.user_taps(eve.user_id, eve.chat_id, menu.message_id, data, forged=True)
        await server.wait_handled(update_id)
        answer = server.callback_answer(query_id)
        return None if answer is None else (answer.get("text"), bool(answer.get("show_alert")))

    assert await forge("jr:1:approve") == ("Sorry, only the cluster's managers can do that.", True)
    assert await forge("lang:de") == ("This button is no longer valid.", True)
    assert await forge("nonsense") == ("This button is no longer valid. Open /menu for a fresh one.", True)
    assert await forge("jr:abc:approve") == ("This button is no longer valid. Open /menu for a fresh one.", True)
    assert await forge("menu:requests") == ("Sorry, only the cluster's managers can do that.", True)
    # A "send" press outside the join conversation is stale.
    assert await forge("join:send") == (
        "This button is no longer valid: it is from an earlier step of the form. Please use the buttons of "
        "the newest message.",
        True,
    )

    maria = await sandbox.person("maria", 3001, "Maria", language_code="en", role="manager")
    await maria.send("/start")
    menu = maria.last_message
    assert menu is not None
    update_id, query_id = await server.user_taps(
        maria.user_id, maria.chat_id, menu.message_id, "jr:99999:approve", forged=True
    )
    await server.wait_handled(update_id)
    answer = server.callback_answer(query_id) or {}
    assert (answer.get("text"), answer.get("show_alert")) == ("This request no longer exists.", True)


async def test_unknown_input_gets_a_hint_and_oversized_text_is_refused(sandbox: SandboxBot) -> None:
    ana = await sandbox.person("ana", 1001, "Ana", language_code="en")
    await ana.send("/frobnicate")
    assert "I do not know that command" in (ana.last_text or "")
    assert "👤 My profile" in (ana.last_message.labels if ana.last_message else [])
    await ana.send("hello there")
    assert "I did not understand that" in (ana.last_text or "")
    await ana.send("x" * 3000)
    assert "too long" in (ana.last_text or "")
    await ana.send("/join")
    await ana.send("O" * 201)
    assert "at most 200 characters" in (ana.last_text or "")
    await ana.send("/cancel")
    assert "Cancelled" in (ana.last_text or "")


async def test_group_chat_only_answers_commands_addressed_to_the_bot(sandbox: SandboxBot) -> None:
    ana = await sandbox.person("ana", 1001, "Ana", language_code="en")
    group_id = -100777
    sandbox.server.add_group(group_id, "Cluster members", supergroup=True)
    await sandbox.server.wait_handled(sandbox.server.add_bot_to_group(group_id, ana.user_id))
    produced = await ana.send("good morning everyone", chat_id=group_id)
    assert produced == []
    produced = await ana.send("/help@some_other_bot", chat_id=group_id)
    assert produced == []
    produced = await ana.send(f"/help@{SANDBOX_BOT_USERNAME}", chat_id=group_id)
    assert len(produced) == 1
    assert "private chat" in produced[0].content
    assert produced[0].labels == ["💬 Open a private chat"]
    # Nothing about the group went to her private chat.
    assert ana.messages == []


async def test_a_database_fault_is_reported_and_the_bot_carries_on(
    sandbox: SandboxBot, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ana = await sandbox.person("ana", 1001, "Ana", language_code="ro")

    async def broken(*args: object, **kwargs: object) -> None:
        raise OperationalError("SELECT 1", {}, Exception("database is locked"))

    monkeypatch.setattr(members, "pending_request_of", broken)
    with caplog.at_level(logging.ERROR):
        await ana.send("/profile")
    assert "A apărut o eroare" in (ana.last_text or "")
    assert any("OperationalError" in record.getMessage() for record in caplog.records)
    monkeypatch.undo()
    await ana.send("/profile")
    assert "Profilul dumneavoastră" in (ana.last_text or "")


async def test_admins_come_from_configuration(migrated_url: str, make_settings: Callable[..., Settings]) -> None:
    async with SandboxBot(make_settings(migrated_url, admin_ids=frozenset({4242}))) as sandbox:
        boss = await sandbox.person("boss", 4242, "Ioana", language_code="en")
        await boss.send("/start")
        assert "administrator" in (boss.last_text or "")
        assert "📥 Join requests" in (boss.last_message.labels if boss.last_message else [])
        assert sandbox.rt is not None
        async with unit_of_work(sandbox.rt.session_factory) as session:
            role = await session.scalar(select(Person.role).where(Person.telegram_id == 4242))
        assert role == Role.ADMIN.value


async def test_conversation_state_lives_in_redis_when_configured(
    redis_url: str, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    import redis.asyncio as aioredis

    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'redis.sqlite3'}", redis_url=redis_url)
    async with SandboxBot(settings) as sandbox:
        ana = await sandbox.person("ana", 1001, "Ana", language_code="en")
        await ana.send("/join")
        await ana.send("Solar Valley SRL")
        client = aioredis.from_url(redis_url)
        try:
            keys = [key.decode() for key in await client.keys("fsm:*")]
            assert any(key.endswith(":state") for key in keys), keys
            assert any(key.endswith(":data") for key in keys), keys
        finally:
            await client.aclose()
        await ana.send("14399840")
        await ana.send("engineer")
        await ana.tap("Send request")
        assert "sent to the cluster's managers" in (ana.last_text or "")


async def test_a_role_taken_away_elsewhere_is_enforced_at_once(sandbox: SandboxBot) -> None:
    from sqlalchemy import update

    maria = await sandbox.person("maria", 3001, "Maria", language_code="en", role="manager")
    await maria.send("/start")
    await maria.send("/menu")  # she is remembered between updates now
    dan = await sandbox.person("dan", 1002, "Dan", language_code="en")
    await dan.send("/join")
    await dan.send("Green Biomass SRL")
    await dan.send("14399840")
    await dan.send("engineer")
    await dan.tap("Send request")
    await sandbox.deliver()
    card = maria.last_message
    assert card is not None and "Green Biomass SRL" in card.content

    # Another process (the command line, another replica) demotes her, bypassing this process entirely.
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        await session.execute(update(Person).where(Person.telegram_id == 3001).values(role=Role.MEMBER.value))
    await maria.tap("Approve", message=card)
    assert maria.last_callback_answer == ("Sorry, only the cluster's managers can do that.", True)
    await dan.send("/profile")
    assert "waiting for a manager's decision" in (dan.last_text or "")


def test_person_cache_expires_and_forgets() -> None:
    from bot.middlewares import PersonCache
    from bot.services.members import PersonView

    ana = PersonView(1, 1001, "Ana", None, None, None, "ro", Role.MEMBER, "active", 1, "Org", None)
    cache = PersonCache(ttl=30)
    cache.put(ana)
    assert cache.get(1001) is ana
    cache.forget({1001})
    assert cache.get(1001) is None
    off = PersonCache(ttl=0)
    off.put(ana)
    assert off.get(1001) is None
    short = PersonCache(ttl=0.0001)
    short.put(ana)
    import time

    time.sleep(0.01)
    assert short.get(1001) is None
    small = PersonCache(ttl=30, size=2)
    for n in range(3):
        small.put(PersonView(n, n, "x", None, None, None, None, Role.GUEST, "active", None, None, None))
    assert small.get(0) is None and small.get(2) is not None
