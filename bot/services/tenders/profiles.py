"""Members' alert profiles: the rules (at most 10 a person, what a profile may hold, who may see, change or copy
one) and how the alert job and the preview read a stored profile (`to_matching`).

A profile is built as a `Draft` (plain data, kept in the conversation between steps) and checked as a whole when
saved (`check`). Profiles are for members who represent an organisation, read from the database at each action;
a profile is changed only by its owner (every change is a conditional statement on the owner's id, so a forged
id of someone else's profile changes nothing), opened and copied by the representatives of the organisation it
was saved for. Two saves at once cannot pass the limit: the owner's profiles are locked before counting and the
count is checked again after the insert, in the same transaction. No aiogram here; refusals are `ProfileError`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from babel import Locale

from bot.amounts import CURRENCIES, from_hundredths
from bot.config import EU_COUNTRIES
from bot.services.members import PersonView
from bot.services.refusals import Refused
from bot.services.tenders.cpv import CpvCode, Level, significant, vocabulary
from bot.services.tenders.matching import Profile, ProfileIndex, cpv_prefix, parse_keywords
from bot.services.tenders.model import Tender, TenderKind
from bot.text import fold, words
from storage.models import AlertDelivery, AlertProfile, Person, Role, TenderRow
from storage.repositories import Repositories

MAX_PROFILES = 10
NAME_MAX = 100
MAX_CODES = 30
MAX_KEYWORDS = 30
KEYWORD_MAX = 100
DAYS_MAX = 365
MATCHES_PAGE = 8
CPV_PAGE = 8
CPV_SEARCH = 10
DEFAULT_KINDS = (TenderKind.COMPETITION.value,)


class ProfileRefusal(enum.StrEnum):
    MEMBERS_ONLY = "members_only"
    NO_ORGANISATION = "no_organisation"
    # No such profile, or not the person's (to change) or not their organisation's (to open or copy).
    NOT_FOUND = "not_found"
    TOO_MANY = "too_many"
    # Neither CPV codes nor include keywords: it would match nothing.
    NOTHING_TO_MATCH = "nothing_to_match"
    NAME_TOO_LONG = "name_too_long"
    BAD_CODE = "bad_code"
    TOO_MANY_CODES = "too_many_codes"
    TOO_MANY_KEYWORDS = "too_many_keywords"
    KEYWORD_TOO_LONG = "keyword_too_long"
    NO_KEYWORDS = "no_keywords"
    UNKNOWN_COUNTRIES = "unknown_countries"
    BAD_CURRENCY = "bad_currency"
    # The minimum above the maximum.
    BAD_RANGE = "bad_range"
    BAD_DAYS = "bad_days"
    BAD_HOUR = "bad_hour"
    NO_KINDS = "no_kinds"
    BAD_DELIVERY = "bad_delivery"
    BAD_PAGE = "bad_page"


class ProfileError(Refused):
    """An alert profile rule refused the action (`ProfileRefusal`)."""

    reason: ProfileRefusal


@dataclass(frozen=True)
class Draft:
    """A profile being made or edited: what the form has gathered. Values are whole hundredths of `currency`."""

    name: str = ""
    cpv: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    value_min: int | None = None
    value_max: int | None = None
    currency: str = "RON"
    min_days_left: int = 0
    kinds: tuple[str, ...] = DEFAULT_KINDS
    delivery: str = AlertDelivery.INSTANT.value
    digest_hour: int = 8

    def as_data(self) -> dict[str, Any]:
        """As plain JSON data (lists, not tuples), for the conversation's storage."""
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Draft:
        """Back from `as_data` (what a conversation kept)."""
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        for name in ("cpv", "include", "exclude", "countries", "kinds"):
            if name in known:
                known[name] = tuple(str(item) for item in known[name] or ())
        return cls(**known)

    @property
    def about_something(self) -> bool:
        return bool(self.cpv or self.include)


@dataclass(frozen=True)
class Owned:
    """A profile as someone may see it: theirs, or an organisation colleague's (`owner` named, read-only)."""

    profile: AlertProfile
    mine: bool
    owner: str | None = None


@dataclass(frozen=True)
class MatchesPage:
    tenders: list[TenderRow]
    page: int
    pages: int
    total: int
    shown_from: int = field(default=0)


# --- who ------------------------------------------------------------------------------------------------------


async def member_organisation(repos: Repositories, viewer: PersonView) -> int:
    """The organisation a member acts for, read from the database now (a guest, someone who left, or a member
    without an organisation is refused)."""
    person = await repos.people.get(viewer.id)
    if person is None or not Role(person.role).at_least(Role.MEMBER):
        raise ProfileError(ProfileRefusal.MEMBERS_ONLY)
    if person.organisation_id is None:
        raise ProfileError(ProfileRefusal.NO_ORGANISATION)
    return person.organisation_id


async def mine(repos: Repositories, viewer: PersonView) -> Sequence[AlertProfile]:
    """The member's profiles, oldest first."""
    await member_organisation(repos, viewer)
    return await repos.alert_profiles.of_person(viewer.id)


async def colleagues(repos: Repositories, viewer: PersonView) -> list[tuple[AlertProfile, Person]]:
    """The profiles of the other representatives of the member's organisation, with their owners."""
    organisation_id = await member_organisation(repos, viewer)
    return await repos.alert_profiles.of_organisation(organisation_id, viewer.id)


async def own(repos: Repositories, viewer: PersonView, profile_id: int) -> AlertProfile:
    """The member's own profile `profile_id` (refused when it is someone else's or gone)."""
    await member_organisation(repos, viewer)
    profile = await repos.alert_profiles.get(profile_id)
    if profile is None or profile.person_id != viewer.id:
        raise ProfileError(ProfileRefusal.NOT_FOUND)
    return profile


async def visible(repos: Repositories, viewer: PersonView, profile_id: int) -> Owned:
    """A profile the member may open: theirs, or one saved for their organisation by a colleague."""
    organisation_id = await member_organisation(repos, viewer)
    profile = await repos.alert_profiles.get(profile_id)
    if profile is None:
        raise ProfileError(ProfileRefusal.NOT_FOUND)
    if profile.person_id == viewer.id:
        return Owned(profile, mine=True)
    if profile.organisation_id != organisation_id:
        raise ProfileError(ProfileRefusal.NOT_FOUND)
    owner = await repos.people.get(profile.person_id)
    name = None if owner is None else f"{owner.first_name} {owner.last_name}" if owner.last_name else owner.first_name
    return Owned(profile, mine=False, owner=name)


async def may_add(repos: Repositories, viewer: PersonView) -> None:
    """Refused when the member already has MAX_PROFILES profiles (said before the form begins)."""
    await member_organisation(repos, viewer)
    if await repos.alert_profiles.count_of_person(viewer.id) >= MAX_PROFILES:
        raise ProfileError(ProfileRefusal.TOO_MANY, limit=MAX_PROFILES)


# --- a draft, step by step --------------------------------------------------------------------------------------


def draft_of(profile: AlertProfile) -> Draft:
    return Draft(
        name=profile.name,
        cpv=tuple(profile.cpv or ()),
        include=tuple(profile.include or ()),
        exclude=tuple(profile.exclude or ()),
        countries=tuple(profile.countries or ()),
        value_min=profile.value_min_hundredths,
        value_max=profile.value_max_hundredths,
        currency=profile.currency,
        min_days_left=profile.min_days_left,
        kinds=tuple(profile.kinds or ()),
        delivery=profile.delivery,
        digest_hour=profile.digest_hour,
    )


def with_name(draft: Draft, text: str) -> Draft:
    name = " ".join(text.split())
    if len(name) > NAME_MAX:
        raise ProfileError(ProfileRefusal.NAME_TOO_LONG, limit=NAME_MAX)
    return replace(draft, name=name)


def cpv_entry(code: str) -> CpvCode:
    """A code of the vocabulary (8 digits, with or without its check digit); anything else is refused."""
    entry = vocabulary().get(code)
    if entry is None:
        raise ProfileError(ProfileRefusal.BAD_CODE)
    return entry


def with_code(draft: Draft, code: str) -> Draft:
    """The draft with one more CPV code; the codes it makes redundant (below it) go, and a code already covered
    by a broader one chosen is not added twice."""
    entry = cpv_entry(code)
    start = significant(entry.code)
    if any(entry.code.startswith(significant(chosen)) for chosen in draft.cpv):
        return draft
    kept = tuple(chosen for chosen in draft.cpv if not chosen.startswith(start))
    if len(kept) >= MAX_CODES:
        raise ProfileError(ProfileRefusal.TOO_MANY_CODES, limit=MAX_CODES)
    return replace(draft, cpv=(*kept, entry.code))


@dataclass(frozen=True)
class CpvBrowse:
    """One screen of the vocabulary's tree: `node` (None: the divisions) and a page of the codes under it."""

    node: CpvCode | None
    items: list[CpvCode]
    page: int
    pages: int

    @property
    def path(self) -> list[CpvCode]:
        """From the division down to the node."""
        if self.node is None:
            return []
        return [*vocabulary().ancestors(self.node.code), self.node]


def opens(entry: CpvCode) -> bool:
    """Whether a code is browsed into (a division or a group) rather than added when tapped (a class or below)."""
    return entry.level in (Level.DIVISION, Level.GROUP) and bool(vocabulary().children(entry.code))


def browse(code: str, page: int) -> CpvBrowse:
    """The divisions (`code` empty), or the codes right under a division or group, a page of CPV_PAGE."""
    node = None if code == "" else cpv_entry(code)
    if node is not None and not opens(node):
        raise ProfileError(ProfileRefusal.BAD_CODE)
    items = vocabulary().divisions() if node is None else vocabulary().children(node.code)
    pages = max(1, -(-len(items) // CPV_PAGE))
    if not 0 <= page < pages:
        raise ProfileError(ProfileRefusal.BAD_PAGE)
    return CpvBrowse(node, items[page * CPV_PAGE : (page + 1) * CPV_PAGE], page, pages)


def search_codes(text: str, language: str) -> list[CpvCode]:
    """Codes for what a member typed: a code or its first digits ("09300000", "0931"), or words of the labels
    in either language."""
    return vocabulary().search(text, language, limit=CPV_SEARCH)


def without_code(draft: Draft, code: str) -> Draft:
    entry = cpv_entry(code)
    return replace(draft, cpv=tuple(chosen for chosen in draft.cpv if chosen != entry.code))


def keywords(text: str) -> tuple[str, ...]:
    """Keywords and phrases as typed (`matching.parse_keywords`), within the limits."""
    found = parse_keywords(text)
    if not found:
        raise ProfileError(ProfileRefusal.NO_KEYWORDS)
    if len(found) > MAX_KEYWORDS:
        raise ProfileError(ProfileRefusal.TOO_MANY_KEYWORDS, limit=MAX_KEYWORDS)
    if any(len(entry) > KEYWORD_MAX for entry in found):
        raise ProfileError(ProfileRefusal.KEYWORD_TOO_LONG, limit=KEYWORD_MAX)
    return found


@cache
def _country_names() -> dict[str, str]:
    """Folded country names in Romanian and English (and the codes themselves), to their alpha-2 code."""
    names: dict[str, str] = {}
    for language in ("en", "ro"):
        for code, name in Locale.parse(language).territories.items():
            if len(code) == 2 and code.isalpha():
                names[" ".join(fold(word) for word in words(name))] = code
                names[code.lower()] = code
    names["uk"] = "GB"
    names["el"] = "GR"
    return names


def parse_countries(text: str) -> tuple[str, ...]:
    """Countries typed as codes or names in either language, separated by commas, semicolons or new lines
    ("RO, BG", "Bulgaria; Ungaria"). Unknown ones are refused, named in `context["unknown"]`."""
    found: dict[str, None] = {}
    unknown: list[str] = []
    names = _country_names()
    for part in re.split(r"[,;\n]+", text):
        key = " ".join(fold(word) for word in words(part))
        if not key:
            continue
        if key in names:
            found[names[key]] = None
        elif all(len(word) == 2 and word in names for word in key.split()):
            # "RO BG": codes separated by spaces.
            found.update(dict.fromkeys(names[word] for word in key.split()))
        else:
            unknown.append(part.strip())
    if unknown:
        raise ProfileError(ProfileRefusal.UNKNOWN_COUNTRIES, unknown=unknown)
    if not found:
        raise ProfileError(ProfileRefusal.UNKNOWN_COUNTRIES, unknown=[text.strip()])
    return tuple(found)


def country_name(code: str, language: str) -> str:
    """A country's name in `language` ("ro" or "en"), or its code when Babel does not know it."""
    return str(Locale.parse("ro" if language == "ro" else "en").territories.get(code.upper(), code.upper()))


def is_all_eu(countries: Sequence[str]) -> bool:
    return set(countries) == set(EU_COUNTRIES)


def with_value(draft: Draft, currency: str, value_min: Decimal | None, value_max: Decimal | None) -> Draft:
    """A value range in RON or EUR (each bound optional; the minimum not above the maximum)."""
    if currency not in CURRENCIES:
        raise ProfileError(ProfileRefusal.BAD_CURRENCY)
    if value_min is not None and value_max is not None and value_min > value_max:
        raise ProfileError(ProfileRefusal.BAD_RANGE)
    low = None if value_min is None else int(value_min * 100)
    high = None if value_max is None else int(value_max * 100)
    return replace(draft, currency=currency, value_min=low, value_max=high)


def days(text: str) -> int:
    """Whole days from 0 to DAYS_MAX."""
    typed = text.strip()
    if not re.fullmatch(r"[0-9]{1,4}", typed) or int(typed) > DAYS_MAX:
        raise ProfileError(ProfileRefusal.BAD_DAYS, limit=DAYS_MAX)
    return int(typed)


def toggled_kind(draft: Draft, kind: str) -> Draft:
    wanted = TenderKind(kind).value
    chosen = [value for value in draft.kinds if value != wanted]
    if len(chosen) == len(draft.kinds):
        chosen.append(wanted)
    return replace(draft, kinds=tuple(value.value for value in TenderKind if value.value in chosen))


def with_delivery(draft: Draft, delivery: str, hour: int | None = None) -> Draft:
    if delivery not in {item.value for item in AlertDelivery}:
        raise ProfileError(ProfileRefusal.BAD_DELIVERY)
    if hour is not None and not 0 <= hour <= 23:
        raise ProfileError(ProfileRefusal.BAD_HOUR)
    return replace(draft, delivery=delivery, digest_hour=draft.digest_hour if hour is None else hour)


def check(draft: Draft) -> None:
    """The whole draft, as it will be saved."""
    if not draft.about_something:
        raise ProfileError(ProfileRefusal.NOTHING_TO_MATCH)
    if len(draft.name) > NAME_MAX:
        raise ProfileError(ProfileRefusal.NAME_TOO_LONG, limit=NAME_MAX)
    for code in draft.cpv:
        cpv_entry(code)
    if len(draft.cpv) > MAX_CODES:
        raise ProfileError(ProfileRefusal.TOO_MANY_CODES, limit=MAX_CODES)
    for entries in (draft.include, draft.exclude):
        if len(entries) > MAX_KEYWORDS:
            raise ProfileError(ProfileRefusal.TOO_MANY_KEYWORDS, limit=MAX_KEYWORDS)
        if any(len(entry) > KEYWORD_MAX for entry in entries):
            raise ProfileError(ProfileRefusal.KEYWORD_TOO_LONG, limit=KEYWORD_MAX)
    known = _country_names()
    if any(country.lower() not in known for country in draft.countries):
        raise ProfileError(ProfileRefusal.UNKNOWN_COUNTRIES, unknown=list(draft.countries))
    if draft.currency not in CURRENCIES:
        raise ProfileError(ProfileRefusal.BAD_CURRENCY)
    if draft.value_min is not None and draft.value_max is not None and draft.value_min > draft.value_max:
        raise ProfileError(ProfileRefusal.BAD_RANGE)
    if not 0 <= draft.min_days_left <= DAYS_MAX:
        raise ProfileError(ProfileRefusal.BAD_DAYS, limit=DAYS_MAX)
    if not draft.kinds:
        raise ProfileError(ProfileRefusal.NO_KINDS)
    for kind in draft.kinds:
        TenderKind(kind)
    with_delivery(draft, draft.delivery, draft.digest_hour)


def default_name(draft: Draft, language: str) -> str:
    """A name for a profile saved without one: its first code's label, else its first keyword."""
    if draft.cpv:
        entry = vocabulary().get(draft.cpv[0])
        if entry is not None:
            label = entry.label(language)
            return label if len(label) <= NAME_MAX else label[: NAME_MAX - 1].rstrip() + "…"
    return (draft.include[0] if draft.include else "—")[:NAME_MAX]


def _columns(draft: Draft, language: str) -> dict[str, Any]:
    return {
        "name": draft.name or default_name(draft, language),
        "cpv": list(draft.cpv),
        "include": list(draft.include),
        "exclude": list(draft.exclude),
        "countries": list(draft.countries),
        "value_min_hundredths": draft.value_min,
        "value_max_hundredths": draft.value_max,
        "currency": draft.currency,
        "min_days_left": draft.min_days_left,
        "kinds": list(draft.kinds),
        "delivery": draft.delivery,
        "digest_hour": draft.digest_hour,
    }


# --- saving ---------------------------------------------------------------------------------------------------


async def create(
    repos: Repositories, viewer: PersonView, draft: Draft, *, now: datetime, language: str
) -> AlertProfile:
    """Save a new profile of the member's, starting from `now` (the alert job alerts only tenders first seen
    from then on), for the organisation they represent now. At most MAX_PROFILES, even with saves at once."""
    check(draft)
    organisation_id = await member_organisation(repos, viewer)
    profiles = repos.alert_profiles
    await profiles.lock_of_person(viewer.id)
    if await profiles.count_of_person(viewer.id) >= MAX_PROFILES:
        raise ProfileError(ProfileRefusal.TOO_MANY, limit=MAX_PROFILES)
    profile = await profiles.add(
        AlertProfile(
            person_id=viewer.id,
            organisation_id=organisation_id,
            starts_at=now,
            created_at=now,
            updated_at=now,
            paused=False,
            **_columns(draft, language),
        )
    )
    # Checked again after the insert, in the same transaction: a save that slipped past the lock is undone
    # (deleted here, so that it is gone even where the refusal is answered and the transaction commits).
    if await profiles.count_of_person(viewer.id) > MAX_PROFILES:
        await profiles.delete(profile)
        raise ProfileError(ProfileRefusal.TOO_MANY, limit=MAX_PROFILES)
    return profile


async def update(
    repos: Repositories, viewer: PersonView, profile_id: int, draft: Draft, *, language: str
) -> AlertProfile:
    """Save the member's edited profile (only theirs: anyone else's id changes nothing and is refused)."""
    check(draft)
    await member_organisation(repos, viewer)
    if not await repos.alert_profiles.update_of_person(profile_id, viewer.id, _columns(draft, language)):
        raise ProfileError(ProfileRefusal.NOT_FOUND)
    return await own(repos, viewer, profile_id)


async def set_paused(repos: Repositories, viewer: PersonView, profile_id: int, paused: bool) -> AlertProfile:
    """Pause or resume the member's profile (pressing twice is harmless)."""
    await member_organisation(repos, viewer)
    await repos.alert_profiles.set_paused(profile_id, viewer.id, paused)
    profile = await own(repos, viewer, profile_id)
    await repos.session.refresh(profile)
    return profile


async def delete(repos: Repositories, viewer: PersonView, profile_id: int) -> None:
    """Delete the member's profile; a second press (or another person's id) is refused, nothing else deleted."""
    await member_organisation(repos, viewer)
    if not await repos.alert_profiles.delete_of_person(profile_id, viewer.id):
        raise ProfileError(ProfileRefusal.NOT_FOUND)


async def copy(repos: Repositories, viewer: PersonView, profile_id: int, *, now: datetime) -> AlertProfile:
    """A new profile of the member's like one of their organisation's (a colleague's, or their own)."""
    seen = await visible(repos, viewer, profile_id)
    draft = draft_of(seen.profile)
    return await create(repos, viewer, draft, now=now, language="en")


# --- what a profile matches now ----------------------------------------------------------------------------------


def tender_of(row: TenderRow) -> Tender:
    """A stored tender as matching reads it."""
    return Tender(
        source=row.source,
        source_id=row.source_id,
        kind=TenderKind(row.kind),
        title=dict(row.title or {}),
        procedure_id=row.procedure_id,
        version=row.version,
        is_change=row.is_change,
        description=dict(row.description or {}),
        buyer=row.buyer,
        country=row.country,
        places=tuple(row.places or ()),
        cpv=tuple(row.cpv or ()),
        value=None if row.value_hundredths is None else from_hundredths(row.value_hundredths),
        currency=row.currency,
        deadline=row.deadline,
        links=dict(row.links or {}),
        published_at=row.published_at,
    )


def matching_profile(draft: Draft, *, profile_id: int = 0, person_id: int = 0) -> Profile:
    return Profile(
        id=profile_id,
        member_id=person_id,
        cpv=draft.cpv,
        include=draft.include,
        exclude=draft.exclude,
        countries=frozenset(draft.countries),
        value_min=None if draft.value_min is None else from_hundredths(draft.value_min),
        value_max=None if draft.value_max is None else from_hundredths(draft.value_max),
        currency=draft.currency,
        min_days_left=draft.min_days_left,
        kinds=frozenset(TenderKind(kind) for kind in draft.kinds),
    )


async def open_matches(
    repos: Repositories, draft: Draft, *, now: datetime, rates: Mapping[str, Decimal]
) -> list[TenderRow]:
    """The stored tenders still open at `now` that `draft` matches, soonest deadline first."""
    if not draft.about_something:
        return []
    # Without include keywords only tenders under its codes can match: read just those.
    prefixes = None if draft.include else {cpv_prefix(code) for code in draft.cpv}
    # What the filters rule out is not read at all: other kinds, other countries, too close a deadline (a
    # deadline exactly min_days_left days away still passes, as in matching).
    rows = await repos.alert_profiles.open_tenders(
        now,
        prefixes,
        kinds=draft.kinds,
        countries=draft.countries,
        open_after=now + timedelta(days=draft.min_days_left) - timedelta(microseconds=1),
    )
    index = ProfileIndex([matching_profile(draft)], rates)
    return [row for row in rows if index.match(tender_of(row), now)]


async def preview_count(
    repos: Repositories, viewer: PersonView, draft: Draft, *, now: datetime, rates: Mapping[str, Decimal]
) -> int:
    """How many current tenders (stored, still open) the draft would match."""
    await member_organisation(repos, viewer)
    return len(await open_matches(repos, draft, now=now, rates=rates))


async def matches_page(
    repos: Repositories,
    viewer: PersonView,
    profile_id: int,
    page: int,
    *,
    now: datetime,
    rates: Mapping[str, Decimal],
) -> tuple[Owned, MatchesPage]:
    """A page (MATCHES_PAGE tenders) of the open stored tenders a visible profile matches now."""
    seen = await visible(repos, viewer, profile_id)
    found = await open_matches(repos, draft_of(seen.profile), now=now, rates=rates)
    pages = max(1, -(-len(found) // MATCHES_PAGE))
    if not 0 <= page < pages:
        raise ProfileError(ProfileRefusal.BAD_PAGE)
    start = page * MATCHES_PAGE
    return seen, MatchesPage(found[start : start + MATCHES_PAGE], page, pages, len(found), start)


def tender_title(row: TenderRow | Tender, language: str) -> str:
    """The title in the reader's language where the source has it, else English, else the first one."""
    titles = dict(row.title or {})
    return titles.get(language) or titles.get("en") or next(iter(titles.values()), "") or ""


def tender_link(row: TenderRow | Tender, language: str) -> str | None:
    links = dict(row.links or {})
    found = links.get(language) or links.get(language.upper()) or links.get("en") or links.get("EN")
    return found or next(iter(links.values()), None)


def _amount(hundredths: int | None) -> Decimal | None:
    return None if hundredths is None else Decimal(hundredths) / 100


def to_matching(row: AlertProfile) -> Profile:
    """A stored profile as matching reads it."""
    return Profile(
        id=row.id,
        member_id=row.person_id,
        cpv=tuple(row.cpv or ()),
        include=tuple(row.include or ()),
        exclude=tuple(row.exclude or ()),
        countries=frozenset(row.countries or ()),
        value_min=_amount(row.value_min_hundredths),
        value_max=_amount(row.value_max_hundredths),
        currency=row.currency,
        min_days_left=row.min_days_left,
        kinds=frozenset(TenderKind(kind) for kind in row.kinds or ()),
    )
