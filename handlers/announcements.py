"""Managers' announcements in the chat: audience, a text per language, preview, send now or schedule,
live progress, the report, and cancelling."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Awaitable
from datetime import datetime, timedelta
from html import escape
from typing import Any, Literal

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n, get_i18n, ngettext
from aiogram.utils.i18n import gettext as _
from babel.numbers import format_decimal
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.dates import DateError, DateProblem, parse_moment
from bot.delivery import send_content
from bot.i18n import format_when, in_every_language
from bot.middlewares import UpdateWork, allow_longer_input
from bot.outbox import InvalidContent, validate_content
from bot.services import announcements
from bot.services.announcements import AnnouncementRefusal, Audience, UnreachedReason
from bot.services.groups import Texts
from bot.services.members import PersonView
from bot.telegram_text import CAPTION_LIMIT, TEXT_LIMIT, parse_formatted, utf16_len
from handlers.groups import label, localized, shown
from handlers.guards import managers_router
from handlers.keyboards import MenuAction, MenuCb, PageNumber, RowId, main_menu, page_moves
from handlers.privacy import shown_name
from handlers.zones import zone_name
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
    # The form's moves before Send: a step back, the text asked again kept, from the preview an edit of a step.
    BACK = "back"
    KEEP = "keep"
    EDIT_AUDIENCE = "eaud"
    EDIT_RO = "ero"
    EDIT_EN = "een"


# The buttons of announcements share the prefix "ann"; each kind has its own fields, so a field means one thing
# and a press whose action and fields do not go together matches none of them (it is stale).
# A step of the conversation: same (one text for all), send, schedule, cancel, back, keep, edit.
AnnounceStep = Literal[
    AnnounceAction.SAME,
    AnnounceAction.SEND,
    AnnounceAction.SCHEDULE,
    AnnounceAction.CANCEL,
    AnnounceAction.BACK,
    AnnounceAction.KEEP,
    AnnounceAction.EDIT_AUDIENCE,
    AnnounceAction.EDIT_RO,
    AnnounceAction.EDIT_EN,
]


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
        return _('the members of the working group "{title}"').format(title=shown(group or Texts(None, None), 60))
    if audience is Audience.PROJECT:
        return _('the participants of the project "{title}"').format(title=shown(project or Texts(None, None), 60))
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
# The steps, in order: the audience, each text the audience needs (`_needed`), the preview. ⬅️ Back goes one step
# up (the texts already given are kept, and "Keep the current text" moves on); from the preview, ✏️ Edit goes to
# one step and comes straight back to the preview. Every press is checked against the form's state.


def _needed(audience: str) -> list[str]:
    """The languages whose text the audience needs, in the order they are asked."""
    if audience == Audience.RO.value:
        return ["ro"]
    if audience == Audience.EN.value:
        return ["en"]
    return ["ro", "en"]


def _has(data: dict[str, Any], locale: str) -> bool:
    if locale == "en" and data.get("en_same"):
        return bool(data.get("ro"))
    return bool(data.get(locale))


def _back_and_cancel() -> list[InlineKeyboardButton]:
    return [_step(_("⬅️ Back"), AnnounceAction.BACK), *_cancel_row()]


async def _remove_buttons(query: CallbackQuery) -> None:
    """The buttons of the message pressed, so that an older step cannot be pressed again."""
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=None)


async def begin(message: Message, person: PersonView, state: FSMContext) -> None:
    await state.clear()
    await _ask_audience(message, state)


async def _ask_audience(message: Message, state: FSMContext) -> None:
    await state.set_state(AnnounceForm.audience)
    await message.answer(
        _("📣 <b>New announcement</b>\n\nWho should receive it?"),
        reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[
                [_button(_("All members"), AnnounceAudienceCb(audience=Audience.ALL))],
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


async def _set_audience(state: FSMContext, audience: Audience, **addressee: Any) -> None:
    """The audience chosen (again): a group or project chosen before is forgotten, the texts are kept."""
    data = {
        key: value
        for key, value in (await state.get_data()).items()
        if key not in ("group_id", "group_title", "project_id", "project_title")
    }
    await state.set_data({**data, "audience": audience.value, **addressee})


async def chose_audience(
    query: CallbackQuery, callback_data: AnnounceAudienceCb, state: FSMContext, i18n: I18n
) -> None:
    await _set_audience(state, callback_data.audience)
    await query.answer()
    await _remove_buttons(query)
    if isinstance(query.message, Message):
        await _go_on(query.message, state, i18n, after=None)


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
    rows = [
        [_button(label(group.title, group.short_title), AnnounceGroupCb(group_id=group.id))] for group in page.groups
    ]
    moves = page_moves(page.page, page.pages, lambda number: AnnounceGroupsCb(page=number))
    await _show_choices(query, _("📣 <b>New announcement</b>\n\nFor the members of which working group?"), rows, moves)


async def _show_choices(
    query: CallbackQuery, prompt: str, rows: list[list[InlineKeyboardButton]], moves: list[InlineKeyboardButton]
) -> None:
    """A page of choices (groups, projects) in place of the audience question, with paging, back and cancel."""
    if moves:
        rows.append(moves)
    rows.append(_back_and_cancel())
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_text(prompt, reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))


async def chose_group(
    query: CallbackQuery,
    callback_data: AnnounceGroupCb,
    person: PersonView,
    repos: Repositories,
    state: FSMContext,
    i18n: I18n,
) -> None:
    await _chose_addressee(
        query,
        state,
        i18n,
        Audience.GROUP,
        "group",
        announcements.group_to_address(repos, person, callback_data.group_id),
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
    query: CallbackQuery,
    callback_data: AnnounceProjectCb,
    person: PersonView,
    repos: Repositories,
    state: FSMContext,
    i18n: I18n,
) -> None:
    await _chose_addressee(
        query,
        state,
        i18n,
        Audience.PROJECT,
        "project",
        announcements.project_to_address(repos, person, callback_data.project_id),
    )


async def _chose_addressee(
    query: CallbackQuery, state: FSMContext, i18n: I18n, audience: Audience, key: str, found: Awaitable[Any]
) -> None:
    """The group or project an announcement is for, checked again by the service (a forged or stale button is
    refused), kept in the form with its title in both languages; then the next step."""
    try:
        addressee = await found
    except announcements.AnnouncementError:
        await query.answer(_("This button is no longer valid. Open /menu for a fresh one."), show_alert=True)
        return
    title = [addressee.title_ro, addressee.title_en]
    await _set_audience(state, audience, **{f"{key}_id": addressee.id, f"{key}_title": title})
    await query.answer()
    await _remove_buttons(query)
    if isinstance(query.message, Message):
        await _go_on(query.message, state, i18n, after=None)


async def _go_on(message: Message, state: FSMContext, i18n: I18n, *, after: str | None) -> None:
    """After the audience (`after` None) or a text: the next text the audience needs, else the preview. While
    editing from the preview, only a text still missing is asked."""
    data = await state.get_data()
    needed = _needed(data["audience"])
    if data.get("editing"):
        rest = [locale for locale in needed if not _has(data, locale)]
    else:
        rest = needed[needed.index(after) + 1 :] if after in needed else needed
    if rest:
        await _ask_text(message, state, rest[0])
    else:
        await _preview(message, state, i18n)


def _limits_line() -> str:
    locale = get_i18n().current_locale
    return _("At most {text} characters, or {caption} with a photo or a document.").format(
        text=format_decimal(TEXT_LIMIT, locale=locale), caption=format_decimal(CAPTION_LIMIT, locale=locale)
    )


async def _ask_text(message: Message, state: FSMContext, locale: str) -> None:
    data = await state.get_data()
    await state.set_state(AnnounceForm.ro if locale == "ro" else AnnounceForm.en)
    second = locale == "en" and len(_needed(data["audience"])) == 2
    if second:
        question = _("Now the same in English, or use the Romanian text for everyone.")
    elif locale == "en":
        question = _(
            "Send the text in English. Formatting (bold, italics, links) is kept; "
            "you can also send a photo or a document with a caption."
        )
    else:
        question = _(
            "Send the text in Romanian. Formatting (bold, italics, links) is kept; "
            "you can also send a photo or a document with a caption."
        )
    rows = []
    if second and data.get("ro"):
        rows.append([_step(_("Same text for everyone"), AnnounceAction.SAME)])
    if _has(data, locale) and not (locale == "en" and data.get("en_same")):
        rows.append([_step(_("↩️ Keep the current text"), AnnounceAction.KEEP)])
    rows.append(_back_and_cancel())
    await message.answer(question + "\n" + _limits_line(), reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))


async def got_romanian(message: Message, state: FSMContext, i18n: I18n) -> None:
    await _got_text(message, state, i18n, "ro")


async def got_english(message: Message, state: FSMContext, i18n: I18n) -> None:
    await _got_text(message, state, i18n, "en")


async def _got_text(message: Message, state: FSMContext, i18n: I18n, locale: str) -> None:
    data = await state.get_data()
    piece = await _checked_piece(message, _headings(data, i18n))
    if piece is None:
        return
    await state.update_data({locale: piece, **({"en_same": False} if locale == "en" else {})})
    await _go_on(message, state, i18n, after=locale)


async def same_for_everyone(query: CallbackQuery, state: FSMContext, i18n: I18n) -> None:
    data = await state.get_data()
    if not data.get("ro") or len(_needed(data["audience"])) != 2:
        await query.answer(_("This button is no longer valid. Open /menu for a fresh one."), show_alert=True)
        return
    await query.answer()
    await _remove_buttons(query)
    await state.update_data(en=None, en_same=True)
    if isinstance(query.message, Message):
        await _go_on(query.message, state, i18n, after="en")


async def keep_text(query: CallbackQuery, state: FSMContext, i18n: I18n) -> None:
    """The text asked for again (Back) stays as it was: on to the next step."""
    locale = "ro" if await state.get_state() == AnnounceForm.ro.state else "en"
    data = await state.get_data()
    if not _has(data, locale) or locale not in _needed(data["audience"]):
        await query.answer(_("This button is no longer valid. Open /menu for a fresh one."), show_alert=True)
        return
    await query.answer()
    await _remove_buttons(query)
    if isinstance(query.message, Message):
        await _go_on(query.message, state, i18n, after=locale)


async def go_back(query: CallbackQuery, state: FSMContext, i18n: I18n) -> None:
    """One step up: from the preview (or the date) to the last text, from a text to the one before, from the first
    text (or a list of groups or projects) to the audience."""
    current = await state.get_state()
    data = await state.get_data()
    await query.answer()
    await _remove_buttons(query)
    if not isinstance(query.message, Message):
        return
    await state.update_data(editing=False)
    if current == AnnounceForm.when.state:
        await _preview(query.message, state, i18n)
        return
    needed = _needed(data["audience"]) if "audience" in data else []
    target: str | None = None
    if current == AnnounceForm.confirm.state:
        target = needed[-1]
    elif current in (AnnounceForm.ro.state, AnnounceForm.en.state):
        locale = "ro" if current == AnnounceForm.ro.state else "en"
        place = needed.index(locale) if locale in needed else 0
        target = needed[place - 1] if place > 0 else None
    if target is None:
        await _ask_audience(query.message, state)
    else:
        await _ask_text(query.message, state, target)


async def edit_step(query: CallbackQuery, callback_data: AnnounceCb, state: FSMContext) -> None:
    """From the preview, ✏️ one step: the audience, or one language's text; then straight back to the preview."""
    data = await state.get_data()
    locale = {AnnounceAction.EDIT_RO: "ro", AnnounceAction.EDIT_EN: "en"}.get(callback_data.action)
    if locale is not None and locale not in _needed(data["audience"]):
        await query.answer(_("This button is no longer valid. Open /menu for a fresh one."), show_alert=True)
        return
    await query.answer()
    await _remove_buttons(query)
    await state.update_data(editing=True)
    if not isinstance(query.message, Message):
        return
    if locale is None:
        await _ask_audience(query.message, state)
    else:
        await _ask_text(query.message, state, locale)


def _too_long(length: int, limit: int, *, caption: bool) -> str:
    locale = get_i18n().current_locale
    numbers = {"limit": format_decimal(limit, locale=locale), "length": format_decimal(length, locale=locale)}
    if caption:
        return _(
            "The message is too long: with a photo or a document Telegram takes at most {limit} characters, "
            "and this one has {length}. Please shorten it and send it again."
        ).format(**numbers)
    return _(
        "The message is too long: Telegram takes at most {limit} characters, and this one has {length}. "
        "Please shorten it and send it again."
    ).format(**numbers)


async def _checked_piece(message: Message, headings: dict[str, str] | None) -> dict[str, Any] | None:
    """The message as the outbox keeps it, if Telegram will take it with the line naming a group or project."""
    keep_buttons = InlineKeyboardMarkup(inline_keyboard=[_back_and_cancel()])
    piece = piece_of(message)
    if piece is None:
        await message.answer(_("Please send a text, a photo or a document."), reply_markup=keep_buttons)
        return None
    extra = max((utf16_len(parse_formatted(line, "HTML")[0]) for line in (headings or {}).values()), default=0)
    caption = "text" not in piece
    length = utf16_len((message.caption if caption else message.text) or "")
    limit = (CAPTION_LIMIT if caption else TEXT_LIMIT) - extra
    if length > limit:
        await message.answer(_too_long(length, limit, caption=caption), reply_markup=keep_buttons)
        return None
    try:
        validate_content({"any": piece})
    except InvalidContent:
        await message.answer(
            _("Telegram would not accept this message as it is. Please shorten it and send it again."),
            reply_markup=keep_buttons,
        )
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


def addressed_to(audience: Audience, group: Texts | None, project: Texts | None) -> str | None:
    """The line that opens an announcement to a working group or a project, naming it (current language, HTML)."""
    if audience is Audience.GROUP and group is not None:
        line = _('👥 For the members of the working group "{title}"').format(title=shown(group))
    elif audience is Audience.PROJECT and project is not None:
        line = _('📁 For the participants of the project "{title}"').format(title=shown(project))
    else:
        return None
    return f"<i>{line}</i>"


def _headings(data: dict[str, Any], i18n: I18n) -> dict[str, str] | None:
    """The line naming the group or project, in every language (each recipient reads their own), or None."""
    audience = Audience(data["audience"])
    group, project = _group_title(data), _project_title(data)
    if addressed_to(audience, group, project) is None:
        return None
    return {
        locale: line or ""
        for locale, line in in_every_language(i18n, lambda: addressed_to(audience, group, project)).items()
    }


def _prefixed(piece: dict[str, Any], prefix: str) -> dict[str, Any]:
    """A message with `prefix` (HTML) before its text or caption."""
    if "text" in piece:
        return {**piece, "text": prefix + piece["text"], "parse_mode": "HTML"}
    caption = piece.get("caption")
    return {**piece, "caption": prefix + caption if caption else prefix.rstrip(), "parse_mode": "HTML"}


def _fits(piece: dict[str, Any]) -> bool:
    try:
        validate_content({"any": piece})
    except InvalidContent:
        return False
    return True


def _content(data: dict[str, Any], i18n: I18n) -> dict[str, Any]:
    """What members of each language get: their text, opened by the line naming a group or project."""
    ro = data.get("ro")
    en = ro if data.get("en_same") else data.get("en")
    content: dict[str, Any] = {"ro": ro or en, "en": en or ro}
    headings = _headings(data, i18n)
    if headings:
        content = {locale: _prefixed(piece, headings[locale] + "\n\n") for locale, piece in content.items()}
    return content


async def _preview(message: Message, state: FSMContext, i18n: I18n) -> None:
    """Exactly what members of each language will see, one message per language (one only when both read the
    same), the question and the buttons on the last (a text at Telegram's limit has its heading apart)."""
    data = await state.get_data()
    content = _content(data, i18n)
    audience = Audience(data["audience"])
    try:
        validate_content(content)
    except InvalidContent:
        # A text that fitted alone, with the line naming the group or project added since (a new audience).
        first = _needed(audience.value)[0]
        await message.answer(_("With the line naming the audience the text no longer fits. Please send a shorter one."))
        await state.update_data(editing=True, **{first: None})
        await _ask_text(message, state, first)
        return
    await state.set_state(AnnounceForm.confirm)
    await state.update_data(editing=False)
    bot = message.bot
    assert bot is not None
    languages = _needed(audience.value)
    if len(languages) == 2 and content["ro"] == content["en"]:
        headings = {"ro": _("Preview: every member sees")}
        languages = ["ro"]
    else:
        headings = {
            "ro": _("Preview: members who read Romanian see"),
            "en": _("Preview: members who read English see"),
        }
    question = _("Send it to {audience}?").format(
        audience=audience_name(audience, _group_title(data), _project_title(data))
    )
    edits = [_step(_("✏️ Audience"), AnnounceAction.EDIT_AUDIENCE)]
    if "ro" in _needed(audience.value):
        edits.append(_step(_("✏️ Romanian text"), AnnounceAction.EDIT_RO))
    if "en" in _needed(audience.value):
        edits.append(_step(_("✏️ English text"), AnnounceAction.EDIT_EN))
    markup = InlineKeyboardMarkup(
        inline_keyboard=[
            [_step(_("🚀 Send now"), AnnounceAction.SEND), _step(_("🕒 Schedule"), AnnounceAction.SCHEDULE)],
            edits,
            _back_and_cancel(),
        ]
    )
    for index, locale in enumerate(languages):
        last = index == len(languages) - 1
        # The question and its buttons on the last message, under the preview of the other language.
        top = f"📣 <b>{question}</b>\n" if last else ""
        prefix = f"{top}👁 <i>{headings[locale]}</i>\n\n"
        piece = dict(content[locale])
        if last:
            piece["reply_markup"] = markup.model_dump(mode="json", exclude_none=True)
        shown_piece = _prefixed(piece, prefix)
        if not _fits(shown_piece):
            # A text at Telegram's limit: the heading goes on its own.
            await message.answer(prefix.rstrip())
            shown_piece = piece
        # The very call the sender makes, so the preview is what members get.
        await send_content(bot, message.chat.id, shown_piece)


async def _create(
    state: FSMContext,
    person: PersonView,
    repos: Repositories,
    settings: Settings,
    i18n: I18n,
    *,
    at: datetime | None = None,
) -> announcements.AnnouncementView:
    """The announcement the conversation put together; the conversation ends either way."""
    data = await state.get_data()
    await state.clear()
    return await announcements.create(
        repos,
        audience=Audience(data["audience"]),
        content=_content(data, i18n),
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
        await query.message.answer(_("Cancelled. Nothing was sent."), reply_markup=main_menu(person))


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
        view = await _create(state, person, repos, settings, i18n)
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


def _examples(settings: Settings) -> dict[str, str]:
    """Dates and hours to write, a week from now in the cluster's zone, in the forms accepted."""
    day = datetime.now(settings.tz) + timedelta(days=7)
    return {
        "example": day.strftime("%d.%m.%Y 09:00"),
        "short": f"{day.day}/{day.month} 9:00",
        "iso": day.strftime("%Y-%m-%d 09:00"),
    }


def _when_buttons() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[_back_and_cancel()])


async def ask_when(query: CallbackQuery, state: FSMContext, settings: Settings) -> None:
    await state.set_state(AnnounceForm.when)
    await query.answer()
    await _remove_buttons(query)
    if isinstance(query.message, Message):
        await query.message.answer(
            _(
                "When should it be sent? Write the date and the hour ({zone}), for example {example}, {short}, "
                "{iso} or tomorrow 10:00."
            ).format(zone=zone_name(settings.tz), **_examples(settings)),
            reply_markup=_when_buttons(),
        )


def _when_problem(problem: DateProblem, settings: Settings) -> str:
    examples = _examples(settings)
    if problem is DateProblem.NO_HOUR:
        return _("Please write the hour too, for example {example} or tomorrow 10:00.").format(**examples)
    if problem is DateProblem.IN_THE_PAST:
        return _("That moment has passed. Please write a date and an hour to come.")
    if problem is DateProblem.TOO_FAR:
        return _("That is more than a year ahead. Please write a date within the next year.")
    return _("I could not read a date and an hour in that. Please write them like {example} or tomorrow 10:00.").format(
        **examples
    )


async def got_when(
    message: Message,
    person: PersonView,
    state: FSMContext,
    repos: Repositories,
    settings: Settings,
    locale: str,
    i18n: I18n,
) -> None:
    try:
        moment = parse_moment(message.text or "", locale, now=datetime.now(settings.tz), tz=settings.tz)
    except DateError as error:
        await message.answer(_when_problem(error.reason, settings), reply_markup=_when_buttons())
        return
    try:
        view = await _create(state, person, repos, settings, i18n, at=moment)
    except announcements.AnnouncementError as error:
        await message.answer(_gone(error, scheduled=True))
        return
    await message.answer(
        _("🕒 Announcement #{id} will be sent on {when} ({zone}). /announcements lists the scheduled ones.").format(
            id=view.id, when=format_when(moment, locale, settings.tz), zone=zone_name(settings.tz)
        ),
        reply_markup=main_menu(person),
    )


# --- progress and report -------------------------------------------------------------------------------------------

_RUNNING: set[asyncio.Task[None]] = set()
# Under this many seconds left, the progress says "almost done" rather than a count.
ALMOST_DONE = 5


def seconds_left(elapsed: float, finished: int, waiting: int) -> int | None:
    """About how long the waiting messages will take at the pace so far; None when it is "almost done" (never
    "about 0 s" while messages are still waiting)."""
    left = round(elapsed / finished * waiting) if finished else None
    return left if left is not None and left >= ALMOST_DONE else None


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
                    left = seconds_left(elapsed, finished, report.waiting)
                    if left is not None:
                        text += "\n" + _("About {seconds} s left.").format(seconds=left)
                    else:
                        text += "\n" + _("Almost done.")
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
    reasons = {
        UnreachedReason.BLOCKED: _("blocked the bot"),
        UnreachedReason.DELETED: _("deleted their Telegram account"),
        UnreachedReason.NOT_STARTED: _("has not started the bot or deleted their account"),
        UnreachedReason.FAILED: _("Telegram did not take the message, even after several tries"),
    }
    lines = [_("Not reached:")]
    for who in missed[:50]:
        lines.append(f"• {escape(shown_name(who.name) or '')}: {reasons[who.reason]}")
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
    # An announcement's text may use Telegram's whole message (the caption's limit is checked by the form).
    for text_step in (AnnounceForm.ro, AnnounceForm.en):
        allow_longer_input(text_step, TEXT_LIMIT)
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
    router.callback_query.register(keep_text, AnnounceForm.ro, step(F.action == AnnounceAction.KEEP))
    router.callback_query.register(keep_text, AnnounceForm.en, step(F.action == AnnounceAction.KEEP))
    for back_from in (AnnounceForm.audience, AnnounceForm.ro, AnnounceForm.en, AnnounceForm.confirm, AnnounceForm.when):
        router.callback_query.register(go_back, back_from, step(F.action == AnnounceAction.BACK))
    edits = (AnnounceAction.EDIT_AUDIENCE, AnnounceAction.EDIT_RO, AnnounceAction.EDIT_EN)
    router.callback_query.register(edit_step, AnnounceForm.confirm, step(F.action.in_(edits)))
    router.callback_query.register(send_now, AnnounceForm.confirm, step(F.action == AnnounceAction.SEND))
    router.callback_query.register(ask_when, AnnounceForm.confirm, step(F.action == AnnounceAction.SCHEDULE))
    router.callback_query.register(cancel_form, step(F.action == AnnounceAction.CANCEL))
    router.callback_query.register(stop_sending, AnnouncementCb.filter(F.action == AnnounceAction.STOP))
    router.callback_query.register(show_unreached, AnnouncementCb.filter(F.action == AnnounceAction.UNREACHED))
    router.callback_query.register(ask_to_cancel, AnnouncementCb.filter(F.action == AnnounceAction.CANCEL_SCHEDULED))
    router.callback_query.register(cancel_scheduled, AnnouncementCb.filter(F.action == AnnounceAction.CANCEL_CONFIRMED))
    router.callback_query.register(back_to_scheduled, AnnouncementCb.filter(F.action == AnnounceAction.SCHEDULED_LINE))
    return router
