"""What people are told of projects through the notice path: who is told, with which plain parameters.

The rules (`bot.services.projects`) call these in the transaction of the change; `handlers.projects.notices`
words them. Nobody is told of their own action (they see it in the chat), except the proposer, whose notice
confirms the proposal; an organisation's colleagues are told of what one of them did.

- `project.proposed`: the proposer, the managers and, for a working group's project, the group's members,
  each worded for why they read it (`ProposedTo`); one batch, so a manager in the group is told once;
- `project.state`: everyone involved (the proposer, the people of every organisation standing, the group's
  members) on every move a manager makes, with the manager's reason;
- `project.rank`: each organisation whose place changed after a commitment or a withdrawal, or that lost it;
- `project.outcome`: each organisation whose outcome changed (taking part, waiting, moved up) when the list is
  closed or a participant's withdrawal moves a waiting one up; such an organisation gets no `project.rank`
  for the same change, the outcome says its place.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.notices import Notice, NoticeKind, recipients, tell
from bot.services.groups import Texts
from storage.models import Person, PersonStatus, Project
from storage.repositories import Repositories


class ProposedTo(enum.StrEnum):
    """Why someone reads a `project.proposed` notice."""

    PROPOSER = "proposer"
    MANAGER = "manager"
    GROUP = "group"


class OutcomeNews(enum.StrEnum):
    PARTICIPANT = "participant"
    WAITING = "waiting"
    # It was waiting and takes part now: a participant withdrew.
    MOVED_UP = "moved_up"


@dataclass(frozen=True)
class ProjectNotice:
    """One project notice's parameters (`notice` for the outbox, `from_params` back for the wording)."""

    kind: NoticeKind
    project_id: int
    title: Texts
    # project.proposed: why this reader is told, who proposed ("Ana Pop (EcoTech SRL)"), the working group.
    to: ProposedTo | None = None
    proposer: str | None = None
    group: Texts | None = None
    # project.state: the new state (a `ProjectState` value) and the manager's reason.
    state: str | None = None
    reason: str | None = None
    # project.rank and project.outcome: the organisation's place (None: it lost it) of `count` standing.
    rank: int | None = None
    count: int = 0
    places: int | None = None
    outcome: OutcomeNews | None = None

    def notice(self) -> Notice:
        params: dict[str, Any] = {"project_id": self.project_id, "title": _plain(self.title)}
        if self.to is not None:
            params["to"] = self.to.value
        if self.proposer is not None:
            params["proposer"] = self.proposer
        if self.group is not None:
            params["group"] = _plain(self.group)
        if self.state is not None:
            params["state"] = self.state
        if self.reason is not None:
            params["reason"] = self.reason
        if self.kind in (NoticeKind.PROJECT_RANK, NoticeKind.PROJECT_OUTCOME):
            params.update(rank=self.rank, count=self.count, places=self.places)
        if self.outcome is not None:
            params["outcome"] = self.outcome.value
        return Notice(self.kind, params)

    @classmethod
    def from_params(cls, kind: NoticeKind, params: Mapping[str, Any]) -> ProjectNotice:
        def texts(name: str) -> Texts | None:
            value = params.get(name)
            return Texts(value.get("ro") or None, value.get("en") or None) if isinstance(value, Mapping) else None

        rank, places = params.get("rank"), params.get("places")
        return cls(
            kind=kind,
            project_id=int(params["project_id"]),
            title=texts("title") or Texts(None, None),
            to=ProposedTo(params["to"]) if "to" in params else None,
            proposer=params.get("proposer"),
            group=texts("group"),
            state=params.get("state"),
            reason=params.get("reason"),
            rank=int(rank) if rank is not None else None,
            count=int(params.get("count", 0)),
            places=int(places) if places is not None else None,
            outcome=OutcomeNews(params["outcome"]) if "outcome" in params else None,
        )


def _plain(texts: Texts) -> dict[str, str | None]:
    return {"ro": texts.ro, "en": texts.en}


def title_of(project: Project) -> Texts:
    return Texts(project.title_ro or None, project.title_en or None)


async def _tell(
    repos: Repositories, batch: str, people: Iterable[Person], notice: ProjectNotice, default_locale: str
) -> int:
    return await tell(repos, batch, recipients(people, default_locale), notice.notice())


async def tell_proposed(repos: Repositories, project: Project, proposer: Person, default_locale: str) -> None:
    """The proposer, the managers, and the members of the project's working group, in that order: one batch,
    so whoever is several of these is told once, as the first."""
    organisation = await repos.organisations.get(project.organisation_id) if project.organisation_id else None
    who = f"{proposer.full_name} ({organisation.name})" if organisation is not None else proposer.full_name
    group = await repos.groups.get(project.group_id) if project.group_id is not None else None
    group_title = Texts(group.title_ro or None, group.title_en or None) if group is not None else None
    batch = f"project:{project.id}:proposed"
    readers: list[tuple[ProposedTo, Iterable[Person]]] = [
        (ProposedTo.PROPOSER, [proposer]),
        (ProposedTo.MANAGER, await repos.people.managers()),
    ]
    if group is not None:
        readers.append((ProposedTo.GROUP, await repos.groups.members(group.id)))
    for to, people in readers:
        notice = ProjectNotice(
            NoticeKind.PROJECT_PROPOSED, project.id, title_of(project), to=to, proposer=who, group=group_title
        )
        await _tell(repos, batch, people, notice, default_locale)


async def involved(repos: Repositories, project: Project) -> list[Person]:
    """Everyone a project's changes concern: its proposer, the people of the organisations standing in it,
    the members of its working group; each once, only those who can be reached."""
    people: list[Person] = []
    proposer = await repos.people.get(project.proposed_by_id) if project.proposed_by_id is not None else None
    if proposer is not None and proposer.status == PersonStatus.ACTIVE.value:
        people.append(proposer)
    standing = [organisation for organisation, _change, _since in await repos.projects.standing(project.id)]
    people += await repos.projects.people_of(standing)
    if project.group_id is not None:
        people += await repos.groups.members(project.group_id)
    return list({person.id: person for person in people}.values())


async def tell_state(
    repos: Repositories, project: Project, *, event_id: int, actor_id: int, reason: str, default_locale: str
) -> None:
    """Everyone involved but the manager who moved it: the project's new state and why."""
    people = [person for person in await involved(repos, project) if person.id != actor_id]
    notice = ProjectNotice(NoticeKind.PROJECT_STATE, project.id, title_of(project), state=project.state, reason=reason)
    await _tell(repos, f"project:{project.id}:state:{event_id}", people, notice, default_locale)


async def tell_standing(
    repos: Repositories,
    project: Project,
    *,
    change: int,
    actor_id: int,
    ranks: tuple[Mapping[int, int], Mapping[int, int]],
    outcomes: tuple[Mapping[int, str], Mapping[int, str]],
    default_locale: str,
) -> None:
    """After change number `change` of a project's commitments or competition: each organisation whose place
    (`ranks`, before and after: organisation -> rank) or outcome (`outcomes`, before and after: organisation ->
    an `Outcome` value) changed is told, its people but the one who acted."""
    (ranks_before, ranks_after), (outcomes_before, outcomes_after) = ranks, outcomes
    count = len(ranks_after)
    news: dict[int, OutcomeNews] = {}
    for organisation, outcome in outcomes_after.items():
        was = outcomes_before.get(organisation)
        if outcome == was or outcome not in OutcomeNews._value2member_map_:
            continue
        moved_up = was == OutcomeNews.WAITING.value and outcome == OutcomeNews.PARTICIPANT.value
        news[organisation] = OutcomeNews.MOVED_UP if moved_up else OutcomeNews(outcome)
    moved = sorted(
        organisation
        for organisation in ranks_before.keys() | ranks_after.keys()
        if ranks_before.get(organisation) != ranks_after.get(organisation) and organisation not in news
    )
    told = sorted(news) + moved
    people = await repos.projects.people_of(told)
    title = title_of(project)
    for organisation in told:
        colleagues = [p for p in people if p.organisation_id == organisation and p.id != actor_id]
        rank = ranks_after.get(organisation)
        if organisation in news:
            kind, batch = NoticeKind.PROJECT_OUTCOME, f"project:{project.id}:outcome:{change}"
        else:
            kind, batch = NoticeKind.PROJECT_RANK, f"project:{project.id}:rank:{change}"
        notice = ProjectNotice(
            kind, project.id, title, rank=rank, count=count, places=project.places, outcome=news.get(organisation)
        )
        await _tell(repos, batch, colleagues, notice, default_locale)
