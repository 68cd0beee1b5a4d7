"""Managers' announcements in the chat: audience, a text per language, preview, send now or schedule,
live progress, the report, and cancelling."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Awaitable
from datetime import datetime
from html import escape
from typing import Any, Literal

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n, ngettext
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.delivery import send_content
from bot.i18n import format_when
from bot.middlewares import UpdateWork
from bot.outbox import InvalidContent, validate_content
from bot.services import announcements
from bot.services.announcements import AnnouncementRefusal, Audience
from bot.services.groups import Texts
from bot.services.members import PersonView
from handlers.groups import localized, shown
from handlers.guards import managers_router
from handlers.keyboards import MenuAction, MenuCb, PageNumber, RowId, main_menu, page_moves
from storage.db import unit_of_work
from storage.repositories import Repositories

log = logging.getLogger(__name__)


class AnnounceAction(enum.StrEnum):
    AUDIENCE = "audience"
    GROUPS = "groups"
    GROUP = "group"
    PROJECTS = "projects"
    PROJECT = "project"
    SAME = "same"
    SEND = "send"
    SCHEDULE = "schedule"
    CANCEL = "cancel"
    STOP = "stop"
    UNREACHED = "unreached"
    # A scheduled one: cancel it (asks to confirm), confirmed, back to its line in the listing.
    CANCEL_SCHEDULED = "cask"
    CANCEL_CONFIRMED = "cyes"
    SCHEDULED_LINE = "cback"


# The buttons of announcements share the prefix "ann"; each kind has its own fields, so a field means one thing
# and a press whose action and fields do not go together matches none of them (it is stale).
# A step of the conversation: same (one text for all), send, schedule, cancel.
AnnounceStep = Literal[AnnounceAction.SAME, AnnounceAction.SEND, AnnounceAction.SCHEDULE, AnnounceAction.CANCEL]


class AnnounceCb(CallbackData, prefix="ann"):
    action: AnnounceStep


class AnnounceAudienceCb(CallbackData, prefix="ann"):
    action: Literal[AnnounceAction.AUDIENCE] = AnnounceAction.AUDIENCE
    audience: Literal[Audience.ALL, Audience.RO, Audience.EN]


class AnnounceGroupsCb(CallbackData, prefix="ann"):
    """A page of the working groups an announcement can be for."""

    action: Literal[AnnounceAction.GROUPS] = AnnounceAction.GROUPS
    page: PageNumber


class AnnounceGroupCb(CallbackData, prefix="ann"):
    action: Literal[AnnounceAction.GROUP] = AnnounceAction.GROUP
    group_id: RowId


class AnnounceProjectsCb(CallbackData, prefix="ann"):
    """A page of the projects whose participants an announcement can be for."""

    action: Literal[AnnounceAction.PROJECTS] = AnnounceAction.PROJECTS
    page: PageNumber


class AnnounceProjectCb(CallbackData, prefix="ann"):
    action: Literal[AnnounceAction.PROJECT] = AnnounceAction.PROJECT
    project_id: RowId


class AnnouncementCb(CallbackData, prefix="ann"):
    """Stop sending (or cancel a scheduled) announcement, or see whom it did not reach."""

    action: Literal[
        AnnounceAction.STOP,
        AnnounceAction.UNREACHED,
        AnnounceAction.CANCEL_SCHEDULED,
        AnnounceAction.CANCEL_CONFIRMED,
        AnnounceAction.SCHEDULED_LINE,
    ]
    announcement_id: RowId


class AnnounceForm(StatesGroup):
    audience = State()
    ro = State()
    en = State()
    confirm = State()
    when = State()


def _button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def _step(text: str, action: AnnounceStep) -> InlineKeyboardButton:
    return _button(text, AnnounceCb(action=action))


def _cancel_row() -> list[InlineKeyboardButton]:
    return [_step(_("✖️ Cancel"), AnnounceAction.CANCEL)]


def _stop(announcement_id: int) -> AnnouncementCb:
    return AnnouncementCb(action=AnnounceAction.STOP, announcement_id=announcement_id)


def _unreached(announcement_id: int) -> AnnouncementCb:
    return AnnouncementCb(action=AnnounceAction.UNREACHED, announcement_id=announcement_id)


def audience_name(audience: Audience, group: Texts | None = None, project: Texts | None = None) -> str:
    if audience is Audience.GROUP:
        return _("the members of the working group «{title}»").format(title=shown(group or Texts(None, None), 60))
    if audience is Audience.PROJECT:
        return _("the participants of the project «{title}»").format(title=shown(project or Texts(None, None), 60))
    return {
        Audience.ALL: _("all members"),
        Audience.RO: _("members who read Romanian"),
        Audience.EN: _("members who read English"),
    }[audience]


def piece_of(message: Message) -> dict[str, Any] | None:
    """The message as the outbox keeps it: formatting as HTML, a photo or document by file_id."""
    if message.photo:
        piece: dict[str, Any] = {"photo": message.photo[-1].file_id}
    elif message.document:
        piece = {"document": message.document.file_id}
    elif message.text:
        return {"text": message.html_text, "parse_mode": "HTML"}
    else:
        return None
    if message.caption:
        piece.update(caption=message.html_text, parse_mode="HTML")
    return piece


# --- the conversation ------------------------------------------------------------------------------------------


async def begin(message: Message, person: PersonView, state: FSMContext) -> None:
    await state.clear()
    await state.set_state(AnnounceForm.audience)
    await message.answer(
        _("📣 <b>New announcement</b>\n\nWho should receive it?"),
        reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[
                [_button(_("Everyone: all members"), AnnounceAudienceCb(audience=Audience.ALL))],
                [_button(_("Members who read Romanian"), AnnounceAudienceCb(audience=Audience.RO))],
                [_button(_("Members who read English"), AnnounceAudienceCb(audience=Audience.EN))],
                [_button(_("👥 Members of a working group"), AnnounceGroupsCb(page=0))],
                [_button(_("📁 Participants of a project"), AnnounceProjectsCb(page=0))],
                _cancel_row(),
            ]
        ),
    )


async def announce_button(query: CallbackQuery, person: PersonView, state: FSMContext) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await begin(query.message, person, state)


async def chose_audience(query: CallbackQuery, callback_data: AnnounceAudienceCb, state: FSMContext) -> None:
    await state.update_data(audience=callback_data.audience.value)
    await query.answer()
    await _ask_first_text(query, state, callback_data.audience.value)


async def show_groups(
    query: CallbackQuery, callback_data: AnnounceGroupsCb, person: PersonView, repos: Repositories
) -> None:
    """A page of the working groups an announcement can be for."""
    page = await announcements.group_choices(repos, person, callback_data.page)
    await query.answer()
    if not page.groups:
        if isinstance(query.message, Message):
            await query.message.answer(_("There are no working groups to write to yet."))
        return
    rows = [[_button(localized(group.title, 60), AnnounceGroupCb(group_id=group.id))] for group in page.groups]
    moves = page_moves(page.page, page.pages, lambda number: AnnounceGroupsCb(page=number))
    await _show_choices(query, _("📣 <b>New announcement</b>\n\nFor the members of which working group?"), rows, moves)


async def _show_choices(
    query: CallbackQuery, prompt: str, rows: list[list[InlineKeyboardButton]], moves: list[InlineKeyboardButton]
) -> None:
    """A page of choices (groups, projects) in place of the audience question, with paging and cancel."""
    if moves:
        rows.append(moves)
    rows.append(_cancel_row())
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_text(prompt, reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))


async def chose_group(
    query: CallbackQuery, callback_data: AnnounceGroupCb, person: PersonView, repos: Repositories, state: FSMContext
) -> None:
    await _chose_addressee(
        query, state, Audience.GROUP, "group", announcements.group_to_address(repos, person, callback_data.group_id)
    )


async def show_projects(
    query: CallbackQuery, callback_data: AnnounceProjectsCb, person: PersonView, repos: Repositories
) -> None:
    """A page of the projects (in preparation or running) whose participants an announcement can be for."""
    page = await announcements.project_choices(repos, person, callback_data.page)
    await query.answer()
    if not page.projects:
        if isinstance(query.message, Message):
            await query.message.answer(
                _("No project is in preparation or running: there are no participants to write to.")
            )
        return
    rows = [
        [_button(localized(project.title, 60), AnnounceProjectCb(project_id=project.id))] for project in page.projects
    ]
    moves = page_moves(page.page, page.pages, lambda number: AnnounceProjectsCb(page=number))
    await _show_choices(query, _("📣 <b>New announcement</b>\n\nFor the participants of which project?"), rows, moves)


async def chose_project(
    query: CallbackQuery, callback_data: AnnounceProjectCb, person: PersonView, repos: Repositories, state: FSMContext
) -> None:
    await _chose_addressee(
        query,
        state,
        Audience.PROJECT,
        "project",
        announcements.project_to_address(repos, person, callback_data.project_id),
    )


async def _chose_addressee(
    query: CallbackQuery, state: FSMContext, audience: Audience, key: str, found: Awaitable[Any]
) -> None:
    """The group or project an announcement is for, checked again by the service (a forged or stale button is
    refused), kept in the form with its title in both languages; then the first text is asked."""
    try:
        addressee = await found
    except announcements.AnnouncementError:
        await query.answer(_("This button is no longer valid. Open /menu for a fresh one."), show_alert=True)
        return
    title = [addressee.title_ro, addressee.title_en]
    await state.update_data({"audience": audience.value, f"{key}_id": addressee.id, f"{key}_title": title})
    await query.answer()
    await _ask_first_text(query, state, audience.value)


async def _ask_first_text(query: CallbackQuery, state: FSMContext, audience: str) -> None:
    if audience == Audience.EN.value:
        await state.set_state(AnnounceForm.en)
        question = _(
            "Send the text in English (bold, italics and links are kept; "
            "a photo or a document with a caption works too)."
        )
    else:
        await state.set_state(AnnounceForm.ro)
        question = _(
            "Send the text in Romanian (bold, italics and links are kept; "
            "a photo or a document with a caption works too)."
        )
    if isinstance(query.message, Message):
        await query.message.answer(question, reply_markup=InlineKeyboardMarkup(inline_keyboard=[_cancel_row()]))


async def got_romanian(message: Message, state: FSMContext) -> None:
    piece = await _checked_piece(message)
    if piece is None:
        return
    data = await state.update_data(ro=piece)
    if data["audience"] == Audience.RO.value:
        await _preview(message, state)
        return
    await state.set_state(AnnounceForm.en)
    await message.answer(
        _("Now the same in English, or use the Romanian text for everyone."),
        reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[[_step(_("Same text for everyone"), AnnounceAction.SAME)], _cancel_row()]
        ),
    )


async def got_english(message: Message, state: FSMContext) -> None:
    piece = await _checked_piece(message)
    if piece is None:
        return
    await state.update_data(en=piece)
    await _preview(message, state)


async def same_for_everyone(query: CallbackQuery, state: FSMContext) -> None:
    data = await state.get_data()
    await query.answer()
    await state.update_data(en=data["ro"])
    if isinstance(query.message, Message):
        await _preview(query.message, state)


async def _checked_piece(message: Message) -> dict[str, Any] | None:
    piece = piece_of(message)
    if piece is None:
        await message.answer(_("Please send a text, a photo or a document."))
        return None
    try:
        validate_content({"any": piece})
    except InvalidContent:
        await message.answer(_("Telegram would not accept this message as it is. Please shorten it and send it again."))
        return None
    return piece


def _group_title(data: dict[str, Any]) -> Texts | None:
    title = data.get("group_title")
    return Texts(title[0], title[1]) if title else None


def _project_title(data: dict[str, Any]) -> Texts | None:
    title = data.get("project_title")
    return Texts(title[0] or None, title[1] or None) if title else None


def _gone(error: announcements.AnnouncementError, *, scheduled: bool) -> str:
    """Why the audience chosen is no longer there, when the announcement is about to be stored."""
    if error.reason in (AnnouncementRefusal.PROJECT_NOT_FOUND, AnnouncementRefusal.PROJECT_NOT_OPEN):
        if scheduled:
            return _("That project is no longer in preparation or running: nothing was scheduled.")
        return _("That project is no longer in preparation or running: nothing was sent.")
    if scheduled:
        return _("That working group was dissolved meanwhile: nothing was scheduled.")
    return _("That working group was dissolved meanwhile: nothing was sent.")


def _content(data: dict[str, Any]) -> dict[str, Any]:
    ro, en = data.get("ro"), data.get("en")
    return {"ro": ro or en, "en": en or ro}


async def _preview(message: Message, state: FSMContext) -> None:
    """Exactly what members of each language will see, then the choice to send."""
    data = await state.get_data()
    await state.set_state(AnnounceForm.confirm)
    content = _content(data)
    bot = message.bot
    assert bot is not None
    audience = Audience(data["audience"])
    # One language's members see one version; everyone else may read either.
    languages = [audience.value] if audience in (Audience.RO, Audience.EN) else ["ro", "en"]
    for locale in languages:
        heading = (
            _("Preview: members who read Romanian see")
            if locale == "ro"
            else _("Preview: members who read English see")
        )
        await message.answer(f"👁 <i>{heading}</i>")
        # The very call the sender makes, so the preview is what members get.
        await send_content(bot, message.chat.id, content[locale])
    await message.answer(
        _("Send it to {audience}?").format(audience=audience_name(audience, _group_title(data), _project_title(data))),
        reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[
                [_step(_("🚀 Send now"), AnnounceAction.SEND), _step(_("🕒 Schedule"), AnnounceAction.SCHEDULE)],
                _cancel_row(),
            ]
        ),
    )


async def _create(
    state: FSMContext, person: PersonView, repos: Repositories, settings: Settings, *, at: datetime | None = None
) -> announcements.AnnouncementView:
    """The announcement the conversation put together; the conversation ends either way."""
    data = await state.get_data()
    await state.clear()
    return await announcements.create(
        repos,
        audience=Audience(data["audience"]),
        content=_content(data),
        default_locale=settings.default_locale,
        author=person,
        at=at,
        group_id=data.get("group_id"),
        project_id=data.get("project_id"),
    )


async def cancel_form(query: CallbackQuery, person: PersonView, state: FSMContext) -> None:
    await state.clear()
    await query.answer()
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=None)
        await query.message.answer(_("Stopped. Nothing was sent."), reply_markup=main_menu(person))


async def send_now(
    query: CallbackQuery,
    person: PersonView,
    state: FSMContext,
    repos: Repositories,
    settings: Settings,
    bot: Bot,
    i18n: I18n,
    session_factory: async_sessionmaker[AsyncSession],
    work: UpdateWork,
) -> None:
    try:
        view = await _create(state, person, repos, settings)
    except announcements.AnnouncementError as error:
        await query.answer(_gone(error, scheduled=False), show_alert=True)
        return
    await query.answer()
    if not isinstance(query.message, Message):
        return
    with contextlib.suppress(TelegramBadRequest):
        await query.message.edit_reply_markup(reply_markup=None)
    progress = await query.message.answer(
        ngettext(
            "📣 Announcement #{id}: {count} message queued.",
            "📣 Announcement #{id}: {count} messages queued.",
            view.queued,
        ).format(id=view.id, count=view.queued),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=[[_button(_("⏹ Stop sending"), _stop(view.id))]]),
    )
    locale = i18n.current_locale

    def watch() -> None:
        # The sender delivers; this only watches and edits one message, at most every few seconds.
        chat_id, message_id = progress.chat.id, progress.message_id
        task = asyncio.create_task(
            follow_progress(bot, session_factory, i18n, locale, chat_id, message_id, view.id, settings)
        )
        _RUNNING.add(task)
        task.add_done_callback(_RUNNING.discard)

    # Started when the update's work is committed and done, outside its transaction.
    work.after_commit(watch)


async def ask_when(query: CallbackQuery, state: FSMContext, settings: Settings) -> None:
    await state.set_state(AnnounceForm.when)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(
            _("When? Send the date and time as YYYY-MM-DD HH:MM ({timezone} time).").format(timezone=settings.timezone),
            reply_markup=InlineKeyboardMarkup(inline_keyboard=[_cancel_row()]),
        )


async def got_when(
    message: Message, person: PersonView, state: FSMContext, repos: Repositories, settings: Settings, locale: str
) -> None:
    try:
        moment = datetime.strptime((message.text or "").strip(), "%Y-%m-%d %H:%M").replace(tzinfo=settings.tz)
    except ValueError:
        await message.answer(_("I could not read that. Please write it like 2026-12-01 09:30."))
        return
    if moment <= datetime.now(settings.tz):
        await message.answer(_("That moment has passed. Please give a time in the future."))
        return
    try:
        view = await _create(state, person, repos, settings, at=moment)
    except announcements.AnnouncementError as error:
        await message.answer(_gone(error, scheduled=True))
        return
    await message.answer(
        _("🕒 Announcement #{id} will go out on {when}. /announcements lists the scheduled ones.").format(
            id=view.id, when=format_when(moment, locale, settings.tz)
        ),
        reply_markup=main_menu(person),
    )


# --- progress and report -------------------------------------------------------------------------------------------

_RUNNING: set[asyncio.Task[None]] = set()


async def follow_progress(
    bot: Bot,
    session_factory: async_sessionmaker[AsyncSession],
    i18n: I18n,
    locale: str,
    chat_id: int,
    message_id: int,
    announcement_id: int,
    settings: Settings,
) -> None:
    """Edit the manager's progress message until the announcement is delivered, then leave the report."""
    last = ""
    started = asyncio.get_running_loop().time()
    while True:
        await asyncio.sleep(settings.delivery.progress_interval)
        try:
            async with unit_of_work(session_factory) as session:
                report = await announcements.report(Repositories(session), announcement_id)
        except Exception as error:
            log.warning("progress of announcement %s: %s", announcement_id, type(error).__name__)
            continue
        elapsed = asyncio.get_running_loop().time() - started
        finished = report.total - report.waiting
        with i18n.context(), i18n.use_locale(locale):
            text = _(
                "📣 Announcement #{id}: {sent} sent, {failed} failed, {blocked} blocked the bot, {waiting} waiting."
            ).format(
                id=announcement_id,
                sent=report.sent,
                failed=report.failed + report.invalid,
                blocked=report.blocked,
                waiting=report.waiting,
            )
            if report.done:
                text += "\n" + _("✅ Done.")
                markup = None
                if report.undelivered:
                    markup = InlineKeyboardMarkup(
                        inline_keyboard=[[_button(_("Who was not reached"), _unreached(announcement_id))]]
                    )
            else:
                if finished:
                    left = int(elapsed / finished * report.waiting)
                    text += "\n" + _("About {seconds} s left.").format(seconds=left)
                markup = InlineKeyboardMarkup(inline_keyboard=[[_button(_("⏹ Stop sending"), _stop(announcement_id))]])
        if text != last:
            try:
                await bot.edit_message_text(text=text, chat_id=chat_id, message_id=message_id, reply_markup=markup)
                last = text
            except TelegramAPIError as error:
                log.info("progress message of announcement %s: %s", announcement_id, type(error).__name__)
        if report.done or report.total == 0:
            return


async def stop_sending(
    query: CallbackQuery,
    callback_data: AnnouncementCb,
    person: PersonView,
    repos: Repositories,
    settings: Settings,
    locale: str,
) -> None:
    with contextlib.suppress(announcements.AnnouncementError):
        # A listing's Cancel button from before the confirmation: a scheduled one is confirmed first.
        view = await announcements.scheduled_one(repos, callback_data.announcement_id, person)
        await _ask_to_cancel(query, view, settings, locale)
        return
    withdrawn = await announcements.cancel(repos, callback_data.announcement_id, author=person)
    await query.answer(
        ngettext(
            "Stopped: {count} message will not be sent.", "Stopped: {count} messages will not be sent.", withdrawn
        ).format(count=withdrawn),
        show_alert=True,
    )


def _scheduled_line(view: announcements.AnnouncementView, settings: Settings, locale: str) -> str:
    assert view.scheduled_at is not None
    return _("🕒 Announcement #{id} to {audience}, on {when}.").format(
        id=view.id,
        audience=audience_name(view.audience, view.group, view.project),
        when=format_when(view.scheduled_at, locale, settings.tz),
    )


def _cancel_it(announcement_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                _button(
                    _("✖️ Cancel it"),
                    AnnouncementCb(action=AnnounceAction.CANCEL_SCHEDULED, announcement_id=announcement_id),
                )
            ]
        ]
    )


async def _ask_to_cancel(
    query: CallbackQuery, view: announcements.AnnouncementView, settings: Settings, locale: str
) -> None:
    await query.answer()
    if not isinstance(query.message, Message):
        return
    confirm = InlineKeyboardMarkup(
        inline_keyboard=[
            [
                _button(
                    _("Yes, cancel it"), AnnouncementCb(action=AnnounceAction.CANCEL_CONFIRMED, announcement_id=view.id)
                ),
                _button(_("⬅️ Back"), AnnouncementCb(action=AnnounceAction.SCHEDULED_LINE, announcement_id=view.id)),
            ]
        ]
    )
    await query.message.edit_text(
        _scheduled_line(view, settings, locale) + "\n\n" + _("Cancel this announcement? It will not be sent."),
        reply_markup=confirm,
    )


async def ask_to_cancel(
    query: CallbackQuery,
    callback_data: AnnouncementCb,
    person: PersonView,
    repos: Repositories,
    settings: Settings,
    locale: str,
) -> None:
    """Cancel a scheduled announcement: asked to confirm first (the same announcement, checked again)."""
    view = await announcements.scheduled_one(repos, callback_data.announcement_id, person)
    await _ask_to_cancel(query, view, settings, locale)


async def cancel_scheduled(
    query: CallbackQuery,
    callback_data: AnnouncementCb,
    person: PersonView,
    repos: Repositories,
    settings: Settings,
    locale: str,
) -> None:
    view = await announcements.scheduled_one(repos, callback_data.announcement_id, person)
    await announcements.cancel(repos, view.id, author=person)
    await query.answer(_("Cancelled."))
    if isinstance(query.message, Message):
        await query.message.edit_text(
            _scheduled_line(view, settings, locale) + "\n" + _("✖️ Cancelled: it will not be sent."), reply_markup=None
        )


async def back_to_scheduled(
    query: CallbackQuery,
    callback_data: AnnouncementCb,
    person: PersonView,
    repos: Repositories,
    settings: Settings,
    locale: str,
) -> None:
    view = await announcements.scheduled_one(repos, callback_data.announcement_id, person)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(_scheduled_line(view, settings, locale), reply_markup=_cancel_it(view.id))


async def show_unreached(
    query: CallbackQuery, callback_data: AnnouncementCb, person: PersonView, repos: Repositories
) -> None:
    missed = await announcements.unreached(repos, callback_data.announcement_id, person)
    await query.answer()
    reasons = {"blocked": _("blocked the bot"), "invalid": _("chat not found"), "failed": _("failed")}
    lines = [_("Not reached:")]
    for who in missed[:50]:
        lines.append(f"• {escape(who.name)}: {reasons.get(who.status, who.status)}")
    if isinstance(query.message, Message):
        await query.message.answer("\n".join(lines))


async def list_scheduled(
    message: Message, person: PersonView, repos: Repositories, settings: Settings, locale: str
) -> None:
    scheduled = await announcements.scheduled(repos)
    if not scheduled:
        await message.answer(_("No announcements are scheduled."))
        return
    for view in scheduled:
        await message.answer(_scheduled_line(view, settings, locale), reply_markup=_cancel_it(view.id))


def build_router() -> Router:
    """Announcements are the managers' alone: the whole router is guarded."""
    router = managers_router(__name__)
    private = F.chat.type == "private"
    answer = ~F.text.startswith("/")
    router.message.register(begin, Command("announce", ignore_case=True), private)
    router.message.register(list_scheduled, Command("announcements", ignore_case=True), private)
    router.message.register(got_romanian, AnnounceForm.ro, answer)
    router.message.register(got_english, AnnounceForm.en, answer)
    router.message.register(got_when, AnnounceForm.when, F.text, answer)
    router.callback_query.register(announce_button, MenuCb.filter(F.action == MenuAction.ANNOUNCE))
    router.callback_query.register(chose_audience, AnnounceForm.audience, AnnounceAudienceCb.filter())
    router.callback_query.register(show_groups, AnnounceForm.audience, AnnounceGroupsCb.filter())
    router.callback_query.register(chose_group, AnnounceForm.audience, AnnounceGroupCb.filter())
    router.callback_query.register(show_projects, AnnounceForm.audience, AnnounceProjectsCb.filter())
    router.callback_query.register(chose_project, AnnounceForm.audience, AnnounceProjectCb.filter())
    step = AnnounceCb.filter
    router.callback_query.register(same_for_everyone, AnnounceForm.en, step(F.action == AnnounceAction.SAME))
    router.callback_query.register(send_now, AnnounceForm.confirm, step(F.action == AnnounceAction.SEND))
    router.callback_query.register(ask_when, AnnounceForm.confirm, step(F.action == AnnounceAction.SCHEDULE))
    router.callback_query.register(cancel_form, step(F.action == AnnounceAction.CANCEL))
    router.callback_query.register(stop_sending, AnnouncementCb.filter(F.action == AnnounceAction.STOP))
    router.callback_query.register(show_unreached, AnnouncementCb.filter(F.action == AnnounceAction.UNREACHED))
    router.callback_query.register(ask_to_cancel, AnnouncementCb.filter(F.action == AnnounceAction.CANCEL_SCHEDULED))
    router.callback_query.register(cancel_scheduled, AnnouncementCb.filter(F.action == AnnounceAction.CANCEL_CONFIRMED))
    router.callback_query.register(back_to_scheduled, AnnouncementCb.filter(F.action == AnnounceAction.SCHEDULED_LINE))
    return router
