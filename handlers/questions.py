"""A person to talk to (issue 12): ✉️ Write to the cluster team, the managers' Reply / Take it / Mark
resolved, the person's Answer, /questions, and the lines /profile shows; the wordings of the `question.*`
notices (registered by handlers.notices).

Anyone may write, a guest too: someone who wants their organisation to join has questions before they ask to,
and the refusals that send a guest to the cluster team (an invite code used up) would otherwise lead nowhere.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Mapping
from datetime import datetime
from html import escape
from typing import Any, Self

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, TelegramObject
from aiogram.utils.i18n import get_i18n, ngettext
from aiogram.utils.i18n import gettext as _
from babel.dates import format_date, format_time
from pydantic import model_validator

from bot.config import Settings
from bot.i18n import format_when
from bot.services import questions
from bot.services.members import MembershipError, PersonView
from bot.services.members import Refusal as MemberRefusal
from bot.services.questions import (
    COPY_EVENT,
    Content,
    CopyEvent,
    MessageKind,
    QuestionError,
    QuestionRefusal,
    ThreadView,
)
from bot.services.refusals import Refused
from handlers.guards import managers_router
from handlers.keyboards import (
    MenuAction,
    MenuCb,
    NoticeMessage,
    PageNumber,
    RowIdOrZero,
    check_row_id,
    clip,
    main_menu,
    page_moves,
)
from handlers.privacy import data_rights_button
from storage.models import QuestionStatus
from storage.repositories import Repositories

# What a caption may hold (Telegram's limit), and how much of the person's text a card quotes.
CAPTION_MAX = 1024
QUOTE_MAX = 3000
# Messages the thread's screen shows, the newest ones, each cut to this many characters.
SHOWN_MESSAGES = 8
SHOWN_TEXT = 400


class QuestionAction(enum.StrEnum):
    WRITE = "write"
    CANCEL = "cancel"
    OPEN = "open"
    ANSWER = "answer"
    REPLY = "reply"
    TAKE = "take"
    RESOLVE = "resolve"


_ABOUT_NO_THREAD = (QuestionAction.WRITE, QuestionAction.CANCEL)


class QuestionCb(CallbackData, prefix="qt"):
    """A button about a question thread (0 for Write and Cancel, which are about none)."""

    action: QuestionAction
    thread_id: RowIdOrZero

    @model_validator(mode="after")
    def _thread_of_the_action(self) -> Self:
        check_row_id(self.thread_id, self.action, _ABOUT_NO_THREAD)
        return self


class QuestionsPageCb(CallbackData, prefix="qtp"):
    page: PageNumber


class QuestionForm(StatesGroup):
    # The person's first message, their answer, a manager's reply (the thread id in the form's data).
    ask = State()
    answer = State()
    reply = State()


# --- buttons ------------------------------------------------------------------------------------------------------


def write_button() -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=_("✉️ Write to the cluster team"), callback_data=MenuCb(action=MenuAction.WRITE).pack()
    )


def write_keyboard() -> InlineKeyboardMarkup:
    """The button refusals and "I did not understand" offer."""
    return InlineKeyboardMarkup(inline_keyboard=[[write_button()]])


def _button(text: str, action: QuestionAction, thread_id: int = 0) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=QuestionCb(action=action, thread_id=thread_id).pack())


def cancel_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[_button(_("✖️ Cancel"), QuestionAction.CANCEL)]])


def team_keyboard(thread: ThreadView) -> InlineKeyboardMarkup | None:
    """A manager's buttons on a thread: Reply and Mark resolved while it is unfinished, Take it while nobody did."""
    if thread.status is QuestionStatus.RESOLVED:
        return None
    row = [_button(_("↩️ Reply"), QuestionAction.REPLY, thread.id)]
    if thread.status is QuestionStatus.OPEN:
        row.append(_button(_("🙋 Take it"), QuestionAction.TAKE, thread.id))
    return InlineKeyboardMarkup(
        inline_keyboard=[row, [_button(_("✅ Mark resolved"), QuestionAction.RESOLVE, thread.id)]]
    )


def answer_keyboard(thread_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[_button(_("↩️ Answer"), QuestionAction.ANSWER, thread_id)]])


# --- what people read ---------------------------------------------------------------------------------------------


def person_link(thread: ThreadView) -> str:
    """The person, as a link to their Telegram profile (a manager can write to them directly)."""
    name = escape(thread.person_name or "—")
    if not thread.person_telegram_id:
        return name
    return f'<a href="tg://user?id={thread.person_telegram_id}">{name}</a>'


def status_text(thread: ThreadView) -> str:
    if thread.status is QuestionStatus.TAKEN:
        return _("🙋 Taken by {manager}.").format(manager=escape(thread.taken_by_name or "—"))
    if thread.status is QuestionStatus.RESOLVED:
        return _("✅ Marked resolved by {manager}.").format(manager=escape(thread.resolved_by_name or "—"))
    return _("⏳ Nobody of the team has taken it yet.")


def _who(thread: ThreadView) -> list[str]:
    organisation = (
        escape(thread.organisation_name) if thread.organisation_name else _("none (a guest, not a member yet)")
    )
    return [
        _("From: {name}").format(name=person_link(thread)),
        _("Organisation: {organisation}").format(organisation=organisation),
    ]


def _fitted(head: str, quoted: str | None, tail: str, limit: int) -> str:
    """`head`, the person's words (escaped, cut to fit `limit` characters in all) and `tail`."""
    room = max(0, limit - len(head) - len(tail) - 8)
    parts = [head]
    if quoted:
        parts.append(escape(clip(quoted, min(room, QUOTE_MAX))))
    parts.append(tail)
    return "\n\n".join(part for part in parts if part)


def _limit(content: Content | None) -> int:
    return CAPTION_MAX if content is not None and content.kind is not MessageKind.TEXT else 4096


def _attachment_line(content: Content) -> str:
    if content.kind is MessageKind.PHOTO:
        return _("📷 A photo is attached.")
    if content.kind is MessageKind.DOCUMENT:
        return _("📎 A document is attached.")
    return ""


def copy_event_text(event: Mapping[str, Any]) -> str:
    """What a manager did, as every manager's copy of the card says it (`questions.COPY_EVENT`): who, the day
    and the hour in the cluster's time zone."""
    try:
        what = CopyEvent(str(event.get("what")))
        moment = datetime.fromisoformat(str(event.get("at")))
    except ValueError:
        return ""
    locale = get_i18n().current_locale
    values = {
        "manager": escape(str(event.get("by") or "—")),
        "date": format_date(moment, format="d MMM y", locale=locale),
        "time": format_time(moment, format="HH:mm", tzinfo=moment.tzinfo, locale=locale),
    }
    if what is CopyEvent.TAKEN:
        return _("🙋 Taken by {manager} on {date} at {time}.").format(**values)
    if what is CopyEvent.REPLIED:
        return _("↩️ {manager} replied on {date} at {time}.").format(**values)
    return _("✅ Marked resolved by {manager} on {date} at {time}.").format(**values)


def asked_text(thread: ThreadView, content: Content | None, event: Mapping[str, Any] | None = None) -> str:
    """The question's card; once a manager took, replied to or resolved it (`event`, every manager's copy
    edited), who did and when."""
    head = "\n".join([_("✉️ <b>Question #{id}</b> for the cluster team").format(id=thread.id), "", *_who(thread)])
    tail = status_text(thread)
    said = copy_event_text(event) if event else ""
    if said:
        # The replied line adds to the status (taken by someone, or nobody yet); the others are the status.
        tail = f"{tail}\n{said}" if event and event.get("what") == CopyEvent.REPLIED.value else said
    return _fitted(head, content.text if content else None, tail, _limit(content))


def answered_text(thread: ThreadView, content: Content | None) -> str:
    head = _("💬 <b>Question #{id}</b>: {person} answered:").format(id=thread.id, person=person_link(thread))
    tail = status_text(thread)
    return _fitted(head, content.text if content else None, tail, _limit(content))


def replied_text(thread: ThreadView, content: Content | None, manager: str) -> str:
    head = _("💬 {manager} from the cluster team replied to your message (conversation #{id}):").format(
        manager=escape(manager), id=thread.id
    )
    return _fitted(head, content.text if content else None, "", _limit(content))


def _content(params: Mapping[str, Any]) -> Content | None:
    message = params.get("message")
    return Content.from_params(message) if isinstance(message, Mapping) else None


def attachment(params: Mapping[str, Any]) -> tuple[str, str] | None:
    """The photo or document a `question.*` notice carries: ("photo" | "document", file_id), or None."""
    content = _content(params)
    if content is None or content.kind is MessageKind.TEXT or not content.file_id:
        return None
    return content.kind.value, content.file_id


def question_asked_notice(params: Mapping[str, Any], locale: str) -> NoticeMessage:
    """`QUESTION_ASKED`, to every manager: who writes, from which organisation, what, and the buttons."""
    thread = ThreadView.from_params(params)
    event = params.get(COPY_EVENT)
    return (
        asked_text(thread, _content(params), event if isinstance(event, Mapping) else None),
        team_keyboard(thread),
    )


def question_answered_notice(params: Mapping[str, Any], locale: str) -> NoticeMessage:
    """`QUESTION_ANSWERED`, to the manager who took or replied (or every manager): the person's answer."""
    thread = ThreadView.from_params(params)
    return answered_text(thread, _content(params)), team_keyboard(thread)


def question_replied_notice(params: Mapping[str, Any], locale: str) -> NoticeMessage:
    """`QUESTION_REPLIED`, to the person: the manager's reply, with Answer."""
    thread = ThreadView.from_params(params)
    return replied_text(thread, _content(params), str(params.get("author") or "")), answer_keyboard(thread.id)


def question_resolved_notice(params: Mapping[str, Any], locale: str) -> NoticeMessage:
    """`QUESTION_RESOLVED`, to the person: the conversation is closed; they may write again."""
    thread = ThreadView.from_params(params)
    text = _(
        "✅ {manager} marked your conversation #{id} with the cluster team resolved. "
        "If you need anything else, write to us again."
    ).format(manager=escape(thread.resolved_by_name or "—"), id=thread.id)
    return text, write_keyboard()


def state_name(thread: ThreadView) -> str:
    if thread.status is QuestionStatus.TAKEN:
        return _("taken by {manager}").format(manager=escape(thread.taken_by_name or "—"))
    if thread.status is QuestionStatus.RESOLVED:
        return _("resolved")
    return _("waiting for the team")


def _summary(thread: ThreadView, limit: int = 60) -> str:
    first = thread.first
    if first is None:
        return "—"
    if first.text:
        return first.text
    return _("a photo") if first.kind is MessageKind.PHOTO else _("a document")


def profile_section(threads: list[ThreadView]) -> list[str]:
    """The lines /profile shows about the person's latest conversations with the team."""
    if not threads:
        return []
    lines = ["", _("✉️ Your conversations with the cluster team:")]
    for thread in threads:
        lines.append(f"• #{thread.id} {escape(clip(_summary(thread), 60))}: {state_name(thread)}")
    return lines


def profile_buttons(threads: list[ThreadView]) -> list[list[InlineKeyboardButton]]:
    return [
        [_button(_("💬 Conversation #{id}").format(id=thread.id), QuestionAction.OPEN, thread.id)] for thread in threads
    ]


def thread_text(thread: ThreadView, locale: str, settings: Settings) -> str:
    """The whole thread (its newest messages), as its person or a manager sees it."""
    lines = [_("✉️ <b>Conversation #{id}</b> with the cluster team").format(id=thread.id), "", *_who(thread)]
    lines += [status_text(thread), ""]
    shown = thread.messages[-SHOWN_MESSAGES:]
    if len(thread.messages) > len(shown):
        lines.append(_("(the {count} newest messages)").format(count=len(shown)))
    for message in shown:
        author = escape(message.author_name or "—")
        if message.from_team:
            author = _("{manager} (cluster team)").format(manager=author)
        when = format_when(message.created_at, locale, settings.tz)
        body = escape(clip(message.text, SHOWN_TEXT)) if message.text else ""
        extra = _attachment_line(message.content)
        lines.append(f"<b>{author}</b>, {when}:")
        lines.append("\n".join(part for part in (extra, body) if part))
        lines.append("")
    return "\n".join(lines).rstrip()


def refusal_text(refusal: QuestionError) -> str:
    """A questions refusal in the reader's words (handlers.refusals words them all through this)."""
    by = escape(str(refusal.context.get("by") or "")) or "—"
    return {
        QuestionRefusal.NOT_FOUND: _("This conversation does not exist, or it is not yours."),
        QuestionRefusal.RESOLVED: _("This conversation was already marked resolved by {manager}.").format(manager=by),
        QuestionRefusal.TAKEN: _("{manager} has already taken this question.").format(manager=by),
        QuestionRefusal.EMPTY: _("Please send a text, a photo or a document."),
        QuestionRefusal.TOO_LONG: _("That is too long: at most {limit} characters, please.").format(
            limit=refusal.context.get("limit", "")
        ),
        QuestionRefusal.TOO_MANY_OPEN: ngettext(
            "You already have {limit} conversation with the cluster team waiting. Please answer in it, or wait "
            "for the team to resolve it.",
            "You already have {limit} conversations with the cluster team waiting. Please answer in one of them, "
            "or wait for the team to resolve one.",
            int(str(refusal.context.get("limit") or 0)),
        ).format(limit=refusal.context.get("limit", "")),
    }[refusal.reason]


# --- reading what was sent ----------------------------------------------------------------------------------------


async def _content_or_ask_again(message: Message) -> Content | None:
    """The message's text, photo or document; for anything else (a sticker, a voice note) the person is asked
    again, the form still open."""
    content = content_of(message)
    if content is None:
        await message.answer(_("Please send a text, a photo or a document."), reply_markup=cancel_keyboard())
    return content


def content_of(message: Message) -> Content | None:
    """A message as a question keeps it: plain text, or the largest photo or the document with its caption."""
    if message.photo:
        return Content(MessageKind.PHOTO, message.caption, message.photo[-1].file_id)
    if message.document:
        return Content(MessageKind.DOCUMENT, message.caption, message.document.file_id)
    if message.text:
        return Content(MessageKind.TEXT, message.text)
    return None


async def _thread_id(state: FSMContext) -> int:
    return int((await state.get_data()).get("question_thread_id", 0))


async def _leave(state: FSMContext) -> None:
    await state.set_state(None)
    data = await state.get_data()
    data.pop("question_thread_id", None)
    await state.set_data(data)


# --- a person writes ----------------------------------------------------------------------------------------------


async def _start_writing(message: Message, state: FSMContext) -> None:
    await state.set_state(QuestionForm.ask)
    await message.answer(
        _(
            "✉️ Write your message to the cluster team: a text, or a photo or a document with a caption. "
            "Every manager of the cluster reads it, and the reply comes here."
        ),
        reply_markup=cancel_keyboard(),
    )


async def write_command(message: Message, state: FSMContext) -> None:
    await _start_writing(message, state)


async def write_button_pressed(query: CallbackQuery, state: FSMContext) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await _start_writing(query.message, state)


async def cancel_pressed(query: CallbackQuery, person: PersonView, state: FSMContext) -> None:
    had = await state.get_state() in {s.state for s in (QuestionForm.ask, QuestionForm.answer, QuestionForm.reply)}
    await _leave(state)
    await query.answer()
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=None)
        text = _("Cancelled: nothing was sent.") if had else _("There is nothing to cancel.")
        await query.message.answer(text, reply_markup=main_menu(person))


async def _refused_in_form(message: Message, refusal: QuestionError, person: PersonView, state: FSMContext) -> None:
    if refusal.reason in (QuestionRefusal.EMPTY, QuestionRefusal.TOO_LONG):
        # The question stays: another message, or Cancel.
        await message.answer(refusal_text(refusal), reply_markup=cancel_keyboard())
        return
    await _leave(state)
    await message.answer(refusal_text(refusal), reply_markup=main_menu(person))


async def got_question(
    message: Message, person: PersonView, repos: Repositories, state: FSMContext, settings: Settings
) -> None:
    content = await _content_or_ask_again(message)
    if content is None:
        return
    try:
        thread = await questions.ask(repos, person, content, default_locale=settings.default_locale)
    except QuestionError as refusal:
        await _refused_in_form(message, refusal, person, state)
        return
    await _leave(state)
    await message.answer(
        _(
            "✅ Your message has been sent to the cluster team (conversation #{id}). The reply will come here; "
            "/profile shows your conversations."
        ).format(id=thread.id),
        reply_markup=main_menu(person),
    )


async def answer_pressed(
    query: CallbackQuery, callback_data: QuestionCb, person: PersonView, repos: Repositories, state: FSMContext
) -> None:
    thread = await questions.thread_for(repos, person, callback_data.thread_id)
    if thread.person_id != person.id:
        # A manager pressing the person's button: the thread is not theirs to answer in.
        raise QuestionError(QuestionRefusal.NOT_FOUND)
    if thread.status is QuestionStatus.RESOLVED:
        raise QuestionError(QuestionRefusal.RESOLVED, by=thread.resolved_by_name or "")
    await query.answer()
    await state.set_state(QuestionForm.answer)
    await state.update_data(question_thread_id=thread.id)
    if isinstance(query.message, Message):
        await query.message.answer(
            _("↩️ Write your answer (conversation #{id}): a text, or a photo or a document.").format(id=thread.id),
            reply_markup=cancel_keyboard(),
        )


async def got_answer(
    message: Message, person: PersonView, repos: Repositories, state: FSMContext, settings: Settings
) -> None:
    content = await _content_or_ask_again(message)
    if content is None:
        return
    try:
        thread, _readers = await questions.answer(
            repos, person, await _thread_id(state), content, default_locale=settings.default_locale
        )
    except QuestionError as refusal:
        await _refused_in_form(message, refusal, person, state)
        return
    await _leave(state)
    await message.answer(
        _("✅ Your answer has been sent to the cluster team (conversation #{id}).").format(id=thread.id),
        reply_markup=main_menu(person),
    )


async def open_pressed(
    query: CallbackQuery,
    callback_data: QuestionCb,
    person: PersonView,
    repos: Repositories,
    locale: str,
    settings: Settings,
) -> None:
    thread = await questions.thread_for(repos, person, callback_data.thread_id)
    await query.answer()
    if not isinstance(query.message, Message):
        return
    if thread.person_id == person.id:
        rows = []
        if thread.status is not QuestionStatus.RESOLVED and thread.messages and thread.messages[-1].from_team:
            rows.append([_button(_("↩️ Answer"), QuestionAction.ANSWER, thread.id)])
        rows.append([InlineKeyboardButton(text=_("⬅️ Menu"), callback_data=MenuCb(action=MenuAction.HOME).pack())])
        markup: InlineKeyboardMarkup | None = InlineKeyboardMarkup(inline_keyboard=rows)
    else:
        # A manager: the thread's buttons, and the person's data rights (a request to be forgotten or for their
        # data arrives here, as a message to the team).
        team = team_keyboard(thread)
        rows = [*(team.inline_keyboard if team is not None else []), [data_rights_button(thread.person_id)]]
        markup = InlineKeyboardMarkup(inline_keyboard=rows)
    await query.message.answer(thread_text(thread, locale, settings), reply_markup=markup)


# --- managers -----------------------------------------------------------------------------------------------------


async def _show_card(query: CallbackQuery, thread: ThreadView) -> None:
    """The card the button is on, as the thread stands now: its text replaced where it is a text message; a
    photo or document card keeps its caption and gets the new buttons, the status said below it."""
    if not isinstance(query.message, Message):
        return
    markup = team_keyboard(thread)
    first = thread.first.content if thread.first is not None else None
    with contextlib.suppress(TelegramBadRequest):
        if query.message.text is not None and query.message.html_text.startswith("✉️"):
            await query.message.edit_text(asked_text(thread, first), reply_markup=markup)
        elif query.message.caption is not None and query.message.html_text.startswith("✉️"):
            # The card of a photo or a document: its caption.
            await query.message.edit_caption(caption=asked_text(thread, first), reply_markup=markup)
        else:
            await query.message.edit_reply_markup(reply_markup=markup)
            await query.message.answer(
                _("Question #{id}: {status}").format(id=thread.id, status=status_text(thread)), reply_markup=markup
            )


async def _stale(query: CallbackQuery, refusal: QuestionError) -> None:
    """Taken or resolved by another manager: say who, and bring the card up to date."""
    await query.answer(refusal_text(refusal), show_alert=True)
    thread = refusal.context.get("thread")
    if isinstance(thread, ThreadView):
        await _show_card(query, thread)


async def take_pressed(
    query: CallbackQuery, callback_data: QuestionCb, person: PersonView, repos: Repositories, settings: Settings
) -> None:
    try:
        thread = await questions.take(repos, person, callback_data.thread_id, tz=settings.tz)
    except QuestionError as refusal:
        if refusal.reason not in (QuestionRefusal.TAKEN, QuestionRefusal.RESOLVED):
            raise
        await _stale(query, refusal)
        return
    await query.answer(_("🙋 You have taken question #{id}.").format(id=thread.id))
    await _show_card(query, thread)


async def resolve_pressed(
    query: CallbackQuery, callback_data: QuestionCb, person: PersonView, repos: Repositories, settings: Settings
) -> None:
    try:
        thread = await questions.resolve(
            repos, person, callback_data.thread_id, default_locale=settings.default_locale, tz=settings.tz
        )
    except QuestionError as refusal:
        if refusal.reason is not QuestionRefusal.RESOLVED:
            raise
        await _stale(query, refusal)
        return
    await query.answer(
        _("✅ Question #{id} is marked resolved; {person} is told.").format(id=thread.id, person=thread.person_name)
    )
    await _show_card(query, thread)


async def reply_pressed(
    query: CallbackQuery, callback_data: QuestionCb, person: PersonView, repos: Repositories, state: FSMContext
) -> None:
    thread = await questions.thread_for(repos, person, callback_data.thread_id)
    if thread.status is QuestionStatus.RESOLVED:
        await _stale(query, QuestionError(QuestionRefusal.RESOLVED, by=thread.resolved_by_name or "", thread=thread))
        return
    await query.answer()
    await state.set_state(QuestionForm.reply)
    await state.update_data(question_thread_id=thread.id)
    if isinstance(query.message, Message):
        await query.message.answer(
            _("↩️ Write your reply to {person} (question #{id}): a text, or a photo or a document.").format(
                person=person_link(thread), id=thread.id
            ),
            reply_markup=cancel_keyboard(),
        )


async def got_reply(
    message: Message, person: PersonView, repos: Repositories, state: FSMContext, settings: Settings
) -> None:
    content = await _content_or_ask_again(message)
    if content is None:
        return
    try:
        thread = await questions.reply(
            repos, person, await _thread_id(state), content, default_locale=settings.default_locale, tz=settings.tz
        )
    except QuestionError as refusal:
        await _refused_in_form(message, refusal, person, state)
        return
    await _leave(state)
    await message.answer(
        _("✅ Your reply has been sent to {person} (question #{id}).").format(person=person_link(thread), id=thread.id),
        reply_markup=team_keyboard(thread),
    )


async def _list(message: Message, person: PersonView, repos: Repositories, page: int, *, edit: bool = False) -> None:
    found = await questions.open_threads(repos, person, page)
    if not found.items:
        text, markup = _("No questions are waiting for the team."), None
    else:
        lines = [
            ngettext(
                "✉️ {count} question waiting for the team, the oldest first:",
                "✉️ {count} questions waiting for the team, the oldest first:",
                found.total,
            ).format(count=found.total),
            "",
        ]
        rows = []
        for thread in found.items:
            who = escape(thread.person_name or "—")
            if thread.organisation_name:
                who += f" ({escape(thread.organisation_name)})"
            lines.append(f"#{thread.id} {who}: {escape(clip(_summary(thread), 80))} · {state_name(thread)}")
            rows.append([_button(_("💬 Question #{id}").format(id=thread.id), QuestionAction.OPEN, thread.id)])
        if found.pages > 1:
            lines += ["", _("Page {page} of {pages}").format(page=found.number + 1, pages=found.pages)]
        moves = page_moves(found.number, found.pages, lambda n: QuestionsPageCb(page=n))
        if moves:
            rows.append(moves)
        text, markup = "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)
    if edit:
        with contextlib.suppress(TelegramBadRequest):
            await message.edit_text(text, reply_markup=markup)
        return
    await message.answer(text, reply_markup=markup)


async def questions_command(message: Message, person: PersonView, repos: Repositories) -> None:
    await _list(message, person, repos, 0)


async def questions_menu(query: CallbackQuery, person: PersonView, repos: Repositories) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await _list(query.message, person, repos, 0)


async def questions_page(
    query: CallbackQuery, callback_data: QuestionsPageCb, person: PersonView, repos: Repositories
) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await _list(query.message, person, repos, callback_data.page, edit=True)


async def _leave_reply_form(refusal: Refused, event: TelegramObject, data: dict[str, Any]) -> bool:
    """A manager demoted while writing a reply leaves the form; `on_refusal` says the refusal."""
    state = data.get("state")
    if (
        isinstance(refusal, MembershipError)
        and refusal.reason is MemberRefusal.NOT_ALLOWED
        and isinstance(state, FSMContext)
        and await state.get_state() == QuestionForm.reply.state
    ):
        await _leave(state)
    return False


def build_router() -> Router:
    router = Router(name=__name__)
    people = Router(name=f"{__name__}.people")
    people.message.filter(F.chat.type == "private")
    people.message.register(write_command, Command("write", ignore_case=True))
    sent = (F.text & ~F.text.startswith("/")) | F.photo | F.document
    people.message.register(got_question, QuestionForm.ask, sent)
    people.message.register(got_answer, QuestionForm.answer, sent)
    people.callback_query.register(write_button_pressed, MenuCb.filter(F.action == MenuAction.WRITE))
    people.callback_query.register(cancel_pressed, QuestionCb.filter(F.action == QuestionAction.CANCEL))
    people.callback_query.register(answer_pressed, QuestionCb.filter(F.action == QuestionAction.ANSWER))
    people.callback_query.register(open_pressed, QuestionCb.filter(F.action == QuestionAction.OPEN))

    managers = managers_router(f"{__name__}.managers", on_refusal=_leave_reply_form)
    managers.message.register(questions_command, Command("questions", ignore_case=True), F.chat.type == "private")
    managers.message.register(got_reply, QuestionForm.reply, sent, F.chat.type == "private")
    managers.callback_query.register(questions_menu, MenuCb.filter(F.action == MenuAction.QUESTIONS))
    managers.callback_query.register(questions_page, QuestionsPageCb.filter())
    managers.callback_query.register(take_pressed, QuestionCb.filter(F.action == QuestionAction.TAKE))
    managers.callback_query.register(resolve_pressed, QuestionCb.filter(F.action == QuestionAction.RESOLVE))
    managers.callback_query.register(reply_pressed, QuestionCb.filter(F.action == QuestionAction.REPLY))
    router.include_routers(people, managers)
    return router
