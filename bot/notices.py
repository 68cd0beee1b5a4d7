"""Notices: what the bot tells people other than the one acting, recorded by services as plain data.

A service records a `Notice` (its kind and parameters: numbers, strings, lists and mappings of them) for its
recipients with `tell`, in the transaction of the change that causes it: the notice exists if and only if the
change committed. The outbox keeps one row per recipient; the sender (`bot.delivery`) words each row in its
recipient's language when it sends it, with the registry of notice kinds in `handlers.notices`, where the
keyboards live. So services never word anything, and a notice queued in one language setting is read in the
language its recipient has chosen by the time it goes out.

One kind is not worded by the registry: `NoticeKind.MESSAGE`, a message a person wrote out in every language
(an announcement), which goes out as written.

Adding a kind: a member here, an entry in `handlers.notices.NOTICES`, its texts in the catalogues (README,
"Adding a notice kind"). No aiogram here, so that services can use it.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from bot.i18n import resolve_locale
from bot.outbox import BATCH_MAX, InvalidContent, Recipient, pick_language, queue
from storage.repositories import Repositories


class NoticeKind(enum.StrEnum):
    # A message written out in every language, sent as written: announcements.
    MESSAGE = "message"
    # Managers: someone asks to join the cluster (with the approve and reject buttons).
    JOIN_REQUESTED = "join.requested"
    # The applicant: the managers' decision.
    JOIN_DECIDED = "join.decided"
    # Managers: a member asks for a service (with the take, done and decline buttons).
    SERVICE_REQUESTED = "service_request.new"
    # The member: their request was taken, done or declined.
    SERVICE_REQUEST_CHANGED = "service_request.changed"
    # Working groups: members and managers, as each event concerns them.
    GROUP_ACTIVATED = "group.activated"
    GROUP_FLAGGED = "group.flagged"
    GROUP_RECOVERED = "group.recovered"
    GROUP_PROPOSED = "group.proposed"
    GROUP_DISSOLVED = "group.dissolved"
    GROUP_TRANSFORMED = "group.transformed"
    GROUP_CONFIDENTIAL = "group.confidential"
    # Projects (bot.services.project_notices): a proposal (to the proposer, managers, the group's members), a
    # manager's move with its reason, an organisation's new place, its outcome in a competition.
    PROJECT_PROPOSED = "project.proposed"
    PROJECT_STATE = "project.state"
    PROJECT_RANK = "project.rank"
    PROJECT_OUTCOME = "project.outcome"
    # Managers and admins (bot.services.tenders.sources): a configured tender source broke (once per
    # incident), and it works again.
    TENDER_SOURCE_FAILED = "tender_source.failed"
    TENDER_SOURCE_RECOVERED = "tender_source.recovered"
    # Tender alerts (bot.services.tenders.alerts), each with the Follow and Not relevant buttons: a new tender
    # that matches the member's profiles, a change to one they were alerted of, the day's digest, a deadline
    # reminder of one they follow.
    TENDER_ALERT = "tender.alert"
    TENDER_CHANGED = "tender.changed"
    TENDER_DIGEST = "tender.digest"
    TENDER_REMINDER = "tender.reminder"
    # A person to talk to (bot.services.questions): managers are told of a new question (with Reply, Take it,
    # Mark resolved) and of the person's answers; the person of a manager's reply (with Answer) and of the
    # thread marked resolved.
    QUESTION_ASKED = "question.asked"
    QUESTION_ANSWERED = "question.answered"
    QUESTION_REPLIED = "question.replied"
    QUESTION_RESOLVED = "question.resolved"


@dataclass(frozen=True)
class Notice:
    kind: NoticeKind
    params: Mapping[str, Any] = field(default_factory=dict)


class HasLanguage(Protocol):
    """What `recipient` needs of a person (a `storage.models.Person` or a `members.PersonView`)."""

    @property
    def id(self) -> int: ...
    @property
    def telegram_id(self) -> int: ...
    @property
    def language(self) -> str | None: ...
    @property
    def telegram_language(self) -> str | None: ...


def recipient(person: HasLanguage, default_locale: str) -> Recipient:
    """A person as a recipient; the language is looked up again when the notice is sent."""
    locale = resolve_locale(person.language, person.telegram_language, default_locale)
    return Recipient(chat_id=person.telegram_id, person_id=person.id, locale=locale)


def recipients(people: Iterable[HasLanguage], default_locale: str) -> list[Recipient]:
    """Each person once, in the order given."""
    unique = {person.id: person for person in people}
    return [recipient(person, default_locale) for person in unique.values()]


async def tell(repos: Repositories, batch: str, to: Iterable[Recipient], notice: Notice) -> int:
    """Queue `notice` for every recipient in the caller's transaction (never commits); how many rows were
    written. A chat that already has `batch` is left alone, so telling again is harmless.

    A `MESSAGE` is checked as Telegram will check it before anything is written (`InvalidContent`); other
    kinds are worded at send time, and a test words every kind in every language.
    """
    if notice.kind is NoticeKind.MESSAGE:
        return await queue(repos, batch, to, notice.params)
    if not 1 <= len(batch) <= BATCH_MAX:
        raise ValueError(f"a batch name has 1-{BATCH_MAX} characters")
    try:
        json.dumps(notice.params)
    except (TypeError, ValueError) as error:
        raise InvalidContent(f"the parameters of {notice.kind} are not plain data: {error}") from None
    return await repos.outbox.add_many(
        batch,
        ((r.chat_id, r.person_id, r.locale) for r in to),
        dict(notice.params),
        kind=notice.kind.value,
        now=datetime.now(UTC),
    )


# The parameter of an edit row: the batch whose message, in the same chat, the row edits instead of sending a
# new one (`tell_copies`).
EDIT_OF = "edit_of"


async def tell_copies(repos: Repositories, batch: str, of_batch: str, notice: Notice) -> int:
    """Edit, in every chat that was sent `of_batch`'s notice, that message into `notice` (queued in the caller's
    transaction, like `tell`): a decided request's card in every manager's chat. The sender edits the message
    it sent for `of_batch` (its `telegram_message_id`), waits while that one is still going out, and gives up
    on a chat where there is none (blocked, never sent) or Telegram no longer lets it be edited (the buttons
    of such a card then refuse, saying it was decided). `batch` names this edit, once per chat."""
    if notice.kind is NoticeKind.MESSAGE:
        raise ValueError("only notices are edited")
    chats = await repos.outbox.chats_of(of_batch)
    return await tell(
        repos,
        batch,
        [Recipient(chat_id=chat_id, person_id=person_id, locale=locale) for chat_id, person_id, locale in chats],
        Notice(notice.kind, {**notice.params, EDIT_OF: of_batch}),
    )


# How the sender words a row: (kind, parameters, the recipient's language) -> one message as the outbox keeps
# it ({"text": ..., "parse_mode": "HTML", "reply_markup": {...}}). `handlers.notices.renderer` builds the bot's.
Render = Callable[[str, Mapping[str, Any], str], Mapping[str, Any]]


class UnknownNotice(LookupError):
    """A row of a kind this process cannot word (a newer release queued it, or the registry lacks it)."""


def render_messages(kind: str, params: Mapping[str, Any], locale: str) -> Mapping[str, Any]:
    """The wording of a process without the registry (tests of the sender, benchmarks): messages only."""
    if kind != NoticeKind.MESSAGE.value:
        raise UnknownNotice(kind)
    return pick_language(params, locale)[1]


__all__ = [
    "EDIT_OF",
    "Notice",
    "NoticeKind",
    "Render",
    "UnknownNotice",
    "recipient",
    "recipients",
    "render_messages",
    "tell",
    "tell_copies",
]
