"""What the bot keeps about one person, read for their download, erased for "Forget me", and the retention
purge of delivered outbox rows and tender alerts (issue 12). The decisions are bot.services.privacy's."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import PEOPLE_CHANGED
from storage.models import (
    AlertProfile,
    Commitment,
    ConfidentialityAcceptance,
    GroupMembership,
    JoinRequest,
    Organisation,
    OutboxMessage,
    OutboxStatus,
    Person,
    PersonStatus,
    Project,
    QuestionMessage,
    QuestionThread,
    Role,
    Service,
    ServiceRequest,
    TenderAlert,
    TenderRow,
    WorkingGroup,
)

# The outbox rows still to be sent (or being sent): dropped when their person is forgotten.
UNSENT = (OutboxStatus.PENDING.value, OutboxStatus.SENDING.value)
# Outbox rows that are done with, one way or another: what the retention purge deletes once old.
FINISHED = (OutboxStatus.SENT.value, OutboxStatus.FAILED.value, OutboxStatus.BLOCKED.value, OutboxStatus.INVALID.value)


def _row(obj: Any, *columns: str) -> dict[str, Any]:
    return {column: getattr(obj, column) for column in columns}


class PrivacyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def person(self, person_id: int) -> tuple[Person, Organisation | None] | None:
        row = (
            await self.session.execute(
                select(Person, Organisation)
                .outerjoin(Organisation, Person.organisation_id == Organisation.id)
                .where(Person.id == person_id)
            )
        ).first()
        return (row[0], row[1]) if row else None

    async def join_requests(self, person_id: int) -> list[dict[str, Any]]:
        rows = await self.session.scalars(
            select(JoinRequest).where(JoinRequest.person_id == person_id).order_by(JoinRequest.id)
        )
        columns = ("id", "organisation_name", "cui", "position", "status", "created_at", "decided_at")
        return [_row(r, *columns) for r in rows]

    async def service_requests(self, person_id: int) -> list[dict[str, Any]]:
        rows = await self.session.execute(
            select(ServiceRequest, Service.key)
            .join(Service, Service.id == ServiceRequest.service_id)
            .where(ServiceRequest.person_id == person_id)
            .order_by(ServiceRequest.id)
        )
        return [
            {"service": key, **_row(r, "id", "note", "status", "decline_reason", "created_at", "updated_at")}
            for r, key in rows.all()
        ]

    async def group_memberships(self, person_id: int) -> list[dict[str, Any]]:
        rows = await self.session.execute(
            select(GroupMembership, WorkingGroup.title_ro, WorkingGroup.title_en)
            .join(WorkingGroup, WorkingGroup.id == GroupMembership.group_id)
            .where(GroupMembership.person_id == person_id)
            .order_by(GroupMembership.id)
        )
        return [
            {"group_id": m.group_id, "group": title_ro or title_en, "joined_at": m.joined_at}
            for m, title_ro, title_en in rows.all()
        ]

    async def membership_group_ids(self, person_id: int) -> list[int]:
        rows = await self.session.scalars(
            select(GroupMembership.group_id).where(GroupMembership.person_id == person_id).order_by(GroupMembership.id)
        )
        return list(rows.all())

    async def acceptances(self, person_id: int) -> list[dict[str, Any]]:
        rows = await self.session.scalars(
            select(ConfidentialityAcceptance)
            .where(ConfidentialityAcceptance.person_id == person_id)
            .order_by(ConfidentialityAcceptance.id)
        )
        return [_row(r, "group_id", "locale", "terms", "accepted_at") for r in rows]

    async def commitments(self, person_id: int) -> list[dict[str, Any]]:
        """The commitment versions the person wrote (the organisation's lines, their authorship)."""
        rows = await self.session.execute(
            select(Commitment, Project.title_ro, Project.title_en)
            .join(Project, Project.id == Commitment.project_id)
            .where(Commitment.author_id == person_id)
            .order_by(Commitment.id)
        )
        return [
            {
                "project_id": c.project_id,
                "project": title_ro or title_en,
                **_row(c, "kind", "unit", "version", "withdrawn", "amount_hundredths", "note", "created_at"),
            }
            for c, title_ro, title_en in rows.all()
        ]

    async def alert_profiles(self, person_id: int) -> list[dict[str, Any]]:
        rows = await self.session.scalars(
            select(AlertProfile).where(AlertProfile.person_id == person_id).order_by(AlertProfile.id)
        )
        columns = (
            "id", "name", "cpv", "include", "exclude", "countries", "value_min_hundredths", "value_max_hundredths",
            "currency", "min_days_left", "kinds", "delivery", "digest_hour", "paused", "created_at",
        )  # fmt: skip
        return [_row(r, *columns) for r in rows]

    async def tender_alerts(self, person_id: int) -> list[dict[str, Any]]:
        rows = await self.session.execute(
            select(TenderAlert, TenderRow.source, TenderRow.source_id)
            .join(TenderRow, TenderRow.id == TenderAlert.tender_id)
            .where(TenderAlert.person_id == person_id)
            .order_by(TenderAlert.id)
        )
        return [
            {
                "tender": f"{source}:{source_id}",
                **_row(a, "profile_id", "created_at", "sent_at", "followed_at", "not_relevant_at"),
            }
            for a, source, source_id in rows.all()
        ]

    async def questions(self, person_id: int) -> list[dict[str, Any]]:
        """The person's threads with the cluster team, each with its messages (theirs and the team's answers)."""
        threads = (
            await self.session.scalars(
                select(QuestionThread).where(QuestionThread.person_id == person_id).order_by(QuestionThread.id)
            )
        ).all()
        found: list[dict[str, Any]] = []
        for thread in threads:
            messages = await self.session.scalars(
                select(QuestionMessage).where(QuestionMessage.thread_id == thread.id).order_by(QuestionMessage.id)
            )
            found.append(
                {
                    **_row(thread, "id", "status", "created_at", "resolved_at"),
                    "messages": [_row(m, "from_team", "kind", "text", "created_at") for m in messages],
                }
            )
        return found

    async def other_managers(self, person_id: int) -> int:
        """How many managers and admins there are besides this person."""
        rows = await self.session.scalars(
            select(Person.id).where(
                Person.role.in_([Role.MANAGER.value, Role.ADMIN.value]),
                Person.status != PersonStatus.FORGOTTEN.value,
                Person.id != person_id,
            )
        )
        return len(rows.all())

    async def erase(self, person_id: int, *, now: datetime) -> dict[str, int] | None:
        """Anonymise the person's row in place (conditional: once) and delete what is theirs alone; what was
        removed, counted, or None when they were forgotten already."""
        person = await self.session.get(Person, person_id)
        if person is None:
            return None
        old_telegram_id = person.telegram_id
        result = await self.session.execute(
            update(Person)
            .where(Person.id == person_id, Person.status != PersonStatus.FORGOTTEN.value)
            .values(
                # Real Telegram user ids are positive: a negative one links to nobody and stays unique.
                telegram_id=-person_id,
                first_name="",
                last_name=None,
                username=None,
                language=None,
                telegram_language=None,
                position=None,
                organisation_id=None,
                role=Role.GUEST.value,
                status=PersonStatus.FORGOTTEN.value,
                updated_at=now,
            )
            .execution_options(synchronize_session="fetch")
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return None
        # The person cache knows them by their Telegram id: it forgets it at the commit.
        self.session.info.setdefault(PEOPLE_CHANGED, set()).add(old_telegram_id)
        counts: dict[str, int] = {}
        for name, statement in (
            ("alert_profiles", delete(AlertProfile).where(AlertProfile.person_id == person_id)),
            ("tender_alerts", delete(TenderAlert).where(TenderAlert.person_id == person_id)),
            ("join_requests", delete(JoinRequest).where(JoinRequest.person_id == person_id)),
            # Their questions to the team are theirs alone (the messages go with their threads).
            ("questions", delete(QuestionThread).where(QuestionThread.person_id == person_id)),
            ("group_memberships", delete(GroupMembership).where(GroupMembership.person_id == person_id)),
            (
                "outbox_unsent",
                delete(OutboxMessage).where(OutboxMessage.person_id == person_id, OutboxMessage.status.in_(UNSENT)),
            ),
        ):
            counts[name] = (await self.session.execute(statement)).rowcount  # type: ignore[attr-defined]
        # Delivered messages stay counted in their batch's report, but no longer say whom or what.
        sent = await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.person_id == person_id)
            .values(chat_id=-person_id, content={}, error=None)
        )
        counts["outbox_kept"] = sent.rowcount  # type: ignore[attr-defined]
        # The service requests stay the organisation's (the team's handling of them), without the person's words.
        notes = await self.session.execute(
            update(ServiceRequest).where(ServiceRequest.person_id == person_id).values(note="")
        )
        counts["service_request_notes"] = notes.rowcount  # type: ignore[attr-defined]
        return counts

    async def purge_outbox(self, before: datetime, limit: int) -> int:
        """Delete up to `limit` finished outbox rows created before `before`; how many."""
        ids = select(OutboxMessage.id).where(OutboxMessage.status.in_(FINISHED), OutboxMessage.created_at < before)
        return await self._delete_ids(OutboxMessage, await self._ids(ids, OutboxMessage.id, limit))

    async def purge_alerts(self, before: datetime, limit: int) -> int:
        """Delete up to `limit` tender alerts created before `before` (sent or not: they are that old); how many."""
        ids = select(TenderAlert.id).where(TenderAlert.created_at < before)
        return await self._delete_ids(TenderAlert, await self._ids(ids, TenderAlert.id, limit))

    async def _ids(self, query: Any, column: Any, limit: int) -> Sequence[int]:
        return (await self.session.scalars(query.order_by(column).limit(limit))).all()

    async def _delete_ids(self, model: Any, ids: Sequence[int]) -> int:
        if not ids:
            return 0
        result = await self.session.execute(delete(model).where(model.id.in_(ids)))
        return int(result.rowcount)  # type: ignore[attr-defined]
