"""Projects and commitments, the rules without the chat: a plan and a budget before preparation, commitments
only in preparation, priority to those who committed first, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services import members, projects
from bot.services.members import PersonView
from bot.services.projects import Missing, ProjectError, ProjectRefusal
from storage.db import unit_of_work
from storage.models import ProjectState, Role
from storage.repositories import Repositories

Factory = async_sessionmaker[AsyncSession]
_IDS: Iterator[int] = itertools.count(50_000)
LEI = "RON"


async def person(
    repos: Repositories, name: str, role: Role = Role.MEMBER, organisation: str | None = None
) -> PersonView:
    telegram_id = next(_IDS)
    return await members.provision(
        repos,
        telegram_id=telegram_id,
        first_name=name,
        role=role,
        organisation=organisation if organisation is not None else (f"{name} SRL" if role is Role.MEMBER else None),
    )


async def prepared_project(factory: Factory, manager: PersonView, proposer: PersonView) -> int:
    async with unit_of_work(factory) as session:
        repos = Repositories(session)
        project = await projects.propose(
            repos, proposer, title="Compost urban", description="Compost din deșeuri verzi.", locale="ro"
        )
        await projects.set_plan(repos, proposer, project.id, [("Studiu de fezabilitate", None, date(2027, 3, 1))])
        await projects.set_budget(repos, proposer, project.id, 12_500_00, "RON")
        await projects.set_needs(
            repos, proposer, project.id, {("money", LEI): 10_000_00, ("person_days", "person_days"): 60_00}
        )
        await projects.move(repos, manager, project.id, ProjectState.PREPARATION, reason="Plan și buget gata.")
        return project.id


async def test_an_idea_takes_no_commitment_and_is_prepared_only_with_a_plan_and_a_budget(
    session_factory: Factory,
) -> None:
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        maria = await person(repos, "Maria", Role.MANAGER)
        ana = await person(repos, "Ana")
        guest = await person(repos, "Gigi", Role.GUEST)
        project = await projects.propose(repos, ana, title="Compost", description="Din deșeuri verzi.", locale="ro")
        assert await projects.missing_for_preparation(repos, project.id) == [Missing.ACTION_PLAN, Missing.BUDGET]
        with pytest.raises(ProjectError) as refused:
            await projects.commit(repos, ana, project.id, kind="money", unit=LEI, hundredths=100_00)
        assert refused.value.reason is ProjectRefusal.NOT_TAKING_COMMITMENTS
        with pytest.raises(ProjectError) as not_ready:
            await projects.move(repos, maria, project.id, ProjectState.PREPARATION, reason="Gata")
        assert not_ready.value.reason is ProjectRefusal.NOT_READY
        assert not_ready.value.context["missing"] == ["action_plan", "budget"]
        await projects.set_plan(repos, ana, project.id, [("Studiu", None, date(2027, 1, 15))])
        assert await projects.missing_for_preparation(repos, project.id) == [Missing.BUDGET]
        with pytest.raises(ProjectError) as currency:
            await projects.set_budget(repos, ana, project.id, 100_00, "USD")
        assert currency.value.reason is ProjectRefusal.BAD_CURRENCY
        await projects.set_budget(repos, ana, project.id, 5_000_00, "EUR")
        moved = await projects.move(repos, maria, project.id, ProjectState.PREPARATION, reason="Plan și buget.")
        assert moved.state == ProjectState.PREPARATION.value
        with pytest.raises(ProjectError) as guest_refused:
            await projects.commit(repos, guest, project.id, kind="money", unit=LEI, hundredths=100_00)
        assert guest_refused.value.reason is ProjectRefusal.MEMBERS_ONLY
        with pytest.raises(members.MembershipError):
            await projects.move(repos, ana, project.id, ProjectState.RUNNING, reason="Eu decid")


@pytest.mark.parametrize("hundredths", [0, -100, 10**14 + 1])
async def test_absurd_amounts_are_refused(session_factory: Factory, hundredths: int) -> None:
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        maria, ana = await person(repos, "Maria", Role.MANAGER), await person(repos, "Ana")
    project_id = await prepared_project(session_factory, maria, ana)
    async with unit_of_work(session_factory) as session:
        with pytest.raises(ProjectError) as refused:
            await projects.commit(Repositories(session), ana, project_id, kind="money", unit=LEI, hundredths=hundredths)
        assert refused.value.reason is ProjectRefusal.BAD_AMOUNT


async def test_those_who_commit_first_come_first_and_withdrawing_loses_the_place(session_factory: Factory) -> None:
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        maria = await person(repos, "Maria", Role.MANAGER)
        ana = await person(repos, "Ana")
        ana_colleague = await person(repos, "Andrei", organisation="Ana SRL")
        bogdan = await person(repos, "Bogdan")
        carmen = await person(repos, "Carmen")
    project_id = await prepared_project(session_factory, maria, ana)

    async def act(
        who: PersonView, amount: int | None, kind: str = "money", unit: str = LEI
    ) -> projects.CommitmentChange:
        async with unit_of_work(session_factory) as session:
            repos = Repositories(session)
            if amount is None:
                return await projects.withdraw(repos, who, project_id, kind=kind, unit=unit)
            return await projects.commit(repos, who, project_id, kind=kind, unit=unit, hundredths=amount)

    assert (await act(bogdan, 2_000_00)).rank == 1
    assert (await act(ana, 5_000_00)).rank == 2
    assert (await act(carmen, 1_000_00)).rank == 3
    # A colleague of Ana's commits person-days: one organisation, one place.
    assert (await act(ana_colleague, 10_00, "person_days", "person_days")).rank == 2
    # Changing an amount keeps the place.
    assert (await act(bogdan, 3_000_00)).rank == 1
    # Bogdan withdraws all he had: the others move up.
    change = await act(bogdan, None)
    assert change.rank is None
    assert [s.organisation_id for s in change.ranking][:1] == [ana.organisation_id]
    # Committing again starts from the new time: last.
    assert (await act(bogdan, 500_00)).rank == 3
    # Ana's money withdrawn, her colleague's person-days still stand: her organisation stays, placed by that
    # line, which began after Carmen's commitment.
    change = await act(ana, None)
    assert change.rank == 2
    assert [s.organisation_id for s in change.ranking] == [
        carmen.organisation_id,
        ana.organisation_id,
        bogdan.organisation_id,
    ]
    with pytest.raises(ProjectError) as nothing:
        await act(ana, None)
    assert nothing.value.reason is ProjectRefusal.NOTHING_TO_WITHDRAW

    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        totals = await projects.committed_totals(repos, project_id)
        versions = await repos.projects.versions(project_id)
    assert totals == {("money", LEI): 1_000_00 + 500_00, ("person_days", "person_days"): 10_00}
    # Every version is kept, with its author.
    bogdans = [v for v in versions if v.organisation_id == bogdan.organisation_id]
    assert [(v.version, v.withdrawn, v.amount_hundredths, v.latest) for v in bogdans] == [
        (1, False, 2_000_00, False),
        (2, False, 3_000_00, False),
        (3, True, 0, False),
        (4, False, 500_00, True),
    ]
    assert {v.author_id for v in bogdans} == {bogdan.id}


async def test_no_commitment_after_the_deadline_or_once_running(session_factory: Factory) -> None:
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        maria, ana = await person(repos, "Maria", Role.MANAGER), await person(repos, "Ana")
    project_id = await prepared_project(session_factory, maria, ana)
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        project = await repos.projects.get(project_id)
        assert project is not None
        project.commitments_deadline = datetime(2026, 12, 10, 18, 0, tzinfo=UTC)
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        late = datetime(2026, 12, 10, 18, 1, tzinfo=UTC)
        with pytest.raises(ProjectError) as refused:
            await projects.commit(repos, ana, project_id, kind="money", unit=LEI, hundredths=1_00, now=late)
        assert refused.value.reason is ProjectRefusal.DEADLINE_PASSED
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        await projects.move(repos, maria, project_id, ProjectState.RUNNING, reason="Începem.")
        with pytest.raises(ProjectError) as running:
            await projects.commit(repos, ana, project_id, kind="money", unit=LEI, hundredths=1_00)
        assert running.value.reason is ProjectRefusal.NOT_TAKING_COMMITMENTS


async def test_two_managers_moving_one_project_at_once_move_it_once(session_factory: Factory) -> None:
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        maria, john = await person(repos, "Maria", Role.MANAGER), await person(repos, "John", Role.MANAGER)
        ana = await person(repos, "Ana")
    project_id = await prepared_project(session_factory, maria, ana)

    async def cancel(manager: PersonView) -> object:
        try:
            async with unit_of_work(session_factory) as session:
                return await projects.move(
                    Repositories(session), manager, project_id, ProjectState.CANCELLED, reason="Fără fonduri."
                )
        except ProjectError as refusal:
            return refusal

    results = await asyncio.gather(cancel(maria), cancel(john))
    refused = [r for r in results if isinstance(r, ProjectError)]
    assert len(refused) == 1 and refused[0].reason is ProjectRefusal.STATE_CHANGED


# --- the ranking depends only on the standing commitments and the order they were made in ------------------------

ORGANISATIONS = 4
Action = tuple[int, int]  # (organisation index, amount in hundredths; 0 = withdraw)


def expected_ranking(actions: list[Action]) -> list[int]:
    """The rule, independently: an organisation stands while its line stands; its place is the step at which it
    last began to stand."""
    began: dict[int, int] = {}
    for step, (who, amount) in enumerate(actions):
        if amount == 0:
            began.pop(who, None)
        elif who not in began:
            began[who] = step
    return sorted(began, key=lambda who: began[who])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, ORGANISATIONS - 1), st.sampled_from([0, 1_00, 2_50, 7_00])), max_size=14))
async def test_the_ranking_is_the_order_in_which_standing_commitments_began(
    sqlite_engine: object, actions: list[Action]
) -> None:
    from storage.db import create_session_factory

    factory = create_session_factory(sqlite_engine)  # type: ignore[arg-type]
    async with unit_of_work(factory) as session:
        repos = Repositories(session)
        maria = await person(repos, "Maria", Role.MANAGER)
        people = [await person(repos, f"Org{next(_IDS)}") for _ in range(ORGANISATIONS)]
    project_id = await prepared_project(factory, maria, people[0])
    start = datetime(2026, 12, 1, tzinfo=UTC)
    for step, (who, amount) in enumerate(actions):
        async with unit_of_work(factory) as session:
            repos = Repositories(session)
            at = start + timedelta(minutes=step)
            try:
                if amount == 0:
                    await projects.withdraw(repos, people[who], project_id, kind="money", unit=LEI, now=at)
                else:
                    await projects.commit(
                        repos, people[who], project_id, kind="money", unit=LEI, hundredths=amount, now=at
                    )
            except ProjectError as refusal:
                assert refusal.reason is ProjectRefusal.NOTHING_TO_WITHDRAW
    async with unit_of_work(factory) as session:
        repos = Repositories(session)
        ranked = [s.organisation_id for s in await projects.ranking(repos, project_id)]
        totals = await projects.committed_totals(repos, project_id)
    assert ranked == [people[who].organisation_id for who in expected_ranking(actions)]
    latest: dict[int, int] = {}
    for who, amount in actions:
        latest[who] = amount
    assert totals.get(("money", LEI), 0) == sum(latest.values())


async def test_more_organisations_than_places_compete_by_their_rule_and_a_waiting_one_moves_up(
    session_factory: Factory,
) -> None:
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        maria = await person(repos, "Maria", Role.MANAGER)
        ana, bogdan, carmen, dan = [await person(repos, name) for name in ("Ana", "Bogdan", "Carmen", "Dan")]
    project_id = await prepared_project(session_factory, maria, ana)
    async with unit_of_work(session_factory) as session:
        project = await Repositories(session).projects.get(project_id)
        assert project is not None
        project.places = 2

    for who in (ana, bogdan):
        async with unit_of_work(session_factory) as session:
            await projects.commit(Repositories(session), who, project_id, kind="money", unit=LEI, hundredths=1_000_00)
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        # Two organisations, two places: no competition, no rule to agree.
        with pytest.raises(ProjectError) as calm:
            await projects.record_rule(repos, ana, project_id, "Cine contribuie mai mult.")
        assert calm.value.reason is ProjectRefusal.NOT_IN_COMPETITION
    for who in (carmen,):
        async with unit_of_work(session_factory) as session:
            await projects.commit(Repositories(session), who, project_id, kind="money", unit=LEI, hundredths=500_00)
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        project = await repos.projects.get(project_id)
        assert project is not None
        standings = await projects.ranking(repos, project_id)
        assert projects.in_competition(project, standings)
        # Dan has committed nothing: he has no say in the rule.
        with pytest.raises(ProjectError) as outsider:
            await projects.record_rule(repos, dan, project_id, "Eu aleg.")
        assert outsider.value.reason is ProjectRefusal.NOT_STANDING
        await projects.record_rule(repos, carmen, project_id, "Ordinea angajamentelor, apoi suma.")
        await projects.record_rule(repos, ana, project_id, "Ordinea angajamentelor.")
    async with unit_of_work(session_factory) as session:
        # The deadline passes before the list is closed: the competition is settled after it.
        project = await Repositories(session).projects.get(project_id)
        assert project is not None
        project.commitments_deadline = datetime.now(UTC) - timedelta(minutes=1)
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        with pytest.raises(members.MembershipError):
            await projects.close_list(repos, ana, project_id)
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        closed = await projects.close_list(repos, maria, project_id)
        events = [(e.kind, e.details.get("rule")) for e in await repos.projects.events(project_id, 10)]
    assert closed == {
        ana.organisation_id: projects.Outcome.PARTICIPANT,
        bogdan.organisation_id: projects.Outcome.PARTICIPANT,
        carmen.organisation_id: projects.Outcome.WAITING,
    }
    # Every version of the rule is kept, newest first.
    assert [rule for kind, rule in events if kind == "rule"] == [
        "Ordinea angajamentelor.",
        "Ordinea angajamentelor, apoi suma.",
    ]
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        with pytest.raises(ProjectError) as again:
            await projects.close_list(repos, maria, project_id)
        assert again.value.reason is ProjectRefusal.LIST_CLOSED
    # After the deadline nobody commits, but a participant can still withdraw: the first waiting moves up.
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        with pytest.raises(ProjectError) as late:
            await projects.commit(repos, dan, project_id, kind="money", unit=LEI, hundredths=1_00)
        assert late.value.reason is ProjectRefusal.DEADLINE_PASSED
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        change = await projects.withdraw(repos, bogdan, project_id, kind="money", unit=LEI)
        project = await repos.projects.get(project_id, fresh=True)
        assert project is not None
        assert projects.outcomes(project, change.ranking) == {
            ana.organisation_id: projects.Outcome.PARTICIPANT,
            carmen.organisation_id: projects.Outcome.PARTICIPANT,
        }
