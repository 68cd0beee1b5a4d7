"""Decisions that cannot be undone, in the chat: rejecting a join request (a reason, or none, then a
confirmation), every manager's copy of a decided request edited, leaving a group and cancelling a scheduled
announcement confirmed first; forged confirmations and a demoted manager refused. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update

from bot.app import build_i18n
from bot.sandbox.client import SandboxUser
from bot.sandbox.harness import SandboxBot
from bot.services import members
from bot.services.catalogue import ServiceRequestView
from bot.services.members import JoinRequestView, PersonView
from handlers.keyboards import JoinDecision, JoinDecisionCb
from handlers.notices import renderer
from storage.db import unit_of_work
from storage.models import AuditEntry, JoinRequest, OutboxMessage, Person, RequestStatus, Role, ServiceRequestStatus


async def two_managers_and_an_applicant(
    sandbox: SandboxBot, applicant_language: str = "ro"
) -> tuple[SandboxUser, SandboxUser, SandboxUser]:
    """Maria (ro) and John (en), managers who started the bot, and Elena, whose request is on their cards."""
    maria = await sandbox.person("maria", 3001, "Maria", language_code="ro", role="manager")
    john = await sandbox.person("john", 3002, "John", language_code="en", role="manager")
    await maria.send("/start")
    await john.send("/start")
    elena = await sandbox.person("elena", 1003, "Elena", language_code=applicant_language, username="elena_v")
    await elena.send("/join")
    await elena.send("Clinica <Verde> & Fiii SRL")
    await elena.send("RO 14399840")
    await elena.send("director")
    await elena.tap(4)  # ✅ Send request, after the three ✏️ buttons of the summary
    await sandbox.deliver()
    return maria, john, elena


def said(person: SandboxUser, text: str) -> bool:
    return any(text in message.content for message in person.messages)


async def request_status(sandbox: SandboxBot) -> str:
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        return str(await session.scalar(select(JoinRequest.status)))


async def test_a_reasoned_rejection_is_confirmed_read_by_the_applicant_and_every_copy_says_who(
    sandbox: SandboxBot,
) -> None:
    maria, john, elena = await two_managers_and_an_applicant(sandbox)
    maria_card, john_card = maria.last_message, john.last_message
    assert maria_card is not None and john_card is not None
    assert maria_card.labels == ["✅ Aprob", "❌ Refuz"]
    assert "Persoană: Elena (@elena_v)" in maria_card.content

    await maria.tap("Refuz")
    assert (maria.last_text or "").startswith(
        "De ce refuzați cererea de aderare a organizației Clinica <Verde> & Fiii SRL? Solicitantul va primi motivul"
    )
    assert maria.last_message is not None and maria.last_message.labels == ["Fără motiv", "⬅️ Înapoi"]
    await maria.send("Codul fiscal aparține altei firme.")
    assert "Refuzați cererea de aderare a organizației Clinica <Verde> & Fiii SRL?" in (maria.last_text or "")
    assert "Motivul pe care îl va primi solicitantul: Codul fiscal aparține altei firme." in (maria.last_text or "")
    assert maria.last_message is not None and maria.last_message.labels == ["Da, refuz", "⬅️ Înapoi"]
    assert await request_status(sandbox) == "pending"  # nothing decided before the confirmation

    await maria.tap("Da, refuz")
    assert said(maria, "❌ Refuzată de Maria") and said(maria, "Solicitantul va primi motivul.")
    await sandbox.deliver()
    assert elena.last_text == (
        "Managerii clusterului nu au aprobat cererea de aderare a organizației Clinica <Verde> & Fiii SRL.\n"
        "Motivul: Codul fiscal aparține altei firme.\n\n"
        "Dacă credeți că este o greșeală, vă rog să scrieți echipei clusterului."
    )
    # Both managers' copies of the card, edited where they are: who decided, when, and no buttons.
    maria_copy = next(m for m in maria.messages if m.message_id == maria_card.message_id)
    john_copy = next(m for m in john.messages if m.message_id == john_card.message_id)
    assert "❌ Refuzată de Maria," in maria_copy.content and maria_copy.buttons == []
    assert "❌ Rejected by Maria," in john_copy.content and john_copy.buttons == []
    assert "Request to join the cluster" in john_copy.content and john_copy.edited
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        rejected = await session.scalar(select(AuditEntry).where(AuditEntry.action == "join.rejected"))
    assert rejected is not None and rejected.details["reason"] == "Codul fiscal aparține altei firme."


async def test_a_rejection_without_a_reason_in_english(sandbox: SandboxBot) -> None:
    maria, john, elena = await two_managers_and_an_applicant(sandbox, applicant_language="en")
    await john.tap("Reject")
    assert "Why are you rejecting the request of organisation Clinica <Verde> & Fiii SRL to join?" in (
        john.last_text or ""
    )
    await john.tap("Without a reason")
    assert "Reject the request of organisation Clinica <Verde> & Fiii SRL? This cannot be undone." in (
        john.last_text or ""
    )
    assert "The applicant will receive the decision, without a reason." in (john.last_text or "")
    await john.tap("Yes, reject")
    assert said(john, "❌ Rejected by John") and said(john, "The applicant receives the decision, without a reason.")
    await sandbox.deliver()
    assert elena.last_text == (
        "The cluster's managers did not approve the request of organisation Clinica <Verde> & Fiii SRL to join "
        "the cluster. If you think this is a mistake, please write to the cluster team."
    )
    assert "❌ Refuzată de John," in (maria.last_text or "")
    assert maria.last_message is not None and maria.last_message.labels == []


async def test_back_from_the_reason_and_from_the_confirmation_changes_nothing(sandbox: SandboxBot) -> None:
    maria, _john, elena = await two_managers_and_an_applicant(sandbox)
    await maria.tap("Refuz")
    await maria.tap("Înapoi")
    assert "Nu s-a schimbat nimic: cererea de aderare a organizației Clinica <Verde> & Fiii SRL așteaptă" in (
        maria.last_text or ""
    )
    assert maria.last_message is not None and maria.last_message.labels == ["✅ Aprob", "❌ Refuz"]
    # A reason typed now is not taken for anything: the conversation is over.
    await maria.tap("Refuz")
    await maria.send("Nu știu.")
    await maria.tap("Înapoi")
    assert "Nu s-a schimbat nimic" in (maria.last_text or "")
    assert await request_status(sandbox) == "pending"
    await sandbox.deliver()
    assert "nu au aprobat" not in " ".join(m.content for m in elena.messages)
    # From the Back screen the request can still be decided.
    await maria.tap("Aprob")
    assert await request_status(sandbox) == "approved"


async def test_forged_confirmations_and_a_demoted_manager_are_refused(sandbox: SandboxBot) -> None:
    maria, john, _elena = await two_managers_and_an_applicant(sandbox)
    # A confirmation without the conversation that leads to it.
    forged = JoinDecisionCb(request_id=1, decision=JoinDecision.CONFIRM_REJECT).pack()
    text, alert = await john.forge(forged)
    assert alert and "This button is from an earlier step" in (text or "")
    assert await request_status(sandbox) == "pending"

    # In the conversation for request 1, a confirmation for another request.
    await maria.tap("Refuz")
    await maria.tap("Fără motiv")
    text, alert = await maria.forge(JoinDecisionCb(request_id=99, decision=JoinDecision.CONFIRM_REJECT).pack())
    assert alert and "Acest buton ține de un pas anterior" in (text or "")
    assert await request_status(sandbox) == "pending"

    # A guest's forged press is refused like any manager's button.
    gigi = await sandbox.person("gigi", 1009, "Gigi", language_code="en")
    await gigi.send("/start")
    text, alert = await gigi.forge(forged)
    assert alert and text and "Reject" not in text

    # Maria loses the role while her confirmation waits: the press is refused, nothing is decided.
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        await session.execute(update(Person).where(Person.telegram_id == 3001).values(role=Role.MEMBER.value))
    await maria.tap("Da, refuz")
    answer = maria.last_callback_answer
    assert answer is not None and answer[1] and "Refuzată" not in (answer[0] or "")
    assert await request_status(sandbox) == "pending"


async def test_a_copy_still_going_out_is_edited_after_it_arrives(sandbox: SandboxBot) -> None:
    maria = await sandbox.person("maria", 3001, "Maria", language_code="ro", role="manager")
    john = await sandbox.person("john", 3002, "John", language_code="en", role="manager")
    await maria.send("/start")
    await john.send("/start")
    elena = await sandbox.person("elena", 1003, "Elena", language_code="ro")
    await elena.send("/join")
    await elena.send("Clinica Verde SRL")
    await elena.send("RO 14399840")
    await elena.send("director")
    await elena.tap(4)  # ✅ Send request
    # Maria decides from /requests before the sender has sent the managers' cards.
    await maria.send("/requests")
    await maria.tap("Aprob")
    await sandbox.deliver()
    card = next(m for m in john.messages if "Request to join the cluster" in m.content)
    assert "✅ Approved by Maria," in card.content and card.buttons == []


async def test_a_copy_that_cannot_be_edited_any_more_keeps_refusing_its_buttons(sandbox: SandboxBot) -> None:
    maria, john, _elena = await two_managers_and_an_applicant(sandbox)
    # Telegram no longer lets the bot edit John's card (too old, or deleted): the edit is given up on.
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.batch == "join-request:1:new", OutboxMessage.chat_id == 3002)
            .values(telegram_message_id=987654)
        )
    await maria.tap("Aprob")
    await sandbox.deliver()
    async with unit_of_work(sandbox.rt.session_factory) as session:
        edit = await session.scalar(
            select(OutboxMessage).where(OutboxMessage.batch == "join-request:1:copies", OutboxMessage.chat_id == 3002)
        )
    assert edit is not None and edit.status == "invalid"
    assert john.last_message is not None and john.last_message.labels == ["✅ Approve", "❌ Reject"]
    await john.tap("Reject")
    assert john.last_callback_answer == ("This request has already been decided.", True)
    assert john.last_message is not None and john.last_message.labels == []


def test_cards_link_the_person_to_their_telegram_profile_and_say_who_decided_and_when() -> None:
    render = renderer(build_i18n("ro"))
    applicant = PersonView(7, 1007, "Ana <b> & Co", None, "ana_b", None, "ro", Role.GUEST, "active", None, None, None)
    request = JoinRequestView(4, 7, "Verde & Fiii", "14399840", "director", RequestStatus.PENDING, datetime.now(UTC))
    params = members.join_request_params(request, applicant)
    card = render("join.requested", params, "en")["text"]
    assert 'Person: <a href="tg://user?id=1007">Ana &lt;b&gt; &amp; Co</a> (@ana_b)' in card
    decided = params | {"decided": "rejected", "decided_by": "Maria <M>", "decided_at": "2026-12-01T10:30:00+02:00"}
    for locale, line in (("en", "❌ Rejected by Maria &lt;M&gt;, 1 Dec 2026, 10:30."), ("ro", "❌ Refuzată de Maria")):
        worded = render("join.requested", decided, locale)
        assert line in worded["text"] and "reply_markup" not in worded, worded

    service = ServiceRequestView(
        id=12,
        service_id=3,
        service_title_ro="Laborator",
        service_title_en="Laboratory",
        person_id=7,
        person_name="Radu <R>",
        person_username=None,
        organisation_name=None,
        note="Analize",
        status=ServiceRequestStatus.TAKEN,
        handled_by_name="John",
        decline_reason=None,
        created_at=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
        person_telegram_id=2001,
    )
    worded = render("service_request.new", service.params() | {"changed_at": "2026-12-01T10:30:00+02:00"}, "ro")
    assert 'De la: <a href="tg://user?id=2001">Radu &lt;R&gt;</a>' in worded["text"]
    assert "🙋 Preluată de John.\nUltima modificare: 1 dec. 2026, 10:30" in worded["text"]
