"""Onboarding as a person lives it (issue 12): the first /start welcomes in full and a returning person's is
short; after a language switch the menu's question comes last; the join form's Back and Edit before Send,
refused outside their step; the manager menu's Service requests, refused at the press for a demoted manager."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import func, select, update

from bot.config import Settings
from bot.sandbox.harness import SandboxBot
from storage.db import unit_of_work
from storage.models import AuditEntry, JoinRequest, Person, Role


@pytest.fixture
async def sandbox(migrated_url: str, make_settings: Callable[..., Settings]) -> AsyncIterator[SandboxBot]:
    async with SandboxBot(make_settings(migrated_url)) as running:
        yield running


async def join_requests(sandbox: SandboxBot) -> list[JoinRequest]:
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        return list((await session.scalars(select(JoinRequest).order_by(JoinRequest.id))).all())


async def test_a_returning_person_gets_a_short_start_and_the_question_comes_last(sandbox: SandboxBot) -> None:
    ana = await sandbox.person("ana", 1001, "Ana", language_code="ro")
    await ana.send("/start")
    first = ana.last_message
    assert first is not None
    assert "Confidențialitate" in first.content and "Cu ajutorul meu, organizațiile pot adera" in first.content
    assert first.content.endswith("Ce doriți să faceți?")
    assert first.labels[:2] == ["🇷🇴 Română", "🇬🇧 English"]

    await ana.send("/start")
    again = ana.last_message
    assert again is not None
    assert again.content.startswith("👋 Bine ați revenit, Ana!")
    assert again.content.endswith("Ce doriți să faceți?")
    assert "Confidențialitate" not in again.content and "Sunt asistentul" not in again.content
    assert "🇬🇧 English" not in again.labels
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        welcomed = await session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "person.welcomed")
        )
    assert welcomed == 1

    # The switch: the confirmation first, then where she stands, the question last, above the buttons.
    await ana.send("/language")
    await ana.tap("🇬🇧 English")
    switched = ana.last_text or ""
    assert switched.startswith("From now on I will write to you in English.")
    assert switched.index("You are visiting as a guest") < switched.index("What would you like to do?")
    assert switched.endswith("What would you like to do?")


async def test_a_guest_is_not_offered_what_only_members_do(sandbox: SandboxBot) -> None:
    dan = await sandbox.person("dan", 1002, "Dan", language_code="en")
    radu = await sandbox.person("radu", 2001, "Radu", language_code="en", role="member", organisation="EcoTech SRL")
    await dan.send("/help")
    assert "/join" in (dan.last_text or "") and "/projects" not in (dan.last_text or "")
    assert "/tenders" not in (dan.last_text or "")
    await radu.send("/help")
    assert "/projects" in (radu.last_text or "") and "/join:" not in (radu.last_text or "")


async def test_the_join_form_goes_back_and_edits_before_send(sandbox: SandboxBot) -> None:
    maria = await sandbox.person("maria", 3001, "Maria", language_code="en", role="manager")
    await maria.send("/start")
    tom = await sandbox.person("tom", 1002, "Tom", language_code="en")
    await tom.send("/join")
    assert tom.last_message is not None and tom.last_message.labels == ["✖️ Cancel"]
    await tom.send("Blue Wave <Consulting> SRLL")
    assert (tom.last_text or "").startswith("2/3.")
    assert tom.last_message.labels == ["⬅️ Back", "✖️ Cancel"]  # type: ignore[union-attr]

    # Back to the name: the earlier answer is shown (escaped), the new one replaces it.
    await tom.tap("⬅️ Back")
    assert "Now: Blue Wave <Consulting> SRLL. Send the new one." in (tom.last_text or "")
    await tom.send("Blue Wave <Consulting> SRL")
    await tom.send("RO 14399840")
    await tom.send("director")
    summary = tom.last_message
    assert summary is not None and summary.content.startswith("Please check your request:")
    assert "Organisation: Blue Wave <Consulting> SRL\n" in summary.content
    assert summary.labels == [
        "✏️ Organisation",
        "✏️ CUI",
        "✏️ Role",
        "✅ Send request",
        "⬅️ Back",
        "✖️ Cancel",
    ]
    # A text on the summary does not send anything.
    await tom.send("ok")
    assert (tom.last_text or "").startswith("Please use the buttons")
    assert await join_requests(sandbox) == []

    # Edit the role: an invalid answer keeps the step (and its Back), a valid one returns to the summary.
    await tom.tap("✏️ Role", message=summary)
    assert (tom.last_text or "").startswith("3/3.") and "Now: director." in (tom.last_text or "")
    await tom.send("x" * 500)
    assert tom.last_message.labels == ["⬅️ Back", "✖️ Cancel"]  # type: ignore[union-attr]
    await tom.send("managing director")
    assert "Role in the organisation: managing director" in (tom.last_text or "")
    assert "Organisation: Blue Wave <Consulting> SRL" in (tom.last_text or "")
    # The summary's Back goes to the last question.
    await tom.tap("⬅️ Back")
    assert (tom.last_text or "").startswith("3/3.")
    # An old summary's buttons no longer act: the form is at step 3.
    assert await tom.forge("join:send") == (
        "This button is no longer valid: it is from an earlier step of the form. Please use the buttons of "
        "the newest message.",
        True,
    )
    assert await tom.forge("join:edit_cui") == (
        "This button is no longer valid: it is from an earlier step of the form. Please use the buttons of "
        "the newest message.",
        True,
    )
    assert await tom.forge("join:edit_everything") == (
        "This button is no longer valid. Open /menu for a fresh one.",
        True,
    )
    await tom.send("managing director")
    await tom.tap("✅ Send request")
    assert (tom.last_text or "").startswith("✅ Your request has been sent")
    (request,) = await join_requests(sandbox)
    assert (request.organisation_name, request.cui, request.position) == (
        "Blue Wave <Consulting> SRL",
        "14399840",
        "managing director",
    )
    await sandbox.deliver()
    # Escaped in the card's HTML: Telegram shows the name as written.
    assert "Organisation: Blue Wave <Consulting> SRL" in (maria.last_text or "")


async def test_the_manager_menu_opens_service_requests_and_refuses_a_demoted_manager(sandbox: SandboxBot) -> None:
    maria = await sandbox.person("maria", 3001, "Maria", language_code="en", role="manager")
    radu = await sandbox.person("radu", 2001, "Radu", language_code="en", role="member", organisation="EcoTech SRL")
    await maria.send("/menu")
    menu = maria.last_message
    assert menu is not None
    for label in ("📥 Join requests", "📋 Service requests", "✉️ Questions", "📁 Projects", "🛰 Tender sources"):
        assert label in menu.labels, label
    await maria.tap("📋 Service requests")
    assert "service request" in (maria.last_text or "").lower()
    await maria.tap("✉️ Questions", message=menu)
    assert maria.last_text == "No questions are waiting for the team."

    await radu.send("/menu")
    assert "📋 Service requests" not in radu.last_message.labels  # type: ignore[union-attr]
    assert await radu.forge("menu:service_requests") == ("Sorry, only the cluster's managers can do that.", True)

    # Demoted elsewhere while her menu is open: the press is refused.
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        await session.execute(update(Person).where(Person.telegram_id == 3001).values(role=Role.MEMBER.value))
    await maria.tap("📋 Service requests", message=menu)
    assert maria.last_callback_answer == ("Sorry, only the cluster's managers can do that.", True)
