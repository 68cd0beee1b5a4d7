"""Managers' announcements: who gets them, queueing now or at a set time, cancelling, the delivery report."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.i18n import SUPPORTED_LOCALES
from bot.notices import Notice, NoticeKind, recipient, tell
from bot.outbox import BatchReport, Recipient, batch_report, validate_content
from bot.services import projects
from bot.services.groups import GroupFilter, GroupPage, GroupSummary, Texts
from bot.services.members import PersonView, require_manager
from bot.services.project_views import ProjectFilter, ProjectPage, ProjectSummary, title_of
from bot.services.refusals import Refused
from storage.models import (
    Announcement,
    AnnouncementStatus,
    GroupState,
    OutboxStatus,
    Person,
    Project,
    ProjectState,
    Role,
    WorkingGroup,
    utcnow,
)
from storage.repositories import Repositories


class Audience(enum.StrEnum):
    """Who an announcement is for."""

    ALL = "all"
    RO = "ro"
    EN = "en"
    # The members of one working group (`group_id`).
    GROUP = "group"
    # The people of the organisations standing in one project (`project_id`); once its list is closed, of
    # those taking part only.
    PROJECT = "project"


GROUP_PAGE_SIZE = 8
PROJECT_PAGE_SIZE = 8
# The projects an announcement can be for: those with organisations standing in them, or about to.
_ADDRESSABLE = (ProjectState.PREPARATION.value, ProjectState.RUNNING.value)
_MEMBER_ROLES = {Role.MEMBER.value, Role.MANAGER.value, Role.ADMIN.value}


class AnnouncementRefusal(enum.StrEnum):
    NO_TEXT = "no_text"
    GROUP_NOT_FOUND = "group_not_found"
    GROUP_DISSOLVED = "group_dissolved"
    PROJECT_NOT_FOUND = "project_not_found"
    # Only projects in preparation or running have participants to write to.
    PROJECT_NOT_OPEN = "project_not_open"
    NOT_FOUND = "not_found"
    ALREADY_CANCELLED = "already_cancelled"
    # Cancelling a scheduled one that has started going out (or went) meanwhile.
    NOT_SCHEDULED = "not_scheduled"


class AnnouncementError(Refused):
    """An announcement rule refused the action (`AnnouncementRefusal`)."""

    reason: AnnouncementRefusal

    def __init__(self, reason: AnnouncementRefusal | str, **context: object) -> None:
        super().__init__(AnnouncementRefusal(reason), **context)


@dataclass(frozen=True)
class AnnouncementView:
    id: int
    batch: str
    audience: Audience
    status: AnnouncementStatus
    scheduled_at: datetime | None
    queued: int
    # The working group's title, for a group audience.
    group: Texts | None = None
    # The project's title, for a project audience.
    project: Texts | None = None


def batch_of(announcement_id: int) -> str:
    return f"announcement:{announcement_id}"


def _view(
    row: Announcement, queued: int = 0, group: WorkingGroup | None = None, project: Project | None = None
) -> AnnouncementView:
    return AnnouncementView(
        id=row.id,
        batch=batch_of(row.id),
        audience=Audience(row.audience),
        status=AnnouncementStatus(row.status),
        scheduled_at=row.scheduled_at,
        queued=queued,
        group=Texts(group.title_ro, group.title_en) if group is not None else None,
        project=title_of(project) if project is not None else None,
    )


def make_content(texts: Mapping[str, str]) -> dict[str, Any]:
    """The outbox content from one text per language (a single text serves everyone)."""
    if not texts:
        raise AnnouncementError(AnnouncementRefusal.NO_TEXT)
    only = next(iter(texts.values())) if len(texts) == 1 else None
    return {
        locale: {
            "text": (only if only is not None else texts.get(locale) or next(iter(texts.values()))).strip(),
            "parse_mode": "HTML",
        }
        for locale in SUPPORTED_LOCALES
    }


async def recipients(
    repos: Repositories,
    audience: Audience,
    default_locale: str,
    group_id: int | None = None,
    project_id: int | None = None,
) -> list[Recipient]:
    """Members (and managers) who can be reached, each in their language; for a group audience, the people
    in that working group who are still members; for a project audience, its participants' people."""
    if audience is Audience.GROUP:
        if group_id is None:
            return []
        people = [person for person in await repos.groups.members(group_id) if person.role in _MEMBER_ROLES]
    elif audience is Audience.PROJECT:
        people = list(await participants(repos, project_id))
    else:
        people = list(await repos.people.reachable_members())
    result = [recipient(person, default_locale) for person in people]
    if audience in (Audience.RO, Audience.EN):
        result = [r for r in result if r.locale == audience.value]
    return result


async def audience_group(repos: Repositories, group_id: int | None) -> WorkingGroup:
    """The working group a group announcement is for: one that exists and is not dissolved."""
    group = await repos.groups.get(group_id) if group_id is not None else None
    if group is None:
        raise AnnouncementError(AnnouncementRefusal.GROUP_NOT_FOUND)
    if group.state == GroupState.DISSOLVED.value:
        raise AnnouncementError(AnnouncementRefusal.GROUP_DISSOLVED)
    return group


async def group_to_address(repos: Repositories, viewer: PersonView, group_id: int) -> WorkingGroup:
    """The working group a manager picked as the audience, checked again when it is picked."""
    await require_manager(repos, viewer)
    return await audience_group(repos, group_id)


async def participants(repos: Repositories, project_id: int | None) -> list[Person]:
    """The reachable people of the organisations standing in the project, as it stands now: once the list is
    closed, of those taking part only (the waiting ones are not participants yet)."""
    project = await repos.projects.get(project_id) if project_id is not None else None
    if project is None:
        return []
    standings = await projects.ranking(repos, project.id)
    outcomes = projects.outcomes(project, standings)
    taking_part = [org for org, outcome in outcomes.items() if outcome is not projects.Outcome.WAITING]
    return list(await repos.projects.people_of(taking_part))


async def audience_project(repos: Repositories, project_id: int | None) -> Project:
    """The project an announcement to participants is for: one that exists, in preparation or running."""
    project = await repos.projects.get(project_id) if project_id is not None else None
    if project is None:
        raise AnnouncementError(AnnouncementRefusal.PROJECT_NOT_FOUND, project_id=project_id)
    if project.state not in _ADDRESSABLE:
        raise AnnouncementError(AnnouncementRefusal.PROJECT_NOT_OPEN, state=project.state)
    return project


async def project_to_address(repos: Repositories, viewer: PersonView, project_id: int) -> Project:
    """The project a manager picked as the audience, checked again when it is picked."""
    await require_manager(repos, viewer)
    return await audience_project(repos, project_id)


async def project_choices(repos: Repositories, viewer: PersonView, page: int) -> ProjectPage:
    """The projects an announcement can be for (in preparation or running), a page at a time."""
    await require_manager(repos, viewer)
    states = list(_ADDRESSABLE)
    total = await repos.projects.count(states=states)
    pages = max(1, math.ceil(total / PROJECT_PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    rows = await repos.projects.page(offset=page * PROJECT_PAGE_SIZE, limit=PROJECT_PAGE_SIZE, states=states)
    summaries = [
        ProjectSummary(row.id, title_of(row), ProjectState(row.state), standing, row.places) for row, standing in rows
    ]
    return ProjectPage(projects=summaries, filter=ProjectFilter.ALL, page=page, pages=pages, total=total)


async def group_choices(repos: Repositories, viewer: PersonView, page: int) -> GroupPage:
    """The working groups an announcement can be for (proposed and active ones), a page at a time."""
    await require_manager(repos, viewer)
    states = [GroupState.PROPOSED.value, GroupState.ACTIVE.value]
    total = await repos.groups.count(states=states, member_id=None)
    pages = max(1, math.ceil(total / GROUP_PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    rows = await repos.groups.page(states=states, member_id=None, offset=page * GROUP_PAGE_SIZE, limit=GROUP_PAGE_SIZE)
    summaries = [
        GroupSummary(
            row.id,
            Texts(row.title_ro, row.title_en),
            GroupState(row.state),
            row.confidential,
            False,
            short_title=Texts(row.short_title_ro, row.short_title_en),
        )
        for row in rows
    ]
    return GroupPage(groups=summaries, filter=GroupFilter.ALL, page=page, pages=pages, total=total)


async def create(
    repos: Repositories,
    *,
    audience: Audience,
    content: Mapping[str, Any],
    default_locale: str,
    at: datetime | None = None,
    author: PersonView | None = None,
    actor_label: str | None = None,
    now: datetime | None = None,
    group_id: int | None = None,
    project_id: int | None = None,
) -> AnnouncementView:
    """Store an announcement; queue it for its audience now, or leave it scheduled for `at`."""
    if author is not None:
        await require_manager(repos, author)
    validate_content(content)
    group = await audience_group(repos, group_id) if audience is Audience.GROUP else None
    project = await audience_project(repos, project_id) if audience is Audience.PROJECT else None
    now = now or utcnow()
    scheduled = at is not None and at > now
    row = await repos.announcements.add(
        author_id=author.id if author else None,
        author_label=actor_label,
        audience=audience.value,
        group_id=group.id if group is not None else None,
        project_id=project.id if project is not None else None,
        content=dict(content),
        status=(AnnouncementStatus.SCHEDULED if scheduled else AnnouncementStatus.QUEUED).value,
        scheduled_at=at if scheduled else None,
        queued_at=None if scheduled else now,
    )
    queued = 0 if scheduled else await _queue(repos, row, default_locale)
    await repos.audit.record(
        "announcement.scheduled" if scheduled else "announcement.queued",
        actor_id=author.id if author else None,
        actor_label=actor_label,
        subject=batch_of(row.id),
        details={
            "audience": audience.value,
            "group_id": row.group_id,
            "project_id": row.project_id,
            "recipients": queued,
        },
    )
    return _view(row, queued, group, project)


async def _queue(repos: Repositories, row: Announcement, default_locale: str) -> int:
    people = await recipients(repos, Audience(row.audience), default_locale, row.group_id, row.project_id)
    return await tell(repos, batch_of(row.id), people, Notice(NoticeKind.MESSAGE, row.content))


async def queue_due(repos: Repositories, *, default_locale: str, now: datetime | None = None) -> list[int]:
    """The scheduled job: queue every announcement whose time has come; returns the ids it queued."""
    now = now or utcnow()
    queued = []
    for row in await repos.announcements.due(now):
        # Marked queued before any message is written: one a manager stopped meanwhile, or another run of the
        # job took, is left alone.
        if await repos.announcements.mark_queued(row.id, now):
            await _queue(repos, row, default_locale)
            queued.append(row.id)
    return queued


async def cancel(
    repos: Repositories, announcement_id: int, *, author: PersonView | None = None, actor_label: str | None = None
) -> int:
    """Stop an announcement: a scheduled one never goes, a running one stops; returns messages withdrawn.

    Two managers pressing Stop at once: the first stops it, the second is refused with "already_cancelled".
    """
    if author is not None:
        await require_manager(repos, author)
    row = await repos.announcements.get(announcement_id)
    if row is None:
        raise AnnouncementError(AnnouncementRefusal.NOT_FOUND)
    if row.status == AnnouncementStatus.CANCELLED.value or not await repos.announcements.mark_cancelled(
        row.id, utcnow()
    ):
        raise AnnouncementError(AnnouncementRefusal.ALREADY_CANCELLED)
    withdrawn = await repos.outbox.cancel_pending(batch_of(row.id))
    await repos.audit.record(
        "announcement.cancelled",
        actor_id=author.id if author else None,
        actor_label=actor_label,
        subject=batch_of(row.id),
        details={"withdrawn": withdrawn},
    )
    return withdrawn


async def scheduled_one(repos: Repositories, announcement_id: int, viewer: PersonView) -> AnnouncementView:
    """A scheduled announcement a manager means to cancel (the role and the announcement read afresh)."""
    await require_manager(repos, viewer)
    row = await repos.announcements.get(announcement_id)
    if row is None:
        raise AnnouncementError(AnnouncementRefusal.NOT_FOUND)
    if row.status == AnnouncementStatus.CANCELLED.value:
        raise AnnouncementError(AnnouncementRefusal.ALREADY_CANCELLED)
    if row.status != AnnouncementStatus.SCHEDULED.value:
        raise AnnouncementError(AnnouncementRefusal.NOT_SCHEDULED)
    group = await repos.groups.by_ids({row.group_id}) if row.group_id is not None else {}
    project = await repos.projects.get(row.project_id) if row.project_id is not None else None
    return _view(row, group=group.get(row.group_id or 0), project=project)


async def report(repos: Repositories, announcement_id: int) -> BatchReport:
    return await batch_report(repos, batch_of(announcement_id))


async def scheduled(repos: Repositories) -> list[AnnouncementView]:
    rows = await repos.announcements.scheduled()
    groups = await repos.groups.by_ids({row.group_id for row in rows if row.group_id is not None})
    views = []
    for row in rows:
        project = await repos.projects.get(row.project_id) if row.project_id is not None else None
        views.append(_view(row, group=groups.get(row.group_id or 0), project=project))
    return views


async def audience_size(
    repos: Repositories,
    audience: Audience,
    default_locale: str,
    group_id: int | None = None,
    project_id: int | None = None,
) -> dict[str, int]:
    """How many people of each language the announcement would reach now."""
    sizes = dict.fromkeys(SUPPORTED_LOCALES, 0)
    for one in await recipients(repos, audience, default_locale, group_id, project_id):
        sizes[one.locale] = sizes.get(one.locale, 0) + 1
    return sizes


class UnreachedReason(enum.StrEnum):
    """Why a person did not get an announcement, in plain words for the manager."""

    BLOCKED = "blocked"
    # Telegram's "user is deactivated": the account was deleted.
    DELETED = "deleted"
    # "chat not found": the person never started the bot (or their account is gone).
    NOT_STARTED = "not_started"
    # Telegram kept refusing or failing, however many times it was tried.
    FAILED = "failed"


def unreached_reason(status: str, error: str | None) -> UnreachedReason:
    """The outbox's status and Telegram's words, as a reason."""
    if status == OutboxStatus.BLOCKED.value:
        return UnreachedReason.DELETED if "deactivated" in (error or "").lower() else UnreachedReason.BLOCKED
    if status == OutboxStatus.INVALID.value:
        return UnreachedReason.NOT_STARTED
    return UnreachedReason.FAILED


@dataclass(frozen=True)
class Unreached:
    # As stored: empty for a person who was forgotten (privacy), their chat id if no person is known.
    name: str
    status: str
    reason: UnreachedReason = UnreachedReason.FAILED


async def unreached(repos: Repositories, announcement_id: int, viewer: PersonView) -> list[Unreached]:
    """Who the announcement did not reach and why, for a manager."""
    await require_manager(repos, viewer)
    report = await batch_report(repos, batch_of(announcement_id), limit=200)
    names = await repos.people.names([p.person_id for p in report.undelivered if p.person_id is not None])
    return [
        Unreached(
            names.get(problem.person_id or 0, str(problem.chat_id)),
            problem.status,
            unreached_reason(problem.status, problem.error),
        )
        for problem in report.undelivered
    ]
