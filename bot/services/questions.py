"""A person to talk to (issue 12): anyone writes to the cluster's team, as a thread of messages.

A person (a guest too: someone who wants to join has questions before they ask to) writes one message, text or
a photo or document with a caption; every manager is told (`QUESTION_ASKED`). A manager may take the thread
(the first to take it wins, a conditional UPDATE), reply (the person is told, `QUESTION_REPLIED`, and may
answer), or mark it resolved (`QUESTION_RESOLVED`). The person's answer reaches the manager who took the
thread, else the one who replied last, else every manager (`QUESTION_ANSWERED`). Every message is stored.

Every action reads the thread and the role afresh: a thread of another person looks like none, a manager
demoted meanwhile is refused. Notices are recorded in the caller's transaction, so nobody is told before the
commit. No aiogram here.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from bot.notices import Notice, NoticeKind, recipient, recipients, tell, tell_copies
from bot.services import members
from bot.services.members import PersonView
from bot.services.refusals import Refused
from storage.models import Person, QuestionMessage, QuestionStatus, QuestionThread, Role
from storage.repositories import Repositories

# What one message may hold: the bot takes no longer input anyway (OversizedInputMiddleware), and a caption
# Telegram takes has at most 1,024 characters.
TEXT_MAX = 4000
# Threads a person may have open at once: enough for real questions, not a flood of the managers' chats.
OPEN_MAX = 5
# Threads /profile shows, newest first.
PROFILE_THREADS = 3
# Threads a page of /questions shows.
PAGE_SIZE = 5


class MessageKind(enum.StrEnum):
    TEXT = "text"
    PHOTO = "photo"
    DOCUMENT = "document"


class QuestionRefusal(enum.StrEnum):
    # No such thread, or another person's: the two look the same to the presser.
    NOT_FOUND = "not_found"
    RESOLVED = "resolved"
    TAKEN = "taken"
    EMPTY = "empty"
    TOO_LONG = "too_long"
    TOO_MANY_OPEN = "too_many_open"


class QuestionError(Refused):
    reason: QuestionRefusal


@dataclass(frozen=True)
class Content:
    """One message as the person or manager sent it: text, or a photo or document by file_id with its caption."""

    kind: MessageKind
    text: str | None = None
    file_id: str | None = None

    def params(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "text": self.text, "file_id": self.file_id}

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Content:
        return cls(MessageKind(str(params.get("kind", "text"))), params.get("text"), params.get("file_id"))


def clean_content(content: Content) -> Content:
    """Trimmed and checked: text needs words, a file needs its id; refused when too long."""
    text = (content.text or "").strip() or None
    if content.kind is MessageKind.TEXT:
        if text is None:
            raise QuestionError(QuestionRefusal.EMPTY)
    elif not content.file_id:
        raise QuestionError(QuestionRefusal.EMPTY)
    if text is not None and len(text) > TEXT_MAX:
        raise QuestionError(QuestionRefusal.TOO_LONG, limit=TEXT_MAX)
    return Content(content.kind, text, content.file_id if content.kind is not MessageKind.TEXT else None)


@dataclass(frozen=True)
class MessageView:
    kind: MessageKind
    text: str | None
    file_id: str | None
    from_team: bool
    author_name: str
    created_at: datetime

    @property
    def content(self) -> Content:
        return Content(self.kind, self.text, self.file_id)


@dataclass(frozen=True)
class ThreadView:
    id: int
    person_id: int
    person_name: str
    person_telegram_id: int
    organisation_name: str | None
    status: QuestionStatus
    taken_by_name: str | None
    resolved_by_name: str | None
    created_at: datetime
    # The person's first message (what they asked).
    first: MessageView | None = None
    # Every message, oldest first, when the whole thread was read.
    messages: tuple[MessageView, ...] = field(default=())

    def params(self) -> dict[str, Any]:
        """The thread as a notice carries it (plain data), without its messages."""
        return {
            "thread_id": self.id,
            "person": self.person_name,
            "telegram_id": self.person_telegram_id,
            "organisation": self.organisation_name,
            "status": self.status.value,
            "taken_by": self.taken_by_name,
            "resolved_by": self.resolved_by_name,
        }

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ThreadView:
        return cls(
            id=int(params["thread_id"]),
            person_id=0,
            person_name=str(params.get("person") or ""),
            person_telegram_id=int(params.get("telegram_id") or 0),
            organisation_name=params.get("organisation"),
            status=QuestionStatus(str(params.get("status", QuestionStatus.OPEN.value))),
            taken_by_name=params.get("taken_by"),
            resolved_by_name=params.get("resolved_by"),
            created_at=datetime.now(UTC),
        )


@dataclass(frozen=True)
class Page:
    items: tuple[ThreadView, ...]
    number: int
    pages: int
    total: int


# --- reading --------------------------------------------------------------------------------------------------------


async def _views(repos: Repositories, threads: Sequence[QuestionThread]) -> list[ThreadView]:
    if not threads:
        return []
    firsts = await repos.questions.first_messages([t.id for t in threads])
    ids = {t.person_id for t in threads} | {t.taken_by_id or 0 for t in threads}
    ids |= {t.resolved_by_id or 0 for t in threads} | {m.author_id or 0 for m in firsts.values()}
    people = {pid: await repos.people.get(pid) for pid in ids if pid}
    names = {pid: person.full_name for pid, person in people.items() if person is not None}
    organisations: dict[int, str] = {}
    for thread in threads:
        if thread.organisation_id and thread.organisation_id not in organisations:
            organisation = await repos.organisations.get(thread.organisation_id)
            if organisation is not None:
                organisations[thread.organisation_id] = organisation.name
    views = []
    for thread in threads:
        person = people.get(thread.person_id)
        first = firsts.get(thread.id)
        views.append(
            ThreadView(
                id=thread.id,
                person_id=thread.person_id,
                person_name=names.get(thread.person_id, ""),
                person_telegram_id=person.telegram_id if person is not None else 0,
                organisation_name=organisations.get(thread.organisation_id or 0),
                status=QuestionStatus(thread.status),
                taken_by_name=names.get(thread.taken_by_id or 0),
                resolved_by_name=names.get(thread.resolved_by_id or 0),
                created_at=thread.created_at,
                first=_message_view(first, names) if first is not None else None,
            )
        )
    return views


def _message_view(message: QuestionMessage, names: Mapping[int, str]) -> MessageView:
    return MessageView(
        kind=MessageKind(message.kind),
        text=message.text,
        file_id=message.file_id,
        from_team=message.from_team,
        author_name=names.get(message.author_id or 0, ""),
        created_at=message.created_at,
    )


async def _view(repos: Repositories, thread: QuestionThread, *, with_messages: bool = False) -> ThreadView:
    (view,) = await _views(repos, [thread])
    if not with_messages:
        return view
    messages = await repos.questions.messages(thread.id)
    names = await repos.people.names(sorted({m.author_id for m in messages if m.author_id}))
    return ThreadView(**{**view.__dict__, "messages": tuple(_message_view(m, names) for m in messages)})


async def _thread(repos: Repositories, thread_id: int, *, fresh: bool = False) -> QuestionThread:
    thread = await repos.questions.get(thread_id, fresh=fresh)
    if thread is None:
        raise QuestionError(QuestionRefusal.NOT_FOUND)
    return thread


async def _is_manager(repos: Repositories, person: PersonView) -> bool:
    row = await repos.people.get(person.id)
    return row is not None and Role(row.role).at_least(Role.MANAGER)


async def thread_for(repos: Repositories, viewer: PersonView, thread_id: int) -> ThreadView:
    """A whole thread, for the person who wrote it or a manager (the role read afresh); anyone else is told
    there is no such thread."""
    thread = await _thread(repos, thread_id)
    if thread.person_id != viewer.id and not await _is_manager(repos, viewer):
        raise QuestionError(QuestionRefusal.NOT_FOUND)
    return await _view(repos, thread, with_messages=True)


async def threads_of(repos: Repositories, person_id: int, limit: int = PROFILE_THREADS) -> list[ThreadView]:
    """A person's latest threads, newest first (for /profile)."""
    return await _views(repos, await repos.questions.of_person(person_id, limit))


async def open_threads(repos: Repositories, manager: PersonView, page: int = 0) -> Page:
    """Threads not resolved yet, oldest first, a page at a time; for managers."""
    await members.require_manager(repos, manager)
    total = await repos.questions.count_unfinished()
    pages = max(1, -(-total // PAGE_SIZE))
    number = min(page, pages - 1)
    rows = await repos.questions.unfinished(number * PAGE_SIZE, PAGE_SIZE)
    return Page(tuple(await _views(repos, rows)), number, pages, total)


# --- writing --------------------------------------------------------------------------------------------------------


def _notice(kind: NoticeKind, view: ThreadView, content: Content | None = None, author: str | None = None) -> Notice:
    params = view.params()
    if content is not None:
        params["message"] = content.params()
    if author is not None:
        params["author"] = author
    return Notice(kind, params)


class CopyEvent(enum.StrEnum):
    """What a manager did that every manager's copy of the question's card then says (`tell_copies`)."""

    TAKEN = "taken"
    REPLIED = "replied"
    RESOLVED = "resolved"


# The parameter of a copy's edit: {"what": CopyEvent, "by": the manager's name, "at": ISO time in the cluster's zone}.
COPY_EVENT = "copy_event"


def _batch(thread: QuestionThread | ThreadView, what: str) -> str:
    """A thread's outbox batch. With the person's id: a forgotten person's threads are deleted, and SQLite may
    give a later thread the same id; people are never deleted (anonymised), so thread and person together
    name one thread for good, and a new thread's notices are not taken for an old one's (a batch is sent once
    per chat)."""
    return f"question:{thread.id}:{thread.person_id}:{what}"


def _asked_batch(thread: QuestionThread | ThreadView) -> str:
    return _batch(thread, "asked")


async def _edit_copies(
    repos: Repositories, view: ThreadView, event: CopyEvent, manager: Person, batch: str, *, tz: tzinfo
) -> None:
    """Every manager's copy of the question's card (the `QUESTION_ASKED` notice, a photo's or document's caption
    too) edited to say the thread as it stands now and who did what, when; queued in the caller's transaction."""
    params = view.params()
    if view.first is not None:
        params["message"] = view.first.content.params()
    params[COPY_EVENT] = {
        "what": event.value,
        "by": manager.full_name,
        "at": datetime.now(UTC).astimezone(tz).isoformat(),
    }
    await tell_copies(repos, batch, _asked_batch(view), Notice(NoticeKind.QUESTION_ASKED, params))


async def ask(repos: Repositories, person: PersonView, content: Content, *, default_locale: str) -> ThreadView:
    """A person writes to the cluster's team: a new thread, and every manager is told."""
    content = clean_content(content)
    row = await repos.people.get(person.id)
    if row is None:
        raise QuestionError(QuestionRefusal.NOT_FOUND)
    if await repos.questions.count_unfinished_of(row.id) >= OPEN_MAX:
        raise QuestionError(QuestionRefusal.TOO_MANY_OPEN, limit=OPEN_MAX)
    thread = await repos.questions.add_thread(person_id=row.id, organisation_id=row.organisation_id)
    await repos.questions.add_message(
        thread.id,
        author_id=row.id,
        from_team=False,
        kind=content.kind.value,
        text=content.text,
        file_id=content.file_id,
    )
    await repos.audit.record(
        "question.asked", actor_id=row.id, subject=f"question:{thread.id}", details={"kind": content.kind.value}
    )
    view = await _view(repos, thread)
    managers = recipients(await repos.people.managers(), default_locale)
    await tell(repos, _asked_batch(thread), managers, _notice(NoticeKind.QUESTION_ASKED, view, content))
    return view


def _settled(thread: QuestionThread, view: ThreadView) -> QuestionError:
    """The refusal for a thread that another manager took or resolved."""
    if thread.status == QuestionStatus.RESOLVED.value:
        return QuestionError(QuestionRefusal.RESOLVED, by=view.resolved_by_name or "", thread=view)
    return QuestionError(QuestionRefusal.TAKEN, by=view.taken_by_name or "", thread=view)


async def take(repos: Repositories, manager: PersonView, thread_id: int, *, tz: tzinfo = UTC) -> ThreadView:
    """The manager takes the thread: the first to take it wins, the others are told who did (their copies of
    the card say who took it and when)."""
    await members.require_manager(repos, manager)
    thread = await _thread(repos, thread_id)
    if thread.status != QuestionStatus.OPEN.value or not await repos.questions.take(thread_id, manager.id):
        # Taken or resolved, before this press or between the read and the update: as it stands now.
        thread = await _thread(repos, thread_id, fresh=True)
        raise _settled(thread, await _view(repos, thread))
    await repos.audit.record("question.taken", actor_id=manager.id, subject=f"question:{thread_id}")
    view = await _view(repos, await _thread(repos, thread_id, fresh=True))
    taker = await repos.people.get(manager.id)
    assert taker is not None
    await _edit_copies(repos, view, CopyEvent.TAKEN, taker, _batch(view, "taken"), tz=tz)
    return view


async def resolve(
    repos: Repositories, manager: PersonView, thread_id: int, *, default_locale: str, tz: tzinfo = UTC
) -> ThreadView:
    """The manager marks the thread resolved; the person is told, every manager's copy of the card says who
    did and when."""
    await members.require_manager(repos, manager)
    await _thread(repos, thread_id)
    if not await repos.questions.resolve(thread_id, manager.id, datetime.now(UTC)):
        thread = await _thread(repos, thread_id, fresh=True)
        raise _settled(thread, await _view(repos, thread))
    await repos.audit.record("question.resolved", actor_id=manager.id, subject=f"question:{thread_id}")
    thread = await _thread(repos, thread_id, fresh=True)
    view = await _view(repos, thread)
    person = await repos.people.get(thread.person_id)
    if person is not None:
        to = [recipient(person, default_locale)]
        await tell(repos, _batch(thread, "resolved"), to, _notice(NoticeKind.QUESTION_RESOLVED, view))
    resolver = await repos.people.get(manager.id)
    assert resolver is not None
    await _edit_copies(repos, view, CopyEvent.RESOLVED, resolver, _batch(thread, "resolved:copies"), tz=tz)
    return view


async def _add(
    repos: Repositories, thread: QuestionThread, author: Person, content: Content, *, from_team: bool
) -> QuestionMessage:
    if not await repos.questions.touch(thread.id, datetime.now(UTC)):
        thread = await _thread(repos, thread.id, fresh=True)
        raise _settled(thread, await _view(repos, thread))
    return await repos.questions.add_message(
        thread.id,
        author_id=author.id,
        from_team=from_team,
        kind=content.kind.value,
        text=content.text,
        file_id=content.file_id,
    )


async def reply(
    repos: Repositories,
    manager: PersonView,
    thread_id: int,
    content: Content,
    *,
    default_locale: str,
    tz: tzinfo = UTC,
) -> ThreadView:
    """A manager's reply: stored, and the person is told (with a button to answer); every manager's copy of the
    card says who replied and when."""
    content = clean_content(content)
    await members.require_manager(repos, manager)
    author = await repos.people.get(manager.id)
    assert author is not None
    thread = await _thread(repos, thread_id)
    message = await _add(repos, thread, author, content, from_team=True)
    await repos.audit.record("question.replied", actor_id=manager.id, subject=f"question:{thread_id}")
    view = await _view(repos, await _thread(repos, thread_id, fresh=True))
    person = await repos.people.get(thread.person_id)
    if person is not None:
        notice = _notice(NoticeKind.QUESTION_REPLIED, view, content, author.full_name)
        await tell(repos, _batch(thread, f"message:{message.id}"), [recipient(person, default_locale)], notice)
    await _edit_copies(repos, view, CopyEvent.REPLIED, author, _batch(thread, f"message:{message.id}:copies"), tz=tz)
    return view


async def _handlers(repos: Repositories, thread: QuestionThread) -> list[Person]:
    """Who reads the person's answer: the manager who took the thread, else the one who replied last, else
    every manager; a manager demoted or unreachable since is passed over."""
    managers = list(await repos.people.managers())
    by_id = {person.id: person for person in managers}
    for chosen in (thread.taken_by_id, await repos.questions.last_team_author(thread.id)):
        if chosen is not None and chosen in by_id:
            return [by_id[chosen]]
    return managers


async def answer(
    repos: Repositories, person: PersonView, thread_id: int, content: Content, *, default_locale: str
) -> tuple[ThreadView, list[Person]]:
    """The person answers in their own thread; the managers it concerns are told. Another person's thread
    looks like none."""
    content = clean_content(content)
    thread = await _thread(repos, thread_id)
    author = await repos.people.get(person.id)
    if author is None or thread.person_id != author.id:
        raise QuestionError(QuestionRefusal.NOT_FOUND)
    message = await _add(repos, thread, author, content, from_team=False)
    await repos.audit.record("question.answered", actor_id=author.id, subject=f"question:{thread_id}")
    view = await _view(repos, await _thread(repos, thread_id, fresh=True))
    readers = await _handlers(repos, thread)
    notice = _notice(NoticeKind.QUESTION_ANSWERED, view, content, author.full_name)
    await tell(repos, _batch(thread, f"message:{message.id}"), recipients(readers, default_locale), notice)
    return view, readers


__all__ = [
    "COPY_EVENT",
    "Content",
    "CopyEvent",
    "MessageKind",
    "MessageView",
    "Page",
    "QuestionError",
    "QuestionRefusal",
    "ThreadView",
    "answer",
    "ask",
    "open_threads",
    "reply",
    "resolve",
    "take",
    "thread_for",
    "threads_of",
]
