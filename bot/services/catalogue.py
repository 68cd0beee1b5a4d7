"""The services catalogue: categories and services in two languages, search, its file loaded and exported (the
file's format is `bot.services.catalogue_file`), members' requests."""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any, Generic, TypeVar

from bot.notices import Notice, NoticeKind, recipient, recipients, tell, tell_copies
from bot.outbox import Recipient
from bot.services.catalogue_file import (
    DESCRIPTION_MAX,
    KEY_MAX,
    TITLE_MAX,
    CategoryEntry,
    ServiceEntry,
    ServiceTexts,
    load_catalogue_file,
    parse_catalogue,
    tidy_description,
    tidy_title,
    write_catalogue,
)
from bot.services.members import MembershipError, PersonView, require_manager
from bot.services.refusals import Refused
from bot.text import common_start, fold, matches, query_forms, search_text, words
from storage.models import Organisation, Person, Role, Service, ServiceCategory, ServiceRequest, ServiceRequestStatus
from storage.repositories import Repositories

SEED_FILE = Path(__file__).resolve().parent.parent / "data" / "catalogue.yaml"
NOTE_MAX = 1000
REASON_MAX = 1000
SEARCH_WORDS_MAX = 10
PAGE_SIZE = 8
PROFILE_REQUESTS = 10
UNFINISHED_LISTED = 20

T = TypeVar("T")
Ordered = TypeVar("Ordered", Service, ServiceCategory)


class Refusal(enum.StrEnum):
    NOT_ALLOWED = "not_allowed"
    MEMBERS_ONLY = "members_only"
    SERVICE_NOT_FOUND = "service_not_found"
    CATEGORY_NOT_FOUND = "category_not_found"
    REQUEST_NOT_FOUND = "request_not_found"
    REQUEST_HANDLED = "request_handled"
    TEXT_EMPTY = "text_empty"
    TEXT_TOO_LONG = "text_too_long"
    AT_THE_EDGE = "at_the_edge"


class CatalogueError(Refused):
    """A catalogue rule refused the action (`Refusal`)."""

    reason: Refusal


# --- views ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CategoryView:
    id: int
    key: str
    title_ro: str
    title_en: str
    hidden: bool
    # Services a member would see in it (for managers: all of them).
    services: int = 0

    def title(self, locale: str) -> str:
        return self.title_ro if locale == "ro" else self.title_en


@dataclass(frozen=True)
class ServiceView:
    id: int
    key: str
    category_id: int
    category_title_ro: str
    category_title_en: str
    title_ro: str
    title_en: str
    description_ro: str
    description_en: str
    hidden: bool
    category_hidden: bool
    # What its button shows (the catalogue file's short titles); None: the title, cut at a word.
    short_title_ro: str | None = None
    short_title_en: str | None = None

    def title(self, locale: str) -> str:
        return self.title_ro if locale == "ro" else self.title_en

    def short_title(self, locale: str) -> str:
        """The title for a button: the short one when there is one."""
        short = self.short_title_ro if locale == "ro" else self.short_title_en
        return short or self.title(locale)

    def description(self, locale: str) -> str:
        return self.description_ro if locale == "ro" else self.description_en

    def category_title(self, locale: str) -> str:
        return self.category_title_ro if locale == "ro" else self.category_title_en

    @property
    def shown(self) -> bool:
        """Whether members and guests see it."""
        return not self.hidden and not self.category_hidden


@dataclass(frozen=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    # From 0; always a page that exists (the last one when asked for one beyond it).
    number: int
    pages: int
    total: int


@dataclass(frozen=True)
class ServiceRequestView:
    id: int
    service_id: int
    service_title_ro: str
    service_title_en: str
    person_id: int
    person_name: str
    person_username: str | None
    organisation_name: str | None
    note: str
    status: ServiceRequestStatus
    handled_by_name: str | None
    decline_reason: str | None
    created_at: datetime
    # Their Telegram id: the card links their name to their profile (None in notices queued before it was kept).
    person_telegram_id: int | None = None

    def service_title(self, locale: str) -> str:
        return self.service_title_ro if locale == "ro" else self.service_title_en

    def params(self) -> dict[str, Any]:
        """The request as a notice carries it: plain data (`from_params` reads it back)."""
        values = {name: getattr(self, name) for name in self.__dataclass_fields__}
        values["status"] = self.status.value
        values["created_at"] = self.created_at.isoformat()
        return values

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ServiceRequestView:
        values: dict[str, Any] = {name: params.get(name) for name in cls.__dataclass_fields__}
        values["status"] = ServiceRequestStatus(params["status"])
        values["created_at"] = datetime.fromisoformat(params["created_at"])
        return cls(**values)


@dataclass(frozen=True)
class RequestCreated:
    request: ServiceRequestView
    managers: list[Recipient]


@dataclass(frozen=True)
class RequestChanged:
    request: ServiceRequestView
    member: Recipient


class RequestAction(enum.StrEnum):
    TAKE = "take"
    DONE = "done"
    DECLINE = "decline"


# What each action makes of a request, and from which states: the first manager to act wins.
_TRANSITIONS: dict[RequestAction, tuple[ServiceRequestStatus, frozenset[ServiceRequestStatus]]] = {
    RequestAction.TAKE: (ServiceRequestStatus.TAKEN, frozenset({ServiceRequestStatus.OPEN})),
    RequestAction.DONE: (
        ServiceRequestStatus.DONE,
        frozenset({ServiceRequestStatus.OPEN, ServiceRequestStatus.TAKEN}),
    ),
    RequestAction.DECLINE: (
        ServiceRequestStatus.DECLINED,
        frozenset({ServiceRequestStatus.OPEN, ServiceRequestStatus.TAKEN}),
    ),
}


def actions_for(status: ServiceRequestStatus) -> list[RequestAction]:
    """What a manager can still do with a request in this state."""
    return [action for action, (_target, allowed) in _TRANSITIONS.items() if status in allowed]


def _category_view(row: ServiceCategory, services: int = 0) -> CategoryView:
    return CategoryView(row.id, row.key, row.title_ro, row.title_en, row.hidden, services)


def _service_view(row: Service, category: ServiceCategory) -> ServiceView:
    return ServiceView(
        id=row.id,
        key=row.key,
        category_id=category.id,
        category_title_ro=category.title_ro,
        category_title_en=category.title_en,
        title_ro=row.title_ro,
        title_en=row.title_en,
        description_ro=row.description_ro,
        description_en=row.description_en,
        hidden=row.hidden,
        category_hidden=category.hidden,
        short_title_ro=row.short_title_ro,
        short_title_en=row.short_title_en,
    )


def _request_view(
    request: ServiceRequest,
    service: Service,
    person: Person,
    organisation: Organisation | None,
    handled_by: str | None,
) -> ServiceRequestView:
    return ServiceRequestView(
        id=request.id,
        service_id=service.id,
        service_title_ro=service.title_ro,
        service_title_en=service.title_en,
        person_id=person.id,
        person_name=person.full_name,
        person_username=person.username,
        organisation_name=organisation.name if organisation else None,
        note=request.note,
        status=ServiceRequestStatus(request.status),
        handled_by_name=handled_by,
        decline_reason=request.decline_reason,
        created_at=request.created_at,
        person_telegram_id=person.telegram_id,
    )


def _page_bounds(total: int, page: int, size: int = PAGE_SIZE) -> tuple[int, int]:
    """(page number, page count) with the number brought within the pages that exist."""
    pages = max(1, math.ceil(total / size))
    return min(max(page, 0), pages - 1), pages


# --- texts ---------------------------------------------------------------------------------------------------------


def clean_title(raw: str | None) -> str:
    """A title on one line, spaces tidied; refused when empty or longer than TITLE_MAX."""
    return _within(tidy_title(raw), TITLE_MAX)


def clean_description(raw: str | None) -> str:
    """A description keeps its lines; spaces at their ends and blank lines around it go."""
    return _within(tidy_description(raw), DESCRIPTION_MAX)


def clean_note(raw: str | None, limit: int = NOTE_MAX) -> str:
    return _within((raw or "").strip(), limit)


def _within(text: str, limit: int) -> str:
    if not text:
        raise CatalogueError(Refusal.TEXT_EMPTY)
    if len(text) > limit:
        raise CatalogueError(Refusal.TEXT_TOO_LONG, limit=limit, length=len(text))
    return text


def search_words(text: str) -> list[str]:
    """The words of a search as typed, in lower case; a word typed twice, in any spelling, counts once."""
    kept: dict[str, str] = {}
    for word in words(text.lower()):
        kept.setdefault(fold(word), word)
    return list(kept.values())[:SEARCH_WORDS_MAX]


def slug(text: str) -> str:
    """A key made from a title: "Funding & EU projects" -> "funding-eu-projects"."""
    return "-".join(re.findall(r"[a-z0-9]+", fold(text)))[: KEY_MAX - 8].strip("-") or "entry"


async def _free_key(repos: Repositories, model: type[Service] | type[ServiceCategory], title: str) -> str:
    base = slug(title)
    taken = await repos.catalogue.keys_in_use(model, base)
    if base not in taken:
        return base
    number = 2
    while f"{base}-{number}" in taken:
        number += 1
    return f"{base}-{number}"


# --- who may do what -------------------------------------------------------------------------------------------


async def check_manager(repos: Repositories, actor: PersonView) -> None:
    """The actor's role as the database has it now; CatalogueError(NOT_ALLOWED) when not a manager."""
    try:
        await require_manager(repos, actor)
    except MembershipError:
        raise CatalogueError(Refusal.NOT_ALLOWED) from None


async def _sees_hidden(repos: Repositories, viewer: PersonView | None) -> bool:
    """Managers see hidden entries, to bring them back; the role is read afresh, never from a remembered view."""
    if viewer is None or not viewer.is_manager:
        return False
    row = await repos.people.get(viewer.id)
    return row is not None and Role(row.role).at_least(Role.MANAGER)


# --- browsing and search ---------------------------------------------------------------------------------------


async def categories(repos: Repositories, viewer: PersonView | None, page: int = 0) -> Page[CategoryView]:
    hidden_too = await _sees_hidden(repos, viewer)
    total = await repos.catalogue.count_categories(include_hidden=hidden_too)
    number, pages = _page_bounds(total, page)
    rows = await repos.catalogue.categories_page(include_hidden=hidden_too, offset=number * PAGE_SIZE, limit=PAGE_SIZE)
    return Page(tuple(_category_view(row, count) for row, count in rows), number, pages, total)


async def category(
    repos: Repositories, viewer: PersonView | None, category_id: int, page: int = 0
) -> tuple[CategoryView, Page[ServiceView]]:
    """A category and one page of its services; hidden ones are unknown to members and guests."""
    hidden_too = await _sees_hidden(repos, viewer)
    row = await repos.catalogue.category(category_id)
    if row is None or (row.hidden and not hidden_too):
        raise CatalogueError(Refusal.CATEGORY_NOT_FOUND)
    total = await repos.catalogue.count_services(row.id, include_hidden=hidden_too)
    number, pages = _page_bounds(total, page)
    services = await repos.catalogue.services_page(
        row.id, include_hidden=hidden_too, offset=number * PAGE_SIZE, limit=PAGE_SIZE
    )
    return (
        _category_view(row, total),
        Page(tuple(_service_view(service, row) for service in services), number, pages, total),
    )


async def search(repos: Repositories, viewer: PersonView | None, text: str, page: int = 0) -> Page[ServiceView]:
    """Services that have every word of `text`, in either language, any diacritics, in any of its forms.

    A word is found where its Romanian or English stem, or its start (`bot.text.query_forms`), begins a word
    of the service's text or one of that word's stems: "licitației" finds "licitațiile", "laboratory" finds
    "laboratories". Rows saved before stems were kept still match as before, by the start of a word.
    """
    wanted = [query_forms(word) for word in search_words(text)]
    if not wanted:
        return Page((), 0, 1, 0)
    hidden_too = await _sees_hidden(repos, viewer)
    # The database narrows by what each word's forms share; which form matches is decided here, so a result
    # page is cut from the whole list (a catalogue has tens of services, not thousands).
    shared = [common_start(forms) for forms in wanted]
    candidates = await repos.catalogue.count_found(shared, include_hidden=hidden_too)
    rows = await repos.catalogue.search(shared, include_hidden=hidden_too, offset=0, limit=candidates)
    hits = [(found, row) for found, row in rows if all(matches(forms, found.search_text) for forms in wanted)]
    number, pages = _page_bounds(len(hits), page)
    shown = hits[number * PAGE_SIZE : (number + 1) * PAGE_SIZE]
    return Page(tuple(_service_view(found, row) for found, row in shown), number, pages, len(hits))


async def service(repos: Repositories, viewer: PersonView | None, service_id: int) -> ServiceView:
    found = await repos.catalogue.service(service_id)
    if found is None:
        raise CatalogueError(Refusal.SERVICE_NOT_FOUND)
    view = _service_view(*found)
    if not view.shown and not await _sees_hidden(repos, viewer):
        raise CatalogueError(Refusal.SERVICE_NOT_FOUND)
    return view


# --- managers' edits ----------------------------------------------------------------------------------------------


def _cleaned(texts: ServiceTexts) -> ServiceTexts:
    return ServiceTexts(
        clean_title(texts.title_ro),
        clean_title(texts.title_en),
        clean_description(texts.description_ro),
        clean_description(texts.description_en),
        clean_title(texts.short_title_ro) if texts.short_title_ro else None,
        clean_title(texts.short_title_en) if texts.short_title_en else None,
    )


def _service_fields(texts: ServiceTexts) -> dict[str, Any]:
    return {
        "title_ro": texts.title_ro,
        "title_en": texts.title_en,
        "description_ro": texts.description_ro,
        "description_en": texts.description_en,
        "short_title_ro": texts.short_title_ro,
        "short_title_en": texts.short_title_en,
        "search_text": search_text(texts.title_ro, texts.title_en, texts.description_ro, texts.description_en),
    }


def _change(row: Service | ServiceCategory, wanted: Mapping[str, Any]) -> list[str]:
    """Set what differs; the names of the fields that changed."""
    changed = []
    for name, value in wanted.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed.append(name)
    return changed


async def _service_row(repos: Repositories, service_id: int) -> tuple[Service, ServiceCategory]:
    found = await repos.catalogue.service(service_id)
    if found is None:
        raise CatalogueError(Refusal.SERVICE_NOT_FOUND)
    return found


async def _category_row(repos: Repositories, category_id: int) -> ServiceCategory:
    row = await repos.catalogue.category(category_id)
    if row is None:
        raise CatalogueError(Refusal.CATEGORY_NOT_FOUND)
    return row


async def add_service(repos: Repositories, actor: PersonView, category_id: int, texts: ServiceTexts) -> ServiceView:
    await check_manager(repos, actor)
    texts = _cleaned(texts)
    category_row = await _category_row(repos, category_id)
    row = await repos.catalogue.add_service(
        key=await _free_key(repos, Service, texts.title_en),
        category_id=category_row.id,
        position=await repos.catalogue.last_position(category_row.id) + 1,
        hidden=False,
        **_service_fields(texts),
    )
    await repos.audit.record(
        "catalogue.service_added", actor_id=actor.id, subject=f"service:{row.id}", details={"key": row.key}
    )
    return _service_view(row, category_row)


async def edit_service(repos: Repositories, actor: PersonView, service_id: int, texts: ServiceTexts) -> ServiceView:
    await check_manager(repos, actor)
    texts = _cleaned(texts)
    row, category_row = await _service_row(repos, service_id)
    # The chat's form edits titles and descriptions; a short title stays while its title does (it names the
    # same thing), and goes with it (a button then cuts the new title at a word).
    texts = replace(
        texts,
        short_title_ro=texts.short_title_ro or (row.short_title_ro if texts.title_ro == row.title_ro else None),
        short_title_en=texts.short_title_en or (row.short_title_en if texts.title_en == row.title_en else None),
    )
    changed = _change(row, _service_fields(texts))
    if changed:
        await repos.audit.record(
            "catalogue.service_edited", actor_id=actor.id, subject=f"service:{row.id}", details={"fields": changed}
        )
    return _service_view(row, category_row)


async def add_category(repos: Repositories, actor: PersonView, title_ro: str, title_en: str) -> CategoryView:
    await check_manager(repos, actor)
    title_ro, title_en = clean_title(title_ro), clean_title(title_en)
    row = await repos.catalogue.add_category(
        key=await _free_key(repos, ServiceCategory, title_en),
        title_ro=title_ro,
        title_en=title_en,
        position=await repos.catalogue.last_position() + 1,
        hidden=False,
    )
    await repos.audit.record(
        "catalogue.category_added", actor_id=actor.id, subject=f"service_category:{row.id}", details={"key": row.key}
    )
    return _category_view(row)


async def edit_category(
    repos: Repositories, actor: PersonView, category_id: int, title_ro: str, title_en: str
) -> CategoryView:
    await check_manager(repos, actor)
    wanted = {"title_ro": clean_title(title_ro), "title_en": clean_title(title_en)}
    row = await _category_row(repos, category_id)
    changed = _change(row, wanted)
    if changed:
        # Search reads category titles nowhere, so the services' search text stays as it is.
        await repos.audit.record(
            "catalogue.category_edited",
            actor_id=actor.id,
            subject=f"service_category:{row.id}",
            details={"fields": changed},
        )
    return _category_view(row)


async def set_service_hidden(repos: Repositories, actor: PersonView, service_id: int, hidden: bool) -> ServiceView:
    await check_manager(repos, actor)
    row, category_row = await _service_row(repos, service_id)
    if _change(row, {"hidden": hidden}):
        await repos.audit.record(
            "catalogue.service_hidden" if hidden else "catalogue.service_shown",
            actor_id=actor.id,
            subject=f"service:{row.id}",
        )
    return _service_view(row, category_row)


async def set_category_hidden(repos: Repositories, actor: PersonView, category_id: int, hidden: bool) -> CategoryView:
    await check_manager(repos, actor)
    row = await _category_row(repos, category_id)
    if _change(row, {"hidden": hidden}):
        await repos.audit.record(
            "catalogue.category_hidden" if hidden else "catalogue.category_shown",
            actor_id=actor.id,
            subject=f"service_category:{row.id}",
        )
    return _category_view(row)


def _reorder(rows: Sequence[Ordered], moved: int, step: int) -> None:
    """Move the row with id `moved` by `step` places and number them all 1, 2, 3... (raises at the ends)."""
    ordered = list(rows)
    index = next(i for i, row in enumerate(ordered) if row.id == moved)
    target = index + step
    if not 0 <= target < len(ordered):
        raise CatalogueError(Refusal.AT_THE_EDGE)
    ordered.insert(target, ordered.pop(index))
    for position, row in enumerate(ordered, 1):
        if row.position != position:
            row.position = position


async def move_service(repos: Repositories, actor: PersonView, service_id: int, step: int) -> ServiceView:
    """One place up (step -1) or down (+1) among its category's services, hidden ones included."""
    await check_manager(repos, actor)
    row, category_row = await _service_row(repos, service_id)
    _reorder(await repos.catalogue.services_of(category_row.id), row.id, step)
    await repos.audit.record(
        "catalogue.service_moved", actor_id=actor.id, subject=f"service:{row.id}", details={"step": step}
    )
    return _service_view(row, category_row)


async def move_category(repos: Repositories, actor: PersonView, category_id: int, step: int) -> CategoryView:
    await check_manager(repos, actor)
    row = await _category_row(repos, category_id)
    _reorder(await repos.catalogue.all_categories(), row.id, step)
    await repos.audit.record(
        "catalogue.category_moved", actor_id=actor.id, subject=f"service_category:{row.id}", details={"step": step}
    )
    return _category_view(row)


# --- the catalogue file: seed, import, export (its format: bot.services.catalogue_file) -----------------------------


@dataclass
class Counts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    # No longer in the file: hidden, never deleted (members' requests point at them).
    hidden: int = 0

    def __str__(self) -> str:
        return f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, {self.hidden} hidden"


@dataclass
class CatalogueReport:
    categories: Counts = field(default_factory=Counts)
    services: Counts = field(default_factory=Counts)

    @property
    def changed(self) -> bool:
        return any(
            (counts.added, counts.updated, counts.hidden) != (0, 0, 0) for counts in (self.categories, self.services)
        )


async def apply_catalogue(
    repos: Repositories,
    entries: Sequence[CategoryEntry],
    *,
    action: str,
    actor_id: int | None = None,
    actor_label: str | None = None,
) -> CatalogueReport:
    """Make the catalogue what the file says: rows matched by key, the file's order as positions.

    What the file no longer has is hidden and put after the rest, never deleted.
    """
    report = CatalogueReport()
    known_categories = {row.key: row for row in await repos.catalogue.all_categories()}
    known_services = {row.key: row for row in await repos.catalogue.all_services()}
    in_file: dict[int, int] = {}
    for position, entry in enumerate(entries, 1):
        wanted: dict[str, Any] = {
            "title_ro": entry.title_ro,
            "title_en": entry.title_en,
            "position": position,
            "hidden": entry.hidden,
        }
        category_row = known_categories.pop(entry.key, None)
        if category_row is None:
            category_row = await repos.catalogue.add_category(key=entry.key, **wanted)
            report.categories.added += 1
        elif _change(category_row, wanted):
            report.categories.updated += 1
        else:
            report.categories.unchanged += 1
        in_file[category_row.id] = len(entry.services)
        for service_position, service_entry in enumerate(entry.services, 1):
            wanted = {
                "category_id": category_row.id,
                "position": service_position,
                "hidden": service_entry.hidden,
                **_service_fields(service_entry.texts),
            }
            service_row = known_services.pop(service_entry.key, None)
            if service_row is None:
                await repos.catalogue.add_service(key=service_entry.key, **wanted)
                report.services.added += 1
            elif _change(service_row, wanted):
                report.services.updated += 1
            else:
                report.services.unchanged += 1
    gone_categories = sorted(known_categories.values(), key=lambda row: (row.position, row.id))
    for position, category_row in enumerate(gone_categories, len(entries) + 1):
        counts = report.categories
        if _change(category_row, {"hidden": True, "position": position}):
            counts.hidden += 1
        else:
            counts.unchanged += 1
    next_position = dict(in_file)
    for service_row in sorted(known_services.values(), key=lambda row: (row.category_id, row.position, row.id)):
        next_position[service_row.category_id] = next_position.get(service_row.category_id, 0) + 1
        if _change(service_row, {"hidden": True, "position": next_position[service_row.category_id]}):
            report.services.hidden += 1
        else:
            report.services.unchanged += 1
    await repos.audit.record(
        action,
        actor_id=actor_id,
        actor_label=actor_label,
        subject="catalogue",
        details={"categories": str(report.categories), "services": str(report.services)},
    )
    return report


async def seed_catalogue(repos: Repositories, *, path: Path = SEED_FILE, actor_label: str = "seed") -> CatalogueReport:
    """Load the packaged catalogue (or `path`); safe to run again after the file changed."""
    return await apply_catalogue(repos, load_catalogue_file(path), action="catalogue.seeded", actor_label=actor_label)


async def ensure_catalogue(
    repos: Repositories, *, path: Path = SEED_FILE, actor_label: str = "system"
) -> CatalogueReport | None:
    """Seed an empty catalogue; one that has content is left as managers made it (None)."""
    if await repos.catalogue.has_categories():
        return None
    return await seed_catalogue(repos, path=path, actor_label=actor_label)


async def import_catalogue(repos: Repositories, text: str, *, actor_label: str = "cli") -> CatalogueReport:
    """A manager's edited export: all of it or nothing (CatalogueFileError before anything is written)."""
    return await apply_catalogue(repos, parse_catalogue(text), action="catalogue.imported", actor_label=actor_label)


async def export_for(repos: Repositories, viewer: PersonView) -> str:
    """The catalogue file for a manager in the chat (the role is read afresh)."""
    await check_manager(repos, viewer)
    return await export_catalogue(repos)


async def import_from_chat(repos: Repositories, viewer: PersonView, text: str) -> CatalogueReport:
    """A manager's edited file sent in the chat: all of it or nothing; the audit log names the manager."""
    await check_manager(repos, viewer)
    return await apply_catalogue(repos, parse_catalogue(text), action="catalogue.imported", actor_id=viewer.id)


async def export_catalogue(repos: Repositories) -> str:
    """The whole catalogue, hidden entries included, in the format `import_catalogue` reads."""
    services_by_category: dict[int, list[ServiceEntry]] = {}
    for row in await repos.catalogue.all_services():
        texts = ServiceTexts(
            row.title_ro, row.title_en, row.description_ro, row.description_en, row.short_title_ro, row.short_title_en
        )
        services_by_category.setdefault(row.category_id, []).append(ServiceEntry(row.key, texts, row.hidden))
    return write_catalogue(
        [
            CategoryEntry(row.key, row.title_ro, row.title_en, row.hidden, tuple(services_by_category.get(row.id, ())))
            for row in await repos.catalogue.all_categories()
        ]
    )


# --- members' requests ------------------------------------------------------------------------------------------


async def check_can_request(repos: Repositories, person: PersonView, service_id: int) -> ServiceView:
    """The service a person may ask for: members only, and only services members see."""
    row = await repos.people.get(person.id)
    if row is None or not Role(row.role).at_least(Role.MEMBER):
        raise CatalogueError(Refusal.MEMBERS_ONLY)
    found = await repos.catalogue.service(service_id)
    if found is None or not _service_view(*found).shown:
        raise CatalogueError(Refusal.SERVICE_NOT_FOUND)
    return _service_view(*found)


async def _detailed(repos: Repositories, request_id: int, *, fresh: bool = False) -> ServiceRequestView:
    found = await repos.service_requests.detailed(request_id, fresh=fresh)
    if found is None:
        raise CatalogueError(Refusal.REQUEST_NOT_FOUND)
    request = found[0]
    names = await repos.people.names([request.handled_by_id] if request.handled_by_id else [])
    return _request_view(*found, names.get(request.handled_by_id or 0))


async def submit_request(
    repos: Repositories, person: PersonView, service_id: int, note: str | None, *, default_locale: str
) -> RequestCreated:
    """A member asks for a service; every manager is told (a `SERVICE_REQUESTED` notice)."""
    service_view = await check_can_request(repos, person, service_id)
    text = clean_note(note)
    row = await repos.people.get(person.id)
    assert row is not None
    request = await repos.service_requests.add(
        service_id=service_view.id,
        person_id=row.id,
        organisation_id=row.organisation_id,
        note=text,
        requester_telegram_id=row.telegram_id,
    )
    await repos.audit.record(
        "service_request.created",
        actor_id=row.id,
        subject=f"service_request:{request.id}",
        details={"service_id": service_view.id},
    )
    managers = recipients(await repos.people.managers(), default_locale)
    view = await _detailed(repos, request.id)
    await tell(repos, batch_of(request.id, "new"), managers, Notice(NoticeKind.SERVICE_REQUESTED, view.params()))
    return RequestCreated(view, managers)


async def check_can_act(
    repos: Repositories, manager: PersonView, request_id: int, action: RequestAction
) -> ServiceRequestView:
    """The request, when this manager may still do `action` with it (the role is read afresh)."""
    await check_manager(repos, manager)
    view = await _detailed(repos, request_id)
    _target, allowed = _TRANSITIONS[action]
    if view.status not in allowed:
        raise CatalogueError(Refusal.REQUEST_HANDLED, status=view.status, by=view.handled_by_name or "", request=view)
    return view


async def act_on_request(
    repos: Repositories,
    manager: PersonView,
    request_id: int,
    action: RequestAction,
    *,
    default_locale: str,
    reason: str | None = None,
    tz: tzinfo = UTC,
) -> RequestChanged:
    """Take, finish or decline a request; the first manager to act wins, the others are refused. The member is
    told, and every manager's copy of the request's card is edited to say who did it and when (`tell_copies`).

    The conditional update in `move` decides, on both engines, before anything else is written.
    """
    await check_can_act(repos, manager, request_id, action)
    target, allowed = _TRANSITIONS[action]
    reason = clean_note(reason, REASON_MAX) if action is RequestAction.DECLINE else None
    if not await repos.service_requests.move(
        request_id, allowed=allowed, status=target, handled_by_id=manager.id, decline_reason=reason
    ):
        # Another manager's update committed between the check and this one: tell who, as it stands now.
        view = await _detailed(repos, request_id, fresh=True)
        raise CatalogueError(Refusal.REQUEST_HANDLED, status=view.status, by=view.handled_by_name or "", request=view)
    await repos.audit.record(
        f"service_request.{target.value}",
        actor_id=manager.id,
        subject=f"service_request:{request_id}",
        details={"reason": reason} if reason else {},
    )
    view = await _detailed(repos, request_id)
    member = await repos.people.get(view.person_id)
    assert member is not None
    told = recipient(member, default_locale)
    notice = Notice(NoticeKind.SERVICE_REQUEST_CHANGED, view.params())
    await tell(repos, batch_of(request_id, target.value), [told], notice)
    card = view.params() | {"changed_at": datetime.now(UTC).astimezone(tz).isoformat()}
    await tell_copies(
        repos,
        batch_of(request_id, f"{target.value}:copies"),
        batch_of(request_id, "new"),
        Notice(NoticeKind.SERVICE_REQUESTED, card),
    )
    return RequestChanged(view, told)


def batch_of(request_id: int, event: str) -> str:
    """The outbox batch of one notice about a request: "service-request:12:taken"."""
    return f"service-request:{request_id}:{event}"


async def requests_of(repos: Repositories, person_id: int, limit: int = PROFILE_REQUESTS) -> list[ServiceRequestView]:
    """A member's latest requests, newest first."""
    rows = await repos.service_requests.of_person(person_id, limit)
    names = await repos.people.names([row[0].handled_by_id for row in rows if row[0].handled_by_id])
    return [_request_view(*row, names.get(row[0].handled_by_id or 0)) for row in rows]


async def unfinished_requests(
    repos: Repositories, viewer: PersonView, limit: int = UNFINISHED_LISTED
) -> tuple[list[ServiceRequestView], int]:
    """Requests still open or in hand, oldest first, and how many there are; for managers."""
    await check_manager(repos, viewer)
    rows = await repos.service_requests.unfinished(limit)
    names = await repos.people.names([row[0].handled_by_id for row in rows if row[0].handled_by_id])
    views = [_request_view(*row, names.get(row[0].handled_by_id or 0)) for row in rows]
    return views, await repos.service_requests.count_unfinished()
