"""Working-group rules at the service level: the seed file, joining and leaving, the three-organisation rule,
confidentiality, managers' changes, lists and the card's size."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import build_i18n
from bot.services import groups
from bot.services.groups import (
    GroupError,
    GroupFilter,
    GroupRefusal,
    GroupSeedError,
    Texts,
    packaged_seed,
    parse_seed,
    seed_groups,
)
from bot.services.members import MembershipError, PersonView, provision, set_role
from bot.telegram_text import TEXT_LIMIT, parse_html, utf16_len
from handlers.groups import card_text
from storage.db import unit_of_work
from storage.models import (
    AuditEntry,
    ConfidentialityAcceptance,
    GroupEvent,
    GroupEventKind,
    GroupState,
    OutboxMessage,
    Role,
    WorkingGroup,
)
from storage.repositories import Repositories

SEED_KEYS = {
    "water-treatment",
    "sludge",
    "circular-economy",
    "soil-remediation",
    "eco-materials",
    "urban-energy",
    "environmental-monitoring",
    "disaster-management",
    "biomass-value-chain",
}


def test_packaged_seed_has_the_nine_groups_of_the_documents() -> None:
    seeds = parse_seed(packaged_seed())
    assert {seed.key for seed in seeds} == SEED_KEYS
    for seed in seeds:
        assert seed.title["ro"] and seed.title["en"] and seed.objective["ro"] and seed.objective["en"]
        assert (seed.terms is not None) == seed.confidential


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("groups: []", "working_groups list"),
        ("working_groups: [{key: Bad Key}]", "key must be"),
        (
            "working_groups:\n - {key: a, title: {ro: x, en: y}, objective: {ro: x, en: y}}\n"
            " - {key: a, title: {ro: x, en: y}, objective: {ro: x, en: y}}",
            "'a': the key appears twice",
        ),
        ("working_groups: [{key: a, title: {ro: x}, objective: {ro: x, en: y}}]", "'a': title.en is missing"),
        ("working_groups: [{key: a, title: {ro: x, en: y}, objective: {ro: x, en: y}, colour: red}]", "colour"),
        (
            "working_groups: [{key: a, title: {ro: x, en: y}, objective: {ro: x, en: y}, confidential: true}]",
            "'a': confidentiality_terms must map",
        ),
        (
            "working_groups: [{key: a, title: {ro: x, en: y}, objective: {ro: x, en: y},"
            " confidentiality_terms: {ro: x, en: y}}]",
            "confidential is not true",
        ),
        (f"working_groups: [{{key: a, title: {{ro: x, en: {'y' * 121}}}, objective: {{ro: x, en: y}}}}]", "120"),
        ("working_groups: [{key: a", "not valid YAML"),
    ],
)
def test_seed_file_problems_are_named(text: str, problem: str) -> None:
    with pytest.raises(GroupSeedError, match=problem.replace("(", r"\(")):
        parse_seed(text)


async def _count(session: AsyncSession, model: type[WorkingGroup] | type[GroupEvent]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_seed_is_idempotent_and_follows_text_changes(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with unit_of_work(session_factory) as session:
        assert await seed_groups(Repositories(session)) == 9
    async with unit_of_work(session_factory) as session:
        assert await seed_groups(Repositories(session)) == 0
        assert await _count(session, WorkingGroup) == 9
        assert await _count(session, GroupEvent) == 9
        sludge = await session.scalar(select(WorkingGroup).where(WorkingGroup.key == "sludge"))
        assert sludge is not None and sludge.state == GroupState.PROPOSED.value
        # What members did to a group is not the seed's to undo.
        sludge.state = GroupState.ACTIVE.value

    changed = packaged_seed().replace("Advanced technologies for sludge", "Better technologies for sludge")
    async with unit_of_work(session_factory) as session:
        assert await seed_groups(Repositories(session), text=changed) == 1
    async with unit_of_work(session_factory) as session:
        sludge = await session.scalar(select(WorkingGroup).where(WorkingGroup.key == "sludge"))
        assert sludge is not None
        assert sludge.title_en is not None and sludge.title_en.startswith("Better technologies")
        assert sludge.state == GroupState.ACTIVE.value
        assert await _count(session, WorkingGroup) == 9


# --- the rules, without the chat -------------------------------------------------------------------------------


# The language of people who chose none: the deployment's DEFAULT_LOCALE.
DEFAULT_LOCALE = "ro"


@dataclass
class Cast:
    maria: PersonView
    ana: PersonView
    elena: PersonView
    dan: PersonView
    radu: PersonView
    gigi: PersonView
    sludge: int
    eco: int


async def cast(session_factory: async_sessionmaker[AsyncSession]) -> Cast:
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        await seed_groups(repos)

        async def person(telegram_id: int, name: str, role: Role, organisation: str | None) -> PersonView:
            return await provision(
                repos,
                telegram_id=telegram_id,
                first_name=name,
                language_code="ro",
                role=role,
                organisation=organisation,
                actor_label="test",
            )

        sludge = await session.scalar(select(WorkingGroup.id).where(WorkingGroup.key == "sludge"))
        eco = await session.scalar(select(WorkingGroup.id).where(WorkingGroup.key == "eco-materials"))
        assert sludge is not None and eco is not None
        return Cast(
            maria=await person(3001, "Maria", Role.MANAGER, None),
            ana=await person(1001, "Ana", Role.MEMBER, "EcoTech SRL"),
            elena=await person(1004, "Elena", Role.MEMBER, "EcoTech SRL"),
            dan=await person(1002, "Dan", Role.MEMBER, "Bio SRL"),
            radu=await person(1005, "Radu", Role.MEMBER, "Green Energy SRL"),
            gigi=await person(1003, "Gigi", Role.GUEST, None),
            sludge=sludge,
            eco=eco,
        )


async def outbox(session_factory: async_sessionmaker[AsyncSession], batch_start: str) -> dict[str, set[int]]:
    """Chat ids per batch, for the batches whose name starts with `batch_start`."""
    async with unit_of_work(session_factory) as session:
        rows = await session.execute(
            select(OutboxMessage.batch, OutboxMessage.chat_id).where(OutboxMessage.batch.startswith(batch_start))
        )
        found: dict[str, set[int]] = {}
        for batch, chat_id in rows.all():
            found.setdefault(batch, set()).add(chat_id)
        return found


async def test_the_third_distinct_organisation_activates_and_leaving_flags(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    people = await cast(session_factory)
    for who in (people.ana, people.elena, people.dan):
        async with unit_of_work(session_factory) as session:
            outcome = await groups.join(Repositories(session), who, people.sludge, DEFAULT_LOCALE)
            assert not outcome.activated
    assert outcome.card.organisations == 2 and outcome.card.people == 3
    assert await outbox(session_factory, f"group:{people.sludge}:") == {}

    async with unit_of_work(session_factory) as session:
        outcome = await groups.join(Repositories(session), people.radu, people.sludge, DEFAULT_LOCALE)
    assert outcome.activated and outcome.card.state is GroupState.ACTIVE
    assert await outbox(session_factory, f"group:{people.sludge}:") == {
        f"group:{people.sludge}:activated": {1001, 1004, 1002, 1005, 3001}
    }

    # Elena leaves: EcoTech is still there through Ana.
    async with unit_of_work(session_factory) as session:
        left = await groups.leave(Repositories(session), people.elena, people.sludge, DEFAULT_LOCALE)
    assert not left.flagged and left.card.organisations == 3
    async with unit_of_work(session_factory) as session:
        left = await groups.leave(Repositories(session), people.ana, people.sludge, DEFAULT_LOCALE)
    assert left.flagged and left.card.flagged_at is not None and left.card.state is GroupState.ACTIVE
    flagged = {batch: chats for batch, chats in (await outbox(session_factory, f"group:{people.sludge}:")).items()}
    assert [chats for batch, chats in flagged.items() if ":flagged:" in batch] == [{3001}]

    # Back to three: the flag is cleared; falling again is told again, in a batch of its own.
    async with unit_of_work(session_factory) as session:
        back = await groups.join(Repositories(session), people.ana, people.sludge, DEFAULT_LOCALE)
    assert back.card.flagged_at is None and not back.activated
    recovered = await outbox(session_factory, f"group:{people.sludge}:recovered:")
    assert list(recovered.values()) == [{3001}]  # the managers, who were told of the fall
    assert [entry.kind for entry in back.card.history][:3] == [
        GroupEventKind.RECOVERED,
        GroupEventKind.FLAGGED,
        GroupEventKind.ACTIVATED,
    ]
    async with unit_of_work(session_factory) as session:
        assert (await groups.leave(Repositories(session), people.dan, people.sludge, DEFAULT_LOCALE)).flagged
    batches = await outbox(session_factory, f"group:{people.sludge}:flagged:")
    assert len(batches) == 2


@pytest.mark.parametrize(
    ("who", "group", "refusal"),
    [
        ("gigi", "sludge", GroupRefusal.NOT_MEMBER),
        ("maria", "sludge", GroupRefusal.NO_ORGANISATION),
        ("ana", "eco", GroupRefusal.TERMS_NOT_ACCEPTED),
        ("ana", "unknown", GroupRefusal.NOT_FOUND),
    ],
)
async def test_joins_that_are_refused(
    session_factory: async_sessionmaker[AsyncSession], who: str, group: str, refusal: GroupRefusal
) -> None:
    people = await cast(session_factory)
    group_id = {"sludge": people.sludge, "eco": people.eco, "unknown": 9999}[group]
    with pytest.raises(GroupError) as refused:
        async with unit_of_work(session_factory) as session:
            await groups.join(Repositories(session), getattr(people, who), group_id, DEFAULT_LOCALE)
    assert refused.value.reason is refusal


async def test_a_role_taken_away_counts_at_once(session_factory: async_sessionmaker[AsyncSession]) -> None:
    people = await cast(session_factory)
    async with unit_of_work(session_factory) as session:
        # Dan's remembered view still says member; the database no longer does.
        await set_role(Repositories(session), people.dan.telegram_id, Role.GUEST, actor_label="test")
    with pytest.raises(GroupError) as refused:
        async with unit_of_work(session_factory) as session:
            await groups.join(Repositories(session), people.dan, people.sludge, DEFAULT_LOCALE)
    assert refused.value.reason is GroupRefusal.NOT_MEMBER
    with pytest.raises(MembershipError):
        async with unit_of_work(session_factory) as session:
            await groups.dissolve(
                Repositories(session), people.ana, people.sludge, reason="x", default_locale=DEFAULT_LOCALE
            )


async def test_accepting_terms_records_them_as_shown(session_factory: async_sessionmaker[AsyncSession]) -> None:
    people = await cast(session_factory)
    async with unit_of_work(session_factory) as session:
        outcome = await groups.accept_terms(Repositories(session), people.ana, people.eco, "en", DEFAULT_LOCALE)
    assert outcome.joined and outcome.card.viewer_accepted
    async with unit_of_work(session_factory) as session:
        row = await session.scalar(select(ConfidentialityAcceptance))
        assert row is not None and row.locale == "en" and row.terms.startswith("By joining this group")
        card = await groups.card(Repositories(session), people.maria, people.eco)
    assert card.acceptances_total == 1 and card.acceptances[0].name == "Ana"
    async with unit_of_work(session_factory) as session:
        assert (await groups.card(Repositories(session), people.dan, people.eco)).acceptances == []


async def test_transform_keeps_the_old_objective_and_dissolve_tells_members(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    people = await cast(session_factory)
    for who in (people.ana, people.dan):
        async with unit_of_work(session_factory) as session:
            await groups.join(Repositories(session), who, people.sludge, DEFAULT_LOCALE)
    async with unit_of_work(session_factory) as session:
        card = await groups.transform(
            Repositories(session),
            people.maria,
            people.sludge,
            objective={"ro": "Nămoluri în agricultură."},
            reason="Un obiectiv mai precis.",
            default_locale=DEFAULT_LOCALE,
        )
    assert card.objective.ro == "Nămoluri în agricultură." and card.objective.en is None
    transformed = card.history[0]
    assert transformed.kind is GroupEventKind.TRANSFORMED and transformed.reason == "Un obiectiv mai precis."
    assert transformed.previous_objective is not None
    assert (transformed.previous_objective.en or "").startswith("Works on technologies for treating sewage")
    # Seeding again (every sandbox start does) keeps the objective the managers gave it.
    async with unit_of_work(session_factory) as session:
        assert await seed_groups(Repositories(session)) == 0
        card = await groups.card(Repositories(session), people.maria, people.sludge)
    assert card.objective.ro == "Nămoluri în agricultură."

    async with unit_of_work(session_factory) as session:
        card = await groups.dissolve(
            Repositories(session), people.maria, people.sludge, reason="Nu mai e nevoie.", default_locale=DEFAULT_LOCALE
        )
    assert card.state is GroupState.DISSOLVED
    batches = await outbox(session_factory, f"group:{people.sludge}:")
    assert batches[f"group:{people.sludge}:dissolved"] == {1001, 1002}
    assert [chats for batch, chats in batches.items() if ":transformed:" in batch] == [{1001, 1002}]
    async with unit_of_work(session_factory) as session:
        audit = await session.scalars(select(AuditEntry.action).where(AuditEntry.actor_id == people.maria.id))
        assert set(audit.all()) == {"group.transformed", "group.dissolved"}
    for action in (groups.join, groups.leave):
        with pytest.raises(GroupError) as refused:
            async with unit_of_work(session_factory) as session:
                await action(Repositories(session), people.radu, people.sludge, DEFAULT_LOCALE)
        assert refused.value.reason is GroupRefusal.DISSOLVED


async def test_a_proposal_waits_for_its_other_language(session_factory: async_sessionmaker[AsyncSession]) -> None:
    people = await cast(session_factory)
    async with unit_of_work(session_factory) as session:
        card = await groups.propose(
            Repositories(session),
            people.ana,
            title=" Hidrogen  verde ",
            objective="Proiecte comune.",
            locale="ro",
            default_locale=DEFAULT_LOCALE,
        )
    assert card.title == Texts(ro="Hidrogen verde", en=None)
    assert await outbox(session_factory, f"group:{card.id}:") == {f"group:{card.id}:proposed": {3001}}
    assert card.viewer_in and card.state is GroupState.PROPOSED and card.missing_language == "en"
    with pytest.raises(GroupError):
        async with unit_of_work(session_factory) as session:
            await groups.propose(
                Repositories(session), people.gigi, title="x", objective="y", locale="ro", default_locale=DEFAULT_LOCALE
            )
    async with unit_of_work(session_factory) as session:
        card = await groups.add_language(
            Repositories(session), people.maria, card.id, locale="en", title="Green hydrogen", objective="Joint work."
        )
    assert card.title == Texts(ro="Hidrogen verde", en="Green hydrogen") and card.missing_language is None
    with pytest.raises(GroupError) as refused:
        async with unit_of_work(session_factory) as session:
            await groups.add_language(
                Repositories(session), people.maria, card.id, locale="en", title="Again", objective="Again"
            )
    assert refused.value.reason is GroupRefusal.NOTHING_MISSING


async def test_lists_page_and_filter(session_factory: async_sessionmaker[AsyncSession]) -> None:
    people = await cast(session_factory)
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        await groups.join(repos, people.dan, people.sludge, DEFAULT_LOCALE)
        first = await groups.list_groups(repos, people.dan, GroupFilter.ALL, 0)
        last = await groups.list_groups(repos, people.dan, GroupFilter.ALL, 99)
        mine = await groups.list_groups(repos, people.dan, GroupFilter.MINE, 0)
        proposed = await groups.list_groups(repos, people.gigi, GroupFilter.PROPOSED, 0)
    assert (first.total, first.pages, len(first.groups)) == (9, 2, groups.PAGE_SIZE)
    assert (last.page, len(last.groups)) == (1, 1)
    assert [group.id for group in mine.groups] == [people.sludge] and mine.groups[0].mine
    assert proposed.total == 9


async def test_the_card_fits_one_message_whatever_its_history(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    people = await cast(session_factory)
    for number in range(12):
        async with unit_of_work(session_factory) as session:
            card = await groups.transform(
                Repositories(session),
                people.maria,
                people.sludge,
                objective={"ro": "ă" * groups.OBJECTIVE_MAX, "en": "<&>" * (groups.OBJECTIVE_MAX // 3)},
                reason=f"{number} " + "ș" * (groups.REASON_MAX - 3),
                default_locale=DEFAULT_LOCALE,
            )
    i18n = build_i18n()
    for locale in ("ro", "en"):
        with i18n.context(), i18n.use_locale(locale):
            text = card_text(card, locale, ZoneInfo("Europe/Bucharest"))
        assert utf16_len(parse_html(text)[0]) <= TEXT_LIMIT
        assert "11 " + "ș" * 10 in text  # the newest entry stays
