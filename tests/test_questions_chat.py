"""A person to talk to, in the chat: a member writes to the cluster team, every manager reads it in their own
language with Reply / Take it / Mark resolved, the first to take it wins, the reply reaches the member, who
answers in the same thread, /questions lists what waits, /profile shows the member's threads; a photo
question, a guest's question, forged buttons and a demoted manager are refused, and nobody is told "sent"
before the commit."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import select, update

from bot.config import Settings
from bot.sandbox.client import SandboxUser
from bot.sandbox.harness import SandboxBot
from storage.db import unit_of_work
from storage.models import Person, QuestionMessage, QuestionThread, Role


@pytest.fixture
async def sandbox(migrated_url: str, make_settings: Callable[..., Settings]) -> AsyncIterator[SandboxBot]:
    async with SandboxBot(make_settings(migrated_url)) as running:
        yield running


async def cast(sandbox: SandboxBot) -> dict[str, SandboxUser]:
    people = {
        "maria": await sandbox.person("maria", 3001, "Maria", language_code="en", role="manager"),
        "ion": await sandbox.person("ion", 3002, "Ion", language_code="ro", role="manager"),
        "ana": await sandbox.person(
            "ana", 1001, "Ana", last_name="Pop", language_code="ro", role="member", organisation="Bio & <Med> SRL"
        ),
        "dan": await sandbox.person("dan", 1002, "Dan", language_code="en", role="member", organisation="EcoTech SRL"),
        "gigi": await sandbox.person("gigi", 1003, "Gigi <3", language_code="ro"),
    }
    for person in people.values():
        await person.send("/start")
    return people


async def threads(sandbox: SandboxBot) -> list[QuestionThread]:
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        return list((await session.scalars(select(QuestionThread).order_by(QuestionThread.id))).all())


async def stored_messages(sandbox: SandboxBot) -> list[QuestionMessage]:
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        return list((await session.scalars(select(QuestionMessage).order_by(QuestionMessage.id))).all())


async def ask(who: SandboxUser, text: str) -> None:
    romanian = who.info["language_code"] == "ro"
    await who.send("/menu")
    await who.tap("✉️ Scrieți echipei clusterului" if romanian else "✉️ Write to the cluster team")
    await who.send(text)


async def test_a_member_and_two_managers_hold_one_thread_each_in_their_language(sandbox: SandboxBot) -> None:
    people = await cast(sandbox)
    ana, maria, ion = people["ana"], people["maria"], people["ion"]

    await ana.send("cum pot plăti cotizația?")
    # "I did not understand" offers the way to the team.
    assert "Nu am înțeles" in (ana.last_text or "")
    assert "✉️ Scrieți echipei clusterului" in ana.last_message.labels  # type: ignore[union-attr]

    await ask(ana, "Cum pot plăti cotizația pentru 2027?")
    assert (ana.last_text or "").startswith("✅ Mesajul dumneavoastră a fost trimis echipei clusterului")
    await sandbox.deliver()

    card = maria.last_message
    assert card is not None
    assert card.content.startswith("✉️ Question #1 for the cluster team")
    assert "From: Ana Pop" in card.content and "Organisation: Bio & <Med> SRL" in card.content
    assert "Cum pot plăti cotizația pentru 2027?" in card.content
    assert card.labels == ["↩️ Reply", "🙋 Take it", "✅ Mark resolved"]
    # The name is a link to the member's Telegram profile.
    links = [e for e in sandbox.server.bot_messages(maria.chat_id)[-1].entities if e["type"] == "text_link"]
    assert [link["url"] for link in links] == ["tg://user?id=1001"]
    assert ion.last_message is not None
    assert ion.last_message.content.startswith("✉️ Întrebarea nr. 1 pentru echipa clusterului")
    assert ion.last_message.labels == ["↩️ Răspund", "🙋 Preiau eu", "✅ Marchez rezolvată"]

    await maria.tap("🙋 Take it")
    assert maria.last_callback_answer == ("🙋 You have taken question #1.", False)
    assert "🙋 Taken by Maria." in (maria.last_text or "")
    assert maria.last_message.labels == ["↩️ Reply", "✅ Mark resolved"]  # type: ignore[union-attr]
    # Ion, later, is told who took it; his card says so too.
    await ion.tap("🙋 Preiau eu")
    assert ion.last_callback_answer == ("Maria a preluat deja această întrebare.", True)
    assert "🙋 Preluată de Maria." in (ion.last_text or "")

    await maria.tap("↩️ Reply")
    assert "Write your reply to Ana Pop (question #1)" in (maria.last_text or "")
    await maria.send("By bank transfer to the cluster's account; the invoice comes in January.")
    assert (maria.last_text or "").startswith("✅ Your reply has been sent to Ana Pop (question #1).")
    await sandbox.deliver()
    assert (ana.last_text or "").startswith("💬 Maria din echipa clusterului v-a răspuns (conversația nr. 1):")
    assert "By bank transfer" in (ana.last_text or "")
    assert ana.last_message.labels == ["↩️ Răspundeți"]  # type: ignore[union-attr]

    ion_before = ion.last_message
    await ana.tap("↩️ Răspundeți")
    await ana.send("Mulțumesc! Se poate și în două tranșe?")
    assert (ana.last_text or "").startswith("✅ Răspunsul dumneavoastră a fost trimis echipei clusterului")
    await sandbox.deliver()
    # The answer reaches the manager who took the thread, not every manager.
    assert (maria.last_text or "").startswith("💬 Question #1: Ana Pop answered:")
    assert "două tranșe" in (maria.last_text or "")
    assert ion.last_message == ion_before

    await maria.send("/questions")
    assert "1 question waiting for the team, the oldest first" in (maria.last_text or "")
    await maria.tap("💬 Question #1")
    thread_screen = maria.last_text or ""
    assert "Conversation #1 with the cluster team" in thread_screen
    for said in ("cotizația pentru 2027", "By bank transfer", "două tranșe", "Maria (cluster team)"):
        assert said in thread_screen, said

    await maria.tap("✅ Mark resolved")
    assert maria.last_callback_answer == ("✅ Question #1 is marked resolved; Ana Pop is told.", False)
    await sandbox.deliver()
    assert "Maria a marcat rezolvată conversația dumneavoastră nr. 1" in (ana.last_text or "")
    await maria.send("/questions")
    assert maria.last_text == "No questions are waiting for the team."

    await ana.send("/profile")
    assert "✉️ Conversațiile dumneavoastră cu echipa clusterului:" in (ana.last_text or "")
    assert "#1 Cum pot plăti cotizația pentru 2027?: rezolvată" in (ana.last_text or "")
    await ana.tap("💬 Conversația nr. 1")
    assert "Conversația nr. 1 cu echipa clusterului" in (ana.last_text or "")
    assert "✅ Marcată rezolvată de Maria." in (ana.last_text or "")

    (thread,) = await threads(sandbox)
    assert thread.status == "resolved"
    kinds = [(m.from_team, m.kind) for m in await stored_messages(sandbox)]
    assert kinds == [(False, "text"), (True, "text"), (False, "text")]

    # A resolved thread takes no more answers.
    await ana.forge("qt:answer:1")
    assert ana.last_callback_answer == ("Această conversație a fost deja marcată rezolvată de Maria.", True)


async def test_a_photo_question_reaches_the_managers_as_a_photo(sandbox: SandboxBot) -> None:
    people = await cast(sandbox)
    dan, maria, ion = people["dan"], people["maria"], people["ion"]
    await dan.send("/write")
    assert "Write your message to the cluster team" in (dan.last_text or "")
    await dan.send_photo(b"\xff\xd8\xff fake jpeg", caption="The invoice we received: is the amount right?")
    assert (dan.last_text or "").startswith("✅ Your message has been sent to the cluster team (conversation #1)")
    await sandbox.deliver()
    for manager in (maria, ion):
        card = manager.last_message
        assert card is not None and card.has_photo, manager.info
        assert "The invoice we received" in (card.caption or "")
    assert (maria.last_message.caption or "").startswith("✉️ Question #1")  # type: ignore[union-attr]
    # Taking it from the photo card keeps the photo, with the new buttons and the status said below.
    await maria.tap("🙋 Take it")
    assert "Question #1: 🙋 Taken by Maria." in (maria.last_text or "")
    (message,) = await stored_messages(sandbox)
    assert message.kind == "photo" and message.file_id and message.text.startswith("The invoice")  # type: ignore[union-attr]

    await maria.tap("↩️ Reply")
    await maria.send_document("answer.pdf", b"%PDF-1.4 ...", caption="The corrected invoice.")
    assert (maria.last_text or "").startswith("✅ Your reply has been sent to Dan (question #1).")
    await sandbox.deliver()
    reply = dan.last_message
    assert reply is not None and reply.has_document
    assert (reply.caption or "").startswith("💬 Maria from the cluster team replied to your message")
    assert reply.labels == ["↩️ Answer"]


async def test_two_managers_take_it_at_once_and_one_wins(sandbox: SandboxBot) -> None:
    people = await cast(sandbox)
    dan, maria, ion = people["dan"], people["maria"], people["ion"]
    await ask(dan, "Who do I talk to about the trade mission?")
    await sandbox.deliver()
    await sandbox.at_once(maria.tap("🙋 Take it"), ion.tap("🙋 Preiau eu"))
    (thread,) = await threads(sandbox)
    assert thread.status == "taken"
    answers = {maria.last_callback_answer, ion.last_callback_answer}
    if thread.taken_by_id == (await person_id(sandbox, 3001)):
        assert answers == {("🙋 You have taken question #1.", False), ("Maria a preluat deja această întrebare.", True)}
    else:
        assert answers == {("🙋 Ați preluat întrebarea nr. 1.", False), ("Ion has already taken this question.", True)}


async def person_id(sandbox: SandboxBot, telegram_id: int) -> int:
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        found = await session.scalar(select(Person.id).where(Person.telegram_id == telegram_id))
        assert found is not None
        return found


async def test_forged_buttons_and_a_demoted_manager_are_refused(sandbox: SandboxBot) -> None:
    people = await cast(sandbox)
    ana, dan, maria, ion = people["ana"], people["dan"], people["maria"], people["ion"]
    await ask(ana, "O întrebare doar a mea.")
    await sandbox.deliver()

    # Another member: Ana's thread is none of his, and the managers' buttons are not for him.
    assert await dan.forge("qt:open:1") == ("This conversation does not exist, or it is not yours.", True)
    assert await dan.forge("qt:answer:1") == ("This conversation does not exist, or it is not yours.", True)
    for action in ("take", "reply", "resolve"):
        assert await dan.forge(f"qt:{action}:1") == ("Sorry, only the cluster's managers can do that.", True)
    assert await dan.forge("qt:open:999") == ("This conversation does not exist, or it is not yours.", True)
    # Out of range, or an id where none belongs: stale buttons.
    for forged in ("qt:take:0", "qt:write:1", "qt:open:-1", "qt:open:99999999999999999999", "qt:steal:1"):
        text, _alert = await dan.forge(forged)
        assert text == "This button is no longer valid. Open /menu for a fresh one.", forged
    # A manager opens it, but cannot answer in the member's name.
    assert await maria.forge("qt:answer:1") == ("This conversation does not exist, or it is not yours.", True)
    assert await threads(sandbox) and not (await threads(sandbox))[0].taken_by_id

    # Ion starts a reply, then is made a member elsewhere: his reply is refused and the form ends.
    await ion.tap("↩️ Răspund")
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        await session.execute(update(Person).where(Person.telegram_id == 3002).values(role=Role.MEMBER.value))
    await ion.send("Vă răspund eu.")
    assert ion.last_text == "Îmi pare rău, doar managerii clusterului pot face acest lucru."
    assert [m.from_team for m in await stored_messages(sandbox)] == [False]
    await ion.send("Altceva")
    assert "Nu am înțeles" in (ion.last_text or "")
    assert await ion.forge("qt:take:1") == ("Îmi pare rău, doar managerii clusterului pot face acest lucru.", True)
    assert (await threads(sandbox))[0].taken_by_id is None


async def test_a_guest_may_write_and_the_managers_see_no_organisation(sandbox: SandboxBot) -> None:
    people = await cast(sandbox)
    gigi, maria = people["gigi"], people["maria"]
    await gigi.send("/menu")
    assert "✉️ Scrieți echipei clusterului" in gigi.last_message.labels  # type: ignore[union-attr]
    await ask(gigi, "Ce cotizație are o firmă mică, înainte de aderare?")
    assert (gigi.last_text or "").startswith("✅ Mesajul dumneavoastră a fost trimis")
    await sandbox.deliver()
    assert "From: Gigi <3" in (maria.last_text or "")
    assert "Organisation: none (a guest, not a member yet)" in (maria.last_text or "")
    await maria.tap("↩️ Reply")
    await maria.send("Write to us after you join; the fee is on the site.")
    await sandbox.deliver()
    assert "Write to us after you join" in (gigi.last_text or "")
    await gigi.tap("↩️ Răspundeți")
    await gigi.send("Mulțumesc!")
    assert (gigi.last_text or "").startswith("✅ Răspunsul dumneavoastră a fost trimis")


async def test_cancel_and_nothing_sent_before_the_commit(
    sandbox: SandboxBot, failing_commits: Callable[[str], None]
) -> None:
    people = await cast(sandbox)
    dan, maria = people["dan"], people["maria"]
    await dan.send("/write")
    await dan.tap("✖️ Cancel")
    assert (dan.last_text or "").startswith("Cancelled: nothing was sent.")
    assert await threads(sandbox) == []

    await dan.send("/write")
    failing_commits("question_threads")
    await dan.send("Is anyone there?")
    assert not any("has been sent" in message.content for message in dan.since_last_action)
    assert "Something went wrong and nothing was saved" in (dan.last_text or "")
    assert await threads(sandbox) == []
    await sandbox.deliver()
    assert not (maria.last_text or "").startswith("✉️ Question")


async def test_five_waiting_at_most_and_questions_are_paged_oldest_first(sandbox: SandboxBot) -> None:
    people = await cast(sandbox)
    dan, gigi, maria = people["dan"], people["gigi"], people["maria"]
    for number in range(1, 6):
        await dan.send("/write")
        await dan.send(f"Question number {number}")
    await dan.send("/write")
    await dan.send("Question number 6")
    assert dan.last_text == (
        "You already have 5 conversations with the cluster team waiting. Please answer in one of them, "
        "or wait for the team to resolve one."
    )
    await ask(gigi, "Întrebarea Gigiei")
    assert len(await threads(sandbox)) == 6

    await maria.send("/questions")
    first = maria.last_text or ""
    assert first.startswith("✉️ 6 questions waiting for the team, the oldest first:")
    assert "#1 Dan (EcoTech SRL): Question number 1" in first and "Page 1 of 2" in first
    assert "Gigiei" not in first
    await maria.tap("Next page ▶️")
    second = maria.last_text or ""
    assert "#6 Gigi <3: Întrebarea Gigiei · waiting for the team" in second and "Page 2 of 2" in second
    assert maria.last_message.labels == ["💬 Question #6", "◀️ Previous page"]  # type: ignore[union-attr]
    # A page past the end shows the last one.
    await maria.forge("qtp:99999")
    assert "Page 2 of 2" in (maria.last_text or "")
    # Members have no /questions.
    await dan.send("/questions")
    assert dan.last_text == "Sorry, only the cluster's managers can do that."


async def test_a_used_up_invite_code_offers_the_way_to_the_team(sandbox: SandboxBot) -> None:
    people = await cast(sandbox)
    gigi = people["gigi"]
    await gigi.send("/start NOSUCHCODE")
    assert "Cereți unul nou echipei clusterului" in (gigi.last_text or "")
    assert "✉️ Scrieți echipei clusterului" in gigi.last_message.labels  # type: ignore[union-attr]
    await gigi.tap("✉️ Scrieți echipei clusterului")
    await gigi.send("Codul primit nu merge, îmi puteți trimite altul?")
    assert (gigi.last_text or "").startswith("✅ Mesajul dumneavoastră a fost trimis")
