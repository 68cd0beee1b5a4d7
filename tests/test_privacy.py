"""Data rights (issue 12), as a member and an operator use them: the download holds the person's data and nobody
else's; "Forget me" end to end (what is erased, what remains showing "a former representative", the audit trail,
a new guest afterwards); the double confirmation and forged ones; the CLI's export and forget; the retention
purge (old rows gone, recent ones kept, twice harmless)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bot.app import build_i18n
from bot.sandbox.client import SandboxUser
from bot.sandbox.harness import SandboxBot
from bot.services import members, project_reports
from handlers.projects.reports import commitments_csv
from storage.db import create_engine, create_session_factory, migrate, unit_of_work
from storage.models import (
    AlertProfile,
    AuditEntry,
    Commitment,
    ConfidentialityAcceptance,
    GroupMembership,
    OutboxMessage,
    OutboxStatus,
    Person,
    PersonStatus,
    Project,
    ProjectState,
    QuestionMessage,
    QuestionThread,
    Service,
    ServiceCategory,
    ServiceRequest,
    TenderAlert,
    TenderRow,
    WorkingGroup,
)
from storage.repositories import Repositories

CliRun = Callable[..., Awaitable[tuple[int, str, str]]]
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


async def person_row(session: Any, telegram_id: int) -> Person:
    row = await session.scalar(select(Person).where(Person.telegram_id == telegram_id))
    assert row is not None
    return row  # type: ignore[no-any-return]


async def give_data(session: Any, telegram_id: int, *, label: str) -> dict[str, int]:
    """A member's life in the cluster: a commitment to a project, an alert profile and an alert followed, a
    group membership with its confidentiality acceptance, a service request with a note, a delivered message."""
    person = await person_row(session, telegram_id)
    assert person.organisation_id is not None
    project = Project(title_ro=f"Proiect {label}", state=ProjectState.PREPARATION.value, organisation_id=None)
    group = WorkingGroup(title_ro=f"Grup {label}", state="active", confidential=True)
    category = ServiceCategory(key=f"cat-{label}", title_ro="Categorie", title_en="Category")
    tender = TenderRow(source="ted", source_id=f"T-{label}", kind="competition", title={"en": f"Tender {label}"})
    session.add_all([project, group, category, tender])
    await session.flush()
    service = Service(
        key=f"svc-{label}",
        category_id=category.id,
        title_ro="Serviciu",
        title_en="Service",
        description_ro="d",
        description_en="d",
        search_text="serviciu",
    )
    profile = AlertProfile(person_id=person.id, organisation_id=person.organisation_id, name=f"Profile {label}")
    session.add_all([service, profile])
    await session.flush()
    session.add_all(
        [
            Commitment(
                project_id=project.id,
                organisation_id=person.organisation_id,
                kind="money",
                unit="RON",
                version=1,
                amount_hundredths=1_000_00,
                note=f"note of {label}",
                author_id=person.id,
                standing_since=NOW,
                standing_change=1,
            ),
            GroupMembership(group_id=group.id, person_id=person.id, organisation_id=person.organisation_id),
            ConfidentialityAcceptance(
                group_id=group.id, person_id=person.id, organisation_id=person.organisation_id, locale="ro", terms="T"
            ),
            ServiceRequest(
                service_id=service.id, person_id=person.id, organisation_id=person.organisation_id, note=f"help {label}"
            ),
            TenderAlert(person_id=person.id, tender_id=tender.id, profile_id=profile.id, sent_at=NOW, followed_at=NOW),
            OutboxMessage(
                batch=f"test:{label}",
                chat_id=telegram_id,
                person_id=person.id,
                locale="ro",
                content={"ro": {"text": f"secret for {label}"}},
                status=OutboxStatus.SENT.value,
            ),
            QuestionThread(person_id=person.id, organisation_id=person.organisation_id),
            OutboxMessage(
                batch=f"test:{label}:later",
                chat_id=telegram_id,
                person_id=person.id,
                locale="ro",
                content={"ro": {"text": f"later for {label}"}},
            ),
        ]
    )
    await session.flush()
    thread = await session.scalar(select(QuestionThread).where(QuestionThread.person_id == person.id))
    assert thread is not None
    session.add_all(
        [
            QuestionMessage(thread_id=thread.id, author_id=person.id, kind="text", text=f"cum plătesc, {label}?"),
            QuestionMessage(thread_id=thread.id, from_team=True, kind="text", text=f"prin transfer, {label}"),
        ]
    )
    await session.flush()
    return {"project": project.id, "group": group.id}


async def people(sandbox: SandboxBot) -> dict[str, SandboxUser]:
    cast = {
        "maria": await sandbox.person("maria", 3001, "Maria", language_code="en", role="manager"),
        "ana": await sandbox.person(
            "ana", 1001, "Ana", language_code="ro", role="member", organisation="EcoTech SRL", username="ana_eco"
        ),
        "dan": await sandbox.person(
            "dan", 1002, "Dan", last_name="Popescu", language_code="en", role="member", organisation="Bio Med SRL"
        ),
    }
    for user in cast.values():
        await user.send("/start")
    return cast


def downloaded(sandbox: SandboxBot, who: SandboxUser) -> dict[str, Any]:
    sent = [m for m in who.messages if m.has_document and (m.document_name or "").startswith("my-data-")]
    assert len(sent) == 1, [m.document_name for m in who.messages]
    state = sandbox.server.message(who.chat_id, sent[0].message_id).document
    assert state is not None
    raw = sandbox.server.file_content(str(state["file_id"]))
    assert "\n  " in raw.decode("utf-8")  # pretty
    return json.loads(raw.decode("utf-8"))  # type: ignore[no-any-return]


async def forget_in_chat(who: SandboxUser, romanian: bool) -> None:
    await who.send("/privacy")
    await who.tap("Ștergeți-mi datele" if romanian else "Forget me")
    await who.tap("Continuați" if romanian else "Continue")
    await who.tap("definitiv" if romanian else "for good")


async def test_the_download_holds_the_persons_data_and_nothing_of_anyone_else(sandbox: SandboxBot) -> None:
    assert sandbox.rt is not None
    cast = await people(sandbox)
    async with unit_of_work(sandbox.rt.session_factory) as session:
        await give_data(session, 1001, label="ana")
        await give_data(session, 1002, label="dan")
    ana = cast["ana"]
    await ana.send("/privacy")
    assert "365 de zile" in (ana.last_text or "")
    await ana.tap("Descărcați datele mele")
    data = downloaded(sandbox, ana)
    assert data["profile"]["telegram_id"] == 1001
    assert data["profile"]["username"] == "ana_eco"
    assert data["profile"]["organisation"] == "EcoTech SRL"
    assert [c["note"] for c in data["commitments_authored"]] == ["note of ana"]
    assert [s["note"] for s in data["service_requests"]] == ["help ana"]
    assert [g["group"] for g in data["group_memberships"]] == ["Grup ana"]
    assert [a["terms"] for a in data["confidentiality_acceptances"]] == ["T"]
    assert [p["name"] for p in data["alert_profiles"]] == ["Profile ana"]
    assert [a["tender"] for a in data["tender_alerts"]] == ["ted:T-ana"]
    assert data["tender_alerts"][0]["followed_at"].startswith("2026-12-01T09:00")
    # The thread with the cluster team, the team's answer included.
    assert [[m["text"] for m in q["messages"]] for q in data["questions"]] == [
        ["cum plătesc, ana?", "prin transfer, ana"]
    ]
    text = json.dumps(data, ensure_ascii=False)
    for other in ("Dan", "Popescu", "1002", "Bio Med", "dan", "Maria"):
        assert other not in text
    # Audited, without personal data.
    async with unit_of_work(sandbox.rt.session_factory) as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "person.exported"))
        assert entry is not None and "Ana" not in json.dumps(entry.details)


async def test_forget_me_erases_keeps_the_organisations_part_and_makes_a_new_guest(sandbox: SandboxBot) -> None:
    assert sandbox.rt is not None
    cast = await people(sandbox)
    async with unit_of_work(sandbox.rt.session_factory) as session:
        ids = await give_data(session, 1001, label="ana")
        ana_id = (await person_row(session, 1001)).id
    ana = cast["ana"]
    await forget_in_chat(ana, romanian=True)
    assert "V-am șters datele personale" in (ana.last_text or "")
    assert "un fost reprezentant" in (ana.last_text or "")

    async with unit_of_work(sandbox.rt.session_factory) as session:
        row = await session.get(Person, ana_id)
        assert row is not None
        assert (row.telegram_id, row.first_name, row.last_name, row.username, row.language) == (
            -ana_id,
            "",
            None,
            None,
            None,
        )
        assert row.status == PersonStatus.FORGOTTEN.value and row.organisation_id is None
        for model in (AlertProfile, TenderAlert, GroupMembership, QuestionThread):
            assert await session.scalar(select(func.count()).select_from(model).where(model.person_id == ana_id)) == 0
        # Kept: the organisation's commitment (its author the anonymous row), the acceptance, the service request
        # without its note, the delivered message without whom or what; the waiting one is dropped.
        commitment = await session.scalar(select(Commitment).where(Commitment.project_id == ids["project"]))
        assert commitment is not None and commitment.author_id == ana_id
        assert await session.scalar(
            select(ConfidentialityAcceptance.id).where(ConfidentialityAcceptance.person_id == ana_id)
        )
        request = await session.scalar(select(ServiceRequest).where(ServiceRequest.person_id == ana_id))
        assert request is not None and request.note == ""
        rows = (await session.scalars(select(OutboxMessage).where(OutboxMessage.batch.like("test:ana%")))).all()
        assert [(r.batch, r.chat_id, r.content) for r in rows] == [("test:ana", -ana_id, {})]
        # The audit trail is kept, and its new entry names nobody.
        forgotten = await session.scalar(select(AuditEntry).where(AuditEntry.action == "person.forgotten"))
        assert forgotten is not None and forgotten.subject == f"person:{ana_id}"
        assert "Ana" not in json.dumps(forgotten.details) and "EcoTech" not in json.dumps(forgotten.details)
        assert await session.scalar(
            select(AuditEntry.id).where(
                AuditEntry.subject == f"person:{ana_id}", AuditEntry.action == "person.provisioned"
            )
        )
        # The manager's export of the project shows "a former representative", in the manager's language.
        manager = await members.get_person(Repositories(session), (await person_row(session, 3001)).id)
        report = await project_reports.commitments(Repositories(session), manager, ids["project"])
    i18n = build_i18n("ro")
    for locale, former in (("en", "a former representative"), ("ro", "un fost reprezentant")):
        with i18n.context(), i18n.use_locale(locale):
            data = commitments_csv(report, sandbox.settings.tz)
        rows_ = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        assert rows_[1][6] == former, rows_

    # Writing again: a new guest, with a new row; the old one is not theirs any more.
    await ana.send("/start")
    assert "vizitator" in (ana.last_text or "")
    await ana.send("/profile")
    assert "EcoTech" not in (ana.last_text or "")
    async with unit_of_work(sandbox.rt.session_factory) as session:
        again = await person_row(session, 1001)
        assert again.id != ana_id and again.role == "guest"
    # Dan is untouched.
    await cast["dan"].send("/profile")
    assert "Bio Med SRL" in (cast["dan"].last_text or "")


async def test_both_confirmations_are_checked_and_forged_ones_change_nothing(sandbox: SandboxBot) -> None:
    assert sandbox.rt is not None
    cast = await people(sandbox)
    dan = cast["dan"]
    # The second button without the first, and the first with an invented code.
    for forged in ("prv:erase:abcdefgh", "prv:continue:abcdefgh", "prv:erase:", "prv:erase:<script>"):
        await dan.forge(forged)
    await dan.send("/privacy")
    await dan.tap("Forget me")
    first = dan.last_message
    assert first is not None
    # The first screen's code used on the second step: refused (each step has its own code).
    continue_data = sandbox.server.message(dan.chat_id, first.message_id).reply_markup
    assert continue_data is not None
    packed = continue_data["inline_keyboard"][0][0]["callback_data"]
    assert packed.startswith("prv:continue:")
    text, alert = await dan.forge(packed.replace("prv:continue:", "prv:erase:"))
    assert alert and "not valid" in (text or "")
    async with unit_of_work(sandbox.rt.session_factory) as session:
        assert (await person_row(session, 1002)).status == PersonStatus.ACTIVE.value
    # "Keep my data" ends it: the old Continue no longer works.
    await dan.tap("Keep my data")
    assert "Nothing was erased" in (dan.last_text or "")
    text, alert = await dan.forge(packed)
    assert alert and "not valid" in (text or "")
    # Both, in order: forgotten; the second button pressed again is refused.
    await forget_in_chat(dan, romanian=False)
    assert "I have forgotten you" in (dan.last_text or "")
    async with unit_of_work(sandbox.rt.session_factory) as session:
        assert await session.scalar(select(Person).where(Person.telegram_id == 1002)) is None
        assert await session.scalar(select(func.count()).select_from(Person).where(Person.status == "forgotten")) == 1
    # The only manager stays.
    maria = cast["maria"]
    await maria.send("/privacy")
    await maria.tap("Forget me")
    answer = maria.last_callback_answer
    assert answer is not None and "last manager" in (answer[0] or "")


async def test_an_operator_exports_and_forgets_a_person_from_the_command_line(tmp_path: Path, cli: CliRun) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'privacy.sqlite3'}"
    engine = create_engine(url)
    await migrate(engine)
    async with unit_of_work(create_session_factory(engine)) as session:
        repos = Repositories(session)
        await members.provision(
            repos, telegram_id=501, first_name="Ana", organisation="EcoTech SRL", role=members.Role.MEMBER
        )
        await members.provision(
            repos, telegram_id=502, first_name="Dan", organisation="Bio SRL", role=members.Role.MEMBER
        )
        await give_data(session, 501, label="ana")
    env = {"DATABASE_URL": url, "DATA_DIR": str(tmp_path)}
    out_file = tmp_path / "ana.json"
    code, out, err = await cli("person", "export", "501", str(out_file), env=env)
    assert code == 0, err
    data = json.loads(out_file.read_text(encoding="utf-8"))
    assert data["profile"]["first_name"] == "Ana" and "Dan" not in out_file.read_text(encoding="utf-8")
    assert "Ana" not in out  # no personal data on the terminal either

    code, out, err = await cli("person", "forget", "501", env=env)
    assert code == 1 and "--yes" in err
    code, out, err = await cli("person", "forget", "404", "--yes", env=env)
    assert code == 1 and "no person" in err
    code, out, err = await cli("person", "forget", "501", "--yes", env=env)
    assert code == 0, err
    assert "forgotten" in out and "Ana" not in out
    code, out, err = await cli("person", "export", "501", str(out_file), env=env)
    assert code == 1 and "no person" in err

    async with unit_of_work(create_session_factory(engine)) as session:
        assert await session.scalar(select(Person).where(Person.first_name == "Ana")) is None
        assert (await person_row(session, 502)).first_name == "Dan"
        entries = (
            await session.execute(
                select(AuditEntry.action, AuditEntry.actor_label).where(AuditEntry.action.like("person.%"))
            )
        ).all()
        assert ("person.exported", "cli") in entries and ("person.forgotten", "cli") in entries
    await engine.dispose()


async def purge(sandbox: SandboxBot) -> Any:
    # Not `run_job`: that delivers the outbox afterwards, and waits for the pending row kept here.
    assert sandbox.jobs is not None
    return await sandbox.jobs.run("purge", NOW)


async def test_the_purge_deletes_old_delivered_rows_and_alerts_and_keeps_the_rest(sandbox: SandboxBot) -> None:
    assert sandbox.rt is not None
    await people(sandbox)
    old = NOW - timedelta(days=400)
    recent = NOW - timedelta(days=10)
    later = timedelta(days=1)
    async with unit_of_work(sandbox.rt.session_factory) as session:
        ana = await person_row(session, 1001)
        tenders = [TenderRow(source="ted", source_id=f"P-{n}", kind="competition") for n in range(3)]
        session.add_all(tenders)
        await session.flush()
        session.add_all(
            [
                TenderAlert(person_id=ana.id, tender_id=tenders[0].id, created_at=old, sent_at=old),
                TenderAlert(person_id=ana.id, tender_id=tenders[1].id, created_at=recent, sent_at=recent),
                OutboxMessage(batch="old:sent", chat_id=1001, person_id=ana.id, locale="ro", content={},
                              status=OutboxStatus.SENT.value, created_at=old),
                OutboxMessage(batch="old:failed", chat_id=1001, person_id=ana.id, locale="ro", content={},
                              status=OutboxStatus.FAILED.value, created_at=old),
                # Still to be sent, however old: kept.
                OutboxMessage(batch="old:pending", chat_id=1001, person_id=ana.id, locale="ro", content={},
                              status=OutboxStatus.PENDING.value, created_at=old, next_attempt_at=NOW + later),
                OutboxMessage(batch="recent:sent", chat_id=1001, person_id=ana.id, locale="ro", content={},
                              status=OutboxStatus.SENT.value, created_at=recent),
            ]
        )  # fmt: skip
    assert await purge(sandbox) == {"outbox": 2, "tender_alerts": 1}
    assert await purge(sandbox) == {"outbox": 0, "tender_alerts": 0}
    async with unit_of_work(sandbox.rt.session_factory) as session:
        batches = set((await session.scalars(select(OutboxMessage.batch).where(OutboxMessage.batch.like("%:%")))).all())
        assert {"old:pending", "recent:sent"} <= batches and not batches & {"old:sent", "old:failed"}
        kept = (await session.scalars(select(TenderAlert.tender_id))).all()
        assert kept == [tenders[1].id]
    # A shorter retention reaches the recent ones too.
    sandbox.settings.retention_days = 5
    assert await purge(sandbox) == {"outbox": 1, "tender_alerts": 1}
