"""Announcements to the participants of a project: the people of the organisations standing in it (once its
list is closed, of those taking part only), counted when it goes out; chosen in the chat from the projects in
preparation or running, or with `clusterbot announce --project ID`; an unknown or finished project is refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cli import main
from bot.config import Settings
from bot.sandbox.harness import SandboxBot
from bot.services import announcements, members, projects
from bot.services.announcements import Audience
from bot.services.members import PersonView
from storage.db import create_engine, create_session_factory, unit_of_work
from storage.models import OutboxMessage, ProjectState, Role, utcnow
from storage.repositories import Repositories

Factory = async_sessionmaker[AsyncSession]
TEXTS = {"ro": "Întâlnirea participanților: joi.", "en": "The participants meet on Thursday."}


async def project_in_preparation(
    factory: Factory, manager: PersonView, proposer: PersonView, title: str = "Compost urban"
) -> int:
    async with unit_of_work(factory) as session:
        repos = Repositories(session)
        project = await projects.propose(repos, proposer, title=title, description="Din deșeuri verzi.", locale="ro")
        await projects.set_plan(repos, proposer, project.id, [("Studiu de fezabilitate", None, date(2027, 3, 1))])
        await projects.set_budget(repos, proposer, project.id, 12_500_00, "RON")
        await projects.move(repos, manager, project.id, ProjectState.PREPARATION, reason="Plan și buget gata.")
        return project.id


async def commit(factory: Factory, project_id: int, *people: PersonView) -> None:
    for who in people:
        async with unit_of_work(factory) as session:
            await projects.commit(Repositories(session), who, project_id, kind="money", unit="RON", hundredths=100_00)


async def provision(
    repos: Repositories, telegram_id: int, name: str, organisation: str | None, language: str = "ro"
) -> PersonView:
    role = Role.MEMBER if organisation else Role.MANAGER
    return await members.provision(
        repos, telegram_id=telegram_id, first_name=name, language_code=language, role=role, organisation=organisation
    )


async def chats_of(factory: Factory, batch: str) -> list[int]:
    async with unit_of_work(factory) as session:
        rows = await session.scalars(
            select(OutboxMessage.chat_id).where(OutboxMessage.batch == batch).order_by(OutboxMessage.chat_id)
        )
        return list(rows.all())


async def test_the_participants_are_counted_when_it_goes_out_and_only_those_taking_part_once_the_list_is_closed(
    session_factory: Factory,
) -> None:
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        maria = await provision(repos, 3001, "Maria", None)
        ana = await provision(repos, 1001, "Ana", "EcoTech SRL")
        andrei = await provision(repos, 1011, "Andrei", "EcoTech SRL", "en")
        bogdan = await provision(repos, 1002, "Bogdan", "Bio SRL")
        carmen = await provision(repos, 1003, "Carmen", "Verde SRL")
        await provision(repos, 1004, "Dan", "Dan SRL")
    project_id = await project_in_preparation(session_factory, maria, ana)
    await commit(session_factory, project_id, ana, bogdan)
    at = utcnow() + timedelta(hours=1)
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        now = await announcements.create(
            repos,
            audience=Audience.PROJECT,
            project_id=project_id,
            content=announcements.make_content(TEXTS),
            default_locale="ro",
            author=maria,
        )
        later = await announcements.create(
            repos,
            audience=Audience.PROJECT,
            project_id=project_id,
            content=announcements.make_content(TEXTS),
            default_locale="ro",
            author=maria,
            at=at,
        )
        assert now.project is not None and now.project.ro == "Compost urban"
        assert [view.project for view in await announcements.scheduled(repos)] == [now.project]
    # EcoTech (Ana and her colleague Andrei, who committed nothing himself) and Bio; Carmen and Dan did not commit.
    assert await chats_of(session_factory, now.batch) == [1001, 1002, 1011]
    assert now.queued == 3

    # Before the time comes, Carmen commits and the list is closed with two places: she waits, so the
    # announcement is for the two organisations taking part.
    async with unit_of_work(session_factory) as session:
        project = await Repositories(session).projects.get(project_id)
        assert project is not None
        project.places = 2
    await commit(session_factory, project_id, carmen)
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        assert await announcements.audience_size(repos, Audience.PROJECT, "ro", project_id=project_id) == {
            "ro": 3,
            "en": 1,
        }
        await projects.close_list(repos, maria, project_id)
        assert await announcements.audience_size(repos, Audience.PROJECT, "ro", project_id=project_id) == {
            "ro": 2,
            "en": 1,
        }
    async with unit_of_work(session_factory) as session:
        assert await announcements.queue_due(Repositories(session), default_locale="ro", now=at) == [later.id]
    assert await chats_of(session_factory, later.batch) == [1001, 1002, 1011]
    # Bogdan withdraws: Carmen moves up and takes part.
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        await projects.withdraw(repos, bogdan, project_id, kind="money", unit="RON")
        people = await announcements.participants(repos, project_id)
        assert sorted(p.first_name for p in people) == ["Ana", "Andrei", "Carmen"]
        assert andrei.id in {p.id for p in people}


async def test_an_unknown_or_finished_project_is_refused_and_only_open_ones_are_offered(
    session_factory: Factory,
) -> None:
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        maria = await provision(repos, 3001, "Maria", None)
        ana = await provision(repos, 1001, "Ana", "EcoTech SRL")
        idea = await projects.propose(repos, ana, title="Doar o idee", description="Încă nu.", locale="ro")
    open_id = await project_in_preparation(session_factory, maria, ana, "Deschis")
    closed_id = await project_in_preparation(session_factory, maria, ana, "Anulat")
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        await projects.move(repos, maria, closed_id, ProjectState.CANCELLED, reason="Fără finanțare.")
        page = await announcements.project_choices(repos, maria, 0)
        assert [p.id for p in page.projects] == [open_id]
        for project_id, reason in (
            (9999, "project_not_found"),
            (None, "project_not_found"),
            (idea.id, "project_not_open"),
            (closed_id, "project_not_open"),
        ):
            with pytest.raises(announcements.AnnouncementError) as refused:
                await announcements.create(
                    repos,
                    audience=Audience.PROJECT,
                    project_id=project_id,
                    content=announcements.make_content(TEXTS),
                    default_locale="ro",
                    author=maria,
                )
            assert refused.value.reason == reason, project_id
        # A member is no manager: the projects to write to are not theirs to list.
        with pytest.raises(members.MembershipError):
            await announcements.project_choices(repos, ana, 0)


@pytest.fixture
async def sandbox(migrated_url: str, make_settings: Callable[..., Settings]) -> AsyncIterator[SandboxBot]:
    async with SandboxBot(make_settings(migrated_url, progress_interval=0.05)) as running:
        yield running


async def test_a_manager_announces_to_a_projects_participants_from_the_chat(sandbox: SandboxBot) -> None:
    maria = await sandbox.person("maria", 3001, "Maria", language_code="en", role="manager")
    ana = await sandbox.person("ana", 1001, "Ana", language_code="ro", role="member", organisation="EcoTech SRL")
    dan = await sandbox.person("dan", 1002, "Dan", language_code="en", role="member", organisation="Bio SRL")
    for who in (maria, ana, dan):
        await who.send("/start")
    assert sandbox.rt is not None
    factory = sandbox.rt.session_factory
    async with unit_of_work(factory) as session:
        repos = Repositories(session)
        views = {}
        for telegram_id in (3001, 1001, 1002):
            row = await repos.people.by_telegram_id(telegram_id)
            assert row is not None
            views[telegram_id] = await members.get_person(repos, row.id)
        await projects.propose(repos, views[1002], title="Idee fără plan", description="Încă nu.", locale="ro")
    project_id = await project_in_preparation(factory, views[3001], views[1001])
    await commit(factory, project_id, views[1001])
    await sandbox.deliver()

    await maria.send("/announce")
    await maria.tap("Participants of a project")
    assert "For the participants of which project?" in (maria.last_text or "")
    labels = maria.last_message.labels if maria.last_message else []
    # Only projects in preparation or running are offered; an idea has nobody to write to.
    assert any("Compost urban" in label for label in labels)
    assert not any("Idee fără plan" in label for label in labels)
    await maria.tap("Compost urban")
    await maria.send("Întâlnirea participanților: joi.")
    await maria.tap("Same text for everyone")
    assert 'Send it to the participants of the project "Compost urban 🇷🇴"?' in (maria.last_text or "")
    await maria.tap("Send now")
    assert "1 message to send" in (maria.last_text or "")
    await sandbox.deliver()
    # The participant reads which project it is for, above the text.
    assert ana.last_text == "📁 Pentru participanții la proiectul „Compost urban”\n\nÎntâlnirea participanților: joi."
    # A member, but his organisation committed nothing.
    assert all("participanților" not in m.content for m in dan.messages)


async def test_a_forged_project_audience_is_refused(sandbox: SandboxBot) -> None:
    maria = await sandbox.person("maria", 3001, "Maria", language_code="en", role="manager")
    await maria.send("/start")
    await maria.send("/announce")
    server = sandbox.server
    menu = maria.last_message
    assert menu is not None
    for data in ("ann:project:999", "ann:project:0", "ann:project:x", "ann:projects:-1"):
        update_id, query_id = await server.user_taps(maria.user_id, maria.chat_id, menu.message_id, data, forged=True)
        await server.wait_handled(update_id)
        answer = server.callback_answer(query_id) or {}
        assert answer.get("text") == "This button is no longer valid. Open /menu for a fresh one.", data
    await maria.tap("Participants of a project")
    assert "No project is in preparation or running" in (maria.last_text or "")


@pytest.fixture
def operator_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.setenv("BOT_USERNAME", "cluster_test_bot")
    for name in ("BOT_TOKEN", "REDIS_URL", "ADMIN_IDS"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_operator_announces_to_a_projects_participants(operator_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade"]) == 0

    async def setup() -> int:
        engine = create_engine(f"sqlite+aiosqlite:///{operator_env / 'cli.sqlite3'}")
        try:
            factory = create_session_factory(engine)
            async with unit_of_work(factory) as session:
                repos = Repositories(session)
                maria = await provision(repos, 3001, "Maria", None)
                ana = await provision(repos, 1001, "Ana", "EcoTech SRL")
                bogdan = await provision(repos, 1002, "Bogdan", "Bio SRL")
                await provision(repos, 1003, "Carmen", "Verde SRL")
            project_id = await project_in_preparation(factory, maria, ana)
            await commit(factory, project_id, ana, bogdan)
            return project_id
        finally:
            await engine.dispose()

    project_id = asyncio.run(setup())
    text = operator_env / "participants.html"
    text.write_text("Întâlnirea participanților / The participants meet", encoding="utf-8")
    capsys.readouterr()
    assert main(["announce", "--project", str(project_id), "--text", str(text), "--at", "2099-01-05 09:00"]) == 0
    assert "announcement #1 scheduled for 2099-01-05 09:00" in capsys.readouterr().out
    assert main(["announcements"]) == 0
    assert "#1\tproject Compost urban" in capsys.readouterr().out
    assert main(["announce", "--project", str(project_id), "--text", str(text)]) == 0
    assert "announcement #2: 2 message(s) queued" in capsys.readouterr().out
    assert main(["announcements", "--all"]) == 0
    assert f"#2\tproject {project_id}\tsending" in capsys.readouterr().out
    for unknown in ("999", "abc"):
        assert main(["announce", "--project", unknown, "--text", str(text)]) == 1
        assert f"not queued: no such project ({unknown})" in capsys.readouterr().err
    assert main(["announce", "--project", str(project_id), "--group", "sludge", "--text", str(text)]) == 2
    assert "choose one audience" in capsys.readouterr().err
