"""People use the services catalogue in the chat: browse, search, request a service, managers handle and edit it."""

from __future__ import annotations

from pathlib import Path

import yaml
from sqlalchemy import func, select, update

from bot.sandbox.client import SandboxUser
from bot.sandbox.harness import SandboxBot
from bot.services import catalogue
from storage.db import unit_of_work
from storage.models import AuditEntry, Person, Role, Service, ServiceRequest
from storage.repositories import Repositories

SMALL = Path(__file__).parent / "data" / "catalogue_small.yaml"


async def load_catalogue(sandbox: SandboxBot, text: str | None = None) -> None:
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        if text is None:
            await catalogue.seed_catalogue(Repositories(session), path=SMALL)
        else:
            await catalogue.import_catalogue(Repositories(session), text)


async def scalar(sandbox: SandboxBot, statement: object) -> object:
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        return await session.scalar(statement)  # type: ignore[call-overload]


async def audit(sandbox: SandboxBot, prefix: str) -> list[str]:
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        actions = await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))
        return [action for action in actions if action.startswith(prefix)]


async def service_id(sandbox: SandboxBot, key: str) -> int:
    found = await scalar(sandbox, select(Service.id).where(Service.key == key))
    assert isinstance(found, int)
    return found


def labels(person: SandboxUser) -> list[str]:
    message = person.last_message
    return message.labels if message else []


async def cast(sandbox: SandboxBot) -> tuple[SandboxUser, SandboxUser, SandboxUser, SandboxUser]:
    maria = await sandbox.person("maria", 3001, "Maria", language_code="ro", role="manager")
    john = await sandbox.person("john", 3002, "John", language_code="en", role="manager")
    radu = await sandbox.person("radu", 2001, "Radu", language_code="ro", role="member", organisation="EcoTech SRL")
    dan = await sandbox.person("dan", 1002, "Dan", language_code="en")
    for person in (maria, john, radu, dan):
        await person.send("/start")
    return maria, john, radu, dan


# --- browsing and search ---------------------------------------------------------------------------------------


async def test_members_and_guests_browse_and_search_in_their_language(sandbox: SandboxBot) -> None:
    await load_catalogue(sandbox)
    _maria, _john, radu, dan = await cast(sandbox)

    await radu.tap("Servicii")
    assert "Serviciile clusterului" in (radu.last_text or "")
    assert labels(radu) == ["Finanțare (2)", "Mediu (2)", "Cercetare (1)", "🔎 Căutare", "⬅️ Meniu"]
    await radu.tap("Mediu")
    assert radu.last_text == "🧰 Mediu\n2 servicii"
    await radu.tap("Tratarea apei")
    assert "Soluţii de epurare şi monitorizare" in (radu.last_text or "")
    assert labels(radu) == ["📨 Solicitați acest serviciu", "⬅️ Înapoi"]
    await radu.tap("Înapoi")
    assert radu.last_text == "🧰 Mediu\n2 servicii"
    await radu.tap("Categorii")
    assert "Alegeți o categorie" in (radu.last_text or "")

    # Without diacritics, with comma-below letters where the text has cedillas, and the other way round.
    await radu.send("/services statii")
    assert (radu.last_text or "").startswith("🔎 1 serviciu se potrivește cu „statii”.")
    assert labels(radu)[0] == "Tratarea apei în staţii mici"
    await radu.send("/services stații mici")
    assert labels(radu)[0] == "Tratarea apei în staţii mici"
    await radu.send("/services ştiinţă")
    assert labels(radu)[0] == "Acces la laboratoare"
    # A word of the English text finds the service; Radu reads it in Romanian.
    await radu.send("/services grant")
    assert labels(radu)[0] == "Consultanță pentru fonduri europene"
    await radu.send("/services apei laboratoare")
    assert "Nimic nu se potrivește cu „apei laboratoare”" in (radu.last_text or "")
    await radu.tap("Căutare nouă")
    assert "Ce cuvinte să caut?" in (radu.last_text or "")
    await radu.send("FONDURI")
    assert (radu.last_text or "").startswith("🔎 2 servicii se potrivesc cu „fonduri”.")

    await dan.send("/services")
    assert labels(dan) == ["Funding (2)", "Environment (2)", "Research (1)", "🔎 Search", "⬅️ Menu"]
    await dan.tap("🔎 Search")
    await dan.send("capital")
    assert labels(dan) == ["Access to capital", "🔎 New search", "⬅️ Categories"]
    await dan.tap("Access to capital")
    # Catalogue text that looks like HTML is shown as written.
    assert "Loans, guarantees and <private> investors & funds." in (dan.last_text or "")
    await dan.tap("Back")
    assert (dan.last_text or "").startswith('🔎 1 service matches "capital".')


async def test_a_large_catalogue_pages_within_telegram_limits(sandbox: SandboxBot) -> None:
    # 105 services with the longest titles and descriptions allowed, with characters HTML escapes and emoji
    # (two UTF-16 units each, as Telegram counts them): a card would be over Telegram's limit if it were not cut.
    description = "Ș&<> " + "🌱" * 1995
    services = ""
    for n in range(1, 106):
        title = f"{n} Consultanță alpha beta gamma delta epsilon zeta & <x> {'🌱' * 120}"[:120]
        services += (
            f"      - key: service-{n}\n"
            f'        title: {{ro: "{title}", en: "{title}"}}\n'
            f'        description: {{ro: "{description}", en: "{description}"}}\n'
        )
    await load_catalogue(
        sandbox, f'categories:\n  - key: many\n    title: {{ro: "Multe", en: "Many"}}\n    services:\n{services}'
    )
    _maria, _john, radu, _dan = await cast(sandbox)

    await radu.send("/services")
    await radu.tap("Multe")
    assert "105 servicii\nPagina 1 din 14" in (radu.last_text or "")
    await radu.tap("Pagina următoare")
    await radu.tap("Pagina următoare")
    assert "Pagina 3 din 14" in (radu.last_text or "")
    third_page = labels(radu)
    assert third_page[0].startswith("17 Consultanță") and third_page[0].endswith("…")
    await radu.tap(1)
    card = radu.last_text or ""
    assert card.endswith("…")
    assert len(card.encode("utf-16-le")) // 2 <= 4096
    await radu.tap("⬅️ Înapoi")
    assert "Pagina 3 din 14" in (radu.last_text or "") and labels(radu) == third_page

    # A search too long to travel in a button is remembered, and Back still finds its page.
    await radu.send("/services alpha beta gamma delta epsilon zeta consultanta")
    assert (radu.last_text or "").startswith("🔎 105 servicii se potrivesc")
    await radu.tap("Pagina următoare")
    assert "Pagina 2 din 14" in (radu.last_text or "")
    await radu.tap(1)
    await radu.tap("⬅️ Înapoi")
    assert "Pagina 2 din 14" in (radu.last_text or "")

    for message in sandbox.server.bot_messages(radu.chat_id):
        assert len((message.text or "").encode("utf-16-le")) // 2 <= 4096
        for row in message.buttons:
            for button in row:
                assert len(str(button.get("callback_data", "")).encode()) <= 64, button
        assert "A apărut o eroare" not in (message.text or "")


# --- requests --------------------------------------------------------------------------------------------------------


async def test_a_guest_asking_for_a_service_is_invited_to_join(sandbox: SandboxBot) -> None:
    await load_catalogue(sandbox)
    _maria, _john, _radu, dan = await cast(sandbox)
    await dan.send("/services laboratories")
    await dan.tap("Access to laboratories")
    await dan.tap("Request this service")
    assert dan.last_text == (
        "Services are for the cluster's members. Join the cluster for your organisation, then ask again."
    )
    assert labels(dan) == ["🤝 Join the cluster", "🎟 I have an invite code"]
    await dan.tap("Join the cluster")
    assert "What is the name of the organisation you represent?" in (dan.last_text or "")
    assert await scalar(sandbox, select(func.count(ServiceRequest.id))) == 0


async def test_a_request_is_taken_by_one_manager_then_done(sandbox: SandboxBot) -> None:
    await load_catalogue(sandbox)
    maria, john, radu, _dan = await cast(sandbox)
    # Remembered as someone who never asked for a service: the request below must still show in /profile.
    await radu.send("/profile")
    assert "Tratarea apei" not in (radu.last_text or "")

    await radu.send("/services statii")
    await radu.tap("Tratarea apei")
    await radu.tap("Solicitați acest serviciu")
    assert "de ce aveți nevoie?" in (radu.last_text or "")
    await radu.send("O stație pentru 2.000 de locuitori, la Brăila.")
    assert "Cererea dumneavoastră a fost trimisă echipei clusterului" in (radu.last_text or "")
    await sandbox.deliver()
    assert "Cerere de serviciu nr. 1" in (maria.last_text or "")
    assert "Serviciu: Tratarea apei în staţii mici" in (maria.last_text or "")
    assert "Organizație: EcoTech SRL" in (maria.last_text or "")
    assert labels(maria) == ["🙋 Preiau eu", "✅ Marchez rezolvată", "❌ Refuz"]
    john_card = john.last_message
    assert john_card is not None and "Service: Water treatment in small plants" in john_card.content
    assert "Note: O stație pentru 2.000 de locuitori, la Brăila." in john_card.content

    await john.tap("Take it")
    assert "🙋 Taken by John." in (john.last_text or "")
    assert labels(john) == ["✅ Done", "❌ Decline"]
    # Maria's copy is stale until the sender edits it: her tap is refused politely and her message now shows how
    # things stand.
    maria_card = maria.last_message
    await maria.tap("Preiau eu")
    assert maria.last_callback_answer == ("Această cerere a fost deja preluată de John.", True)
    assert "🙋 Preluată de John." in (maria.last_text or "")
    assert labels(maria) == ["✅ Marchez rezolvată", "❌ Refuz"]
    await sandbox.deliver()
    assert radu.last_text == (
        "🙋 John, din echipa clusterului, a preluat cererea dumneavoastră pentru serviciul „Tratarea apei în staţii "
        "mici” "
        "și vă va contacta."
    )
    # Every manager's copy says who took it, and when.
    assert maria_card is not None and maria.messages[-1].message_id == maria_card.message_id
    assert "🙋 Preluată de John." in maria.messages[-1].content and "Ultima modificare:" in maria.messages[-1].content
    await radu.send("/profile")
    assert "• Tratarea apei în staţii mici: preluată de John" in (radu.last_text or "")

    # Any manager may mark it done.
    await maria.tap("Marchez rezolvată")
    assert "✅ Marcată rezolvată de Maria." in (maria.last_text or "") and labels(maria) == []
    await sandbox.deliver()
    assert (
        radu.last_text == "✅ Cererea dumneavoastră pentru serviciul „Tratarea apei în staţii mici” a fost rezolvată."
    )
    # John's copy was edited: done, by whom and when, and no buttons left to press.
    edited = next(m for m in john.messages if m.message_id == john_card.message_id)
    assert "✅ Marked done by Maria." in edited.content and "Last change:" in edited.content
    assert edited.buttons == []
    await radu.send("/profile")
    assert "• Tratarea apei în staţii mici: rezolvată" in (radu.last_text or "")
    assert await audit(sandbox, "service_request.") == [
        "service_request.created",
        "service_request.taken",
        "service_request.done",
    ]


async def test_a_manager_declines_with_a_reason(sandbox: SandboxBot) -> None:
    await load_catalogue(sandbox)
    maria, john, radu, _dan = await cast(sandbox)
    await radu.send("/services capital")
    await radu.tap("Acces la capital")
    await radu.tap("Solicitați")
    await radu.send("Vă rog " * 200)  # over the 1,000 characters the bot takes: refused, the question stays
    assert (radu.last_text or "").startswith("Mesajul este prea lung. Numărul maxim de caractere este 1000, iar")
    await radu.send("Un credit de 50.000 de euro.")
    assert "Cererea dumneavoastră a fost trimisă" in (radu.last_text or "")
    await sandbox.deliver()

    # Started, then cancelled: nothing changes.
    await maria.tap("Refuz")
    assert "De ce refuzați cererea nr. 1 pentru serviciul „Acces la capital”? Radu va primi motivul." in (
        maria.last_text or ""
    )
    await maria.send("/cancel")
    assert await scalar(sandbox, select(ServiceRequest.status)) == "open"
    await maria.tap("Refuz", message=maria.messages[-3])
    await maria.send("Clusterul nu acordă credite; vă recomandăm o bancă parteneră.")
    assert "Refuzată. Radu va primi motivul." in (maria.last_text or "")
    card = maria.messages[-5]
    assert "❌ Refuzată de Maria: Clusterul nu acordă credite" in card.content and card.buttons == []
    await sandbox.deliver()
    assert radu.last_text == (
        "Cererea dumneavoastră pentru serviciul „Acces la capital” a fost refuzată de Maria. "
        "Motivul: Clusterul nu acordă credite; vă recomandăm o bancă parteneră."
    )
    # John's copy says it was declined, by whom and why, without buttons.
    assert "❌ Declined by Maria: Clusterul nu acordă credite" in (john.last_text or "")
    assert labels(john) == []
    await radu.send("/profile")
    assert "• Acces la capital: refuzată" in (radu.last_text or "")
    await john.send("/service_requests")
    assert john.last_text == "No service requests are waiting."


async def test_forged_buttons_are_refused_in_the_persons_language(sandbox: SandboxBot) -> None:
    await load_catalogue(sandbox)
    maria, _john, radu, dan = await cast(sandbox)
    await radu.send("/services capital")
    await radu.tap("Acces la capital")
    await radu.tap("Solicitați")
    await radu.send("Un credit.")
    capital = await service_id(sandbox, "capital")
    hidden = await service_id(sandbox, "laboratories")
    await maria.send("/services laboratoare")
    await maria.tap("Acces la laboratoare")
    await maria.tap("Ascundeți")
    assert maria.last_callback_answer == ("🙈 Ascuns pentru membri.", False)

    not_available = ("Acest serviciu nu mai este disponibil.", True)
    managers_only = ("Îmi pare rău, doar managerii clusterului pot face acest lucru.", True)
    for data, expected in (
        ("sv:card:99999:0:", not_available),
        (f"sv:card:{hidden}:0:", not_available),
        (f"sv:ask:{hidden}:0:", not_available),
        ("sv:cat:99999:0:", ("Această categorie nu mai este disponibilă.", True)),
        (f"se:hide:{capital}:0:", managers_only),
        (f"se:edit:{capital}:0:", managers_only),
        ("se:new:0:0:", managers_only),
        ("sr:1:take", managers_only),
        ("sr:1:decline", managers_only),
        ("sv:card:abc:0:", ("Acest buton nu mai este valid. Deschideți /menu pentru unul nou.", True)),
    ):
        assert await radu.forge(data) == expected, data
    assert await dan.forge(f"sv:card:{hidden}:0:") == ("This service is not available any more.", True)
    assert await dan.forge("sr:1:done") == ("Sorry, only the cluster's managers can do that.", True)
    assert await scalar(sandbox, select(ServiceRequest.status)) == "open"
    assert await scalar(sandbox, select(Service.hidden).where(Service.id == capital)) is False


# --- managers' editing -----------------------------------------------------------------------------------------


async def test_a_manager_adds_edits_hides_and_reorders_in_the_chat(sandbox: SandboxBot) -> None:
    await load_catalogue(sandbox)
    _maria, john, radu, _dan = await cast(sandbox)
    services_before = await scalar(sandbox, select(func.count(Service.id)))

    await john.send("/services")
    await john.tap("Add a category")
    assert "1/2. The title in Romanian (at most 120 characters)." in (john.last_text or "")
    await john.send("Evenimente")
    await john.send("E" * 121)
    assert john.last_text == "That is too long: at most 120 characters, please."
    await john.send("Events")
    assert "🇷🇴 Evenimente\n🇬🇧 Events" in (john.last_text or "")
    await john.tap("Save")
    assert john.last_callback_answer == ("✅ Saved.", False)
    assert "Events\nNo services in this category yet." in (john.last_text or "")

    await john.tap("Add a service")
    assert "New service in Events" in (john.last_text or "")
    await john.send("Târg comun")
    await john.send("Joint fair stand")
    await john.send("Un stand comun la târgul de energie verde.")
    await john.send("A joint stand at the green-energy fair.")
    assert "Save these texts?" in (john.last_text or "")
    previews = [message.content for message in john.since_last_action]
    assert "🇷🇴 Târg comun" in previews[0] and "🇬🇧 Joint fair stand" in previews[1]
    await john.tap("Save")
    assert "Joint fair stand" in (john.last_text or "")
    assert labels(john)[:3] == ["📨 Request this service", "✏️ Edit", "🙈 Hide"]

    await john.tap("Edit")
    assert "Now: Târg comun" in (john.last_text or "")
    await john.tap("Keep it as it is")
    await john.send("Joint stand at fairs")
    await john.tap("Keep it as it is")
    await john.tap("Keep it as it is")
    await john.tap("Save")
    assert (john.last_text or "").startswith("🧰 Joint stand at fairs")
    await radu.send("/services targ")
    assert labels(radu)[0] == "Târg comun"

    await john.tap("Hide")
    assert john.last_callback_answer == ("🙈 Hidden from members.", False)
    assert "🙈 Hidden from members." in (john.last_text or "")
    await radu.send("/services targ")
    assert "Nimic nu se potrivește" in (radu.last_text or "")
    await john.tap("Show")
    await john.tap("Back")
    await john.tap("Move up")
    assert john.last_callback_answer == ("⬆️ Moved up.", False)
    await john.tap("Categories")
    assert labels(john)[:4] == ["Funding (2)", "Environment (2)", "Events (1)", "Research (1)"]

    # Stopped half-way, by the button or by /cancel: nothing is kept.
    await john.tap("Events")
    await john.tap("Add a service")
    await john.send("Jumătate")
    await john.tap("Cancel")
    assert "Cancelled. Nothing was changed." in (john.last_text or "")
    await john.send("/services")
    await john.tap("Events")
    await john.tap("Rename")
    await john.send("Evenimente și târguri")
    await john.send("/cancel")
    await john.send("/services")
    assert "Events (1)" in labels(john)
    assert await scalar(sandbox, select(func.count(Service.id))) == services_before + 1  # type: ignore[operator]
    # Members never see the managers' buttons.
    await radu.send("/services")
    await radu.tap("Evenimente")
    assert labels(radu) == ["Târg comun", "⬅️ Categorii"]
    assert await audit(sandbox, "catalogue.") == [
        "catalogue.seeded",
        "catalogue.category_added",
        "catalogue.service_added",
        "catalogue.service_edited",
        "catalogue.service_hidden",
        "catalogue.service_shown",
        "catalogue.category_moved",
    ]


async def demote(sandbox: SandboxBot, person: SandboxUser) -> None:
    """Another process (the command line, another replica) takes the manager's role away."""
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        await session.execute(update(Person).where(Person.telegram_id == person.user_id).values(role=Role.MEMBER.value))


async def test_a_member_pressing_forged_managers_buttons_is_refused_and_nothing_changes(sandbox: SandboxBot) -> None:
    await load_catalogue(sandbox)
    _maria, _john, radu, _dan = await cast(sandbox)
    elena = await sandbox.person("elena", 2002, "Elena", language_code="en", role="member", organisation="Eco SRL")
    await elena.send("/start")
    await radu.send("/services capital")
    await radu.tap("Acces la capital")
    await radu.tap("Solicitați")
    await radu.send("Un credit.")
    capital = await service_id(sandbox, "capital")
    category = await scalar(sandbox, select(Service.category_id).where(Service.id == capital))

    managers_only = ("Sorry, only the cluster's managers can do that.", True)
    for data in (
        f"se:hide:{capital}:0:",
        f"se:up:{capital}:0:c{category}",
        f"se:edit:{capital}:0:",
        f"se:chide:{category}:0:",
        f"se:rename:{category}:0:",
        f"se:add:{category}:0:",
        "se:new:0:0:",
        "se:import:0:0:",
        "sv:requests:0:0:",
        "sr:1:take",
        "sr:1:decline",
    ):
        assert await elena.forge(data) == managers_only, data
    await elena.send("/service_requests")
    assert elena.last_text == "Sorry, only the cluster's managers can do that."
    # No form was opened: a text is not taken for a title.
    await elena.send("Evenimente")
    assert elena.last_text == "I did not understand that. Choose from the menu, or see /help."
    assert await scalar(sandbox, select(Service.hidden).where(Service.id == capital)) is False
    assert await scalar(sandbox, select(ServiceRequest.status)) == "open"
    assert await audit(sandbox, "catalogue.") == ["catalogue.seeded"]
    assert await audit(sandbox, "service_request.") == ["service_request.created"]


async def test_a_manager_demoted_mid_edit_is_refused_at_the_next_step(sandbox: SandboxBot) -> None:
    await load_catalogue(sandbox)
    maria, john, radu, _dan = await cast(sandbox)

    # Half-way through a new category: the next text is refused, and the form is over.
    await john.send("/services")
    await john.tap("Add a category")
    await john.send("Evenimente")
    assert "2/2. The title in English" in (john.last_text or "")
    await demote(sandbox, john)
    await john.send("Events")
    assert john.last_text == "Sorry, only the cluster's managers can do that."
    await john.send("Events")
    assert john.last_text == "I did not understand that. Choose from the menu, or see /help."

    # At the preview: Save is refused.
    await maria.send("/services")
    await maria.tap("Finanțare")
    await maria.tap("Redenumiți")
    await maria.send("Bani")
    await maria.send("Money")
    await demote(sandbox, maria)
    await maria.tap("Salvați")
    assert maria.last_callback_answer == ("Îmi pare rău, doar managerii clusterului pot face acest lucru.", True)
    assert await audit(sandbox, "catalogue.") == ["catalogue.seeded"]

    # Declining with a reason: the reason is refused, the request stays open, the form is over.
    ioana = await sandbox.person("ioana", 3003, "Ioana", language_code="en", role="manager")
    await ioana.send("/start")
    await radu.send("/services capital")
    await radu.tap("Acces la capital")
    await radu.tap("Solicitați")
    await radu.send("Un credit.")
    await sandbox.deliver()
    await ioana.tap("Decline")
    assert "Why are you declining request #1" in (ioana.last_text or "")
    await demote(sandbox, ioana)
    await ioana.send("The cluster does not lend money.")
    assert ioana.last_text == "Sorry, only the cluster's managers can do that."
    await ioana.send("The cluster does not lend money.")
    assert ioana.last_text == "I did not understand that. Choose from the menu, or see /help."
    assert await scalar(sandbox, select(ServiceRequest.status)) == "open"
    assert await audit(sandbox, "service_request.") == ["service_request.created"]


# --- the catalogue as a file -----------------------------------------------------------------------------------


async def exported(sandbox: SandboxBot) -> str:
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        return await catalogue.export_catalogue(Repositories(session))


def document_text(sandbox: SandboxBot, person: SandboxUser) -> str:
    message = person.last_message
    assert message is not None and message.has_document and message.document_name == "catalogue.yaml"
    document = sandbox.server.message(person.chat_id, message.message_id).document
    assert document is not None
    return sandbox.server.file_content(str(document["file_id"])).decode("utf-8")


async def test_a_manager_exports_edits_and_imports_the_catalogue_as_a_file(sandbox: SandboxBot) -> None:
    await load_catalogue(sandbox)
    _maria, john, radu, dan = await cast(sandbox)
    await john.send("/services")
    assert labels(john)[-3:] == ["📤 Export as a file", "📥 Import a file", "⬅️ Menu"]
    await john.tap("📤 Export as a file")
    assert "send it back with 📥 Import a file" in (john.last_message.content if john.last_message else "")
    text = document_text(sandbox, john)
    assert text == await exported(sandbox)
    assert catalogue.parse_catalogue(text)

    document = yaml.safe_load(text)
    funding, environment = document["categories"][0], document["categories"][1]
    assert funding["services"][1]["key"] == "capital"
    funding["services"][1]["title"]["en"] = "Access to finance"
    assert environment["services"][1]["key"] == "environmental-law"
    environment["services"][1]["hidden"] = True
    edited = yaml.safe_dump(document, allow_unicode=True, sort_keys=False)

    await john.send("/services")
    await john.tap("📥 Import a file")
    assert "Send the edited catalogue file" in (john.last_text or "")
    # Not a document, too large, not UTF-8: asked again, still waiting.
    await john.send("here it is")
    assert john.last_text == "Please send the catalogue file as a document (📎, File), or Cancel."
    await john.send_document("big.yaml", b"#" * (1024 * 1024 + 1))
    assert (john.last_text or "").startswith("This file is over 1 MB")
    await john.send_document("latin.yaml", "categories: [ţ]".encode("utf-16"))
    assert (john.last_text or "").startswith("This file is not UTF-8 text.")
    await john.send_document("catalogue.yaml", edited.encode("utf-8"))
    assert john.last_text == (
        "✅ The catalogue was imported.\n"
        "Categories: 0 added, 0 updated, 0 hidden.\n"
        "Services: 0 added, 2 updated, 0 hidden."
    )
    # The conversation is over: another file is not taken for an import.
    await john.send_document("catalogue.yaml", edited.encode("utf-8"))
    assert "imported" not in (john.last_text or "")

    await dan.send("/services capital")
    assert labels(dan)[0] == "Access to finance"
    await radu.send("/services")
    assert "Mediu (1)" in labels(radu)
    assert await scalar(sandbox, select(Service.hidden).where(Service.key == "environmental-law")) is True
    assert await audit(sandbox, "catalogue.") == ["catalogue.seeded", "catalogue.imported"]
    actor = await scalar(sandbox, select(AuditEntry.actor_id).where(AuditEntry.action == "catalogue.imported"))
    assert actor == await scalar(sandbox, select(Person.id).where(Person.telegram_id == john.user_id))


async def test_a_file_with_problems_is_refused_in_the_managers_language(sandbox: SandboxBot) -> None:
    await load_catalogue(sandbox)
    maria, _john, _radu, _dan = await cast(sandbox)
    before = await exported(sandbox)
    await maria.send("/services")
    await maria.tap("📥 Importați un fișier")
    broken = before.replace("key: capital", "key: eu-funding").replace("en: Funding", "fr: Funding", 1)
    await maria.send_document("catalogue.yaml", broken.encode("utf-8"))
    reply = maria.last_text or ""
    assert reply.startswith("⚠️ Fișierul are probleme:")
    first, second = (n for n, line in enumerate(broken.splitlines(), 1) if line.strip() == "- key: eu-funding")
    title = next(n for n, line in enumerate(broken.splitlines(), 1) if line.strip() == "fr: Funding")
    assert f"• linia {title}: câmp necunoscut 'fr' în titlul categoriei 'funding'; câmpurile sunt: ro, en" in reply
    assert f"• linia {title - 1}: titlul categoriei 'funding' nu are text în limba engleză (en:)" in reply
    assert f"• linia {second}: cheie de serviciu repetată 'eu-funding': linia {first} o are deja" in reply
    assert reply.endswith("Nu s-a importat nimic; trimiteți un fișier corectat sau apăsați Anulați.")
    assert await exported(sandbox) == before

    # Many problems: the first 15 are listed. Still waiting for a file.
    many = "categories:\n" + "".join(f"  - key: c{n}\n    title: {{ro: R{n}}}\n" for n in range(17))
    await maria.send_document("catalogue.yaml", many.encode("utf-8"))
    reply = maria.last_text or ""
    assert reply.count("• linia") == 15
    assert "…și încă 2." in reply
    await maria.send_document("catalogue.yaml", b"categories: [")
    assert "acesta nu este YAML valid: " in (maria.last_text or "")
    await maria.send("/cancel")
    assert await exported(sandbox) == before
    assert await audit(sandbox, "catalogue.") == ["catalogue.seeded"]


async def test_members_cannot_export_or_import(sandbox: SandboxBot) -> None:
    await load_catalogue(sandbox)
    _maria, _john, radu, dan = await cast(sandbox)
    await radu.send("/services")
    assert "📤 Exportați ca fișier" not in labels(radu)
    managers_only = ("Îmi pare rău, doar managerii clusterului pot face acest lucru.", True)
    assert await radu.forge("se:export:0:0:") == managers_only
    assert await radu.forge("se:import:0:0:") == managers_only
    await dan.send("/services")
    assert await dan.forge("se:export:0:0:") == ("Sorry, only the cluster's managers can do that.", True)
    assert not any(message.has_document for message in radu.messages + dan.messages)
    # The import never started: a file is not taken for one.
    before = await exported(sandbox)
    await radu.send_document("catalogue.yaml", before.replace("Finanțare", "Bani").encode("utf-8"))
    assert await exported(sandbox) == before
    assert await audit(sandbox, "catalogue.") == ["catalogue.seeded"]
