"""Data rights (issue 12): what the bot keeps about a person, as a download; "Forget me"; the retention purge.

Forgetting anonymises the person's row in place rather than deleting it: the organisation's commitments, the
confidentiality acceptances and the audit trail keep pointing at it (their `author_id`, `person_id`, `actor_id`)
and show it as "a former representative", worded at display time in the reader's language (the row's name is
stored empty, its status is `forgotten`). Its Telegram id becomes a negative placeholder (`-id`, no Telegram user
has one), so writing to the bot again makes a new guest. Deleted: alert profiles and alerts, join requests, group
memberships (left as the groups' own rule leaves them, a group falling below three organisations is flagged),
unsent outbox rows. Kept without what identified them: delivered outbox rows (their batch's counts), service
requests (the organisation's, the team's handling; the person's note erased).
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bot.services import groups, members
from bot.services.members import PersonView
from bot.services.refusals import Refused
from storage.models import PersonStatus, Role, utcnow
from storage.privacy import PrivacyRepository
from storage.repositories import Repositories

# The export's format, for whoever reads the file later.
EXPORT_VERSION = 1
PURGE_BATCH = 1000


class PrivacyRefusal(enum.StrEnum):
    NOT_FOUND = "not_found"
    ALREADY_FORGOTTEN = "already_forgotten"
    LAST_MANAGER = "last_manager"
    NOT_CONFIRMED = "not_confirmed"
    # A manager acting on a request about themselves: /privacy is theirs.
    SELF = "self"


class PrivacyError(Refused):
    reason: PrivacyRefusal


@dataclass(frozen=True)
class Forgotten:
    person_id: int
    removed: dict[str, int]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


async def export(repos: Repositories, person_id: int) -> dict[str, Any]:
    """Everything the bot keeps about the person, as plain data (nobody else's)."""
    store = PrivacyRepository(repos.session)
    found = await store.person(person_id)
    if found is None or found[0].status == PersonStatus.FORGOTTEN.value:
        raise PrivacyError(PrivacyRefusal.NOT_FOUND)
    person, organisation = found
    data: dict[str, Any] = {
        "format": f"clusterbot personal data, version {EXPORT_VERSION}",
        "exported_at": utcnow(),
        "profile": {
            "telegram_id": person.telegram_id,
            "first_name": person.first_name,
            "last_name": person.last_name,
            "username": person.username,
            "language": person.language,
            "telegram_language": person.telegram_language,
            "role": person.role,
            "organisation": organisation.name if organisation else None,
            "organisation_cui": organisation.cui if organisation else None,
            "position": person.position,
            "created_at": person.created_at,
        },
        "join_requests": await store.join_requests(person_id),
        "service_requests": await store.service_requests(person_id),
        "group_memberships": await store.group_memberships(person_id),
        "confidentiality_acceptances": await store.acceptances(person_id),
        "commitments_authored": await store.commitments(person_id),
        "alert_profiles": await store.alert_profiles(person_id),
        "tender_alerts": await store.tender_alerts(person_id),
        "questions": await store.questions(person_id),
    }
    return _plain(data)  # type: ignore[no-any-return]


def export_json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")


def export_filename(person_id: int) -> str:
    return f"my-data-{person_id}.json"


async def ensure_can_forget(repos: Repositories, person_id: int) -> None:
    """A manager who is the cluster's last one stays: someone must decide requests. Raises PrivacyError."""
    found = await PrivacyRepository(repos.session).person(person_id)
    if found is None:
        raise PrivacyError(PrivacyRefusal.NOT_FOUND)
    person = found[0]
    if person.status == PersonStatus.FORGOTTEN.value:
        raise PrivacyError(PrivacyRefusal.ALREADY_FORGOTTEN)
    if Role(person.role).at_least(Role.MANAGER) and not await PrivacyRepository(repos.session).other_managers(
        person_id
    ):
        raise PrivacyError(PrivacyRefusal.LAST_MANAGER)


async def forget(
    repos: Repositories,
    person_id: int,
    *,
    default_locale: str,
    actor_id: int | None = None,
    actor_label: str | None = None,
) -> Forgotten:
    """Forget the person (see the module's docstring); audited without personal data. Twice: refused."""
    await ensure_can_forget(repos, person_id)
    store = PrivacyRepository(repos.session)
    found = await store.person(person_id)
    assert found is not None
    person, organisation = found
    view = members.person_view(person, organisation)
    left = 0
    for group_id in await store.membership_group_ids(person_id):
        try:
            await groups.leave(repos, view, group_id, default_locale)
            left += 1
        except Refused:
            pass  # a dissolved group, say: the membership goes below with the rest
    removed = await store.erase(person_id, now=utcnow())
    if removed is None:
        raise PrivacyError(PrivacyRefusal.ALREADY_FORGOTTEN)
    removed["groups_left"] = left
    await repos.audit.record(
        "person.forgotten",
        # Forgetting oneself: the actor is the (now anonymous) row itself.
        actor_id=actor_id,
        actor_label=actor_label,
        subject=f"person:{person_id}",
        details={"removed": removed},
    )
    return Forgotten(person_id, removed)


async def record_export(
    repos: Repositories, person_id: int, *, actor_id: int | None = None, actor_label: str | None = None
) -> None:
    await repos.audit.record(
        "person.exported", actor_id=actor_id, actor_label=actor_label, subject=f"person:{person_id}"
    )


# --- a manager, on a person's request -------------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    """The person a manager acts for: what the manager's screen names, and where the person is told."""

    id: int
    telegram_id: int
    name: str
    organisation: str | None
    locale: str | None


async def subject_for(repos: Repositories, manager: PersonView, person_id: int) -> Subject:
    """The person whose data a manager is asked about: the manager's role read afresh (`MembershipError`), the
    person one the bot still knows and not the manager themselves (`PrivacyError`)."""
    await members.require_manager(repos, manager)
    if person_id == manager.id:
        raise PrivacyError(PrivacyRefusal.SELF)
    found = await PrivacyRepository(repos.session).person(person_id)
    if found is None:
        raise PrivacyError(PrivacyRefusal.NOT_FOUND)
    person, organisation = found
    if person.status == PersonStatus.FORGOTTEN.value:
        raise PrivacyError(PrivacyRefusal.ALREADY_FORGOTTEN)
    return Subject(
        id=person.id,
        telegram_id=person.telegram_id,
        name=person.full_name,
        organisation=organisation.name if organisation else None,
        locale=person.language or person.telegram_language,
    )


async def export_for(repos: Repositories, manager: PersonView, person_id: int) -> tuple[Subject, dict[str, Any]]:
    """A person's data for the manager who was asked for it (to pass on to them); audited with the manager as
    the actor."""
    subject = await subject_for(repos, manager, person_id)
    data = await export(repos, person_id)
    await record_export(repos, person_id, actor_id=manager.id)
    return subject, data


async def check_forget_for(repos: Repositories, manager: PersonView, person_id: int) -> Subject:
    """Whether the manager may forget the person now (each confirmation checks again): the manager's role, the
    person known, and not the cluster's last manager."""
    subject = await subject_for(repos, manager, person_id)
    await ensure_can_forget(repos, person_id)
    return subject


async def forget_for(
    repos: Repositories, manager: PersonView, person_id: int, *, default_locale: str
) -> tuple[Subject, Forgotten]:
    """Forget a person on their request, by a manager: as `forget`, audited with the manager as the actor."""
    subject = await check_forget_for(repos, manager, person_id)
    return subject, await forget(repos, person_id, default_locale=default_locale, actor_id=manager.id)


def retention_cutoff(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)


async def purge_step(repos: Repositories, *, before: datetime, limit: int = PURGE_BATCH) -> tuple[int, int]:
    """One batch of the retention purge: (outbox rows, tender alerts) deleted."""
    store = PrivacyRepository(repos.session)
    return await store.purge_outbox(before, limit), await store.purge_alerts(before, limit)
