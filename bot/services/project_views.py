"""What people read of projects: the list page by page, and a project's card as its reader may see it.

A card holds what the project needs against what stands committed to each target, its plan and budget, the
organisations standing in rank order (with their outcome once a competition's list is closed), the newest of its
history, and the reader's own position and what they may do. Everything a card shows is read in a handful of
queries whatever the project's size (benchmarks/projects.py measures it).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from bot.services import projects
from bot.services.groups import Texts
from bot.services.members import PersonView
from bot.services.projects import Missing, Outcome, ProjectError, ProjectRefusal
from storage.models import Project, ProjectState, ResourceKind, Role, utcnow
from storage.repositories import Repositories

PAGE_SIZE = 8
HISTORY_LIMIT = 8
# A card lists at most this many organisations of the ranking (the reader's own is always named).
RANKING_SHOWN = 15


class ProjectFilter(enum.StrEnum):
    ALL = "all"
    MINE = "mine"
    PREPARATION = "preparation"
    COMPETITION = "competition"


@dataclass(frozen=True)
class ProjectSummary:
    id: int
    title: Texts
    state: ProjectState
    standing: int
    places: int | None

    @property
    def in_competition(self) -> bool:
        return self.places is not None and self.standing > self.places


@dataclass(frozen=True)
class ProjectPage:
    projects: list[ProjectSummary]
    filter: ProjectFilter
    page: int
    pages: int
    total: int


@dataclass(frozen=True)
class NeedView:
    kind: ResourceKind
    unit: str
    target: int
    committed: int

    @property
    def share(self) -> float:
        """How much of the target stands committed, 1.0 being all of it (it may go beyond)."""
        return self.committed / self.target if self.target else 0.0


@dataclass(frozen=True)
class StepView:
    position: int
    text: str
    owner: str | None
    due_on: date


@dataclass(frozen=True)
class RankedOrganisation:
    rank: int
    organisation_id: int
    name: str
    since: datetime
    outcome: Outcome


@dataclass(frozen=True)
class LineView:
    """One of the reader's organisation's standing commitments: what they can change or withdraw."""

    commitment_id: int
    kind: ResourceKind
    unit: str
    amount: int
    note: str | None
    version: int


@dataclass(frozen=True)
class ProjectHistoryEntry:
    """One thing that happened to the project: `kind` is an event's kind ("proposed", "state", "rule",
    "list_closed", "edited") or "committed"/"withdrawn" for a commitment's version."""

    kind: str
    at: datetime
    details: dict[str, Any]


@dataclass(frozen=True)
class ProjectCard:
    id: int
    title: Texts
    description: Texts
    state: ProjectState
    group_id: int | None
    group_title: Texts | None
    proposer: str | None
    proposer_organisation: str | None
    budget: int | None
    currency: str | None
    places: int | None
    deadline: datetime | None
    rule: str | None
    list_closed_at: datetime | None
    created_at: datetime
    needs: list[NeedView]
    # Committed resources no need names (kept apart from the targets).
    other_commitments: dict[tuple[str, str], int]
    steps: list[StepView]
    ranking: list[RankedOrganisation]
    standing: int
    history: list[ProjectHistoryEntry]
    missing: list[Missing]
    # The reader: their organisation's place (None: not standing), outcome and lines; what they may do.
    viewer_organisation_id: int | None
    viewer_rank: int | None
    viewer_outcome: Outcome | None
    viewer_lines: list[LineView]
    viewer_manages: bool
    viewer_edits: bool

    @property
    def in_competition(self) -> bool:
        return self.places is not None and self.standing > self.places

    @property
    def deadline_passed(self) -> bool:
        return self.deadline is not None and utcnow() > self.deadline

    @property
    def taking_commitments(self) -> bool:
        return self.state is ProjectState.PREPARATION and not self.deadline_passed

    @property
    def viewer_commits(self) -> bool:
        """The reader may declare a commitment for their organisation now."""
        return self.viewer_organisation_id is not None and self.taking_commitments

    @property
    def viewer_records_rule(self) -> bool:
        return (
            self.state is ProjectState.PREPARATION
            and self.in_competition
            and self.viewer_rank is not None
            and self.list_closed_at is None
        )


def texts(ro: str | None, en: str | None) -> Texts:
    return Texts(ro=ro or None, en=en or None)


def title_of(project: Project) -> Texts:
    return texts(project.title_ro, project.title_en)


async def list_projects(repos: Repositories, viewer: PersonView, view: ProjectFilter, page: int) -> ProjectPage:
    """One page of projects; any member may look (projects are for members: guests are refused)."""
    person = await repos.people.get(viewer.id)
    if person is None or not Role(person.role).at_least(Role.MEMBER):
        raise ProjectError(ProjectRefusal.MEMBERS_ONLY)
    selection: dict[str, Any] = {}
    if view is ProjectFilter.MINE:
        selection = {"person_id": person.id, "organisation_id": person.organisation_id}
    elif view is ProjectFilter.PREPARATION:
        selection = {"states": [ProjectState.PREPARATION.value]}
    elif view is ProjectFilter.COMPETITION:
        selection = {"states": [ProjectState.PREPARATION.value], "competition": True}
    total = await repos.projects.count(**selection)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    rows = await repos.projects.page(offset=page * PAGE_SIZE, limit=PAGE_SIZE, **selection)
    return ProjectPage(
        projects=[
            ProjectSummary(row.id, title_of(row), ProjectState(row.state), standing, row.places)
            for row, standing in rows
        ],
        filter=view,
        page=page,
        pages=pages,
        total=total,
    )


async def card(repos: Repositories, viewer: PersonView, project_id: int) -> ProjectCard:
    """A project's card as `viewer` may see it: members only. Nine queries whatever the project's size."""
    person = await repos.people.get(viewer.id)
    if person is None or not Role(person.role).at_least(Role.MEMBER):
        raise ProjectError(ProjectRefusal.MEMBERS_ONLY)
    head = await repos.projects.card_head(project_id)
    if head is None:
        raise ProjectError(ProjectRefusal.NOT_FOUND)
    project, proposer, proposer_organisation, group_ro, group_en = head
    state = ProjectState(project.state)
    totals = await repos.projects.standing_sums(project_id)
    organisation_id = person.organisation_id
    lines = await repos.projects.standing_lines(project_id, organisation_id) if organisation_id is not None else []
    ranked = await repos.projects.standing_named(project_id)
    standings = [projects.Standing(rank, org, since) for rank, (org, _change, since, _name) in enumerate(ranked, 1)]
    names = {org: name for org, _change, _since, name in ranked}
    results = projects.outcomes(project, standings)
    steps = await repos.projects.steps_named(project_id)
    events = await repos.projects.events(project_id, HISTORY_LIMIT)
    versions = await repos.projects.recent_versions_named(project_id, HISTORY_LIMIT)

    viewer_rank = next((s.rank for s in standings if s.organisation_id == organisation_id), None)
    shown = standings[:RANKING_SHOWN]
    if viewer_rank is not None and viewer_rank > RANKING_SHOWN:
        shown.append(standings[viewer_rank - 1])

    needs = [
        NeedView(ResourceKind(need.kind), need.unit, need.target_hundredths, totals.pop((need.kind, need.unit), 0))
        for need in await repos.projects.needs(project_id)
    ]

    history = [ProjectHistoryEntry(event.kind, event.created_at, dict(event.details)) for event in events]
    history += [
        ProjectHistoryEntry(
            "withdrawn" if version.withdrawn else "committed",
            version.created_at,
            {
                "organisation": name,
                "kind": version.kind,
                "unit": version.unit,
                "hundredths": version.amount_hundredths,
            },
        )
        for version, name in versions
    ]
    history.sort(key=lambda entry: entry.at, reverse=True)

    manages = Role(person.role).at_least(Role.MANAGER)
    editable = state in (ProjectState.IDEA, ProjectState.PREPARATION)
    return ProjectCard(
        id=project.id,
        title=title_of(project),
        description=texts(project.description_ro, project.description_en),
        state=state,
        group_id=project.group_id,
        group_title=texts(group_ro, group_en) if group_ro is not None else None,
        proposer=proposer,
        proposer_organisation=proposer_organisation,
        budget=project.budget_hundredths,
        currency=project.budget_currency,
        places=project.places,
        deadline=project.commitments_deadline,
        rule=project.competition_rule,
        list_closed_at=project.list_closed_at,
        created_at=project.created_at,
        needs=needs,
        other_commitments=totals,
        steps=[StepView(step.position, step.text, owner, step.due_on) for step, owner in steps],
        ranking=[
            RankedOrganisation(
                s.rank, s.organisation_id, names.get(s.organisation_id, ""), s.since, results[s.organisation_id]
            )
            for s in shown
        ],
        standing=len(standings),
        history=history[:HISTORY_LIMIT],
        missing=projects.missing(project, has_plan=bool(steps)) if state is ProjectState.IDEA else [],
        viewer_organisation_id=organisation_id,
        viewer_rank=viewer_rank,
        viewer_outcome=results.get(organisation_id) if organisation_id is not None else None,
        viewer_lines=[
            LineView(line.id, ResourceKind(line.kind), line.unit, line.amount_hundredths, line.note, line.version)
            for line in lines
        ],
        viewer_manages=manages,
        viewer_edits=editable and (manages or project.proposed_by_id == person.id),
    )
