"""First actions win, on SQLite and PostgreSQL: presses at the same instant, each in its own unit of work.

Every attempt runs as the bot runs an update: a unit of work of its own, and a refusal is answered (not raised)
so whatever the attempt wrote before it was refused is committed, as the update's middleware would.
SQLite runs in the event loop's thread and a transaction only gives the loop away while it waits, so the
`interleaved` fixture makes each transaction yield just before its first write: every attempt has read what
it reads before any of them writes, the worst order, every time. PostgreSQL's driver yields on every statement.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services import announcements, catalogue, groups, members
from bot.services.announcements import AnnouncementError, Audience
from bot.services.catalogue import CatalogueError, RequestAction
from bot.services.groups import GroupError, GroupRefusal
from bot.services.members import MembershipError, PersonView, Refusal
from storage.db import unit_of_work
from storage.models import (
    Announcement,
    AnnouncementStatus,
    AuditEntry,
    GroupEvent,
    GroupEventKind,
    GroupMembership,
    GroupState,
    InviteCode,
    JoinRequest,
    Organisation,
    OutboxMessage,
    Person,
    RequestStatus,
    Role,
    ServiceRequest,
    ServiceRequestStatus,
    WorkingGroup,
    utcnow,
)
from storage.repositories import Repositories
from storage.sqlite_inloop import InLoopConnection

SMALL = Path(__file__).parent / "data" / "catalogue_small.yaml"
REFUSALS = (MembershipError, CatalogueError, GroupError, AnnouncementError)
Factory = async_sessionmaker[AsyncSession]
Attempt = Callable[[Repositories], Awaitable[Any]]
# Telegram ids unique across the examples a property test adds to one database.
_IDS: Iterator[int] = itertools.count(10_000)


def new_cui() -> str:
    """A CUI with a right check digit that no other case uses (the cluster matches organisations by CUI)."""
    return members.with_check_digit(next(_IDS))


# The language of people who chose none: the deployment's DEFAULT_LOCALE.
DEFAULT_LOCALE = "ro"


@pytest.fixture
def interleaved(monkeypatch: pytest.MonkeyPatch) -> None:
    """On SQLite, give the loop away before each transaction's first write (see the module's docstring)."""
    original = InLoopConnection.hold_writer_lock

    async def hold_writer_lock(self: InLoopConnection) -> None:
        if not self._writing:
            for _ in range(5):
                await asyncio.sleep(0)
        await original(self)

    monkeypatch.setattr(InLoopConnection, "hold_writer_lock", hold_writer_lock)


async def race(factory: Factory, *attempts: Attempt, delays: list[int] | None = None) -> list[Any]:
    """Run the attempts at once, each in its own unit of work; a refusal is the attempt's result."""

    async def one(attempt: Attempt, delay: int) -> Any:
        for _ in range(delay):
            await asyncio.sleep(0)
        async with unit_of_work(factory) as session:
            try:
                return await attempt(Repositories(session))
            except REFUSALS as refusal:
                # The handler answers the refusal and the update's unit of work commits.
                return refusal

    results = await asyncio.gather(
        *(one(attempt, delays[i] if delays else 0) for i, attempt in enumerate(attempts)),
        return_exceptions=True,
    )
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, REFUSALS):
            raise result
    return results


def refused(results: list[Any]) -> list[Any]:
    return [result for result in results if isinstance(result, REFUSALS)]


def succeeded(results: list[Any]) -> list[Any]:
    return [result for result in results if not isinstance(result, REFUSALS)]


async def audit(factory: Factory, subject: str) -> list[str]:
    async with unit_of_work(factory) as session:
        rows = await session.scalars(
            select(AuditEntry.action).where(AuditEntry.subject == subject).order_by(AuditEntry.id)
        )
        return list(rows.all())


async def outbox_batches(factory: Factory, prefix: str) -> list[tuple[str, int]]:
    async with unit_of_work(factory) as session:
        rows = await session.execute(
            select(OutboxMessage.batch, OutboxMessage.chat_id)
            .where(OutboxMessage.batch.startswith(prefix))
            .order_by(OutboxMessage.id)
        )
        return [(batch, chat_id) for batch, chat_id in rows.all()]


async def person(
    repos: Repositories, name: str, role: Role = Role.GUEST, organisation: str | None = None
) -> PersonView:
    return await members.provision(
        repos,
        telegram_id=next(_IDS),
        first_name=name,
        language_code="ro",
        role=role,
        organisation=organisation,
        actor_label="test",
    )


# --- join requests ------------------------------------------------------------------------------------------


@dataclass
class JoinCase:
    managers: list[PersonView]
    applicant: PersonView
    request_id: int
    organisation: str


async def join_case(factory: Factory, managers: int = 2, organisation: str | None = None) -> JoinCase:
    number = next(_IDS)
    organisation = organisation or f"Nouă {number} SRL"
    async with unit_of_work(factory) as session:
        repos = Repositories(session)
        staff = [await person(repos, f"Manager{i}", Role.MANAGER) for i in range(managers)]
        applicant = await person(repos, "Ana")
        request = await members.submit_join_request(
            repos, applicant, organisation_name=organisation, cui=new_cui(), position="Director", default_locale="ro"
        )
    return JoinCase(staff, applicant, request.id, organisation)


def decide(request_id: int, manager: PersonView, approve: bool) -> Attempt:
    async def attempt(repos: Repositories) -> members.Decision:
        return await members.decide_join_request(repos, request_id, manager, approve=approve, default_locale="ro")

    return attempt


async def check_one_decision(factory: Factory, case: JoinCase, results: list[Any]) -> bool:
    """Exactly one decision took effect and everything agrees with it; returns whether it approved."""
    wins = succeeded(results)
    assert len(wins) == 1, results
    for refusal in refused(results):
        assert isinstance(refusal, MembershipError) and refusal.reason is Refusal.REQUEST_DECIDED, refusal
    decision: members.Decision = wins[0]
    # What the applicant is told comes from the one decision that took effect.
    assert decision.applicant.id == case.applicant.id
    entries = [a for a in await audit(factory, f"join_request:{case.request_id}") if a != "join.requested"]
    assert entries == ["join.approved" if decision.approved else "join.rejected"]
    async with unit_of_work(factory) as session:
        request = await session.get(JoinRequest, case.request_id)
        applicant = await session.get(Person, case.applicant.id)
        organisations = await session.scalar(
            select(func.count(Organisation.id)).where(Organisation.name == case.organisation)
        )
        assert request is not None and applicant is not None
        assert request.status == (RequestStatus.APPROVED if decision.approved else RequestStatus.REJECTED).value
        assert request.decided_by_id == (decision.manager.id if decision.manager else None)
        assert organisations == (1 if decision.approved else 0)
        assert (applicant.organisation_id is not None) == decision.approved
        assert request.organisation_id == applicant.organisation_id
    return decision.approved


@pytest.mark.parametrize(
    "choices", [(True, False), (False, True), (True, True), (False, False), (True, False, True)], ids=str
)
async def test_managers_deciding_one_join_request_at_once_decide_it_once(
    session_factory: Factory, interleaved: None, choices: tuple[bool, ...]
) -> None:
    case = await join_case(session_factory, managers=len(choices))
    attempts = [decide(case.request_id, m, approve) for m, approve in zip(case.managers, choices, strict=True)]
    results = await race(session_factory, *attempts)
    await check_one_decision(session_factory, case, results)


async def test_two_requests_for_one_new_organisation_approved_at_once_make_one_organisation(
    session_factory: Factory, interleaved: None
) -> None:
    # Two representatives of an organisation the cluster does not know yet, each approved by another manager
    # at the same instant: both join it, and it exists once (not a UNIQUE error for the second manager).
    organisation = f"Comună {next(_IDS)} SRL"
    first = await join_case(session_factory, organisation=organisation)
    second = await join_case(session_factory, organisation=organisation.upper())
    results = await race(
        session_factory,
        decide(first.request_id, first.managers[0], True),
        decide(second.request_id, second.managers[1], True),
    )
    assert not refused(results), results
    async with unit_of_work(session_factory) as session:
        rows = (await session.scalars(select(Organisation.id).where(Organisation.name_key.like("%comun%")))).all()
        attached = {
            (await session.get(Person, case.applicant.id)).organisation_id  # type: ignore[union-attr]
            for case in (first, second)
        }
    assert len(rows) == 1 and attached == {rows[0]}


# --- invite codes ---------------------------------------------------------------------------------------------


async def invite(factory: Factory, max_uses: int | None) -> tuple[str, int]:
    async with unit_of_work(factory) as session:
        repos = Repositories(session)
        organisation = await repos.organisations.add(name=f"Org {next(_IDS)}", name_key=f"org {next(_IDS)}", cui=None)
        view = await members.create_invite(repos, organisation.id, max_uses=max_uses, actor_label="test")
        return view.code, organisation.id


def redeem(who: PersonView, code: str) -> Attempt:
    async def attempt(repos: Repositories) -> PersonView:
        return await members.redeem_invite(repos, who, code)

    return attempt


async def invite_state(factory: Factory, code: str) -> tuple[int, int]:
    """(uses counted, people attached to the invite's organisation)."""
    async with unit_of_work(factory) as session:
        row = await session.scalar(select(InviteCode).where(InviteCode.code == code))
        assert row is not None
        people = await session.scalar(
            select(func.count(Person.id)).where(Person.organisation_id == row.organisation_id)
        )
        return row.uses, int(people or 0)


async def test_people_using_a_single_use_invite_at_once_one_gets_in(
    session_factory: Factory, interleaved: None
) -> None:
    code, organisation_id = await invite(session_factory, max_uses=1)
    async with unit_of_work(session_factory) as session:
        repos = Repositories(session)
        people = [await person(repos, f"Guest{i}") for i in range(3)]
    results = await race(session_factory, *(redeem(who, code) for who in people))
    assert len(succeeded(results)) == 1, results
    assert all(r.reason is Refusal.INVITE_INVALID for r in refused(results)), results
    assert await invite_state(session_factory, code) == (1, 1)
    assert await audit(session_factory, f"organisation:{organisation_id}") == ["invite.created", "invite.redeemed"]


async def test_one_person_using_an_invite_twice_at_once_uses_it_once(
    session_factory: Factory, interleaved: None
) -> None:
    code, organisation_id = await invite(session_factory, max_uses=5)
    async with unit_of_work(session_factory) as session:
        guest = await person(Repositories(session), "Guest")
    results = await race(session_factory, redeem(guest, code), redeem(guest, code))
    # The second press finds them in the organisation already: that is a welcome, not an error, and no use.
    assert all(isinstance(r, PersonView) and r.organisation_id == organisation_id for r in results), results
    assert await invite_state(session_factory, code) == (1, 1)
    assert await audit(session_factory, f"organisation:{organisation_id}") == ["invite.created", "invite.redeemed"]


async def test_an_invite_used_while_a_manager_approves_the_request_counts_once(
    session_factory: Factory, interleaved: None
) -> None:
    """The applicant redeems an invite of another organisation while a manager approves their request."""
    case = await join_case(session_factory, managers=1)
    code, _organisation_id = await invite(session_factory, max_uses=1)
    results = await race(session_factory, decide(case.request_id, case.managers[0], True), redeem(case.applicant, code))
    assert len(succeeded(results)) == 1, results
    decision, redeemed = results
    uses, people = await invite_state(session_factory, code)
    async with unit_of_work(session_factory) as session:
        request = await session.get(JoinRequest, case.request_id)
        assert request is not None
    if isinstance(redeemed, PersonView):
        assert isinstance(decision, MembershipError) and decision.reason is Refusal.REQUEST_DECIDED
        assert request.status == RequestStatus.WITHDRAWN.value and (uses, people) == (1, 1)
    else:
        assert isinstance(redeemed, MembershipError) and redeemed.reason is Refusal.INVITE_OTHER_ORGANISATION
        assert request.status == RequestStatus.APPROVED.value and (uses, people) == (0, 0)


# --- service requests -------------------------------------------------------------------------------------------


@dataclass
class ServiceCase:
    managers: list[PersonView]
    member: PersonView
    request_id: int


async def service_case(factory: Factory, managers: int = 3) -> ServiceCase:
    async with unit_of_work(factory) as session:
        repos = Repositories(session)
        await catalogue.seed_catalogue(repos, path=SMALL)
        staff = [await person(repos, f"Manager{i}", Role.MANAGER) for i in range(managers)]
        member = await person(repos, "Radu", Role.MEMBER, f"EcoTech {next(_IDS)} SRL")
        found = await session.scalar(select(catalogue.Service.id).where(catalogue.Service.key == "water-treatment"))
        assert found is not None
        created = await catalogue.submit_request(repos, member, found, "O stație.", default_locale="ro")
    return ServiceCase(staff, member, created.request.id)


def act(request_id: int, manager: PersonView, action: RequestAction) -> Attempt:
    async def attempt(repos: Repositories) -> catalogue.RequestChanged:
        reason = "Nu avem capacitate." if action is RequestAction.DECLINE else None
        changed = await catalogue.act_on_request(repos, manager, request_id, action, default_locale="ro", reason=reason)
        return changed

    return attempt


async def check_service_request(factory: Factory, case: ServiceCase, results: list[Any]) -> list[str]:
    """The successful actions, in the order they took effect, form a valid path that the audit log, the final
    state and the member's notices all agree with; returns the path's states."""
    for refusal in refused(results):
        assert isinstance(refusal, CatalogueError) and refusal.reason is catalogue.Refusal.REQUEST_HANDLED, refusal
    subject = f"service_request:{case.request_id}"
    path = [a.removeprefix("service_request.") for a in await audit(factory, subject) if a != "service_request.created"]
    assert sorted(path) == sorted(r.request.status.value for r in succeeded(results)), (path, results)
    state = ServiceRequestStatus.OPEN
    for step in path:
        target = ServiceRequestStatus(step)
        action = {"taken": RequestAction.TAKE, "done": RequestAction.DONE, "declined": RequestAction.DECLINE}[step]
        assert action in catalogue.actions_for(state), (path, state)
        state = target
    async with unit_of_work(factory) as session:
        row = await session.get(ServiceRequest, case.request_id)
        assert row is not None and row.status == state.value
    told = await outbox_batches(factory, f"service-request:{case.request_id}:")
    # Every manager (this case's, and earlier examples' in the same database) was told of the request once, when
    # it was made; the member, of each step that took effect.
    new = f"service-request:{case.request_id}:new"
    managers_told = [chat for batch, chat in told if batch == new]
    assert len(managers_told) == len(set(managers_told)) and {m.telegram_id for m in case.managers} <= set(
        managers_told
    )
    steps = [(batch, chat) for batch, chat in told if batch != new and not batch.endswith(":copies")]
    assert sorted(steps) == sorted((f"service-request:{case.request_id}:{s}", case.member.telegram_id) for s in path)
    # Each step that took effect edits every manager's copy of the card, once: the copies follow the steps.
    copies = [(batch, chat) for batch, chat in told if batch.endswith(":copies")]
    assert sorted(copies) == sorted(
        (f"service-request:{case.request_id}:{s}:copies", chat) for s in path for chat in managers_told
    )
    return path


async def test_managers_taking_one_request_at_once_take_it_once(session_factory: Factory, interleaved: None) -> None:
    case = await service_case(session_factory)
    results = await race(session_factory, *(act(case.request_id, m, RequestAction.TAKE) for m in case.managers))
    assert len(succeeded(results)) == 1, results
    assert await check_service_request(session_factory, case, results) == ["taken"]
    # The managers who lost are told who took it, as the database has it now.
    assert {r.context["status"] for r in refused(results)} == {ServiceRequestStatus.TAKEN}
    assert {r.context["by"] for r in refused(results)} == {succeeded(results)[0].request.handled_by_name}


async def test_done_and_decline_at_once_end_the_request_once(session_factory: Factory, interleaved: None) -> None:
    case = await service_case(session_factory, managers=2)
    results = await race(
        session_factory,
        act(case.request_id, case.managers[0], RequestAction.DONE),
        act(case.request_id, case.managers[1], RequestAction.DECLINE),
    )
    assert len(succeeded(results)) == 1, results
    assert len(await check_service_request(session_factory, case, results)) == 1


# --- working groups -------------------------------------------------------------------------------------------


@dataclass
class GroupCase:
    group_id: int
    # One representative of each of these organisations.
    people: list[PersonView]
    managers: list[PersonView]
    started_active: bool


async def group_case(factory: Factory, organisations: int, members_in: int, state: GroupState) -> GroupCase:
    """A group and `organisations` people of distinct organisations, the first `members_in` of them in it."""
    async with unit_of_work(factory) as session:
        repos = Repositories(session)
        number = next(_IDS)
        managers = [await person(repos, "Maria", Role.MANAGER)]
        people = [await person(repos, f"P{i}", Role.MEMBER, f"Org {number}-{i} SRL") for i in range(organisations)]
        group = await repos.groups.add(state=state.value, title_ro=f"Grup {number}", title_en=f"Group {number}")
        for who in people[:members_in]:
            assert who.organisation_id is not None
            await repos.groups.add_membership(
                group_id=group.id, person_id=who.id, organisation_id=who.organisation_id, at=utcnow()
            )
            await repos.groups.add_event(
                group.id, GroupEventKind.JOINED, actor_id=who.id, details={"organisation_id": 0}, at=utcnow()
            )
        return GroupCase(group.id, people, managers, state is GroupState.ACTIVE)


def join(group_id: int, who: PersonView) -> Attempt:
    async def attempt(repos: Repositories) -> groups.JoinOutcome:
        return await groups.join(repos, who, group_id, DEFAULT_LOCALE)

    return attempt


def leave(group_id: int, who: PersonView) -> Attempt:
    async def attempt(repos: Repositories) -> groups.LeaveOutcome:
        return await groups.leave(repos, who, group_id, DEFAULT_LOCALE)

    return attempt


@dataclass
class GroupNow:
    state: str
    flagged: bool
    organisations: int
    members: set[int]
    events: Counter[str]


async def group_state(factory: Factory, group_id: int) -> GroupNow:
    async with unit_of_work(factory) as session:
        group = await session.get(WorkingGroup, group_id)
        assert group is not None
        rows = (
            await session.execute(
                select(GroupMembership.person_id, GroupMembership.organisation_id).where(
                    GroupMembership.group_id == group_id
                )
            )
        ).all()
        kinds = await session.scalars(select(GroupEvent.kind).where(GroupEvent.group_id == group_id))
        return GroupNow(
            group.state,
            group.flagged_at is not None,
            len({org for _pid, org in rows}),
            {pid for pid, _org in rows},
            Counter(kinds.all()),
        )


async def check_group(factory: Factory, case: GroupCase) -> GroupNow:
    """The group's state agrees with its history and with what people were told."""
    now = await group_state(factory, case.group_id)
    activated = now.events[GroupEventKind.ACTIVATED.value]
    assert activated <= 1
    assert activated == 0 if case.started_active else (now.state == GroupState.ACTIVE.value) == (activated == 1)
    if now.state == GroupState.PROPOSED.value:
        # Joins took turns: a proposed group never has three organisations in it.
        assert now.organisations < groups.ORGANISATIONS_NEEDED
    flags = now.events[GroupEventKind.FLAGGED.value] - now.events[GroupEventKind.RECOVERED.value]
    assert flags in (0, 1) and now.flagged == (flags == 1)
    if now.state == GroupState.ACTIVE.value:
        assert now.flagged == (now.organisations < groups.ORGANISATIONS_NEEDED)
    told = await outbox_batches(factory, f"group:{case.group_id}:")
    batches = {batch for batch, _chat in told}
    # One notice per person per event: a batch never reaches a chat twice, and each event has one batch.
    assert len(set(told)) == len(told)
    assert len({b for b in batches if ":flagged:" in b}) == now.events[GroupEventKind.FLAGGED.value]
    assert len({b for b in batches if ":recovered:" in b}) == now.events[GroupEventKind.RECOVERED.value]
    assert (f"group:{case.group_id}:activated" in batches) == (activated == 1)
    return now


async def test_one_person_joining_twice_at_once_joins_once(session_factory: Factory, interleaved: None) -> None:
    case = await group_case(session_factory, organisations=1, members_in=0, state=GroupState.PROPOSED)
    who = case.people[0]
    results = await race(session_factory, join(case.group_id, who), join(case.group_id, who))
    assert len(succeeded(results)) == 1, results
    assert [r.reason for r in refused(results)] == [GroupRefusal.ALREADY_IN]
    now = await check_group(session_factory, case)
    assert now.members == {who.id} and now.events[GroupEventKind.JOINED.value] == 1


@pytest.mark.parametrize("already", [1, 2], ids=["two-join-to-make-three", "two-join-after-two"])
async def test_organisations_joining_at_once_activate_the_group_once(
    session_factory: Factory, interleaved: None, already: int
) -> None:
    case = await group_case(session_factory, organisations=already + 2, members_in=already, state=GroupState.PROPOSED)
    joiners = case.people[already:]
    results = await race(session_factory, *(join(case.group_id, who) for who in joiners))
    assert len(succeeded(results)) == 2, results
    assert sum(outcome.activated for outcome in succeeded(results)) == 1
    now = await check_group(session_factory, case)
    assert now.state == GroupState.ACTIVE.value and now.events[GroupEventKind.ACTIVATED.value] == 1
    # Who was in it when it became active, and the manager, hear it once; one joining after it did is not told.
    told = [chat for _b, chat in await outbox_batches(session_factory, f"group:{case.group_id}:activated")]
    activator = next(who for who, outcome in zip(joiners, results, strict=True) if outcome.activated)
    expected = {p.telegram_id for p in case.people[:already]} | {m.telegram_id for m in case.managers}
    assert len(told) == len(set(told)) and expected | {activator.telegram_id} <= set(told)


async def test_leaving_at_once_flags_the_group_once(session_factory: Factory, interleaved: None) -> None:
    case = await group_case(session_factory, organisations=4, members_in=4, state=GroupState.ACTIVE)
    results = await race(session_factory, *(leave(case.group_id, who) for who in case.people[:3]))
    assert len(succeeded(results)) == 3, results
    assert sum(outcome.flagged for outcome in succeeded(results)) == 1
    now = await check_group(session_factory, case)
    assert now.flagged and now.events[GroupEventKind.FLAGGED.value] == 1 and now.organisations == 1


async def test_one_person_leaving_twice_at_once_leaves_once(session_factory: Factory, interleaved: None) -> None:
    case = await group_case(session_factory, organisations=3, members_in=3, state=GroupState.ACTIVE)
    who = case.people[0]
    results = await race(session_factory, leave(case.group_id, who), leave(case.group_id, who))
    assert len(succeeded(results)) == 1, results
    assert [r.reason for r in refused(results)] == [GroupRefusal.NOT_IN]
    now = await check_group(session_factory, case)
    assert now.events[GroupEventKind.LEFT.value] == 1 and now.events[GroupEventKind.FLAGGED.value] == 1


async def test_joining_while_a_manager_dissolves_is_one_or_the_other(
    session_factory: Factory, interleaved: None
) -> None:
    case = await group_case(session_factory, organisations=2, members_in=1, state=GroupState.PROPOSED)
    manager = case.managers[0]

    async def dissolve(repos: Repositories) -> Any:
        return await groups.dissolve(
            repos, manager, case.group_id, reason="Nu mai e nevoie.", default_locale=DEFAULT_LOCALE
        )

    results = await race(session_factory, join(case.group_id, case.people[1]), dissolve, dissolve)
    joined, *dissolved = results
    assert len(succeeded(dissolved)) == 1, results
    assert [r.reason for r in refused(dissolved)] == [GroupRefusal.DISSOLVED]
    now = await group_state(session_factory, case.group_id)
    assert now.state == GroupState.DISSOLVED.value and now.events[GroupEventKind.DISSOLVED.value] == 1
    assert await audit(session_factory, f"group:{case.group_id}") == ["group.dissolved"]
    told = {chat for _b, chat in await outbox_batches(session_factory, f"group:{case.group_id}:dissolved")}
    if isinstance(joined, GroupError):
        assert joined.reason is GroupRefusal.DISSOLVED and told == {case.people[0].telegram_id}
    else:
        assert told == {case.people[0].telegram_id, case.people[1].telegram_id}


# --- announcements ----------------------------------------------------------------------------------------------


async def announcement(factory: Factory, *, scheduled: bool) -> tuple[int, list[PersonView]]:
    now = utcnow()
    async with unit_of_work(factory) as session:
        repos = Repositories(session)
        staff = [await person(repos, f"Manager{i}", Role.MANAGER) for i in range(2)]
        for i in range(3):
            await person(repos, f"Member{i}", Role.MEMBER, f"Org {next(_IDS)}")
        view = await announcements.create(
            repos,
            audience=Audience.ALL,
            content=announcements.make_content({"ro": "Salut", "en": "Hello"}),
            default_locale="ro",
            at=now + timedelta(minutes=5) if scheduled else None,
            author=staff[0],
            now=now,
        )
    return view.id, staff


def stop(announcement_id: int, manager: PersonView) -> Attempt:
    async def attempt(repos: Repositories) -> int:
        return await announcements.cancel(repos, announcement_id, author=manager)

    return attempt


async def announcement_state(factory: Factory, announcement_id: int) -> tuple[str, int]:
    """(status, messages still waiting to go)."""
    async with unit_of_work(factory) as session:
        row = await session.get(Announcement, announcement_id)
        assert row is not None
        waiting = await session.scalar(
            select(func.count(OutboxMessage.id)).where(
                OutboxMessage.batch == announcements.batch_of(announcement_id),
                OutboxMessage.status.in_(["pending", "sending"]),
            )
        )
        return row.status, int(waiting or 0)


@pytest.mark.parametrize("scheduled", [False, True], ids=["running", "scheduled"])
async def test_managers_stopping_one_announcement_at_once_stop_it_once(
    session_factory: Factory, interleaved: None, scheduled: bool
) -> None:
    announcement_id, staff = await announcement(session_factory, scheduled=scheduled)
    results = await race(session_factory, *(stop(announcement_id, m) for m in staff))
    wins = succeeded(results)
    assert len(wins) == 1, results
    assert [r.reason for r in refused(results)] == ["already_cancelled"]
    assert wins[0] == (0 if scheduled else 5)
    assert await announcement_state(session_factory, announcement_id) == (AnnouncementStatus.CANCELLED.value, 0)
    subject = announcements.batch_of(announcement_id)
    assert (await audit(session_factory, subject))[1:] == ["announcement.cancelled"]


async def test_a_scheduled_announcement_stopped_as_it_falls_due_never_goes(
    session_factory: Factory, interleaved: None
) -> None:
    announcement_id, staff = await announcement(session_factory, scheduled=True)
    later = utcnow() + timedelta(minutes=10)

    async def job(repos: Repositories) -> list[int]:
        return [i for i in await announcements.queue_due(repos, default_locale="ro", now=later) if i == announcement_id]

    results = await race(session_factory, job, stop(announcement_id, staff[0]), job)
    first_job, stopped, second_job = results
    # Two runs of the job queue it at most once; whichever order, nothing is left to go once it is stopped.
    assert len(first_job) + len(second_job) <= 1
    assert isinstance(stopped, int)
    assert await announcement_state(session_factory, announcement_id) == (AnnouncementStatus.CANCELLED.value, 0)
    entries = await audit(session_factory, announcements.batch_of(announcement_id))
    assert entries == ["announcement.scheduled", "announcement.cancelled"]


# --- random presses -----------------------------------------------------------------------------------------------

JOIN_PRESS = st.tuples(st.integers(0, 2), st.booleans())
SERVICE_PRESS = st.tuples(st.integers(0, 2), st.sampled_from(list(RequestAction)))
GROUP_PRESS = st.tuples(st.integers(0, 4), st.sampled_from(["join", "leave"]))


@pytest.mark.slow
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    join_presses=st.lists(JOIN_PRESS, min_size=1, max_size=4),
    service_presses=st.lists(SERVICE_PRESS, min_size=1, max_size=4),
    group_presses=st.lists(GROUP_PRESS, min_size=1, max_size=6),
    already_in=st.integers(0, 3),
    delays=st.lists(st.integers(0, 3), min_size=14, max_size=14),
)
async def test_random_presses_have_one_outcome_each(
    session_factory: Factory,
    interleaved: None,
    join_presses: list[tuple[int, bool]],
    service_presses: list[tuple[int, RequestAction]],
    group_presses: list[tuple[int, str]],
    already_in: int,
    delays: list[int],
) -> None:
    """Managers press Approve/Reject on one join request and Take/Done/Decline on one service request while
    people press Join/Leave on one group, all at once: each thing ends in one outcome, its history agrees with
    its state, and each person is told one thing per press."""
    join_request = await join_case(session_factory, managers=3)
    service_request = await service_case(session_factory, managers=3)
    # Three organisations in it from the start: an active group, which leaving flags.
    state = GroupState.ACTIVE if already_in >= groups.ORGANISATIONS_NEEDED else GroupState.PROPOSED
    group = await group_case(session_factory, organisations=5, members_in=already_in, state=state)
    attempts: list[Attempt] = [
        *(decide(join_request.request_id, join_request.managers[m], approve) for m, approve in join_presses),
        *(act(service_request.request_id, service_request.managers[m], action) for m, action in service_presses),
        *((join if kind == "join" else leave)(group.group_id, group.people[p]) for p, kind in group_presses),
    ]
    results = await race(session_factory, *attempts, delays=delays)
    # Each press got exactly one answer: an outcome or a refusal.
    assert len(results) == len(attempts)
    joins = results[: len(join_presses)]
    services = results[len(join_presses) : len(join_presses) + len(service_presses)]
    presses = results[len(join_presses) + len(service_presses) :]

    await check_one_decision(session_factory, join_request, joins)

    path = await check_service_request(session_factory, service_request, services)
    terminal = [step for step in path if step in ("done", "declined")]
    pressed_terminal = any(action is not RequestAction.TAKE for _m, action in service_presses)
    assert len(terminal) == (1 if pressed_terminal else 0), path
    assert path.count("taken") <= 1

    now = await check_group(session_factory, group)
    done = [(p, kind) for (p, kind), r in zip(group_presses, presses, strict=True) if not isinstance(r, REFUSALS)]
    joined = Counter(p for p, kind in done if kind == "join")
    left = Counter(p for p, kind in done if kind == "leave")
    for index, who in enumerate(group.people):
        was_in = index < already_in
        # Presses by one person took turns: in, then out, then in again; the final state is where they ended.
        assert joined[index] - left[index] in ((0, -1) if was_in else (0, 1)), (index, joined, left)
        assert (who.id in now.members) == (was_in + joined[index] - left[index] == 1)
    assert now.events[GroupEventKind.JOINED.value] == already_in + sum(joined.values())
    assert now.events[GroupEventKind.LEFT.value] == sum(left.values())
    for (_p, kind), result in zip(group_presses, presses, strict=True):
        if isinstance(result, GroupError):
            assert result.reason is (GroupRefusal.ALREADY_IN if kind == "join" else GroupRefusal.NOT_IN), result
