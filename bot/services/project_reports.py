"""What managers read of projects as a whole: a project's commitments, every version of every line, and what each
member organisation has put into the cluster's projects in a year. Managers only (the role read from the
database now), or the deployment's operator on the command line (`manager` None).

The service returns plain rows and words nothing: the CSV files, with their headers and kind names in the
manager's language, are written by `handlers.projects.reports`.

The totals of a year (`yearly_totals`), exactly: a *line* is one organisation's commitment of one resource (kind
and unit) to one project. A line counts for year Y when its latest version stands (is not withdrawn) and its
current standing began in Y in the cluster's time zone (`standing_since`: its first version, or the first one
after its last withdrawal), in a project that was not cancelled. It counts its latest amount, so a line begun
in December and raised in January counts, at the raised amount, for December's year; a line withdrawn and
committed again counts for the year it was committed again. Per organisation and per (kind, unit): the sum of
those amounts and in how many projects; per organisation: in how many projects any of them is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.services import projects
from bot.services.groups import Texts
from bot.services.members import PersonView, require_manager
from bot.services.project_views import title_of
from bot.services.projects import UNITS, ProjectError, ProjectRefusal
from storage.models import ProjectState, ResourceKind
from storage.repositories import Repositories

# Commitments to a cancelled project were never put into the cluster.
NOT_COUNTED = (ProjectState.CANCELLED,)
# The years `yearly_totals` takes (a year's end must be a date too).
FIRST_YEAR, LAST_YEAR = 2000, 9998


@dataclass(frozen=True)
class CommitmentRow:
    """One version of one line. `amount` is in hundredths (0 for a withdrawal); `at` is when it was made (UTC);
    `rank` is the organisation's place in the ranking, on the latest version of a standing line only."""

    organisation_id: int
    organisation: str
    kind: ResourceKind
    unit: str
    amount: int
    note: str | None
    version: int
    author: str | None
    at: datetime
    withdrawn: bool
    latest: bool
    rank: int | None


@dataclass(frozen=True)
class ProjectCommitments:
    project_id: int
    title: Texts
    # By line: organisations standing in rank order, then the others by name; kinds and units in the order
    # the bot offers them; versions oldest first.
    rows: list[CommitmentRow]

    @property
    def lines(self) -> int:
        return sum(1 for row in self.rows if row.latest)


@dataclass(frozen=True)
class ResourceTotal:
    kind: ResourceKind
    unit: str
    amount: int
    projects: int


@dataclass(frozen=True)
class OrganisationTotal:
    organisation_id: int
    name: str
    projects: int
    resources: list[ResourceTotal]


async def _check(repos: Repositories, manager: PersonView | None) -> None:
    if manager is not None:
        await require_manager(repos, manager)


# Resources in the order the bot offers them: money in RON, then EUR, person-days...
_RESOURCE_ORDER = {
    (kind.value, unit.value): position
    for position, (kind, unit) in enumerate((kind, unit) for kind in ResourceKind for unit in UNITS[kind])
}


def _resource_order(kind: str, unit: str) -> int:
    return _RESOURCE_ORDER.get((kind, unit), len(_RESOURCE_ORDER))


async def commitments(repos: Repositories, manager: PersonView | None, project_id: int) -> ProjectCommitments:
    """Every version of every commitment to the project, for a manager's export."""
    await _check(repos, manager)
    project = await repos.projects.get(project_id)
    if project is None:
        raise ProjectError(ProjectRefusal.NOT_FOUND)
    versions = await repos.projects.version_rows(project_id)
    ranks = {s.organisation_id: s.rank for s in await projects.ranking(repos, project_id)}
    organisations = await repos.projects.organisation_names({v.organisation_id for v in versions})
    authors = await repos.projects.people_names({v.author_id for v in versions if v.author_id is not None})
    rows = [
        CommitmentRow(
            organisation_id=organisation_id,
            organisation=organisations.get(organisation_id, ""),
            kind=ResourceKind(kind),
            unit=unit,
            amount=amount,
            note=note,
            version=version,
            author=authors.get(author_id) if author_id is not None else None,
            at=at,
            withdrawn=withdrawn,
            latest=latest,
            rank=ranks.get(organisation_id) if latest and not withdrawn else None,
        )
        for organisation_id, kind, unit, amount, note, version, author_id, at, withdrawn, latest in versions
    ]
    unranked = len(ranks) + 1
    rows.sort(
        key=lambda row: (
            ranks.get(row.organisation_id, unranked),
            row.organisation.casefold(),
            row.organisation_id,
            _resource_order(row.kind, row.unit),
            row.version,
        )
    )
    await repos.audit.record(
        "project.exported",
        actor_id=manager.id if manager else None,
        actor_label=None if manager else "cli",
        subject=f"project:{project_id}",
        details={"versions": len(rows)},
    )
    return ProjectCommitments(project.id, title_of(project), rows)


def year_bounds(year: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The first instant of `year` and of the next one, in the cluster's time zone."""
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"year {year} is outside {FIRST_YEAR}..{LAST_YEAR}")
    return datetime(year, 1, 1, tzinfo=tz), datetime(year + 1, 1, 1, tzinfo=tz)


async def yearly_totals(
    repos: Repositories, manager: PersonView | None, year: int, tz: ZoneInfo
) -> list[OrganisationTotal]:
    """What each member organisation put into the cluster's projects in `year` (the module says exactly what
    counts), organisations by name, their resources in the order the bot offers them."""
    await _check(repos, manager)
    start, end = year_bounds(year, tz)
    excluded = [state.value for state in NOT_COUNTED]
    per_resource = await repos.projects.standing_totals(start, end, excluded_states=excluded)
    per_organisation = await repos.projects.standing_projects(start, end, excluded_states=excluded)
    names = await repos.projects.organisation_names(per_organisation.keys())
    resources: dict[int, list[ResourceTotal]] = {}
    for organisation_id, kind, unit, amount, count in per_resource:
        resources.setdefault(organisation_id, []).append(ResourceTotal(ResourceKind(kind), unit, amount, count))
    totals = [
        OrganisationTotal(
            organisation_id,
            names.get(organisation_id, ""),
            count,
            sorted(resources.get(organisation_id, []), key=lambda r: _resource_order(r.kind, r.unit)),
        )
        for organisation_id, count in per_organisation.items()
    ]
    totals.sort(key=lambda total: (total.name.casefold(), total.organisation_id))
    return totals
