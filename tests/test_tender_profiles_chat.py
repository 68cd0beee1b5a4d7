"""Members' tender alert profiles in the chat (issue 11): /tenders, a new profile made by browsing the CPV tree
and by searching it in Romanian and English, inflected keywords, the preview count against stored tenders, the
card, pause, resume and delete (confirmed), the ten-profile limit, a colleague's profile copied, the current
matches paged, forged buttons and a guest refused; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from bot.config import Settings
from bot.sandbox.client import SandboxUser
from bot.sandbox.harness import SandboxBot
from bot.services.tenders.model import Tender, TenderKind
from bot.services.tenders.store import store_tenders
from storage.db import unit_of_work
from storage.models import AlertProfile, Person, utcnow
from storage.repositories import Repositories


@pytest.fixture
async def sandbox(migrated_url: str, make_settings: Callable[..., Settings]) -> AsyncIterator[SandboxBot]:
    async with SandboxBot(make_settings(migrated_url)) as running:
        yield running


async def cast(sandbox: SandboxBot) -> dict[str, SandboxUser]:
    people = {
        "ana": await sandbox.person("ana", 1001, "Ana", language_code="ro", role="member", organisation="EcoTech SRL"),
        "elena": await sandbox.person(
            "elena", 1004, "Elena", language_code="ro", role="member", organisation="EcoTech SRL"
        ),
        "dan": await sandbox.person("dan", 1002, "Dan", language_code="en", role="member", organisation="Bio & <Med>"),
        "gigi": await sandbox.person("gigi", 1003, "Gigi", language_code="ro"),
    }
    for person in people.values():
        await person.send("/start")
    return people


def tender(source_id: str, title: dict[str, str], days: int | None = 30, **fields: object) -> Tender:
    now = utcnow()
    values: dict[str, object] = {
        "source": "ted",
        "source_id": source_id,
        "kind": TenderKind.COMPETITION,
        "title": title,
        "buyer": "Primăria Florești",
        "country": "RO",
        "deadline": None if days is None else now + timedelta(days=days, hours=1),
        "links": {"ro": f"https://ted.europa.eu/ro/notice/-/detail/{source_id}"},
        "published_at": now - timedelta(days=1),
    }
    values.update(fields)
    return Tender(**values)  # type: ignore[arg-type]


async def store(sandbox: SandboxBot, tenders: list[Tender]) -> None:
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        await store_tenders(Repositories(session), tenders, now=utcnow() - timedelta(hours=2))


ELECTRICITY = [
    tender(f"{n}-2026", {"ro": f"Furnizare energie electrică lotul {n}", "en": f"Electricity supply lot {n}"},
           cpv=("09310000",), value=Decimal(100_000 * n), currency="RON")
    for n in range(1, 11)
]  # fmt: skip
OTHERS = [
    tender("20-2026", {"ro": "Peleți din biomasă pentru școli"}, cpv=("09111400",)),
    tender("21-2026", {"ro": "Cazane pe biomasă"}, days=-2, cpv=("09111400",)),
    tender("22-2026", {"en": "Laboratory reagents"}, cpv=("33696000",)),
]


def seen(who: SandboxUser) -> str:
    return (who.last_text or "").replace("\u00a0", " ")


async def profiles_of(sandbox: SandboxBot, telegram_id: int) -> list[AlertProfile]:
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        person = await session.scalar(select(Person).where(Person.telegram_id == telegram_id))
        assert person is not None
        rows = await session.scalars(select(AlertProfile).where(AlertProfile.person_id == person.id))
        return list(rows.all())


async def test_dan_makes_a_profile_by_browsing_and_sees_how_many_current_tenders_it_matches(
    sandbox: SandboxBot,
) -> None:
    people = await cast(sandbox)
    dan = people["dan"]
    await store(sandbox, ELECTRICITY + OTHERS)

    await dan.send("/tenders")
    assert "Your tender alert profiles" in seen(dan) and "(0 of 10)" in seen(dan)
    await dan.tap("New profile")
    assert "What shall I call this profile?" in seen(dan)
    await dan.send("Electricity <RO> & more")
    # CPV: division 09 is on the first page; open it, open group 093, add class 0931 Electricity.
    assert "Divisions, page 1 of 6" in seen(dan)
    await dan.tap("09 Petroleum products")
    await dan.tap("093 Electricity, heating")
    await dan.tap("0931 Electricity")
    assert dan.last_callback_answer is not None and "09310000-5 Electricity" in (dan.last_callback_answer[0] or "")
    assert "• 09310000-5 Electricity" in seen(dan)
    await dan.tap("Continue")
    assert "3/9. Keywords" in seen(dan)
    await dan.tap("No keywords")
    await dan.send("catering")
    assert "5/9. Tenders of which countries?" in seen(dan)
    await dan.tap("Romania")
    await dan.tap("RON")
    await dan.send("200,000")
    await dan.send("100,000")
    assert seen(dan) == "The minimum is above the maximum: please give a maximum at least as large."
    await dan.send("500,000.00")
    assert "At least how many days" in seen(dan)
    await dan.send("400")
    assert "from 0 to 365" in seen(dan)
    await dan.send("10")
    assert "Which notices?" in seen(dan)
    await dan.tap("planned purchases")
    assert "✅ planned purchases" in dan.last_message.labels  # type: ignore[union-attr]
    await dan.tap("planned purchases")
    await dan.tap("Continue")
    assert "No alert is sent at night, from 22:00 to 08:00" in seen(dan)
    await dan.tap("A daily digest")
    # Only the hours outside the quiet ones are offered: nothing is sent at night.
    hours = [label for label in dan.last_message.labels if label.endswith(":00")]  # type: ignore[union-attr]
    assert hours == [f"{hour:02d}:00" for hour in range(8, 22)]
    await dan.tap("08:00")
    text = seen(dan)
    # Lots 2 to 5 (200,000 to 500,000 lei, in Romania, 30 days left).
    assert "It would match 4 current tenders" in text
    assert 'New profile "Electricity &lt;RO&gt; &amp; more"' not in text  # the text is HTML: shown escaped
    assert "Electricity <RO> & more" in text
    assert "from RON 200,000.00 to RON 500,000.00" in text
    assert "a daily digest at 08:00" in text
    await dan.tap("Save the profile")
    assert dan.last_callback_answer == ("💾 Saved. You will be told of new tenders that fit it from now on.", False)
    assert "🔔 Electricity <RO> & more — ▶️ active" in seen(dan)
    assert "Countries:</b> Romania" not in seen(dan) and "Countries: Romania" in seen(dan)
    assert "Excluding: catering" in seen(dan) and "09310000-5 Electricity" in seen(dan)
    [saved] = await profiles_of(sandbox, 1002)
    assert saved.cpv == ["09310000"] and saved.exclude == ["catering"] and saved.countries == ["RO"]
    assert (saved.value_min_hundredths, saved.value_max_hundredths, saved.currency) == (200_000_00, 500_000_00, "RON")
    assert (saved.min_days_left, saved.kinds, saved.delivery, saved.digest_hour) == (10, ["competition"], "digest", 8)
    assert saved.starts_at > utcnow() - timedelta(minutes=5)

    # Its current matches: the four lots, soonest deadline first, with days left and the link.
    await dan.tap("Current matches")
    assert "4 open tenders match now" in seen(dan)
    assert "Electricity supply lot 2" in seen(dan) and "(30 days left)" in seen(dan)

    # A Save pressed twice makes one profile: the second press is stale.
    assert len(await profiles_of(sandbox, 1002)) == 1


async def test_ana_searches_codes_in_romanian_and_an_inflected_keyword_matches(sandbox: SandboxBot) -> None:
    people = await cast(sandbox)
    ana = people["ana"]
    await store(sandbox, ELECTRICITY + OTHERS)
    await ana.send("/tenders")
    assert "Profilurile dumneavoastră" in seen(ana) or "profil" in seen(ana).lower()
    await ana.tap("Profil nou")
    await ana.tap("Omiteți")
    # A code typed, then words of the Romanian labels.
    await ana.send("0931")
    assert "09310000-5 Electricitate" in seen(ana)
    await ana.tap("09310000 Electricitate")
    await ana.send("energie solara")
    assert "09330000-1 Energie solară" in seen(ana)
    await ana.tap("09330000 Energie solară")
    assert "• 09310000-5 Electricitate" in seen(ana) and "• 09330000-1 Energie solară" in seen(ana)
    # Remove one.
    await ana.tap("Eliminați un cod")
    await ana.tap("09330000")
    assert "09330000" not in seen(ana)
    await ana.tap("Înapoi")
    await ana.tap("Continuați")
    await ana.send("biomasei")
    await ana.tap("Nu excludeți nimic")
    await ana.tap("Orice țară")
    await ana.tap("Orice valoare")
    await ana.tap("Oricât")
    await ana.tap("Continuați")
    await ana.tap("Fiecare alertă")
    # Ten electricity lots plus the biomass pellets (the boilers' deadline passed).
    assert "Ar corespunde cu 11 licitații actuale" in seen(ana)
    await ana.tap("Salvați profilul")
    [saved] = await profiles_of(sandbox, 1001)
    assert saved.name == "Electricitate" and saved.include == ["biomasei"]
    assert saved.organisation_id is not None


async def test_nothing_to_match_is_not_saved_and_the_form_can_be_cancelled(sandbox: SandboxBot) -> None:
    people = await cast(sandbox)
    dan = people["dan"]
    await dan.send("/tenders")
    await dan.tap("New profile")
    await dan.send("Empty")
    await dan.tap("Continue")
    await dan.tap("No keywords")
    await dan.tap("Exclude nothing")
    await dan.tap("Any country")
    await dan.tap("Any value")
    await dan.tap("Any")
    await dan.tap("Continue")
    await dan.tap("Each alert at once")
    assert "It cannot be saved yet" in seen(dan)
    await dan.tap("Save the profile")
    assert dan.last_callback_answer == (
        "This profile would match nothing: give it at least one CPV code or one keyword to look for.",
        True,
    )
    # It stays open: a keyword added from the summary, then it can be saved... but Dan cancels.
    await dan.tap("Keywords")
    await dan.send('"energie regenerabilă", pellets')
    assert "Keywords:</b>" not in seen(dan) and '"energie regenerabilă", pellets' in seen(dan)
    await dan.tap("Cancel")
    assert "Cancelled. Nothing was changed." in seen(dan)
    assert await profiles_of(sandbox, 1002) == []


async def make_quick_profile(who: SandboxUser, name: str, keyword: str = "biomasă") -> None:
    english = who.info["language_code"] == "en"
    await who.send("/tenders")
    await who.tap("New profile" if english else "Profil nou")
    await who.send(name)
    await who.tap("Continue" if english else "Continuați")
    await who.send(keyword)
    await who.tap("Exclude nothing" if english else "Nu excludeți nimic")
    await who.tap("Any country" if english else "Orice țară")
    await who.tap("Any value" if english else "Orice valoare")
    await who.tap("Any" if english else "Oricât")
    await who.tap("Continue" if english else "Continuați")
    await who.tap("Each alert at once" if english else "Fiecare alertă")
    await who.tap("Save the profile" if english else "Salvați profilul")


async def test_pause_resume_delete_with_confirmation_and_the_limit_of_ten(sandbox: SandboxBot) -> None:
    people = await cast(sandbox)
    dan = people["dan"]
    await make_quick_profile(dan, "Pellets")
    await dan.tap("Pause")
    assert dan.last_callback_answer == ("⏸ Paused: no alerts from it until you resume it.", False)
    assert "— ⏸ paused" in seen(dan)
    await dan.tap("Resume")
    assert "— ▶️ active" in seen(dan)
    await dan.tap("Delete")
    assert 'Delete the profile "Pellets"?' in seen(dan)
    await dan.tap("No, keep it")
    assert "🔔 Pellets" in seen(dan)
    await dan.tap("Delete")
    await dan.tap("Yes, delete it")
    assert dan.last_callback_answer == ("🗑 Deleted.", False)
    assert "(0 of 10)" in seen(dan)
    assert await profiles_of(sandbox, 1002) == []
    for number in range(10):
        await make_quick_profile(dan, f"P{number}")
    assert len(await profiles_of(sandbox, 1002)) == 10
    await dan.send("/tenders")
    assert "(10 of 10)" in seen(dan)
    await dan.tap("New profile")
    assert dan.last_callback_answer == (
        "You already have 10 alert profiles, the most a member may have. Delete or change one instead.",
        True,
    )


async def test_elena_opens_and_copies_her_colleagues_profile_dan_cannot(sandbox: SandboxBot) -> None:
    people = await cast(sandbox)
    ana, elena, dan = people["ana"], people["elena"], people["dan"]
    await make_quick_profile(ana, "Biomasă <Nord>")
    [anas] = await profiles_of(sandbox, 1001)
    await elena.send("/tenders")
    await elena.tap("Profilurile organizației mele")
    assert "Biomasă <Nord> — Ana" in seen(elena)
    await elena.tap("Biomasă <Nord>")
    assert "(numai citire)" in seen(elena)
    assert "Editați" not in " ".join(elena.last_message.labels)  # type: ignore[union-attr]
    await elena.tap("Copiați la profilurile mele")
    [elenas] = await profiles_of(sandbox, 1004)
    assert elenas.include == anas.include and elenas.id != anas.id and elenas.starts_at >= anas.starts_at

    # Dan, of another organisation, forges buttons for Ana's profile: refused, nothing changed.
    await dan.send("/tenders")
    for action in ("card", "copy", "edit", "pause", "del", "delyes", "match"):
        answer = await dan.forge(f"tp:{action}:{anas.id}:0")
        assert answer == (
            "This alert profile does not exist (any more), or it is not yours to change.",
            True,
        ), action
    # Elena may open Ana's but not change it.
    for action in ("edit", "pause", "delyes"):
        answer = await elena.forge(f"tp:{action}:{anas.id}:0")
        assert answer is not None and "nu există" in (answer[0] or ""), action
    [still] = await profiles_of(sandbox, 1001)
    assert still.paused is False
    assert await profiles_of(sandbox, 1002) == []


async def test_forged_codes_and_pages_and_a_guest(sandbox: SandboxBot) -> None:
    people = await cast(sandbox)
    dan, gigi = people["dan"], people["gigi"]
    await dan.send("/tenders")
    await dan.tap("New profile")
    await dan.tap("Skip")
    assert await dan.forge("tpc:add:99999999:0") == ("That is not a CPV code I know.", True)
    assert await dan.forge("tpc:open:09310000:0") == ("That is not a CPV code I know.", True)
    assert await dan.forge("tpc:open::6") == ("That page does not exist.", True)
    assert await dan.forge("tpc:open::99999") == ("That page does not exist.", True)
    # Still in the form: a real tap works.
    await dan.tap("09 Petroleum")
    assert "You are in: 09000000-3" in seen(dan)
    await make_quick_profile(dan, "Mine")
    [mine] = await profiles_of(sandbox, 1002)
    assert await dan.forge(f"tp:match:{mine.id}:3") == ("That page does not exist.", True)

    await gigi.send("/tenders")
    assert "Alertele de licitații sunt pentru membrii clusterului" in seen(gigi)
    assert "Aderați la cluster" in " ".join(gigi.last_message.labels)  # type: ignore[union-attr]
    await gigi.forge("tp:new:0:0")
    assert "Alertele de licitații sunt pentru membrii clusterului" in seen(gigi)
    assert sandbox.rt is not None
    async with unit_of_work(sandbox.rt.session_factory) as session:
        assert await session.scalar(select(func.count()).select_from(AlertProfile)) == 1


async def test_dan_edits_one_field_and_two_presses_at_once_save_and_delete_once(sandbox: SandboxBot) -> None:
    people = await cast(sandbox)
    dan = people["dan"]
    await store(sandbox, ELECTRICITY + OTHERS)
    await make_quick_profile(dan, "Pellets", keyword="peleti")
    [before] = await profiles_of(sandbox, 1002)
    await dan.tap("Edit")
    assert 'Editing "Pellets"' in seen(dan)
    # "peleti" typed without diacritics finds "Peleți din biomasă".
    assert "It would match 1 current tender" in seen(dan)
    await dan.tap("Days left")
    assert "Now: 0" in seen(dan)
    await dan.send("45")
    assert "at least 45 days left" in seen(dan)
    assert "It would match 0 current tenders" in seen(dan)
    await dan.tap("Countries")
    await dan.send("Romania, Atlantis")
    assert seen(dan).startswith("I do not know these countries: Atlantis.")
    await dan.send("ro, Bulgaria")
    assert "Countries: Romania, Bulgaria" in seen(dan)
    # Save pressed twice at once: saved once, the second press is stale.
    review = dan.last_message
    assert review is not None
    await sandbox.at_once(dan.tap("Save the changes", message=review), dan.tap("Save the changes", message=review))
    [after] = await profiles_of(sandbox, 1002)
    assert after.id == before.id and after.min_days_left == 45 and after.countries == ["RO", "BG"]
    assert after.starts_at == before.starts_at
    # Delete confirmed twice at once: deleted once, the other press refused.
    await dan.tap("Delete")
    confirm = dan.last_message
    assert confirm is not None
    await sandbox.at_once(dan.tap("Yes, delete it", message=confirm), dan.tap("Yes, delete it", message=confirm))
    assert await profiles_of(sandbox, 1002) == []
    assert "(0 of 10)" in seen(dan)
