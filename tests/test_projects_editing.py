"""Proposing and editing projects, the rules without the chat: the proposer edits an idea or a project in
preparation, managers too (and they add the other language); anyone else, a guest, or a project that moved on is
refused; every edit is in the history and the audit log; a typed plan is read line by line, on both databases."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services import groups, members, projects
from bot.services.members import MembershipError, PersonView
from bot.services.projects import PlanProblem, ProjectError, ProjectRefusal
from storage.db import unit_of_work
from storage.models import AuditEntry, ProjectState, Role
from storage.repositories import Repositories

Factory = async_sessionmaker[AsyncSession]
_IDS: Iterator[int] = itertools.count(70_000)
TODAY = date(2026, 12, 1)


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


async def idea(repos: Repositories, proposer: PersonView) -> int:
    project = await projects.propose(
        repos, proposer, title="Compost urban", description="Compost din deșeuri verzi.", locale="ro"
    )
    return project.id


async def refusal_of(call: object) -> ProjectRefusal:
    with pytest.raises(ProjectError) as refused:
        await call  # type: ignore[misc]
    return refused.value.reason


async def test_only_the_proposer_and_managers_edit_and_only_ideas_and_projects_in_preparation(
    session_factory: Factory,
) -> None:
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        ana = await person(repos, "Ana", organisation="EcoTech SRL")
        bogdan = await person(repos, "Bogdan")
        maria = await person(repos, "Maria", Role.MANAGER)
        gigi = await person(repos, "Gigi", Role.GUEST)
        project_id = await idea(repos, ana)
        steps = [("Studiu de fezabilitate", ana.organisation_id, date(2027, 3, 15))]

        # Another member's project, and a guest: refused, whatever the field.
        for who, reason in ((bogdan, ProjectRefusal.NOT_YOURS), (gigi, ProjectRefusal.MEMBERS_ONLY)):
            assert await refusal_of(projects.set_plan(repos, who, project_id, steps)) is reason
            assert await refusal_of(projects.set_budget(repos, who, project_id, 100_00, "RON")) is reason
            assert await refusal_of(projects.set_needs(repos, who, project_id, {("money", "RON"): 1_00})) is reason
            assert await refusal_of(projects.set_places(repos, who, project_id, 3)) is reason
            assert await refusal_of(projects.set_deadline(repos, who, project_id, None)) is reason
            assert await refusal_of(projects.editing(repos, who, project_id)) is reason
            edit = projects.edit_texts(repos, who, project_id, locale="ro", title="Al meu", description=None)
            assert await refusal_of(edit) is reason

        # The proposer, then a manager.
        await projects.set_plan(repos, ana, project_id, steps)
        await projects.set_budget(repos, ana, project_id, 250_000_00, "RON")
        await projects.set_needs(repos, maria, project_id, {("money", "EUR"): 50_000_00, ("equipment", "hours"): 40_00})
        view = await projects.editing(repos, maria, project_id)
        assert view.manages and view.steps[0].owner == "EcoTech SRL"
        assert (view.budget, view.currency) == (250_000_00, "RON")
        assert view.needs == {("money", "EUR"): 50_000_00, ("equipment", "hours"): 40_00}
        assert not (await projects.editing(repos, ana, project_id)).manages

        await projects.move(repos, maria, project_id, ProjectState.PREPARATION, reason="Plan și buget.")
        # In preparation the proposer still edits.
        await projects.set_places(repos, ana, project_id, 3)
        await projects.move(repos, maria, project_id, ProjectState.RUNNING, reason="Începem.")
        # Running: nobody edits any more, not even a manager.
        for who in (ana, maria):
            assert await refusal_of(projects.set_places(repos, who, project_id, 4)) is ProjectRefusal.NOT_EDITABLE
            assert await refusal_of(projects.editing(repos, who, project_id)) is ProjectRefusal.NOT_EDITABLE

        # A proposer demoted to guest edits no more.
        other = await idea(repos, ana)
        await members.set_role(repos, ana.telegram_id, Role.GUEST)
        assert await refusal_of(projects.set_places(repos, ana, other, 2)) is ProjectRefusal.MEMBERS_ONLY
        assert await refusal_of(projects.editing(repos, bogdan, 10**12)) is ProjectRefusal.NOT_FOUND


async def test_every_edit_is_in_the_history_and_the_audit_log_with_its_fields(session_factory: Factory) -> None:
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        ana = await person(repos, "Ana")
        maria = await person(repos, "Maria", Role.MANAGER)
        project_id = await idea(repos, ana)
        deadline = datetime(2027, 3, 15, 23, 59, 59, tzinfo=UTC)
        await projects.edit_texts(repos, ana, project_id, locale="ro", title="Compost de cartier", description=None)
        await projects.set_places(repos, ana, project_id, 5)
        await projects.set_deadline(repos, ana, project_id, deadline)
        await projects.edit_texts(
            repos, maria, project_id, locale="en", title="Neighbourhood compost", description="Green waste compost."
        )
        events = await repos.projects.events(project_id, 10)
        audit = (
            await session.scalars(
                select(AuditEntry).where(AuditEntry.action == "project.edited").order_by(AuditEntry.id)
            )
        ).all()
        project = await repos.projects.get(project_id, fresh=True)
    assert project is not None
    assert (project.title_ro, project.description_ro) == ("Compost de cartier", "Compost din deșeuri verzi.")
    assert (project.title_en, project.description_en) == ("Neighbourhood compost", "Green waste compost.")
    assert project.places == 5 and project.commitments_deadline == deadline
    edited = [(e.kind, e.details["fields"], e.actor_id) for e in reversed(events) if e.kind == "edited"]
    assert edited == [
        ("edited", ["title_ro"], ana.id),
        ("edited", ["places"], ana.id),
        ("edited", ["deadline"], ana.id),
        ("edited", ["title_en", "description_en"], maria.id),
    ]
    assert [entry.details["fields"] for entry in audit] == [fields for _kind, fields, _actor in edited]
    assert {entry.subject for entry in audit} == {f"project:{project_id}"}


async def test_bad_values_are_refused_and_change_nothing(session_factory: Factory) -> None:
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        ana = await person(repos, "Ana")
        project_id = await idea(repos, ana)
        # The proposer writes in their language; the other one is the managers' to add.
        english = projects.edit_texts(repos, ana, project_id, locale="en", title="Compost", description="Green.")
        assert await refusal_of(english) is ProjectRefusal.OTHER_LANGUAGE
        with pytest.raises(MembershipError):
            await projects.edit_texts(repos, ana, project_id, locale="ro", title="   ", description=None)
        for places in (0, -1, 1001):
            assert await refusal_of(projects.set_places(repos, ana, project_id, places)) is ProjectRefusal.BAD_PLACES
        past = datetime.now(UTC) - timedelta(minutes=1)
        assert await refusal_of(projects.set_deadline(repos, ana, project_id, past)) is ProjectRefusal.BAD_DEADLINE
        with pytest.raises(ValueError):
            await projects.set_deadline(repos, ana, project_id, datetime(2027, 3, 15, 23, 59))
        assert await refusal_of(projects.set_budget(repos, ana, project_id, 0, "RON")) is ProjectRefusal.BAD_AMOUNT
        assert await refusal_of(projects.set_budget(repos, ana, project_id, 10**15, "EUR")) is ProjectRefusal.BAD_AMOUNT
        assert await refusal_of(projects.set_budget(repos, ana, project_id, 100, "USD")) is ProjectRefusal.BAD_CURRENCY
        wrong_unit = projects.set_needs(repos, ana, project_id, {("money", "hours"): 1_00})
        assert await refusal_of(wrong_unit) is ProjectRefusal.BAD_UNIT
        assert await refusal_of(projects.set_needs(repos, ana, project_id, {("time", "days"): 1_00})) is (
            ProjectRefusal.BAD_KIND
        )
        assert await refusal_of(projects.set_plan(repos, ana, project_id, [])) is ProjectRefusal.BAD_PLAN
        forged_owner = [("Studiu", 10**12, date(2027, 3, 15))]
        assert await refusal_of(projects.set_plan(repos, ana, project_id, forged_owner)) is ProjectRefusal.BAD_PLAN
        project = await repos.projects.get(project_id, fresh=True)
        events = await repos.projects.events(project_id, 10)
    assert project is not None
    assert (project.places, project.commitments_deadline, project.budget_hundredths, project.title_en) == (
        None,
        None,
        None,
        None,
    )
    assert [e.kind for e in events] == ["proposed"]


async def test_a_typed_plan_is_read_line_by_line_with_owners_matched_by_name(session_factory: Factory) -> None:
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        ana = await person(repos, "Ana", organisation="EcoTech SRL")
        await person(repos, "Ioana", organisation="Institutul de Cercetări Ștefan S.A.")
        project_id = await idea(repos, ana)
        typed = "\n".join(
            [
                "Studiu de fezabilitate; ecotech srl; 15 martie 2027",
                "",
                "Analize de laborator; institutul de cercetari stefan sa; 30.04.2027",
                "Cerere de finanțare; 2027; pregătire; -; 1 iunie 2027",
                "Raport final; —; 15/09/2027",
            ]
        )
        steps = await projects.read_plan(repos, ana, project_id, typed, "ro", today=TODAY)
        assert [(s.text, s.owner, s.due_on) for s in steps] == [
            ("Studiu de fezabilitate", "EcoTech SRL", date(2027, 3, 15)),
            ("Analize de laborator", "Institutul de Cercetări Ștefan S.A.", date(2027, 4, 30)),
            ("Cerere de finanțare; 2027; pregătire", None, date(2027, 6, 1)),
            ("Raport final", None, date(2027, 9, 15)),
        ]
        # Nothing is saved until the plan is set.
        assert await repos.projects.steps(project_id) == []
        await projects.set_plan(repos, ana, project_id, [(s.text, s.owner_id, s.due_on) for s in steps])
        assert len(await repos.projects.steps(project_id)) == 4

        bad = "\n".join(
            [
                "Studiu de fezabilitate; EcoTech SRL; 15 martie 2027",
                "Doar un text",
                "Analize; Nimeni SRL; 30.04.2027",
                "Raport; -; cândva",
                "Lansare; -; 15.03.2020",
                "Studiu de fezabilitate; EcoTech SRL; 15.03.2099",
            ]
        )
        with pytest.raises(ProjectError) as refused:
            await projects.read_plan(repos, ana, project_id, bad, "ro", today=TODAY)
        assert refused.value.reason is ProjectRefusal.BAD_PLAN
        assert [(p["line"], p["problem"], p["owner"], p["date"]) for p in refused.value.context["problems"]] == [
            (2, PlanProblem.SHAPE.value, None, None),
            (3, PlanProblem.UNKNOWN_OWNER.value, "Nimeni SRL", None),
            (4, PlanProblem.BAD_DATE.value, None, "not_a_date"),
            (5, PlanProblem.BAD_DATE.value, None, "in_the_past"),
            (6, PlanProblem.BAD_DATE.value, None, "too_far"),
        ]
        for empty in ("", "\n  \n"):
            with pytest.raises(ProjectError) as nothing:
                await projects.read_plan(repos, ana, project_id, empty, "ro", today=TODAY)
            assert nothing.value.context["problems"][0]["problem"] == PlanProblem.EMPTY.value
        too_many = "\n".join(f"Pasul {n}; -; 15.03.2027" for n in range(projects.PLAN_MAX + 1))
        with pytest.raises(ProjectError) as long_plan:
            await projects.read_plan(repos, ana, project_id, too_many, "ro", today=TODAY)
        assert long_plan.value.context["problems"][0]["problem"] == PlanProblem.TOO_MANY.value


async def test_a_step_already_in_the_plan_keeps_its_passed_date(session_factory: Factory) -> None:
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        ana = await person(repos, "Ana", organisation="EcoTech SRL")
        project_id = await idea(repos, ana)
        await projects.set_plan(repos, ana, project_id, [("Studiu de fezabilitate", None, date(2027, 3, 15))])
        # A year on, the plan is typed again with the step done: it keeps its date; a new step may not be dated so.
        later = date(2028, 1, 10)
        typed = "Studiu de fezabilitate; -; 15.03.2027\nRaport; -; 1 februarie"
        steps = await projects.read_plan(repos, ana, project_id, typed, "en", today=later)
        assert [s.due_on for s in steps] == [date(2027, 3, 15), date(2028, 2, 1)]
        with pytest.raises(ProjectError):
            await projects.read_plan(repos, ana, project_id, "Studiu nou; -; 15.03.2027", "en", today=later)


async def test_a_project_is_proposed_only_for_a_group_the_member_takes_part_in(session_factory: Factory) -> None:
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        await groups.seed_groups(repos)
        ana = await person(repos, "Ana")
        bogdan = await person(repos, "Bogdan")
        maria = await person(repos, "Maria", Role.MANAGER)
        gigi = await person(repos, "Gigi", Role.GUEST)
        sludge = await repos.groups.by_keys(["sludge", "water"])
        await groups.join(repos, ana, sludge["sludge"].id, default_locale="ro")
        choices = await projects.proposal_groups(repos, ana)
        assert [c.id for c in choices] == [sludge["sludge"].id]
        assert await projects.proposal_groups(repos, bogdan) == []
        with pytest.raises(ProjectError) as guest:
            await projects.proposal_groups(repos, gigi)
        assert guest.value.reason is ProjectRefusal.MEMBERS_ONLY
        # A manager without an organisation proposes nothing.
        with pytest.raises(ProjectError) as manager:
            await projects.proposal_groups(repos, maria)
        assert manager.value.reason is ProjectRefusal.NO_ORGANISATION
        with pytest.raises(ProjectError) as outsider:
            await projects.propose(repos, bogdan, title="X", description="Y", locale="ro", group_id=sludge["sludge"].id)
        assert outsider.value.reason is ProjectRefusal.NOT_IN_GROUP
        project = await projects.propose(
            repos, ana, title="Nămol", description="Valorificare.", locale="ro", group_id=sludge["sludge"].id
        )
        assert project.group_id == sludge["sludge"].id
        await groups.dissolve(repos, maria, sludge["sludge"].id, reason="Gata.", default_locale="ro")
        assert await projects.proposal_groups(repos, ana) == []
        with pytest.raises(ProjectError) as dissolved:
            await projects.propose(repos, ana, title="Alt", description="Y", locale="ro", group_id=sludge["sludge"].id)
        assert dissolved.value.reason is ProjectRefusal.NOT_IN_GROUP
