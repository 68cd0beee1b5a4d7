"""Members' alert profiles, the rules without the chat (issue 11): what a profile may hold, the preview count
against stored tenders, at most ten a member even with saves at once, who may change, open or copy one, on
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services import members
from bot.services.members import PersonView
from bot.services.tenders import profiles
from bot.services.tenders.model import Tender, TenderKind
from bot.services.tenders.profiles import Draft, ProfileError, ProfileRefusal
from bot.services.tenders.store import store_tenders
from storage.db import unit_of_work
from storage.models import AlertProfile, Role
from storage.repositories import Repositories

Factory = async_sessionmaker[AsyncSession]
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
RATES = {"EUR": Decimal(1), "RON": Decimal("4.97")}
_IDS: Iterator[int] = itertools.count(70_000)


def tender(source_id: str, title: dict[str, str], **fields: object) -> Tender:
    values: dict[str, object] = {
        "source": "ted",
        "source_id": source_id,
        "kind": TenderKind.COMPETITION,
        "title": title,
        "buyer": "Primăria Florești",
        "country": "RO",
        "deadline": NOW + timedelta(days=30),
        "published_at": NOW - timedelta(days=2),
    }
    values.update(fields)
    return Tender(**values)  # type: ignore[arg-type]


TENDERS = [
    # Under 09 (petroleum, fuels), open, in RON.
    tender(
        "1-2026", {"ro": "Furnizare peleți din biomasă"}, cpv=("09111400",), value=Decimal("500000"), currency="RON"
    ),
    # Under 0931 (electricity): a keyword-only match for "energie".
    tender("2-2026", {"en": "Electricity supply", "ro": "Furnizare energie electrică"}, cpv=("09310000",)),
    # Closed: its deadline has passed.
    tender("3-2026", {"ro": "Cazane pe biomasă"}, cpv=("09111400",), deadline=NOW - timedelta(days=1)),
    # A result, not a call for competition.
    tender("4-2026", {"ro": "Atribuire peleți"}, cpv=("09111400",), kind=TenderKind.RESULT),
    # In Bulgaria, no deadline: open.
    tender("5-2026", {"bg": "Пелети", "en": "Wood pellets"}, cpv=("09111400",), country="BG", deadline=None),
    # Elsewhere entirely.
    tender("6-2026", {"en": "Laboratory reagents"}, cpv=("33696000",)),
]


async def person(
    repos: Repositories, name: str, role: Role = Role.MEMBER, organisation: str | None = None
) -> PersonView:
    return await members.provision(
        repos,
        telegram_id=next(_IDS),
        first_name=name,
        role=role,
        organisation=organisation if organisation is not None else (f"{name} SRL" if role is Role.MEMBER else None),
    )


async def stored_tenders(factory: Factory) -> None:
    async with unit_of_work(factory) as session:
        await store_tenders(Repositories(session), TENDERS, now=NOW - timedelta(days=1))


async def count(repos: Repositories, draft: Draft, viewer: PersonView) -> int:
    return await profiles.preview_count(repos, viewer, draft, now=NOW, rates=RATES)


async def test_the_preview_counts_open_stored_tenders_by_codes_keywords_countries_and_values(
    session_factory: Factory,
) -> None:
    await stored_tenders(session_factory)
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        ana = await person(repos, "Ana")
        # A division covers everything below it: the open competitions under 09 are 1, 2 and 5.
        fuels = profiles.with_code(Draft(), "09000000")
        assert await count(repos, fuels, ana) == 3
        # Romania only: 5 (Bulgaria) goes.
        assert await count(repos, Draft(cpv=fuels.cpv, countries=("RO",)), ana) == 2
        # An inflected Romanian keyword finds "biomasă"; the closed tender 3 and the result 4 are not counted.
        biomass = Draft(include=profiles.keywords("biomasei"))
        assert await count(repos, biomass, ana) == 1
        # With results as well: "Atribuire peleți" by its keyword.
        pellets = Draft(include=profiles.keywords("peleti"), kinds=("competition", "result"))
        assert await count(repos, pellets, ana) == 2
        # Values: 500,000 lei is about 100,604 euro; a range up to 50,000 euro leaves the valueless ones only.
        small = profiles.with_value(Draft(cpv=("09000000",)), "EUR", None, Decimal(50_000))
        assert await count(repos, small, ana) == 2
        # Excluded words veto: "electrică".
        assert await count(repos, Draft(cpv=("09000000",), exclude=profiles.keywords("electrica")), ana) == 2
        # Days left: 5 has no deadline (passes), 1 and 2 have 30 days, not 31.
        assert await count(repos, Draft(cpv=("09000000",), min_days_left=31), ana) == 1


async def test_what_a_draft_may_hold(session_factory: Factory) -> None:
    draft = Draft()
    with pytest.raises(ProfileError) as nothing:
        profiles.check(draft)
    assert nothing.value.reason is ProfileRefusal.NOTHING_TO_MATCH
    # A group covers the class already chosen: the class goes; a class under a chosen group is not added.
    draft = profiles.with_code(draft, "09331200")
    draft = profiles.with_code(draft, "09300000-2")
    assert draft.cpv == ("09300000",)
    assert profiles.with_code(draft, "09330000").cpv == ("09300000",)
    for forged in ("09300000-9", "99999999", "0930", "x"):
        with pytest.raises(ProfileError) as bad:
            profiles.with_code(draft, forged)
        assert bad.value.reason is ProfileRefusal.BAD_CODE
    assert profiles.keywords('biomasă, "energie regenerabilă" pellets') == (
        "biomasă",
        "energie regenerabilă",
        "pellets",
    )
    with pytest.raises(ProfileError) as empty:
        profiles.keywords(' "" , ')
    assert empty.value.reason is ProfileRefusal.NO_KEYWORDS
    assert profiles.parse_countries("RO, Bulgaria; Ungaria") == ("RO", "BG", "HU")
    assert profiles.parse_countries("ro bg") == ("RO", "BG")
    assert profiles.parse_countries("România, Germany") == ("RO", "DE")
    with pytest.raises(ProfileError) as unknown:
        profiles.parse_countries("RO, Atlantida")
    assert unknown.value.context["unknown"] == ["Atlantida"]
    with pytest.raises(ProfileError) as upside_down:
        profiles.with_value(draft, "RON", Decimal(10), Decimal(5))
    assert upside_down.value.reason is ProfileRefusal.BAD_RANGE
    with pytest.raises(ProfileError):
        profiles.with_value(draft, "USD", None, None)
    assert profiles.days("0") == 0 and profiles.days("365") == 365
    for typed in ("366", "-1", "trei", "1.5"):
        with pytest.raises(ProfileError):
            profiles.days(typed)
    kinds = profiles.toggled_kind(draft, "planning")
    assert kinds.kinds == ("planning", "competition")
    assert profiles.toggled_kind(kinds, "competition").kinds == ("planning",)
    with pytest.raises(ProfileError):
        profiles.with_delivery(draft, "digest", 24)
    round_trip = Draft.from_data(profiles.with_delivery(draft, "digest", 7).as_data())
    assert round_trip == profiles.with_delivery(draft, "digest", 7)


async def test_a_member_has_at_most_ten_and_a_guest_none(session_factory: Factory) -> None:
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        ana = await person(repos, "Ana")
        gigi = await person(repos, "Gigi", Role.GUEST)
        with pytest.raises(ProfileError) as guest:
            await profiles.create(repos, gigi, Draft(cpv=("09000000",)), now=NOW, language="ro")
        assert guest.value.reason is ProfileRefusal.MEMBERS_ONLY
        for number in range(profiles.MAX_PROFILES):
            saved = await profiles.create(
                repos, ana, Draft(name=f"P{number}", cpv=("09000000",)), now=NOW, language="ro"
            )
            assert saved.starts_at == NOW and saved.organisation_id == ana.organisation_id
        with pytest.raises(ProfileError) as eleventh:
            await profiles.create(repos, ana, Draft(cpv=("09000000",)), now=NOW, language="ro")
        assert eleventh.value.reason is ProfileRefusal.TOO_MANY
        with pytest.raises(ProfileError):
            await profiles.may_add(repos, ana)


async def test_two_saves_at_once_at_nine_make_ten_not_eleven(session_factory: Factory) -> None:
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        ana = await person(repos, "Ana")
        for number in range(profiles.MAX_PROFILES - 1):
            await profiles.create(repos, ana, Draft(name=f"P{number}", cpv=("09000000",)), now=NOW, language="ro")

    async def save(name: str) -> object:
        async with unit_of_work(session_factory) as session:
            try:
                return await profiles.create(
                    Repositories(session), ana, Draft(name=name, cpv=("03000000",)), now=NOW, language="ro"
                )
            except ProfileError as refusal:
                return refusal

    results = await asyncio.gather(save("A"), save("B"), save("C"))
    assert sum(isinstance(result, ProfileError) for result in results) == 2
    async with session_factory() as session:
        total = await session.scalar(select(func.count()).select_from(AlertProfile))
    assert total == profiles.MAX_PROFILES


async def test_only_the_owner_changes_a_profile_and_colleagues_open_and_copy_it(session_factory: Factory) -> None:
    await stored_tenders(session_factory)
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        ana = await person(repos, "Ana", organisation="EcoTech SRL")
        elena = await person(repos, "Elena", organisation="EcoTech SRL")
        dan = await person(repos, "Dan", organisation="Bio Med SRL")
        saved = await profiles.create(repos, ana, Draft(name="Biomasă", cpv=("09000000",)), now=NOW, language="ro")
        pid = saved.id
        # Elena sees it among her organisation's, read-only; Dan does not.
        [(seen, owner)] = await profiles.colleagues(repos, elena)
        assert seen.id == pid and owner.first_name == "Ana"
        assert (await profiles.visible(repos, elena, pid)).mine is False
        assert await profiles.colleagues(repos, dan) == []
        for attempt in (
            profiles.visible(repos, dan, pid),
            profiles.copy(repos, dan, pid, now=NOW),
            profiles.delete(repos, elena, pid),
            profiles.set_paused(repos, elena, pid, True),
            profiles.update(repos, dan, pid, Draft(name="Mine", cpv=("03000000",)), language="en"),
            profiles.matches_page(repos, dan, pid, 0, now=NOW, rates=RATES),
        ):
            with pytest.raises(ProfileError) as refused:
                await attempt
            assert refused.value.reason is ProfileRefusal.NOT_FOUND
        # Elena copies it: a profile of hers, from now on.
        later = NOW + timedelta(hours=1)
        copied = await profiles.copy(repos, elena, pid, now=later)
        assert copied.person_id == elena.id and copied.starts_at == later and copied.cpv == ["09000000"]
        # Ana pauses (twice is harmless), resumes, and the current matches are paged.
        assert (await profiles.set_paused(repos, ana, pid, True)).paused is True
        assert (await profiles.set_paused(repos, ana, pid, True)).paused is True
        assert (await profiles.set_paused(repos, ana, pid, False)).paused is False
        _, page = await profiles.matches_page(repos, ana, pid, 0, now=NOW, rates=RATES)
        assert page.total == 3 and page.pages == 1
        # Soonest deadline first; the one without a deadline last.
        assert page.tenders[-1].source_id == "5-2026"
        with pytest.raises(ProfileError) as past_the_end:
            await profiles.matches_page(repos, ana, pid, 1, now=NOW, rates=RATES)
        assert past_the_end.value.reason is ProfileRefusal.BAD_PAGE
        await profiles.delete(repos, ana, pid)
        with pytest.raises(ProfileError) as twice:
            await profiles.delete(repos, ana, pid)
        assert twice.value.reason is ProfileRefusal.NOT_FOUND
        assert [p.id for p in await profiles.mine(repos, elena)] == [copied.id]
