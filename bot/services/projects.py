"""Projects and the resources member organisations commit to them: the cluster's rules, without the chat.

The rules come from the cluster's documents:
- an idea is run only with a clear action plan and a budget: a project moves to preparation only with both
  (`missing_for_preparation` says what is missing), and only a project in preparation takes commitments;
- "priority is given based on the commitment of resources prior": organisations rank by when their earliest
  standing commitment began (`ranking`); withdrawing everything loses the place, committing again starts anew,
  and representatives of one organisation share its place;
- projects are for members: guests and people without an organisation commit nothing.

Every change to a project's commitments first takes the project's turn (`ProjectRepository.claim_change`, a
conditional update that also checks the state), so changes to one project happen one at a time on both
engines and the ranking depends only on the order they committed in. Amounts are whole hundredths.

When more organisations stand than the project has places, it is in competition: the organisations standing
record the rule they agreed (`record_rule`, every version kept in the history), a manager closes the list
(`close_list`), and from then on the first `places` organisations of the ranking take part and the others wait
in order (`outcomes`), so a waiting one moves up when a participant withdraws.

Editing (`edit_texts`, `set_plan`, `set_budget`, `set_needs`, `set_places`, `set_deadline`) is for the proposer
while the project is an idea or in preparation, and for managers (who may also add the other language); each
edit is an "edited" event naming its fields, and an audit entry. A typed action plan is read by `read_plan`: one
step a line, "what; owner organisation; date", the owner matched by name as organisations are (diacritics,
case and "S.R.L." folded), every bad line named with its number and why.

"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from bot.dates import DateError, parse_date
from bot.services import project_notices
from bot.services.groups import Texts
from bot.services.members import PersonView, clean_text, organisation_key, require_manager
from bot.services.refusals import Refused
from storage.models import Commitment, GroupState, Person, Project, ProjectState, ResourceKind, Role, utcnow
from storage.repositories import Repositories

TITLE_MAX = 120
DESCRIPTION_MAX = 2000
STEP_MAX = 500
NOTE_MAX = 500
REASON_MAX = 500
CURRENCIES = ("RON", "EUR")
PLACES_MAX = 1000
PLAN_MAX = 30
# What a plan line's owner says for "no owner (yet)".
NO_OWNER = ("-", "—", "–")
# The groups offered when proposing: at most this many (a member takes part in a handful).
GROUP_CHOICES_MAX = 20
# 10^12, the largest amount taken, in hundredths.
AMOUNT_MAX = 10**14
# A commitment above this many times the project's target for that resource is refused as a mistake.
ABSURD_FACTOR = 100

# Where a manager may move a project from, to each state.
_TRANSITIONS: dict[ProjectState, frozenset[ProjectState]] = {
    ProjectState.PREPARATION: frozenset({ProjectState.IDEA}),
    ProjectState.RUNNING: frozenset({ProjectState.PREPARATION}),
    ProjectState.CLOSED: frozenset({ProjectState.RUNNING}),
    ProjectState.CANCELLED: frozenset({ProjectState.IDEA, ProjectState.PREPARATION, ProjectState.RUNNING}),
}


class ProjectRefusal(enum.StrEnum):
    NOT_FOUND = "not_found"
    MEMBERS_ONLY = "members_only"
    NO_ORGANISATION = "no_organisation"
    NOT_IN_GROUP = "not_in_group"
    # A commitment to a project not in preparation (an idea without plan and budget, running, closed...).
    NOT_TAKING_COMMITMENTS = "not_taking_commitments"
    DEADLINE_PASSED = "deadline_passed"
    BAD_AMOUNT = "bad_amount"
    BAD_KIND = "bad_kind"
    BAD_UNIT = "bad_unit"
    BAD_CURRENCY = "bad_currency"
    NOTHING_TO_WITHDRAW = "nothing_to_withdraw"
    # Moving to preparation without an action plan or a budget; `missing` in the context says which.
    NOT_READY = "not_ready"
    # The state changed meanwhile (another manager), or the move is not one of the allowed ones.
    STATE_CHANGED = "state_changed"
    # Recording a competition's rule: only organisations standing in a project in competition.
    NOT_IN_COMPETITION = "not_in_competition"
    NOT_STANDING = "not_standing"
    LIST_CLOSED = "list_closed"
    # A commitment button of another organisation, of another project, or of a version replaced meanwhile.
    NOT_YOUR_COMMITMENT = "not_your_commitment"
    # More than `ABSURD_FACTOR` times what the project needs of that resource: surely a typing mistake.
    ABSURD_AMOUNT = "absurd_amount"
    # Editing: another member's project, or one no longer an idea or in preparation; the other language is the
    # managers' to add.
    NOT_YOURS = "not_yours"
    NOT_EDITABLE = "not_editable"
    OTHER_LANGUAGE = "other_language"
    BAD_PLACES = "bad_places"
    # A commitments' deadline that is not in the future.
    BAD_DEADLINE = "bad_deadline"
    # A typed action plan with problems: `problems` in the context, a list of PlanLineProblem.as_context().
    BAD_PLAN = "bad_plan"


class ProjectError(Refused):
    """A project rule refused the action (`ProjectRefusal`)."""

    reason: ProjectRefusal


class PlanProblem(enum.StrEnum):
    """What is wrong with a line of a typed action plan."""

    # Not "what; owner organisation; date".
    SHAPE = "shape"
    TEXT_TOO_LONG = "text_too_long"
    # No member organisation by that name (`owner` in the problem).
    UNKNOWN_OWNER = "unknown_owner"
    # The date (`date` in the problem: a bot.dates.DateProblem value).
    BAD_DATE = "bad_date"
    # The plan as a whole: no step, or more than PLAN_MAX (`line` 0).
    EMPTY = "empty"
    TOO_MANY = "too_many"


@dataclass(frozen=True)
class PlanLineProblem:
    line: int
    problem: PlanProblem
    owner: str | None = None
    date: str | None = None

    def as_context(self) -> dict[str, object]:
        return {"line": self.line, "problem": self.problem.value, "owner": self.owner, "date": self.date}


@dataclass(frozen=True)
class PlanStep:
    """A step of an action plan as read: what, the owner organisation (None: nobody yet), the target date."""

    text: str
    owner_id: int | None
    owner: str | None
    due_on: date


@dataclass(frozen=True)
class GroupChoice:
    id: int
    title: Texts


@dataclass(frozen=True)
class EditView:
    """A project as its editor sees it before an edit: what it is now, and what the editor may do."""

    id: int
    title: Texts
    description: Texts
    state: ProjectState
    manages: bool
    steps: list[PlanStep]
    budget: int | None
    currency: str | None
    needs: dict[tuple[str, str], int]
    places: int | None
    deadline: datetime | None


class Missing(enum.StrEnum):
    ACTION_PLAN = "action_plan"
    BUDGET = "budget"


@dataclass(frozen=True)
class Standing:
    """An organisation's place in a project: 1 is the first to have committed (of those still standing)."""

    rank: int
    organisation_id: int
    since: datetime


class Outcome(enum.StrEnum):
    # Before the list is closed, or with places for everyone: standing, by rank.
    STANDING = "standing"
    PARTICIPANT = "participant"
    WAITING = "waiting"


@dataclass(frozen=True)
class CommitmentChange:
    commitment: Commitment
    rank: int | None
    ranking: list[Standing]


async def _project(repos: Repositories, project_id: int, *, fresh: bool = False) -> Project:
    project = await repos.projects.get(project_id, fresh=fresh)
    if project is None:
        raise ProjectError(ProjectRefusal.NOT_FOUND)
    return project


async def _organisation_of(repos: Repositories, viewer: PersonView) -> int:
    """The organisation a member acts for, read from the database now."""
    person = await repos.people.get(viewer.id)
    if person is None or not Role(person.role).at_least(Role.MEMBER):
        raise ProjectError(ProjectRefusal.MEMBERS_ONLY)
    if person.organisation_id is None:
        raise ProjectError(ProjectRefusal.NO_ORGANISATION)
    return person.organisation_id


def check_amount(hundredths: int) -> int:
    if not 0 < hundredths <= AMOUNT_MAX:
        raise ProjectError(ProjectRefusal.BAD_AMOUNT, limit=AMOUNT_MAX // 100)
    return hundredths


class Unit(enum.StrEnum):
    """The units resources are counted in; the chat names them in the reader's language."""

    RON = "RON"
    EUR = "EUR"
    PERSON_DAYS = "person_days"
    HOURS = "hours"
    DAYS = "days"
    PIECES = "pieces"


# Which units each kind of resource is counted in, the first one by default.
UNITS: dict[ResourceKind, tuple[Unit, ...]] = {
    ResourceKind.MONEY: (Unit.RON, Unit.EUR),
    ResourceKind.PERSON_DAYS: (Unit.PERSON_DAYS,),
    ResourceKind.EQUIPMENT: (Unit.HOURS, Unit.DAYS),
    ResourceKind.OTHER: (Unit.PIECES, Unit.HOURS, Unit.DAYS),
}


def check_unit(kind: ResourceKind, unit: str) -> str:
    """`unit` if resources of `kind` are counted in it (money in RON or EUR, person-days in person-days...)."""
    if unit not in {u.value for u in UNITS[kind]}:
        raise ProjectError(ProjectRefusal.BAD_UNIT, kind=kind.value)
    return unit


def _kind(kind: str) -> ResourceKind:
    try:
        return ResourceKind(kind)
    except ValueError:
        raise ProjectError(ProjectRefusal.BAD_KIND) from None


# --- proposing and planning ------------------------------------------------------------------------------------


async def propose(
    repos: Repositories,
    viewer: PersonView,
    *,
    title: str,
    description: str,
    locale: str,
    group_id: int | None = None,
    default_locale: str = "ro",
) -> Project:
    """A member's project idea, in their language, on their own or for a working group they take part in; the
    proposer, the managers and the group's members are told."""
    organisation_id = await _organisation_of(repos, viewer)
    if locale not in ("ro", "en"):
        raise ValueError(f"unsupported language {locale!r}")
    if group_id is not None:
        group = await repos.groups.get(group_id)
        if (
            group is None
            or group.state == GroupState.DISSOLVED.value
            or await repos.groups.membership(group_id, viewer.id) is None
        ):
            raise ProjectError(ProjectRefusal.NOT_IN_GROUP)
    now = utcnow()
    project = await repos.projects.add(
        state=ProjectState.IDEA.value,
        proposed_by_id=viewer.id,
        organisation_id=organisation_id,
        group_id=group_id,
        created_at=now,
        updated_at=now,
        **{
            f"title_{locale}": clean_text(title, TITLE_MAX),
            f"description_{locale}": clean_text(description, DESCRIPTION_MAX),
        },
    )
    await repos.projects.add_event(project.id, "proposed", actor_id=viewer.id, details={}, at=now)
    await repos.audit.record("project.proposed", actor_id=viewer.id, subject=f"project:{project.id}")
    proposer = await repos.people.get(viewer.id)
    if proposer is not None:
        await project_notices.tell_proposed(repos, project, proposer, default_locale)
    return project


async def proposal_groups(repos: Repositories, viewer: PersonView) -> list[GroupChoice]:
    """The working groups a member may propose a project for (those they take part in that are not dissolved);
    refused to anyone who may not propose."""
    await _organisation_of(repos, viewer)
    rows = await repos.groups.page(
        states=[GroupState.ACTIVE.value, GroupState.PROPOSED.value],
        member_id=viewer.id,
        offset=0,
        limit=GROUP_CHOICES_MAX,
    )
    return [GroupChoice(row.id, Texts(ro=row.title_ro or None, en=row.title_en or None)) for row in rows]


# --- editing -------------------------------------------------------------------------------------------------------

EDITABLE = frozenset({ProjectState.IDEA, ProjectState.PREPARATION})


async def _editable(repos: Repositories, viewer: PersonView, project_id: int) -> tuple[Project, Person, bool]:
    """The project, the editor as the database has them now, and whether the editor is a manager: the proposer
    edits while it is an idea or in preparation, managers too; anyone else is refused."""
    person = await repos.people.get(viewer.id)
    if person is None or not Role(person.role).at_least(Role.MEMBER):
        raise ProjectError(ProjectRefusal.MEMBERS_ONLY)
    project = await _project(repos, project_id, fresh=True)
    manages = Role(person.role).at_least(Role.MANAGER)
    if not manages and project.proposed_by_id != person.id:
        raise ProjectError(ProjectRefusal.NOT_YOURS)
    if ProjectState(project.state) not in EDITABLE:
        raise ProjectError(ProjectRefusal.NOT_EDITABLE, state=project.state)
    return project, person, manages


async def _edited(repos: Repositories, viewer: PersonView, project: Project, fields: Sequence[str]) -> None:
    now = utcnow()
    project.updated_at = now
    await repos.projects.add_event(project.id, "edited", actor_id=viewer.id, details={"fields": list(fields)}, at=now)
    await repos.audit.record(
        "project.edited", actor_id=viewer.id, subject=f"project:{project.id}", details={"fields": list(fields)}
    )


async def _steps_of(repos: Repositories, project_id: int) -> list[PlanStep]:
    steps = await repos.projects.steps(project_id)
    names = await repos.projects.organisation_names(
        {step.owner_organisation_id for step in steps if step.owner_organisation_id is not None}
    )
    return [
        PlanStep(
            step.text,
            step.owner_organisation_id,
            names.get(step.owner_organisation_id) if step.owner_organisation_id is not None else None,
            step.due_on,
        )
        for step in steps
    ]


async def editing(repos: Repositories, viewer: PersonView, project_id: int) -> EditView:
    """The project as `viewer` may edit it now (refused to anyone who may not): checked at every step of an
    edit, so a person demoted or a project moved on meanwhile ends the conversation."""
    project, _person, manages = await _editable(repos, viewer, project_id)
    return EditView(
        id=project.id,
        title=Texts(ro=project.title_ro or None, en=project.title_en or None),
        description=Texts(ro=project.description_ro or None, en=project.description_en or None),
        state=ProjectState(project.state),
        manages=manages,
        steps=await _steps_of(repos, project_id),
        budget=project.budget_hundredths,
        currency=project.budget_currency,
        needs={(n.kind, n.unit): n.target_hundredths for n in await repos.projects.needs(project_id)},
        places=project.places,
        deadline=project.commitments_deadline,
    )


async def edit_texts(
    repos: Repositories,
    viewer: PersonView,
    project_id: int,
    *,
    locale: str,
    title: str | None,
    description: str | None,
) -> Project:
    """The title and description in one language (None: keep it). The proposer edits the languages the project
    is written in; a manager may also add the other one, title and description together."""
    if locale not in ("ro", "en"):
        raise ValueError(f"unsupported language {locale!r}")
    project, _person, manages = await _editable(repos, viewer, project_id)
    present = bool(getattr(project, f"title_{locale}"))
    if not present and not manages:
        raise ProjectError(ProjectRefusal.OTHER_LANGUAGE, language=locale)
    fields = []
    for name, value, limit in (("title", title, TITLE_MAX), ("description", description, DESCRIPTION_MAX)):
        if value is None and present:
            continue
        setattr(project, f"{name}_{locale}", clean_text(value, limit))
        fields.append(f"{name}_{locale}")
    if fields:
        await _edited(repos, viewer, project, fields)
    return project


def _plan_line(line: str) -> tuple[str, str, str] | None:
    """A line's three parts: what (which may itself hold a ";"), owner, date; None when it has not three."""
    parts = [part.strip() for part in line.rsplit(";", 2)]
    if len(parts) != 3 or not parts[0] or not parts[1] or not parts[2]:
        return None
    return parts[0], parts[1], parts[2]


async def read_plan(
    repos: Repositories, viewer: PersonView, project_id: int, text: str, locale: str, *, today: date
) -> list[PlanStep]:
    """An action plan typed one step a line, "what; owner organisation; date" ("Studiu de fezabilitate;
    EcoTech SRL; 15 martie 2027"; "-" for no owner yet), read in the reader's language; nothing is saved.

    Owners are member organisations matched by name as organisations are (diacritics, case and "S.R.L."
    folded). A date is today or later, except a step kept as it is from the current plan (a step done by now).
    Every bad line is refused at once: `ProjectRefusal.BAD_PLAN` with each line's number and problem.
    """
    await _editable(repos, viewer, project_id)
    kept = {(step.text, step.due_on) for step in await repos.projects.steps(project_id)}
    lines = [(number, line.strip()) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not lines:
        raise ProjectError(ProjectRefusal.BAD_PLAN, problems=[PlanLineProblem(0, PlanProblem.EMPTY).as_context()])
    if len(lines) > PLAN_MAX:
        raise ProjectError(
            ProjectRefusal.BAD_PLAN, problems=[PlanLineProblem(0, PlanProblem.TOO_MANY).as_context()], limit=PLAN_MAX
        )
    problems: list[PlanLineProblem] = []
    steps: list[PlanStep] = []
    owners: dict[str, tuple[int, str] | None] = {}
    for number, line in lines:
        parts = _plan_line(line)
        if parts is None:
            problems.append(PlanLineProblem(number, PlanProblem.SHAPE))
            continue
        what, owner, when = (" ".join(part.split()) for part in parts)
        if len(what) > STEP_MAX:
            problems.append(PlanLineProblem(number, PlanProblem.TEXT_TOO_LONG))
            continue
        found: tuple[int, str] | None = None
        if owner not in NO_OWNER:
            key = organisation_key(owner)
            if key not in owners:
                organisation = await repos.organisations.by_name_key(key) if key else None
                owners[key] = (organisation.id, organisation.name) if organisation is not None else None
            found = owners[key]
            if found is None:
                problems.append(PlanLineProblem(number, PlanProblem.UNKNOWN_OWNER, owner=owner))
                continue
        try:
            due = parse_date(when, locale, today=today, allow_past=True)
        except DateError as error:
            problems.append(PlanLineProblem(number, PlanProblem.BAD_DATE, date=error.reason.value))
            continue
        if due < today and (what, due) not in kept:
            problems.append(PlanLineProblem(number, PlanProblem.BAD_DATE, date="in_the_past"))
            continue
        steps.append(PlanStep(what, found[0] if found else None, found[1] if found else None, due))
    if problems:
        raise ProjectError(ProjectRefusal.BAD_PLAN, problems=[problem.as_context() for problem in problems])
    return steps


async def set_plan(
    repos: Repositories, viewer: PersonView, project_id: int, steps: Sequence[tuple[str, int | None, date]]
) -> None:
    """The action plan: ordered steps of (what, the owner organisation, the target date), replacing the old."""
    project, _person, _manages = await _editable(repos, viewer, project_id)
    if not steps:
        raise ProjectError(ProjectRefusal.BAD_PLAN, problems=[PlanLineProblem(0, PlanProblem.EMPTY).as_context()])
    if len(steps) > PLAN_MAX:
        raise ProjectError(
            ProjectRefusal.BAD_PLAN, problems=[PlanLineProblem(0, PlanProblem.TOO_MANY).as_context()], limit=PLAN_MAX
        )
    owners = {owner for _text, owner, _due in steps if owner is not None}
    known = await repos.projects.organisation_names(owners)
    for number, (_text, owner, _due) in enumerate(steps, 1):
        if owner is not None and owner not in known:
            problem = PlanLineProblem(number, PlanProblem.UNKNOWN_OWNER, owner=str(owner))
            raise ProjectError(ProjectRefusal.BAD_PLAN, problems=[problem.as_context()])
    await repos.projects.replace_steps(
        project_id,
        [
            {"text": clean_text(text, STEP_MAX), "owner_organisation_id": owner, "due_on": due}
            for text, owner, due in steps
        ],
    )
    await _edited(repos, viewer, project, ["plan"])


async def set_budget(repos: Repositories, viewer: PersonView, project_id: int, hundredths: int, currency: str) -> None:
    if currency not in CURRENCIES:
        raise ProjectError(ProjectRefusal.BAD_CURRENCY)
    check_amount(hundredths)
    project, _person, _manages = await _editable(repos, viewer, project_id)
    project.budget_hundredths = hundredths
    project.budget_currency = currency
    await _edited(repos, viewer, project, ["budget"])


async def set_needs(
    repos: Repositories, viewer: PersonView, project_id: int, needs: Mapping[tuple[str, str], int]
) -> None:
    """What the project needs: (kind, unit) -> target in hundredths, replacing what it needed before."""
    rows = [
        {
            "kind": _kind(kind).value,
            "unit": check_unit(_kind(kind), unit),
            "target_hundredths": check_amount(target),
        }
        for (kind, unit), target in needs.items()
    ]
    project, _person, _manages = await _editable(repos, viewer, project_id)
    await repos.projects.replace_needs(project_id, rows)
    await _edited(repos, viewer, project, ["needs"])


async def set_places(repos: Repositories, viewer: PersonView, project_id: int, places: int | None) -> None:
    """How many organisations can take part (1..PLACES_MAX), or None: as many as commit. Once a manager closed a
    competition's list, only managers change it."""
    if places is not None and not 1 <= places <= PLACES_MAX:
        raise ProjectError(ProjectRefusal.BAD_PLACES, limit=PLACES_MAX)
    project, _person, manages = await _editable(repos, viewer, project_id)
    if project.list_closed_at is not None and not manages:
        raise ProjectError(ProjectRefusal.LIST_CLOSED)
    project.places = places
    await _edited(repos, viewer, project, ["places"])


async def set_deadline(
    repos: Repositories, viewer: PersonView, project_id: int, deadline: datetime | None, *, now: datetime | None = None
) -> None:
    """The deadline for commitments (an aware moment in the future: a date typed means the end of that day in
    the cluster's time zone, which the handler works out), or None: no deadline."""
    if deadline is not None:
        if deadline.tzinfo is None:
            raise ValueError("a deadline must be an aware datetime")
        if deadline <= (now or utcnow()):
            raise ProjectError(ProjectRefusal.BAD_DEADLINE)
    project, _person, _manages = await _editable(repos, viewer, project_id)
    project.commitments_deadline = deadline.astimezone(UTC) if deadline is not None else None
    await _edited(repos, viewer, project, ["deadline"])


def missing(project: Project, *, has_plan: bool) -> list[Missing]:
    """What a project lacks to be prepared, given whether it has an action plan (empty: nothing)."""
    lacking = [] if has_plan else [Missing.ACTION_PLAN]
    if project.budget_hundredths is None or project.budget_currency is None:
        lacking.append(Missing.BUDGET)
    return lacking


async def missing_for_preparation(repos: Repositories, project_id: int) -> list[Missing]:
    """What a project lacks to be prepared: an action plan, a budget (empty: nothing)."""
    project = await _project(repos, project_id)
    return missing(project, has_plan=bool(await repos.projects.steps(project_id)))


async def move(
    repos: Repositories,
    manager: PersonView,
    project_id: int,
    target: ProjectState,
    *,
    reason: str,
    default_locale: str = "ro",
) -> Project:
    """A manager moves a project on, with a reason everyone involved reads (they are told); the first manager
    to act wins."""
    project = await check_move(repos, manager, project_id, target)
    allowed = _TRANSITIONS[target]
    reason = clean_text(reason, REASON_MAX)
    now = utcnow()
    if not await repos.projects.move(project_id, allowed=allowed, state=target, now=now):
        fresh = await _project(repos, project_id, fresh=True)
        raise ProjectError(ProjectRefusal.STATE_CHANGED, state=fresh.state)
    previous = project.state
    event = await repos.projects.add_event(
        project_id,
        "state",
        actor_id=manager.id,
        details={"from": previous, "to": target.value, "reason": reason},
        at=now,
    )
    await repos.audit.record(
        f"project.{target.value}", actor_id=manager.id, subject=f"project:{project_id}", details={"reason": reason}
    )
    moved = await _project(repos, project_id, fresh=True)
    await project_notices.tell_state(
        repos, moved, event_id=event.id, actor_id=manager.id, reason=reason, default_locale=default_locale
    )
    return moved


# --- commitments -------------------------------------------------------------------------------------------------


async def ranking(repos: Repositories, project_id: int) -> list[Standing]:
    """The organisations standing, first committer first."""
    return [
        Standing(rank, organisation_id, since)
        for rank, (organisation_id, _change, since) in enumerate(await repos.projects.standing(project_id), 1)
    ]


async def _take_turn(
    repos: Repositories, project_id: int, now: datetime, *, before_deadline: bool = True
) -> tuple[Project, int]:
    """The project's turn for a change to its commitments or competition: refused unless it is in preparation
    (and, for commitments, before its deadline)."""
    change = await repos.projects.claim_change(project_id, now=now)
    # Read after the claim: current, and under the project's turn when it was taken.
    project = await _project(repos, project_id, fresh=True)
    if change is None:
        raise ProjectError(ProjectRefusal.NOT_TAKING_COMMITMENTS, state=project.state)
    if before_deadline:
        _check_deadline(project, now)
    return project, change


def _check_deadline(project: Project, now: datetime) -> None:
    if project.commitments_deadline is not None and now > project.commitments_deadline:
        raise ProjectError(ProjectRefusal.DEADLINE_PASSED, deadline=project.commitments_deadline.isoformat())


def _check_competitor(project: Project, standings: Sequence[Standing], organisation_id: int) -> None:
    """Only an organisation standing in a project in competition takes part in agreeing its rule."""
    if not in_competition(project, standings):
        raise ProjectError(ProjectRefusal.NOT_IN_COMPETITION)
    if _rank_of(standings, organisation_id) is None:
        raise ProjectError(ProjectRefusal.NOT_STANDING)


def _rank_of(standings: Sequence[Standing], organisation_id: int) -> int | None:
    return next((s.rank for s in standings if s.organisation_id == organisation_id), None)


async def _tell_standing(
    repos: Repositories,
    project: Project,
    change: int,
    actor: PersonView,
    before: list[Standing],
    after: list[Standing],
    default_locale: str,
    *,
    outcomes_before: Mapping[int, Outcome] | None = None,
) -> None:
    """Tell each organisation whose place or outcome the change `change` changed (not the one who acted)."""
    await project_notices.tell_standing(
        repos,
        project,
        change=change,
        actor_id=actor.id,
        ranks=({s.organisation_id: s.rank for s in before}, {s.organisation_id: s.rank for s in after}),
        outcomes=(outcomes_before or outcomes(project, before), outcomes(project, after)),
        default_locale=default_locale,
    )


async def commit(
    repos: Repositories,
    viewer: PersonView,
    project_id: int,
    *,
    kind: str,
    unit: str,
    hundredths: int,
    note: str | None = None,
    now: datetime | None = None,
    default_locale: str = "ro",
) -> CommitmentChange:
    """Declare, or change, what the member's organisation commits of one resource; every version is kept."""
    organisation_id = await _organisation_of(repos, viewer)
    resource = _kind(kind)
    unit = check_unit(resource, unit)
    check_amount(hundredths)
    now = now or utcnow()
    project, change = await _take_turn(repos, project_id, now)
    await _check_not_absurd(repos, project_id, resource, unit, hundredths)
    before = await ranking(repos, project_id)
    previous = await repos.projects.latest_line(project_id, organisation_id, resource.value, unit)
    standing = previous is not None and not previous.withdrawn
    version = await repos.projects.add_version(
        previous,
        project_id=project_id,
        organisation_id=organisation_id,
        kind=resource.value,
        unit=unit,
        withdrawn=False,
        amount_hundredths=hundredths,
        note=clean_text(note, NOTE_MAX) if note else None,
        author_id=viewer.id,
        standing_since=previous.standing_since if standing and previous else now,
        standing_change=previous.standing_change if standing and previous else change,
        created_at=now,
    )
    await repos.audit.record(
        "project.committed",
        actor_id=viewer.id,
        subject=f"project:{project_id}",
        details={"organisation_id": organisation_id, "kind": resource.value, "unit": unit, "hundredths": hundredths},
    )
    standings = await ranking(repos, project_id)
    await _tell_standing(repos, project, change, viewer, before, standings, default_locale)
    return CommitmentChange(version, _rank_of(standings, organisation_id), standings)


async def withdraw(
    repos: Repositories,
    viewer: PersonView,
    project_id: int,
    *,
    kind: str,
    unit: str,
    now: datetime | None = None,
    default_locale: str = "ro",
) -> CommitmentChange:
    """Withdraw the organisation's commitment of one resource (also after the deadline); with nothing left
    standing it loses its place."""
    organisation_id = await _organisation_of(repos, viewer)
    resource = _kind(kind)
    now = now or utcnow()
    # Withdrawing stays possible after the deadline: nobody is held to resources, and the next one waiting
    # moves up.
    project, change = await _take_turn(repos, project_id, now, before_deadline=False)
    before = await ranking(repos, project_id)
    previous = await repos.projects.latest_line(project_id, organisation_id, resource.value, check_unit(resource, unit))
    if previous is None or previous.withdrawn:
        raise ProjectError(ProjectRefusal.NOTHING_TO_WITHDRAW)
    version = await repos.projects.add_version(
        previous,
        project_id=project_id,
        organisation_id=organisation_id,
        kind=previous.kind,
        unit=previous.unit,
        withdrawn=True,
        amount_hundredths=0,
        author_id=viewer.id,
        standing_since=None,
        standing_change=None,
        created_at=now,
    )
    await repos.audit.record(
        "project.withdrawn",
        actor_id=viewer.id,
        subject=f"project:{project_id}",
        details={"organisation_id": organisation_id, "kind": previous.kind, "unit": previous.unit},
    )
    standings = await ranking(repos, project_id)
    await _tell_standing(repos, project, change, viewer, before, standings, default_locale)
    return CommitmentChange(version, _rank_of(standings, organisation_id), standings)


def totals_of(lines: Sequence[Commitment]) -> dict[tuple[str, str], int]:
    """What stands against each (kind, unit) among the latest versions `lines`, in hundredths."""
    totals: dict[tuple[str, str], int] = {}
    for line in lines:
        if not line.withdrawn:
            key = (line.kind, line.unit)
            totals[key] = totals.get(key, 0) + line.amount_hundredths
    return totals


async def committed_totals(repos: Repositories, project_id: int) -> dict[tuple[str, str], int]:
    """What stands against each (kind, unit), in hundredths: the sum of the latest versions."""
    return totals_of(await repos.projects.latest_commitments(project_id))


# --- internal competition ------------------------------------------------------------------------------------------


def in_competition(project: Project, standings: Sequence[Standing]) -> bool:
    """More organisations stand than the project has places."""
    return project.places is not None and len(standings) > project.places


def outcomes(project: Project, standings: Sequence[Standing]) -> dict[int, Outcome]:
    """Each standing organisation's outcome: once the list is closed, the first `places` take part and the
    others wait in order (so one moves up when a participant withdraws); before, everyone stands."""
    if project.list_closed_at is None or project.places is None:
        return {s.organisation_id: Outcome.STANDING for s in standings}
    return {s.organisation_id: Outcome.PARTICIPANT if s.rank <= project.places else Outcome.WAITING for s in standings}


async def record_rule(repos: Repositories, viewer: PersonView, project_id: int, rule: str) -> Project:
    """An organisation standing in a project in competition records the rule the participants agreed on; every
    version is kept in the history."""
    organisation_id = await _organisation_of(repos, viewer)
    now = utcnow()
    # The competition is settled after the commitments' deadline as much as before it.
    project, _change = await _take_turn(repos, project_id, now, before_deadline=False)
    _check_competitor(project, await ranking(repos, project_id), organisation_id)
    text = clean_text(rule, DESCRIPTION_MAX)
    project.competition_rule = text
    await repos.projects.add_event(
        project_id, "rule", actor_id=viewer.id, details={"rule": text, "organisation_id": organisation_id}, at=now
    )
    await repos.audit.record("project.rule", actor_id=viewer.id, subject=f"project:{project_id}")
    return project


async def close_list(
    repos: Repositories, manager: PersonView, project_id: int, *, default_locale: str = "ro"
) -> dict[int, Outcome]:
    """A manager closes a competition's list: the first `places` organisations take part, the rest wait; each
    is told its outcome."""
    await require_manager(repos, manager)
    now = utcnow()
    project, change = await _take_turn(repos, project_id, now, before_deadline=False)
    if project.list_closed_at is not None:
        raise ProjectError(ProjectRefusal.LIST_CLOSED)
    standings = await ranking(repos, project_id)
    if not in_competition(project, standings):
        raise ProjectError(ProjectRefusal.NOT_IN_COMPETITION)
    standing = outcomes(project, standings)
    project.list_closed_at = now
    result = outcomes(project, standings)
    await repos.projects.add_event(
        project_id,
        "list_closed",
        actor_id=manager.id,
        details={"participants": [o for o, outcome in result.items() if outcome is Outcome.PARTICIPANT]},
        at=now,
    )
    await repos.audit.record("project.list_closed", actor_id=manager.id, subject=f"project:{project_id}")
    await _tell_standing(
        repos, project, change, manager, standings, standings, default_locale, outcomes_before=standing
    )
    return result


# --- what the chat checks before it asks ---------------------------------------------------------------------


async def _check_not_absurd(
    repos: Repositories, project_id: int, kind: ResourceKind, unit: str, hundredths: int
) -> None:
    target = next(
        (
            need.target_hundredths
            for need in await repos.projects.needs(project_id)
            if (need.kind, need.unit) == (kind.value, unit)
        ),
        None,
    )
    if target is not None and hundredths > target * ABSURD_FACTOR:
        raise ProjectError(ProjectRefusal.ABSURD_AMOUNT, factor=ABSURD_FACTOR, target=target, unit=unit)


async def check_commitment_amount(repos: Repositories, project_id: int, kind: str, unit: str, hundredths: int) -> None:
    """What `commit` checks of an amount, before the chat asks for the rest: in range, and not absurd for what the
    project needs of that resource."""
    resource = _kind(kind)
    check_amount(hundredths)
    await _check_not_absurd(repos, project_id, resource, check_unit(resource, unit), hundredths)


async def ensure_can_commit(repos: Repositories, viewer: PersonView, project_id: int) -> Project:
    """Refused now, before the chat asks for an amount, for what `commit` would refuse at the end: a guest,
    someone without an organisation, a project not in preparation or past its deadline."""
    await _organisation_of(repos, viewer)
    project = await _project(repos, project_id)
    if project.state != ProjectState.PREPARATION.value:
        raise ProjectError(ProjectRefusal.NOT_TAKING_COMMITMENTS, state=project.state)
    _check_deadline(project, utcnow())
    return project


async def own_line(repos: Repositories, viewer: PersonView, project_id: int, commitment_id: int) -> Commitment:
    """The standing commitment `commitment_id` (its latest version) of the viewer's organisation to the project,
    as a button names it: one of another organisation or project, or replaced meanwhile, is refused."""
    organisation_id = await _organisation_of(repos, viewer)
    line = await repos.projects.commitment(commitment_id)
    if line is None or line.project_id != project_id or line.organisation_id != organisation_id:
        raise ProjectError(ProjectRefusal.NOT_YOUR_COMMITMENT)
    if not line.latest or line.withdrawn:
        raise ProjectError(ProjectRefusal.NOT_YOUR_COMMITMENT, stale=True)
    return line


async def ensure_standing(repos: Repositories, viewer: PersonView, project_id: int) -> Project:
    """Before asking for a competition's rule: the viewer's organisation stands in a project in competition."""
    organisation_id = await _organisation_of(repos, viewer)
    project = await _project(repos, project_id)
    if project.state != ProjectState.PREPARATION.value:
        raise ProjectError(ProjectRefusal.NOT_TAKING_COMMITMENTS, state=project.state)
    _check_competitor(project, await ranking(repos, project_id), organisation_id)
    return project


async def check_move(repos: Repositories, manager: PersonView, project_id: int, target: ProjectState) -> Project:
    """Before asking a manager for the reason: what `move` would refuse (another state, nothing to prepare)."""
    await require_manager(repos, manager)
    project = await _project(repos, project_id)
    if ProjectState(project.state) not in _TRANSITIONS.get(target, frozenset()):
        raise ProjectError(ProjectRefusal.STATE_CHANGED, state=project.state)
    if target is ProjectState.PREPARATION:
        lacking = await missing_for_preparation(repos, project_id)
        if lacking:
            raise ProjectError(ProjectRefusal.NOT_READY, missing=[m.value for m in lacking])
    return project
