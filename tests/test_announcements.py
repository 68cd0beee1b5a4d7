"""Announcements: who gets them in which language, scheduling, cancelling, and the operator's command."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.outbox import InvalidContent
from bot.services import announcements, members
from bot.services.announcements import Audience
from storage.db import create_engine, create_session_factory, migrate, unit_of_work
from storage.models import AnnouncementStatus, OutboxMessage, PersonStatus, Role, utcnow
from storage.repositories import Repositories

TEXTS = {"ro": "<b>Adunarea generală</b> are loc joi.", "en": "<b>The general assembly</b> is on Thursday."}


async def cluster(repos: Repositories) -> dict[str, members.PersonView]:
    """A guest, members in both languages, one who blocked the bot, and a manager."""
    people = {
        "ana": await members.provision(
            repos, telegram_id=1001, first_name="Ana", language_code="ro", role=Role.MEMBER, organisation="EcoTech SRL"
        ),
        "dan": await members.provision(
            repos, telegram_id=1002, first_name="Dan", language_code="en", role=Role.MEMBER, organisation="EcoTech SRL"
        ),
        "gone": await members.provision(
            repos, telegram_id=1003, first_name="Gone", language_code="ro", role=Role.MEMBER, organisation="Bio SRL"
        ),
        "guest": await members.touch_person(
            repos, telegram_id=1004, first_name="Gigi", last_name=None, username=None, language_code="ro", admin_ids=()
        ),
        "maria": await members.provision(
            repos, telegram_id=3001, first_name="Maria", language_code="ro", role=Role.MANAGER
        ),
    }
    gone = await repos.people.get(people["gone"].id)
    assert gone is not None
    gone.status = PersonStatus.UNREACHABLE.value
    # Dan chose Romanian in the chat: his choice wins over Telegram's language.
    await members.set_language(repos, people["dan"].id, "ro")
    return people


async def outbox_rows(session: AsyncSession) -> list[tuple[int, str]]:
    rows = await session.execute(select(OutboxMessage.chat_id, OutboxMessage.locale).order_by(OutboxMessage.chat_id))
    return [(chat, locale) for chat, locale in rows.all()]


async def test_members_get_it_in_their_language_and_guests_and_unreachable_do_not(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        people = await cluster(repos)
        view = await announcements.create(
            repos,
            audience=Audience.ALL,
            content=announcements.make_content(TEXTS),
            default_locale="ro",
            author=people["maria"],
        )
        assert view.queued == 3 and view.status is AnnouncementStatus.QUEUED
        assert await outbox_rows(session) == [(1001, "ro"), (1002, "ro"), (3001, "ro")]
        english = await announcements.create(
            repos,
            audience=Audience.EN,
            content=announcements.make_content(TEXTS),
            default_locale="ro",
            author=people["maria"],
        )
        assert english.queued == 0
        with pytest.raises(members.MembershipError):
            await announcements.create(
                repos,
                audience=Audience.ALL,
                content=announcements.make_content(TEXTS),
                default_locale="ro",
                author=people["ana"],
            )
        with pytest.raises(InvalidContent):
            await announcements.create(
                repos,
                audience=Audience.ALL,
                content=announcements.make_content({"ro": "<b>unclosed"}),
                default_locale="ro",
                actor_label="test",
            )


async def test_scheduled_announcements_wait_for_their_time_and_can_be_cancelled(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    now = utcnow()
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        await cluster(repos)
        later = await announcements.create(
            repos,
            audience=Audience.ALL,
            content=announcements.make_content(TEXTS),
            default_locale="ro",
            at=now + timedelta(hours=2),
            actor_label="test",
            now=now,
        )
        doomed = await announcements.create(
            repos,
            audience=Audience.ALL,
            content=announcements.make_content({"en": "Cancelled"}),
            default_locale="ro",
            at=now + timedelta(hours=1),
            actor_label="test",
            now=now,
        )
        assert later.status is AnnouncementStatus.SCHEDULED and later.queued == 0
        assert [v.id for v in await announcements.scheduled(repos)] == [doomed.id, later.id]
        assert await announcements.cancel(repos, doomed.id, actor_label="test") == 0
        assert await announcements.queue_due(repos, default_locale="ro", now=now + timedelta(minutes=90)) == []
        assert await announcements.queue_due(repos, default_locale="ro", now=now + timedelta(hours=3)) == [later.id]
        report = await announcements.report(repos, later.id)
        assert report.total == 3 and report.waiting == 3
        # Running a job twice queues nothing twice.
        assert await announcements.queue_due(repos, default_locale="ro", now=now + timedelta(hours=4)) == []
        assert await announcements.cancel(repos, later.id, actor_label="test") == 3
        assert (await announcements.report(repos, later.id)).total == 0


async def test_the_operator_announces_and_waits_for_the_delivery_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Callable[..., Awaitable[tuple[int, str, str]]]
) -> None:
    from bot.sandbox.harness import SANDBOX_TOKEN
    from bot.sandbox.server import SandboxServer

    url = f"sqlite+aiosqlite:///{tmp_path / 'announce.sqlite3'}"
    engine = create_engine(url)
    await migrate(engine)
    async with unit_of_work(create_session_factory(engine)) as session:
        await cluster(Repositories(session))
    await engine.dispose()
    (tmp_path / "ro.html").write_text(TEXTS["ro"], encoding="utf-8")
    (tmp_path / "en.html").write_text(TEXTS["en"], encoding="utf-8")

    async with SandboxServer() as server:
        for telegram_id, name in ((1001, "Ana"), (1002, "Dan"), (3001, "Maria")):
            server.add_user(telegram_id, name)
            server.open_private_chat(telegram_id)
        server.block(3001)  # Maria blocked the bot since: the report says so
        env = {
            "DATABASE_URL": url,
            "DATA_DIR": str(tmp_path),
            "BOT_TOKEN": SANDBOX_TOKEN,
            "TELEGRAM_API_URL": server.base_url,
            "LOG_LEVEL": "WARNING",
        }
        monkeypatch.chdir(tmp_path)
        code, text, err = await cli(
            "announce", "--ro", str(tmp_path / "ro.html"), "--en", str(tmp_path / "en.html"), "--wait", env=env
        )
        assert code == 0, err
        assert "3 message(s) queued" in text
        assert "2 sent, 1 blocked the bot" in text
        for chat in (1001, 1002):
            [message] = server.bot_messages(chat)
            assert message.text == "Adunarea generală are loc joi."
        assert SANDBOX_TOKEN not in text + err


async def test_a_group_audience_is_the_groups_members_at_sending_time(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    from bot.services import groups
    from storage.models import GroupMembership, GroupState, WorkingGroup

    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        people = await cluster(repos)
        await groups.seed_groups(repos)
        sludge = await session.scalar(select(WorkingGroup).where(WorkingGroup.key == "sludge"))
        water = await session.scalar(select(WorkingGroup).where(WorkingGroup.key == "water-treatment"))
        assert sludge is not None and water is not None
        session.add(GroupMembership(group_id=sludge.id, person_id=people["ana"].id, organisation_id=None))
        water.state = GroupState.DISSOLVED.value
        at = utcnow() + timedelta(hours=1)
        view = await announcements.create(
            repos,
            audience=Audience.GROUP,
            group_id=sludge.id,
            content=announcements.make_content(TEXTS),
            default_locale="ro",
            at=at,
            author=people["maria"],
        )
        assert view.group is not None and (view.group.en or "").startswith("Advanced technologies for sludge")
        for group_id, reason in ((water.id, "group_dissolved"), (9999, "group_not_found"), (None, "group_not_found")):
            with pytest.raises(announcements.AnnouncementError) as refused:
                await announcements.create(
                    repos,
                    audience=Audience.GROUP,
                    group_id=group_id,
                    content=announcements.make_content(TEXTS),
                    default_locale="ro",
                    author=people["maria"],
                )
            assert refused.value.reason == reason
    # Dan joins before the time comes: the group's members are counted when it goes out.
    async with unit_of_work(session_factory) as session:
        session.add(GroupMembership(group_id=sludge.id, person_id=people["dan"].id, organisation_id=None))
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        assert await announcements.queue_due(repos, default_locale="ro", now=at) == [view.id]
        assert await outbox_rows(session) == [(1001, "ro"), (1002, "ro")]


def test_who_was_not_reached_is_told_in_plain_reasons() -> None:
    from bot.services.announcements import UnreachedReason, unreached_reason

    assert unreached_reason("blocked", "Forbidden: bot was blocked by the user") is UnreachedReason.BLOCKED
    assert unreached_reason("blocked", "Forbidden: user is deactivated") is UnreachedReason.DELETED
    assert unreached_reason("invalid", "Bad Request: chat not found") is UnreachedReason.NOT_STARTED
    assert unreached_reason("failed", "Internal Server Error") is UnreachedReason.FAILED
    assert unreached_reason("failed", None) is UnreachedReason.FAILED


def test_the_progress_never_says_about_zero_seconds_while_messages_wait() -> None:
    from handlers.announcements import seconds_left

    assert seconds_left(10.0, 10, 90) == 90
    assert seconds_left(10.0, 100, 5) is None  # half a second: almost done, not "about 0 s"
    assert seconds_left(1.0, 1, 1) is None
    assert seconds_left(0.0, 0, 10) is None
