"""Repositories: all SQL lives here. They flush when an id is needed and never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import (
    AuditEntry,
    InviteCode,
    JoinRequest,
    Organisation,
    Person,
    PersonStatus,
    RequestStatus,
    Role,
)


class OrganisationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, organisation_id: int) -> Organisation | None:
        return await self.session.get(Organisation, organisation_id)

    async def by_cui(self, cui: str) -> Organisation | None:
        return await self.session.scalar(select(Organisation).where(Organisation.cui == cui))

    async def by_name_key(self, name_key: str) -> Organisation | None:
        return await self.session.scalar(select(Organisation).where(Organisation.name_key == name_key))

    async def add(self, *, name: str, name_key: str, cui: str | None, sector: str | None = None) -> Organisation:
        organisation = Organisation(name=name, name_key=name_key, cui=cui, sector=sector)
        self.session.add(organisation)
        await self.session.flush()
        return organisation

    async def list_with_counts(self) -> Sequence[tuple[Organisation, int]]:
        rows = await self.session.execute(
            select(Organisation, func.count(Person.id))
            .outerjoin(Person, Person.organisation_id == Organisation.id)
            .group_by(Organisation.id)
            .order_by(Organisation.name)
        )
        return [(org, count) for org, count in rows.all()]


class PersonRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, person_id: int) -> Person | None:
        return await self.session.get(Person, person_id)

    async def by_telegram_id(self, telegram_id: int) -> Person | None:
        return await self.session.scalar(select(Person).where(Person.telegram_id == telegram_id))

    async def with_organisation(self, telegram_id: int) -> tuple[Person, Organisation | None] | None:
        """The person and their organisation in one round trip: this runs for every update."""
        row = (
            await self.session.execute(
                select(Person, Organisation)
                .outerjoin(Organisation, Person.organisation_id == Organisation.id)
                .where(Person.telegram_id == telegram_id)
            )
        ).first()
        return (row[0], row[1]) if row else None

    async def add(self, **fields: Any) -> Person:
        person = Person(**fields)
        self.session.add(person)
        await self.session.flush()
        return person

    async def managers(self) -> Sequence[Person]:
        """Everyone who handles requests: managers and admins, reachable ones only."""
        result = await self.session.scalars(
            select(Person)
            .where(
                Person.role.in_([Role.MANAGER.value, Role.ADMIN.value]),
                Person.status == PersonStatus.ACTIVE.value,
            )
            .order_by(Person.id)
        )
        return result.all()

    async def list_all(self, role: Role | None = None) -> Sequence[tuple[Person, Organisation | None]]:
        query = select(Person, Organisation).outerjoin(Organisation, Person.organisation_id == Organisation.id)
        if role is not None:
            query = query.where(Person.role == role.value)
        rows = await self.session.execute(query.order_by(Person.id))
        return [(person, org) for person, org in rows.all()]

    async def of_organisation(self, organisation_id: int) -> Sequence[Person]:
        result = await self.session.scalars(
            select(Person).where(Person.organisation_id == organisation_id).order_by(Person.id)
        )
        return result.all()


class JoinRequestRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, request_id: int, *, for_update: bool = False) -> JoinRequest | None:
        query = select(JoinRequest).where(JoinRequest.id == request_id)
        if for_update:
            # Two managers pressing Approve at once: the second waits and then sees the decision.
            query = query.with_for_update()
        return await self.session.scalar(query)

    async def pending_for(self, person_id: int) -> JoinRequest | None:
        return await self.session.scalar(
            select(JoinRequest).where(
                JoinRequest.person_id == person_id, JoinRequest.status == RequestStatus.PENDING.value
            )
        )

    async def pending(self, limit: int = 50) -> Sequence[tuple[JoinRequest, Person]]:
        rows = await self.session.execute(
            select(JoinRequest, Person)
            .join(Person, Person.id == JoinRequest.person_id)
            .where(JoinRequest.status == RequestStatus.PENDING.value)
            .order_by(JoinRequest.created_at, JoinRequest.id)
            .limit(limit)
        )
        return [(req, person) for req, person in rows.all()]

    async def add(self, **fields: Any) -> JoinRequest:
        request = JoinRequest(**fields)
        self.session.add(request)
        await self.session.flush()
        return request

    async def decide(
        self, request_id: int, *, status: RequestStatus, by_id: int | None, at: datetime, organisation_id: int | None
    ) -> bool:
        """Flip a pending request; False when somebody else decided it first."""
        result = await self.session.execute(
            update(JoinRequest)
            .where(JoinRequest.id == request_id, JoinRequest.status == RequestStatus.PENDING.value)
            .values(status=status.value, decided_by_id=by_id, decided_at=at, organisation_id=organisation_id)
            .execution_options(synchronize_session="fetch")
        )
        return bool(getattr(result, "rowcount", 0))


class InviteRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_code(self, code: str) -> InviteCode | None:
        return await self.session.scalar(select(InviteCode).where(InviteCode.code == code))

    async def add(self, **fields: Any) -> InviteCode:
        invite = InviteCode(**fields)
        self.session.add(invite)
        await self.session.flush()
        return invite

    async def consume(self, invite_id: int) -> bool:
        """Count one use, atomically, unless the code is used up."""
        result = await self.session.execute(
            update(InviteCode)
            .where(
                InviteCode.id == invite_id,
                (InviteCode.max_uses.is_(None)) | (InviteCode.uses < InviteCode.max_uses),
            )
            .values(uses=InviteCode.uses + 1)
            .execution_options(synchronize_session="fetch")
        )
        return bool(getattr(result, "rowcount", 0))

    async def of_organisation(self, organisation_id: int) -> Sequence[InviteCode]:
        result = await self.session.scalars(
            select(InviteCode).where(InviteCode.organisation_id == organisation_id).order_by(InviteCode.id)
        )
        return result.all()

    async def list_all(self) -> Sequence[tuple[InviteCode, Organisation]]:
        rows = await self.session.execute(
            select(InviteCode, Organisation)
            .join(Organisation, Organisation.id == InviteCode.organisation_id)
            .order_by(InviteCode.id)
        )
        return [(invite, org) for invite, org in rows.all()]


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(
        self,
        action: str,
        *,
        actor_id: int | None = None,
        actor_label: str | None = None,
        subject: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.session.add(
            AuditEntry(
                action=action, actor_id=actor_id, actor_label=actor_label, subject=subject, details=details or {}
            )
        )

    async def recent(self, limit: int = 50) -> Sequence[AuditEntry]:
        result = await self.session.scalars(
            select(AuditEntry).order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc()).limit(limit)
        )
        return result.all()


class Repositories:
    """All repositories on one session: what a unit of work hands to the services.

    Built on a session, or on a factory (`Repositories.lazily`) whose session is opened only when a
    repository is first used: most updates of a known person need no database at all.
    """

    def __init__(self, session: AsyncSession | None = None) -> None:
        self._session = session
        self._factory: async_sessionmaker[AsyncSession] | None = None

    @classmethod
    def lazily(cls, factory: async_sessionmaker[AsyncSession]) -> Repositories:
        repos = cls()
        repos._factory = factory
        return repos

    @property
    def opened(self) -> AsyncSession | None:
        """The session, if one was opened."""
        return self._session

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            if self._factory is None:
                raise RuntimeError("Repositories has neither a session nor a session factory")
            self._session = self._factory()
        return self._session

    @cached_property
    def organisations(self) -> OrganisationRepository:
        return OrganisationRepository(self.session)

    @cached_property
    def people(self) -> PersonRepository:
        return PersonRepository(self.session)

    @cached_property
    def join_requests(self) -> JoinRequestRepository:
        return JoinRequestRepository(self.session)

    @cached_property
    def invites(self) -> InviteRepository:
        return InviteRepository(self.session)

    @cached_property
    def audit(self) -> AuditRepository:
        return AuditRepository(self.session)
