"""A manager does the data-rights actions for a person on that person's request (issue 12): from the person's
conversation with the cluster team, 📥 their data (the JSON file, sent to the manager) and 🗑 forget them,
confirmed twice and checked at every press; audited with the manager as the actor; the person is told what was
kept and why; the cluster's last manager cannot be forgotten; a member, a demoted manager, a skipped step or
an invented code forgets nobody."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import select, update

from bot.config import Settings
from bot.sandbox.client import SandboxUser
from bot.sandbox.harness import SandboxBot
from storage.db import unit_of_work
from storage.models import AuditEntry, Person, PersonStatus, QuestionThread, Role


@pytest.fixture
async def sandbox(migrated_url: str, make_settings: Callable[..., Settings]) -> AsyncIterator[SandboxBot]:
    async with SandboxBot(make_settings(migrated_url)) as running:
        yield running


async def person(sandbox: SandboxBot, telegram_id: int) -> Person | None:
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        return await session.scalar(select(Person).where(Person.telegram_id == telegram_id))


async def audit(sandbox: SandboxBot, action: str) -> list[AuditEntry]:
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        return list((await session.scalars(select(AuditEntry).where(AuditEntry.action == action))).all())


async def set_role(sandbox: SandboxBot, telegram_id: int, role: Role) -> None:
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        await session.execute(update(Person).where(Person.telegram_id == telegram_id).values(role=role.value))


async def asks(sandbox: SandboxBot, who: SandboxUser, manager: SandboxUser, text: str) -> None:
    """`who` writes to the team; `manager` opens the conversation from /questions and its 🔒 Data rights."""
    await who.send("/write")
    await who.send(text)
    await sandbox.deliver()
    await manager.send("/questions")
    await manager.tap(1)
    assert "🔒 Data rights" in manager.last_message.labels  # type: ignore[union-attr]
    await manager.tap("🔒 Data rights")


async def test_a_manager_sends_herself_the_data_and_forgets_the_person(sandbox: SandboxBot) -> None:
    maria = await sandbox.person("maria", 3001, "Maria", language_code="en", role="manager")
    ion = await sandbox.person("ion", 3002, "Ion", language_code="ro", role="manager")
    radu = await sandbox.person(
        "radu", 2001, "Radu", last_name="Pop", language_code="ro", role="member", organisation="EcoTech SRL"
    )
    for who in (maria, ion, radu):
        await who.send("/start")
    await asks(sandbox, radu, maria, "Vă rog să îmi ștergeți datele.")
    screen = maria.last_text or ""
    assert screen.startswith("🔒 Data rights of Radu Pop (EcoTech SRL)")
    assert "Only when the person asks for it" in screen

    # Their data: the file comes to the manager, audited with her as the actor.
    await maria.tap("📥 Their data")
    file = maria.last_message
    assert file is not None and file.caption is not None
    assert file.caption.startswith("📥 Everything I keep about Radu Pop (EcoTech SRL)")
    download = sandbox.server.message(maria.chat_id, file.message_id).document
    assert download is not None and (file.document_name or "").endswith(".json")
    data = json.loads(sandbox.server.file_content(str(download["file_id"])).decode("utf-8"))
    assert data["profile"]["first_name"] == "Radu" and data["questions"]
    radu_row = await person(sandbox, 2001)
    maria_row = await person(sandbox, 3001)
    assert radu_row is not None and maria_row is not None
    (exported,) = await audit(sandbox, "person.exported")
    assert (exported.actor_id, exported.subject) == (maria_row.id, f"person:{radu_row.id}")

    # Skipping the first confirmation, or an invented code, forgets nobody.
    await maria.tap("🗑 Forget them")
    assert (maria.last_text or "").startswith("🗑 Forget Radu Pop (EcoTech SRL)?")
    not_valid = (
        "This confirmation is not valid. Open the person's 🔒 Data rights and press 🗑 Forget them again.",
        True,
    )
    assert await maria.forge(f"prvm:erase:{radu_row.id}:AAAAAAAA") == not_valid
    assert await maria.forge(f"prvm:continue:{radu_row.id}:AAAAAAAA") == not_valid
    # A member pressing a manager's button, even forged, is refused.
    assert await radu.forge(f"prvm:forget:{radu_row.id}:") == (
        "Îmi pare rău, doar managerii clusterului pot face acest lucru.",
        True,
    )
    await maria.tap("Continue ➡️")
    assert "Last confirmation" in (maria.last_text or "")
    # The second confirmation is for this person only: another id with its code is refused.
    assert (await person(sandbox, 2001)) is not None
    await maria.tap("🗑 Yes, forget them for good")
    assert "Radu Pop (EcoTech SRL) is forgotten" in (maria.last_text or "")
    assert "I told them what was kept and why." in (maria.last_text or "")

    told = radu.last_text or ""
    assert told.startswith("✅ Așa cum ați cerut echipei clusterului, v-am șters datele personale.")
    assert "Ce păstrez și de ce:" in told
    forgotten = await person(sandbox, -2001) or await _by_id(sandbox, radu_row.id)
    assert forgotten is not None and forgotten.status == PersonStatus.FORGOTTEN.value and forgotten.first_name == ""
    (entry,) = await audit(sandbox, "person.forgotten")
    assert (entry.actor_id, entry.subject) == (maria_row.id, f"person:{radu_row.id}")
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        assert (await session.scalars(select(QuestionThread))).all() == []

    # Pressed again (an old screen, or another manager): nothing left to forget.
    assert await maria.forge(f"prvm:forget:{radu_row.id}:") == ("I keep nothing about this person any more.", True)
    # He writes again: a new guest, welcomed in full.
    await radu.send("/start")
    assert "Confidențialitate" in (radu.last_text or "") and "vizitator" in (radu.last_text or "")


async def _by_id(sandbox: SandboxBot, person_id: int) -> Person | None:
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        return await session.get(Person, person_id)


async def test_oneself_an_unknown_person_and_a_demotion_between_the_presses_are_refused(sandbox: SandboxBot) -> None:
    maria = await sandbox.person("maria", 3001, "Maria", language_code="en", role="manager")
    ion = await sandbox.person("ion", 3002, "Ion", language_code="ro", role="manager")
    for who in (maria, ion):
        await who.send("/start")
    maria_row, ion_row = await person(sandbox, 3001), await person(sandbox, 3002)
    assert maria_row is not None and ion_row is not None

    # A manager's own data: /privacy is hers (where the last manager is refused).
    assert await maria.forge(f"prvm:show:{maria_row.id}:") == ("For your own data, please use /privacy.", True)
    assert await maria.forge(f"prvm:forget:{maria_row.id}:") == ("For your own data, please use /privacy.", True)
    # Unknown, or out of range: refused.
    assert await maria.forge("prvm:show:99999:") == ("I keep nothing about this person any more.", True)
    for forged in ("prvm:show:0:", "prvm:show:-1:", "prvm:wipe:2:"):
        text, _alert = await maria.forge(forged)
        assert text == "This button is no longer valid. Open /menu for a fresh one.", forged

    # Ion asks to be forgotten; Maria confirms once, then is demoted elsewhere before the last press.
    await asks(sandbox, ion, maria, "Please forget me.")
    await maria.tap("🗑 Forget them")
    await maria.tap("Continue ➡️")
    await set_role(sandbox, 3001, Role.MEMBER)
    await maria.tap("🗑 Yes, forget them for good")
    assert maria.last_callback_answer == ("Sorry, only the cluster's managers can do that.", True)
    kept = await person(sandbox, 3002)
    assert kept is not None and kept.status != PersonStatus.FORGOTTEN.value
    assert await audit(sandbox, "person.forgotten") == []
    # Made a manager again, her old confirmation is spent only if the conversation is: pressing Keep ends it.
    await set_role(sandbox, 3001, Role.MANAGER)
    await maria.tap("✖️ Keep their data")
    assert maria.last_text == "Nothing was erased."
    assert await maria.forge(f"prvm:erase:{ion_row.id}:AAAAAAAA") == (
        "This confirmation is not valid. Open the person's 🔒 Data rights and press 🗑 Forget them again.",
        True,
    )
    assert (await person(sandbox, 3002)) is not None
