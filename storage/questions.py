"""The repository of question threads (issue 12): a person's conversation with the cluster's team and its
messages. The rules (who may take, reply, answer or resolve) are bot.services.questions'."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import QuestionMessage, QuestionStatus, QuestionThread

UNFINISHED = (QuestionStatus.OPEN.value, QuestionStatus.TAKEN.value)


class QuestionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_thread(self, *, person_id: int, organisation_id: int | None) -> QuestionThread:
        thread = QuestionThread(person_id=person_id, organisation_id=organisation_id)
        self.session.add(thread)
        await self.session.flush()
        return thread

    async def add_message(
        self, thread_id: int, *, author_id: int, from_team: bool, kind: str, text: str | None, file_id: str | None
    ) -> QuestionMessage:
        message = QuestionMessage(
            thread_id=thread_id, author_id=author_id, from_team=from_team, kind=kind, text=text, file_id=file_id
        )
        self.session.add(message)
        await self.session.flush()
        return message

    async def get(self, thread_id: int, *, fresh: bool = False) -> QuestionThread | None:
        if not fresh:
            return await self.session.get(QuestionThread, thread_id)
        return await self.session.scalar(
            select(QuestionThread).where(QuestionThread.id == thread_id).execution_options(populate_existing=True)
        )

    async def take(self, thread_id: int, manager_id: int) -> bool:
        """The first manager to take an open thread wins: False when another took or resolved it first."""
        result = await self.session.execute(
            update(QuestionThread)
            .where(QuestionThread.id == thread_id, QuestionThread.status == QuestionStatus.OPEN.value)
            .values(status=QuestionStatus.TAKEN.value, taken_by_id=manager_id)
            .execution_options(synchronize_session="fetch")
        )
        return bool(getattr(result, "rowcount", 0))

    async def resolve(self, thread_id: int, manager_id: int, now: datetime) -> bool:
        """Mark an unfinished thread resolved; False when it was resolved already."""
        result = await self.session.execute(
            update(QuestionThread)
            .where(QuestionThread.id == thread_id, QuestionThread.status.in_(UNFINISHED))
            .values(status=QuestionStatus.RESOLVED.value, resolved_by_id=manager_id, resolved_at=now)
            .execution_options(synchronize_session="fetch")
        )
        return bool(getattr(result, "rowcount", 0))

    async def touch(self, thread_id: int, now: datetime) -> bool:
        """A new message in an unfinished thread; False when it was resolved meanwhile."""
        result = await self.session.execute(
            update(QuestionThread)
            .where(QuestionThread.id == thread_id, QuestionThread.status.in_(UNFINISHED))
            .values(updated_at=now)
            .execution_options(synchronize_session="fetch")
        )
        return bool(getattr(result, "rowcount", 0))

    async def messages(self, thread_id: int) -> Sequence[QuestionMessage]:
        rows = await self.session.scalars(
            select(QuestionMessage)
            .where(QuestionMessage.thread_id == thread_id)
            .order_by(QuestionMessage.created_at, QuestionMessage.id)
        )
        return rows.all()

    async def last_team_author(self, thread_id: int) -> int | None:
        """The manager who wrote the thread's latest reply, if any did."""
        return await self.session.scalar(
            select(QuestionMessage.author_id)
            .where(QuestionMessage.thread_id == thread_id, QuestionMessage.from_team.is_(True))
            .order_by(QuestionMessage.created_at.desc(), QuestionMessage.id.desc())
            .limit(1)
        )

    async def first_messages(self, thread_ids: Collection[int]) -> dict[int, QuestionMessage]:
        """Each thread's first message (what the person asked), in one query."""
        if not thread_ids:
            return {}
        first = (
            select(func.min(QuestionMessage.id))
            .where(QuestionMessage.thread_id.in_(list(thread_ids)))
            .group_by(QuestionMessage.thread_id)
        )
        rows = await self.session.scalars(select(QuestionMessage).where(QuestionMessage.id.in_(first)))
        return {row.thread_id: row for row in rows.all()}

    async def of_person(self, person_id: int, limit: int) -> Sequence[QuestionThread]:
        """A person's latest threads, newest first."""
        rows = await self.session.scalars(
            select(QuestionThread)
            .where(QuestionThread.person_id == person_id)
            .order_by(QuestionThread.created_at.desc(), QuestionThread.id.desc())
            .limit(limit)
        )
        return rows.all()

    async def count_unfinished_of(self, person_id: int) -> int:
        count = await self.session.scalar(
            select(func.count(QuestionThread.id)).where(
                QuestionThread.person_id == person_id, QuestionThread.status.in_(UNFINISHED)
            )
        )
        return int(count or 0)

    async def unfinished(self, offset: int, limit: int) -> Sequence[QuestionThread]:
        """Threads not resolved yet, oldest first."""
        rows = await self.session.scalars(
            select(QuestionThread)
            .where(QuestionThread.status.in_(UNFINISHED))
            .order_by(QuestionThread.created_at, QuestionThread.id)
            .offset(offset)
            .limit(limit)
        )
        return rows.all()

    async def count_unfinished(self) -> int:
        count = await self.session.scalar(
            select(func.count(QuestionThread.id)).where(QuestionThread.status.in_(UNFINISHED))
        )
        return int(count or 0)
