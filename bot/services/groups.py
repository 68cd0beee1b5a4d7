"""Working groups: the seed, joining and leaving, the three-organisation rule, dissolving and transforming."""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

import yaml

from bot.i18n import SUPPORTED_LOCALES
from bot.notices import Notice, NoticeKind, recipients, tell
from bot.services.members import MembershipError, PersonView, Refusal, clean_text, require_manager
from bot.services.refusals import Refused
from storage.models import GroupEventKind, GroupState, Person, Role, WorkingGroup, utcnow
from storage.repositories import Repositories

TITLE_MAX = 120
# A button's title (the seed file's `short_title`): short enough for a button on a phone.
SHORT_TITLE_MAX = 40
CHAT_LINK_MAX = 200
OBJECTIVE_MAX = 2000
TERMS_MAX = 2000
REASON_MAX = 500
LANGUAGES = SUPPORTED_LOCALES
# A proposed group becomes active with this many distinct member organisations; an active one below it is flagged.
ORGANISATIONS_NEEDED = 3
PAGE_SIZE = 8
HISTORY_LIMIT = 6
ACCEPTANCES_SHOWN = 10
# The card names this many member organisations, then says how many more there are.
ORGANISATIONS_SHOWN = 15
_KEY = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_SEED_FIELDS = frozenset({"key", "title", "short_title", "objective", "confidential", "confidentiality_terms"})
# A group's own Telegram chat: an invitation link (t.me/+..., t.me/joinchat/...) or a public one (t.me/name).
_CHAT_LINK = re.compile(
    r"(?:https?://)?(?:www\.)?(?:t|telegram)\.me/(?P<path>\+[A-Za-z0-9_-]{8,64}|joinchat/[A-Za-z0-9_-]{8,64}"
    r"|[A-Za-z][A-Za-z0-9_]{3,31})/?",
    re.IGNORECASE,
)
# t.me paths that are Telegram's own pages, not a chat.
_NOT_CHATS = frozenset({"joinchat", "addstickers", "addemoji", "addtheme", "share", "proxy", "socks", "login", "iv"})
# What the card's history tells: how the group was set up and how its state changed, not who came and went.
HISTORY_KINDS = (
    GroupEventKind.CREATED,
    GroupEventKind.PROPOSED,
    GroupEventKind.ACTIVATED,
    GroupEventKind.FLAGGED,
    GroupEventKind.RECOVERED,
    GroupEventKind.CONFIDENTIAL,
    GroupEventKind.TRANSFORMED,
    GroupEventKind.DISSOLVED,
)


class GroupSeedError(ValueError):
    """The seed file is not what `seed_groups` expects; the message names the entry and the field."""


@dataclass(frozen=True)
class GroupSeed:
    key: str
    title: dict[str, str]
    objective: dict[str, str]
    confidential: bool
    terms: dict[str, str] | None
    # The title buttons show; None when the file gives none (a button then cuts the title at a word).
    short_title: dict[str, str] | None = None


def _seed_texts(entry: dict[str, Any], field: str, where: str, limit: int) -> dict[str, str]:
    value = entry.get(field)
    if not isinstance(value, dict):
        raise GroupSeedError(f"{where}: {field} must map ro and en to texts")
    unknown = set(value) - set(LANGUAGES)
    if unknown:
        raise GroupSeedError(f"{where}: {field} has unknown languages {sorted(map(str, unknown))}")
    texts = {}
    for language in LANGUAGES:
        text = value.get(language)
        if not isinstance(text, str) or not text.strip():
            raise GroupSeedError(f"{where}: {field}.{language} is missing or empty")
        text = " ".join(text.split())
        if len(text) > limit:
            raise GroupSeedError(f"{where}: {field}.{language} is longer than {limit} characters")
        texts[language] = text
    return texts


def parse_seed(text: str) -> list[GroupSeed]:
    """The groups of a seed file's text, checked; raises `GroupSeedError` at the first problem."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise GroupSeedError(f"not valid YAML: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("working_groups"), list):
        raise GroupSeedError("the file must have a working_groups list")
    seeds: list[GroupSeed] = []
    seen: set[str] = set()
    for number, entry in enumerate(document["working_groups"], start=1):
        where = f"working group #{number}"
        if not isinstance(entry, dict):
            raise GroupSeedError(f"{where}: must be a mapping")
        key = entry.get("key")
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise GroupSeedError(f"{where}: key must be 1-64 lower-case letters, digits and dashes")
        where = f"working group {key!r}"
        if key in seen:
            raise GroupSeedError(f"{where}: the key appears twice")
        seen.add(key)
        unknown = set(entry) - _SEED_FIELDS
        if unknown:
            raise GroupSeedError(f"{where}: unknown fields {sorted(map(str, unknown))}")
        confidential = entry.get("confidential", False)
        if not isinstance(confidential, bool):
            raise GroupSeedError(f"{where}: confidential must be true or false")
        if confidential:
            terms: dict[str, str] | None = _seed_texts(entry, "confidentiality_terms", where, TERMS_MAX)
        elif "confidentiality_terms" in entry:
            raise GroupSeedError(f"{where}: confidentiality_terms given but confidential is not true")
        else:
            terms = None
        seeds.append(
            GroupSeed(
                key=key,
                title=_seed_texts(entry, "title", where, TITLE_MAX),
                objective=_seed_texts(entry, "objective", where, OBJECTIVE_MAX),
                confidential=confidential,
                terms=terms,
                short_title=_seed_texts(entry, "short_title", where, SHORT_TITLE_MAX)
                if "short_title" in entry
                else None,
            )
        )
    return seeds


def packaged_seed() -> str:
    return resources.files("bot").joinpath("data/working_groups.yaml").read_text(encoding="utf-8")


async def seed_groups(repos: Repositories, *, actor_label: str = "seed", text: str | None = None) -> int:
    """Load the working groups of the packaged seed file (bot/data/working_groups.yaml), or of the seed text
    given; how many were added or changed. Idempotent: groups are matched by key, texts follow the file, while
    state and membership stay as the members made them."""
    seeds = parse_seed(packaged_seed() if text is None else text)
    existing = await repos.groups.by_keys([seed.key for seed in seeds])
    # A group managers transformed has the objective they gave it, not the file's.
    transformed = await repos.groups.with_events([group.id for group in existing.values()], GroupEventKind.TRANSFORMED)
    now = utcnow()
    changed = 0
    for seed in seeds:
        fields: dict[str, Any] = {
            "title_ro": seed.title["ro"],
            "title_en": seed.title["en"],
            "objective_ro": seed.objective["ro"],
            "objective_en": seed.objective["en"],
            "short_title_ro": seed.short_title["ro"] if seed.short_title else None,
            "short_title_en": seed.short_title["en"] if seed.short_title else None,
        }
        # A file without terms leaves confidentiality alone: a manager may have marked the group in the chat.
        if seed.terms is not None:
            fields.update(confidential=True, terms_ro=seed.terms["ro"], terms_en=seed.terms["en"])
        group = existing.get(seed.key)
        if group is None:
            group = await repos.groups.add(key=seed.key, state=GroupState.PROPOSED.value, created_at=now, **fields)
            await repos.groups.add_event(
                group.id, GroupEventKind.CREATED, actor_id=None, details={"by": actor_label}, at=now
            )
            await repos.audit.record("group.seeded", actor_label=actor_label, subject=f"group:{group.id}")
            changed += 1
            continue
        if group.id in transformed:
            del fields["objective_ro"], fields["objective_en"]
        different = sorted(name for name, value in fields.items() if getattr(group, name) != value)
        if not different:
            continue
        for name in different:
            setattr(group, name, fields[name])
        group.updated_at = now
        await repos.groups.add_event(
            group.id, GroupEventKind.EDITED, actor_id=None, details={"by": actor_label, "fields": different}, at=now
        )
        await repos.audit.record(
            "group.reseeded", actor_label=actor_label, subject=f"group:{group.id}", details={"fields": different}
        )
        changed += 1
    return changed


# --- views ---------------------------------------------------------------------------------------------------


class GroupRefusal(enum.StrEnum):
    NOT_FOUND = "not_found"
    DISSOLVED = "dissolved"
    # A guest: working groups are for member organisations.
    NOT_MEMBER = "not_member"
    # Someone (a manager, typically) who represents no organisation: only organisations count.
    NO_ORGANISATION = "no_organisation"
    ALREADY_IN = "already_in"
    NOT_IN = "not_in"
    TERMS_NOT_ACCEPTED = "terms_not_accepted"
    NOT_CONFIDENTIAL = "not_confidential"
    ALREADY_CONFIDENTIAL = "already_confidential"
    NOTHING_MISSING = "nothing_missing"
    # A chat link that is not a Telegram chat's (https://t.me/+..., https://t.me/joinchat/..., https://t.me/name).
    BAD_CHAT_LINK = "bad_chat_link"
    NO_CHAT_LINK = "no_chat_link"


class GroupError(Refused):
    """A working-group rule refused the action (`GroupRefusal`)."""

    reason: GroupRefusal


class GroupFilter(enum.StrEnum):
    ALL = "all"
    MINE = "mine"
    PROPOSED = "proposed"


@dataclass(frozen=True)
class Texts:
    """One text in each language; a member proposes in one language, so the other may be missing."""

    ro: str | None
    en: str | None

    def get(self, locale: str) -> str | None:
        return self.ro if locale == "ro" else self.en

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(locale for locale in LANGUAGES if not self.get(locale))


@dataclass(frozen=True)
class GroupSummary:
    id: int
    title: Texts
    state: GroupState
    confidential: bool
    mine: bool
    short_title: Texts = Texts(None, None)


@dataclass(frozen=True)
class GroupPage:
    groups: list[GroupSummary]
    filter: GroupFilter
    page: int
    pages: int
    total: int
    # A guest (no member organisation): offered joining the cluster instead of Mine and Propose.
    viewer_guest: bool = False


@dataclass(frozen=True)
class HistoryEntry:
    kind: GroupEventKind
    at: datetime
    reason: str | None
    previous_objective: Texts | None


@dataclass(frozen=True)
class AcceptanceView:
    name: str
    accepted_at: datetime
    locale: str


@dataclass(frozen=True)
class GroupCard:
    id: int
    title: Texts
    objective: Texts
    state: GroupState
    confidential: bool
    terms: Texts
    organisations: int
    people: int
    created_at: datetime
    flagged_at: datetime | None
    history: list[HistoryEntry]
    # What the reader may do: they are in the group, they accepted its terms, the database says they manage.
    viewer_in: bool
    viewer_accepted: bool
    viewer_manages: bool
    # For managers only; empty for everyone else.
    acceptances: list[AcceptanceView]
    acceptances_total: int
    short_title: Texts = Texts(None, None)
    # The member organisations, alphabetically (at most `ORGANISATIONS_SHOWN`; `organisations` counts them all).
    organisation_names: tuple[str, ...] = ()
    # The group's own chat: for the people in it and for managers; None for everyone else or when there is none.
    chat_link: str | None = None
    # A guest (no member organisation): offered joining the cluster instead of joining the group.
    viewer_guest: bool = False
    dissolved_at: datetime | None = None

    @property
    def missing_language(self) -> str | None:
        """The language a manager should still add to the title or objective, if any."""
        missing = self.title.missing + self.objective.missing
        return missing[0] if missing else None


@dataclass(frozen=True)
class GroupNotice:
    """What people are told through the outbox when a group changes; `handlers.notices` words it."""

    kind: GroupEventKind
    group_id: int
    title: Texts
    organisations: int = 0
    reason: str | None = None
    objective: Texts | None = None
    terms: Texts | None = None
    # Who proposed a new group, as managers read it: "Ana Pop (EcoTech SRL)".
    proposer: str | None = None

    def notice(self) -> Notice:
        """As the outbox keeps it: kind "group.<event>" and plain parameters (`from_params` reads them back)."""
        params: dict[str, Any] = {"group_id": self.group_id, "title": _plain(self.title)}
        if self.organisations:
            params["organisations"] = self.organisations
        if self.reason is not None:
            params["reason"] = self.reason
        if self.objective is not None:
            params["objective"] = _plain(self.objective)
        if self.terms is not None:
            params["terms"] = _plain(self.terms)
        if self.proposer is not None:
            params["proposer"] = self.proposer
        return Notice(NoticeKind(f"group.{self.kind.value}"), params)

    @classmethod
    def from_params(cls, kind: NoticeKind, params: Mapping[str, Any]) -> GroupNotice:
        def texts(name: str) -> Texts | None:
            value = params.get(name)
            return _texts(value.get("ro"), value.get("en")) if isinstance(value, Mapping) else None

        return cls(
            kind=GroupEventKind(kind.value.removeprefix("group.")),
            group_id=int(params["group_id"]),
            title=texts("title") or _texts(None, None),
            organisations=int(params.get("organisations", 0)),
            reason=params.get("reason"),
            objective=texts("objective"),
            terms=texts("terms"),
            proposer=params.get("proposer"),
        )


def _plain(texts: Texts) -> dict[str, str | None]:
    return {"ro": texts.ro, "en": texts.en}


@dataclass(frozen=True)
class JoinOutcome:
    card: GroupCard
    joined: bool
    activated: bool


@dataclass(frozen=True)
class LeaveOutcome:
    card: GroupCard
    flagged: bool


def _texts(ro: str | None, en: str | None) -> Texts:
    return Texts(ro=ro or None, en=en or None)


def _title(group: WorkingGroup) -> Texts:
    return _texts(group.title_ro, group.title_en)


def _short_title(group: WorkingGroup) -> Texts:
    return _texts(group.short_title_ro, group.short_title_en)


def _objective(group: WorkingGroup) -> Texts:
    return _texts(group.objective_ro, group.objective_en)


def _history(kind: str, at: datetime, details: Mapping[str, Any]) -> HistoryEntry:
    previous = details.get("previous_objective")
    return HistoryEntry(
        kind=GroupEventKind(kind),
        at=at,
        reason=details.get("reason"),
        previous_objective=_texts(previous.get("ro"), previous.get("en")) if isinstance(previous, dict) else None,
    )


# --- reading -------------------------------------------------------------------------------------------------


async def _person(repos: Repositories, viewer: PersonView) -> Person:
    """The person as the database has them now: the view the update carries may be seconds old."""
    person = await repos.people.get(viewer.id)
    if person is None:
        raise MembershipError(Refusal.PERSON_NOT_FOUND)
    return person


async def _group(repos: Repositories, group_id: int) -> WorkingGroup:
    group = await repos.groups.get(group_id)
    if group is None:
        raise GroupError(GroupRefusal.NOT_FOUND)
    return group


async def _claimed(repos: Repositories, group_id: int) -> WorkingGroup:
    """The group, read after taking its turn (`WorkingGroupRepository.claim`): changes to one group's members
    and managers' changes to it happen one at a time, on SQLite as on PostgreSQL. Refused when dissolved."""
    claimed = await repos.groups.claim(group_id)
    group = await repos.groups.get(group_id, fresh=True)
    if group is None:
        raise GroupError(GroupRefusal.NOT_FOUND)
    if not claimed:
        raise GroupError(GroupRefusal.DISSOLVED)
    return group


async def _card(repos: Repositories, group: WorkingGroup, person: Person) -> GroupCard:
    organisations, people = await repos.groups.counts(group.id)
    events = await repos.groups.events(group.id, HISTORY_KINDS, HISTORY_LIMIT)
    manages = Role(person.role).at_least(Role.MANAGER)
    acceptances: list[AcceptanceView] = []
    total = 0
    if manages and group.confidential:
        rows, total = await repos.groups.acceptances(group.id, ACCEPTANCES_SHOWN)
        acceptances = [AcceptanceView(name, row.accepted_at, row.locale) for row, name in rows]
    history = [_history(event.kind, event.created_at, event.details) for event in events]
    viewer_in = await repos.groups.membership(group.id, person.id) is not None
    names = await repos.groups.organisation_names(group.id, ORGANISATIONS_SHOWN) if organisations else []
    return GroupCard(
        id=group.id,
        title=_title(group),
        objective=_objective(group),
        state=GroupState(group.state),
        confidential=group.confidential,
        terms=_texts(group.terms_ro, group.terms_en),
        organisations=organisations,
        people=people,
        created_at=group.created_at,
        flagged_at=group.flagged_at,
        history=history,
        viewer_in=viewer_in,
        viewer_accepted=group.confidential and await repos.groups.acceptance(group.id, person.id) is not None,
        viewer_manages=manages,
        acceptances=acceptances,
        acceptances_total=total,
        short_title=_short_title(group),
        organisation_names=tuple(names),
        chat_link=group.chat_link if viewer_in or manages else None,
        viewer_guest=not Role(person.role).at_least(Role.MEMBER),
        dissolved_at=next((entry.at for entry in history if entry.kind is GroupEventKind.DISSOLVED), None)
        if group.state == GroupState.DISSOLVED.value
        else None,
    )


async def list_groups(repos: Repositories, viewer: PersonView, group_filter: GroupFilter, page: int) -> GroupPage:
    """One page of groups; anyone may look. A page past the end shows the last one."""
    states = [GroupState.PROPOSED.value] if group_filter is GroupFilter.PROPOSED else None
    member_id = viewer.id if group_filter is GroupFilter.MINE else None
    total = await repos.groups.count(states=states, member_id=member_id)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    rows = await repos.groups.page(states=states, member_id=member_id, offset=page * PAGE_SIZE, limit=PAGE_SIZE)
    mine = await repos.groups.group_ids_of(viewer.id, [row.id for row in rows])
    return GroupPage(
        groups=[
            GroupSummary(
                row.id, _title(row), GroupState(row.state), row.confidential, row.id in mine, _short_title(row)
            )
            for row in rows
        ],
        filter=group_filter,
        page=page,
        pages=pages,
        total=total,
        viewer_guest=not viewer.is_member,
    )


async def card(repos: Repositories, viewer: PersonView, group_id: int) -> GroupCard:
    """A group's card as `viewer` may see it; anyone may look."""
    return await _card(repos, await _group(repos, group_id), await _person(repos, viewer))


async def terms_to_accept(repos: Repositories, viewer: PersonView, group_id: int) -> GroupCard:
    """The card of a confidential group someone means to join, once they may join it."""
    person = await _person(repos, viewer)
    group = await _group(repos, group_id)
    _ensure_can_join(person, group)
    if not group.confidential:
        raise GroupError(GroupRefusal.NOT_CONFIDENTIAL)
    return await _card(repos, group, person)


# --- members -------------------------------------------------------------------------------------------------


def _ensure_member(person: Person) -> int:
    """The organisation the person takes part for; guests and people without one are refused."""
    if not Role(person.role).at_least(Role.MEMBER):
        raise GroupError(GroupRefusal.NOT_MEMBER)
    if person.organisation_id is None:
        raise GroupError(GroupRefusal.NO_ORGANISATION)
    return person.organisation_id


def _ensure_can_join(person: Person, group: WorkingGroup) -> int:
    organisation_id = _ensure_member(person)
    if group.state == GroupState.DISSOLVED.value:
        raise GroupError(GroupRefusal.DISSOLVED)
    return organisation_id


async def ensure_can_propose(repos: Repositories, viewer: PersonView) -> None:
    _ensure_member(await _person(repos, viewer))


async def _tell(repos: Repositories, batch: str, people: list[Person], default_locale: str, notice: GroupNotice) -> int:
    return await tell(repos, batch, recipients(people, default_locale), notice.notice())


async def _add_member(
    repos: Repositories, group: WorkingGroup, person: Person, organisation_id: int, default_locale: str, now: datetime
) -> bool:
    """Put the person in the group (the caller claimed it); True when this made a proposed group active.

    Each change of state is a conditional update, so it happens once however the presses fall.
    """
    if not await repos.groups.add_membership(
        group_id=group.id, person_id=person.id, organisation_id=organisation_id, at=now
    ):
        raise GroupError(GroupRefusal.ALREADY_IN)
    await repos.groups.add_event(
        group.id, GroupEventKind.JOINED, actor_id=person.id, details={"organisation_id": organisation_id}, at=now
    )
    organisations, _people = await repos.groups.counts(group.id)
    if organisations < ORGANISATIONS_NEEDED:
        return False
    if await repos.groups.activate(group.id, now):
        await repos.groups.add_event(
            group.id, GroupEventKind.ACTIVATED, actor_id=person.id, details={"organisations": organisations}, at=now
        )
        notice = GroupNotice(GroupEventKind.ACTIVATED, group.id, _title(group), organisations=organisations)
        people = [*await repos.groups.members(group.id), *await repos.people.managers()]
        await _tell(repos, f"group:{group.id}:activated", people, default_locale, notice)
        return True
    if await repos.groups.unflag(group.id):
        event = await repos.groups.add_event(
            group.id, GroupEventKind.RECOVERED, actor_id=person.id, details={"organisations": organisations}, at=now
        )
        # Managers were told it fell below three; they are told it is whole again.
        notice = GroupNotice(GroupEventKind.RECOVERED, group.id, _title(group), organisations=organisations)
        await _tell(
            repos, f"group:{group.id}:recovered:{event.id}", list(await repos.people.managers()), default_locale, notice
        )
    return False


async def join(repos: Repositories, viewer: PersonView, group_id: int, default_locale: str) -> JoinOutcome:
    """Join a group for one's organisation; the third distinct organisation makes a proposed group active."""
    now = utcnow()
    person = await _person(repos, viewer)
    _ensure_can_join(person, await _group(repos, group_id))
    group = await _claimed(repos, group_id)
    organisation_id = _ensure_can_join(person, group)
    if await repos.groups.membership(group.id, person.id) is not None:
        raise GroupError(GroupRefusal.ALREADY_IN)
    # A join button pressed without going through the terms (a forged or very old one) is not an acceptance.
    if group.confidential and await repos.groups.acceptance(group.id, person.id) is None:
        raise GroupError(GroupRefusal.TERMS_NOT_ACCEPTED)
    activated = await _add_member(repos, group, person, organisation_id, default_locale, now)
    return JoinOutcome(await _card(repos, group, person), joined=True, activated=activated)


async def accept_terms(
    repos: Repositories, viewer: PersonView, group_id: int, locale: str, default_locale: str
) -> JoinOutcome:
    """Record that the person accepted a confidential group's terms as shown in `locale`, and join them to it
    unless they are in it already (members of a group that became confidential accept afterwards)."""
    now = utcnow()
    person = await _person(repos, viewer)
    _ensure_can_join(person, await _group(repos, group_id))
    group = await _claimed(repos, group_id)
    organisation_id = _ensure_can_join(person, group)
    if not group.confidential:
        raise GroupError(GroupRefusal.NOT_CONFIDENTIAL)
    if await repos.groups.acceptance(group.id, person.id) is None:
        terms = _texts(group.terms_ro, group.terms_en)
        # The text the person read: their language, or the other one when the group has no terms in theirs.
        shown = locale if terms.get(locale) else next(code for code in LANGUAGES if terms.get(code))
        await repos.groups.add_acceptance(
            group_id=group.id,
            person_id=person.id,
            organisation_id=organisation_id,
            locale=shown,
            terms=terms.get(shown),
            accepted_at=now,
        )
    joined = activated = False
    if await repos.groups.membership(group.id, person.id) is None:
        activated = await _add_member(repos, group, person, organisation_id, default_locale, now)
        joined = True
    return JoinOutcome(await _card(repos, group, person), joined=joined, activated=activated)


async def leave(repos: Repositories, viewer: PersonView, group_id: int, default_locale: str) -> LeaveOutcome:
    """Leave a group; an active group left with fewer than three organisations is flagged to managers."""
    now = utcnow()
    person = await _person(repos, viewer)
    group = await _claimed(repos, group_id)
    if not await repos.groups.remove_membership(group.id, person.id):
        raise GroupError(GroupRefusal.NOT_IN)
    await repos.groups.add_event(group.id, GroupEventKind.LEFT, actor_id=person.id, details={}, at=now)
    organisations, _people = await repos.groups.counts(group.id)
    flagged = organisations < ORGANISATIONS_NEEDED and await repos.groups.flag(group.id, now)
    if flagged:
        event = await repos.groups.add_event(
            group.id, GroupEventKind.FLAGGED, actor_id=person.id, details={"organisations": organisations}, at=now
        )
        notice = GroupNotice(GroupEventKind.FLAGGED, group.id, _title(group), organisations=organisations)
        await _tell(
            repos, f"group:{group.id}:flagged:{event.id}", list(await repos.people.managers()), default_locale, notice
        )
    return LeaveOutcome(await _card(repos, group, person), flagged=flagged)


async def propose(
    repos: Repositories, viewer: PersonView, *, title: str, objective: str, locale: str, default_locale: str
) -> GroupCard:
    """A member's new group, in their language; they are its first member and it waits for two more
    organisations. Managers are told, so they can add the other language and follow it."""
    now = utcnow()
    person = await _person(repos, viewer)
    organisation_id = _ensure_member(person)
    if locale not in LANGUAGES:
        raise ValueError(f"unsupported language {locale!r}")
    title = clean_text(title, TITLE_MAX)
    objective = clean_text(objective, OBJECTIVE_MAX)
    group = await repos.groups.add(
        state=GroupState.PROPOSED.value,
        proposed_by_id=person.id,
        created_at=now,
        **{f"title_{locale}": title, f"objective_{locale}": objective},
    )
    await repos.groups.add_event(group.id, GroupEventKind.PROPOSED, actor_id=person.id, details={}, at=now)
    await repos.groups.add_membership(group_id=group.id, person_id=person.id, organisation_id=organisation_id, at=now)
    await repos.groups.add_event(
        group.id, GroupEventKind.JOINED, actor_id=person.id, details={"organisation_id": organisation_id}, at=now
    )
    organisation = await repos.organisations.get(organisation_id)
    proposer = f"{person.full_name} ({organisation.name})" if organisation is not None else person.full_name
    notice = GroupNotice(GroupEventKind.PROPOSED, group.id, _title(group), proposer=proposer)
    await _tell(repos, f"group:{group.id}:proposed", list(await repos.people.managers()), default_locale, notice)
    return await _card(repos, group, person)


# --- managers ------------------------------------------------------------------------------------------------


async def managed_group(repos: Repositories, viewer: PersonView, group_id: int) -> GroupCard:
    """The card of a group a manager is about to change; refused to non-managers and for dissolved groups.

    Called on every step of a manager's conversation, so a role taken away midway stops it.
    """
    await require_manager(repos, viewer)
    group = await _group(repos, group_id)
    if group.state == GroupState.DISSOLVED.value:
        raise GroupError(GroupRefusal.DISSOLVED)
    return await _card(repos, group, await _person(repos, viewer))


async def _managed(repos: Repositories, viewer: PersonView, group_id: int) -> WorkingGroup:
    await require_manager(repos, viewer)
    # Two managers changing one group at once take turns: the second finds it dissolved, or confidential.
    return await _claimed(repos, group_id)


async def dissolve(
    repos: Repositories, viewer: PersonView, group_id: int, *, reason: str, default_locale: str
) -> GroupCard:
    """Dissolve a group; everyone in it is told why."""
    now = utcnow()
    group = await _managed(repos, viewer, group_id)
    reason = clean_text(reason, REASON_MAX)
    previous = group.state
    group.state = GroupState.DISSOLVED.value
    group.flagged_at = None
    group.updated_at = now
    await repos.groups.add_event(
        group.id, GroupEventKind.DISSOLVED, actor_id=viewer.id, details={"reason": reason, "state": previous}, at=now
    )
    await repos.audit.record(
        "group.dissolved", actor_id=viewer.id, subject=f"group:{group.id}", details={"reason": reason}
    )
    notice = GroupNotice(GroupEventKind.DISSOLVED, group.id, _title(group), reason=reason)
    await _tell(
        repos, f"group:{group.id}:dissolved", list(await repos.groups.members(group.id)), default_locale, notice
    )
    return await _card(repos, group, await _person(repos, viewer))


async def transform(
    repos: Repositories,
    viewer: PersonView,
    group_id: int,
    *,
    objective: Mapping[str, str],
    reason: str,
    default_locale: str,
) -> GroupCard:
    """Give a group a new objective (in one language or both); the history keeps the old one and everyone in
    the group is told why."""
    now = utcnow()
    group = await _managed(repos, viewer, group_id)
    texts = {locale: clean_text(objective[locale], OBJECTIVE_MAX) for locale in LANGUAGES if objective.get(locale)}
    if not texts:
        raise MembershipError(Refusal.TEXT_EMPTY)
    reason = clean_text(reason, REASON_MAX)
    previous = {"ro": group.objective_ro, "en": group.objective_en}
    # A text given in one language only replaces both: the old other-language text described the old objective.
    group.objective_ro = texts.get("ro")
    group.objective_en = texts.get("en")
    group.updated_at = now
    event = await repos.groups.add_event(
        group.id,
        GroupEventKind.TRANSFORMED,
        actor_id=viewer.id,
        details={"reason": reason, "previous_objective": previous, "objective": texts},
        at=now,
    )
    await repos.audit.record(
        "group.transformed", actor_id=viewer.id, subject=f"group:{group.id}", details={"reason": reason}
    )
    notice = GroupNotice(
        GroupEventKind.TRANSFORMED, group.id, _title(group), reason=reason, objective=_objective(group)
    )
    members = list(await repos.groups.members(group.id))
    await _tell(repos, f"group:{group.id}:transformed:{event.id}", members, default_locale, notice)
    return await _card(repos, group, await _person(repos, viewer))


async def add_language(
    repos: Repositories, viewer: PersonView, group_id: int, *, locale: str, title: str | None, objective: str | None
) -> GroupCard:
    """A manager adds the title and objective a group lacks in `locale` (a member proposed it in the other)."""
    now = utcnow()
    group = await _managed(repos, viewer, group_id)
    missing = [name for name in ("title", "objective") if not getattr(group, f"{name}_{locale}")]
    if locale not in LANGUAGES or not missing:
        raise GroupError(GroupRefusal.NOTHING_MISSING)
    given = {"title": title, "objective": objective}
    limits = {"title": TITLE_MAX, "objective": OBJECTIVE_MAX}
    for name in missing:
        setattr(group, f"{name}_{locale}", clean_text(given[name], limits[name]))
    group.updated_at = now
    await repos.groups.add_event(
        group.id, GroupEventKind.EDITED, actor_id=viewer.id, details={"locale": locale, "fields": missing}, at=now
    )
    await repos.audit.record(
        "group.translated", actor_id=viewer.id, subject=f"group:{group.id}", details={"locale": locale}
    )
    return await _card(repos, group, await _person(repos, viewer))


async def make_confidential(
    repos: Repositories, viewer: PersonView, group_id: int, *, terms: Mapping[str, str], default_locale: str
) -> GroupCard:
    """Mark a group confidential with its terms; whoever joins from now on accepts them first, and the people
    already in it are asked to accept them."""
    now = utcnow()
    group = await _managed(repos, viewer, group_id)
    if group.confidential:
        raise GroupError(GroupRefusal.ALREADY_CONFIDENTIAL)
    texts = {locale: clean_text(terms[locale], TERMS_MAX) for locale in LANGUAGES if terms.get(locale)}
    if not texts:
        raise MembershipError(Refusal.TEXT_EMPTY)
    group.confidential = True
    group.terms_ro = texts.get("ro")
    group.terms_en = texts.get("en")
    group.updated_at = now
    await repos.groups.add_event(group.id, GroupEventKind.CONFIDENTIAL, actor_id=viewer.id, details={}, at=now)
    await repos.audit.record("group.confidential", actor_id=viewer.id, subject=f"group:{group.id}")
    notice = GroupNotice(
        GroupEventKind.CONFIDENTIAL, group.id, _title(group), terms=_texts(group.terms_ro, group.terms_en)
    )
    await _tell(
        repos, f"group:{group.id}:confidential", list(await repos.groups.members(group.id)), default_locale, notice
    )
    return await _card(repos, group, await _person(repos, viewer))


def parse_chat_link(text: str | None) -> str:
    """A group's Telegram chat link as typed (https://t.me/+..., https://t.me/joinchat/..., https://t.me/name or
    t.me/...), written the one way (https://t.me/...); anything else is refused (`GroupRefusal.BAD_CHAT_LINK`)."""
    found = _CHAT_LINK.fullmatch((text or "").strip())
    if found is None or found["path"].lower() in _NOT_CHATS:
        raise GroupError(GroupRefusal.BAD_CHAT_LINK)
    link = f"https://t.me/{found['path']}"
    if len(link) > CHAT_LINK_MAX:
        raise GroupError(GroupRefusal.BAD_CHAT_LINK)
    return link


async def set_chat_link(repos: Repositories, viewer: PersonView, group_id: int, link: str | None) -> GroupCard:
    """A manager attaches the group's own Telegram chat (checked by `parse_chat_link`), or removes it (None).
    The people in the group see it on its card; everyone else does not. Audited."""
    now = utcnow()
    group = await _managed(repos, viewer, group_id)
    if link is None:
        if group.chat_link is None:
            raise GroupError(GroupRefusal.NO_CHAT_LINK)
        group.chat_link = None
        action = "group.chat_link_removed"
    else:
        group.chat_link = parse_chat_link(link)
        action = "group.chat_link_set"
    details = {"link": group.chat_link} if group.chat_link else None
    group.updated_at = now
    await repos.audit.record(action, actor_id=viewer.id, subject=f"group:{group.id}", details=details)
    return await _card(repos, group, await _person(repos, viewer))
