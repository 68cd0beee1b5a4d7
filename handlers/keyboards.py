"""Callback data factories and the keyboards built from them, labelled in the current language."""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Collection
from functools import lru_cache
from html import escape
from typing import Annotated

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import get_i18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from pydantic import BeforeValidator, Field

from bot.services.members import PersonView

LANGUAGE_NAMES = {"ro": "🇷🇴 Română", "en": "🇬🇧 English"}

# Every number a button carries is parsed here, by the field types below: callback data comes from the client and
# may be anything, and a value that fails them makes aiogram's CallbackData filter not match, so the press falls
# to the catch-all `stale_button` (a polite alert) instead of reaching a handler, or the database, as an error.
MAX_ROW_ID = 2**63 - 1  # the largest id a 64-bit key column holds (storage.models.RowKey)
MAX_PAGE = 99_999  # far past any list the bot shows; a page past the end shows the last one
# Only the spelling `pack()` writes: pydantic alone would also take "+5", " 5", "1_0", "5.0", and str.isdigit()
# takes "²", which int() then refuses.
_NUMBER = re.compile(r"0|[1-9][0-9]{0,18}")


def _packed_number(value: object) -> object:
    if isinstance(value, str) and not _NUMBER.fullmatch(value):
        raise ValueError("not a number as a button carries it")
    return value


# A row's id: 1 to 2^63 - 1, as the id columns hold on both databases.
RowId = Annotated[int, BeforeValidator(_packed_number), Field(ge=1, le=MAX_ROW_ID)]
# A row's id where an action about no row carries 0.
RowIdOrZero = Annotated[int, BeforeValidator(_packed_number), Field(ge=0, le=MAX_ROW_ID)]

# A page of a list, counted from 0.
PageNumber = Annotated[int, BeforeValidator(_packed_number), Field(ge=0, le=MAX_PAGE)]


def check_row_id(row_id: int, action: object, about_no_row: Collection[object]) -> None:
    """A `RowIdOrZero` is 0 exactly for the actions about no row: a press that mixes them up is forged."""
    if (row_id == 0) != (action in about_no_row):
        raise ValueError("a row id with the actions about a row, and only then")


class MenuAction(enum.StrEnum):
    HOME = "home"
    JOIN = "join"
    INVITE_CODE = "invite_code"
    PROFILE = "profile"
    LANGUAGE = "language"
    HELP = "help"
    REQUESTS = "requests"
    ANNOUNCE = "announce"
    SERVICES = "services"
    GROUPS = "groups"
    PROJECTS = "projects"
    TENDERS = "tenders"
    TENDER_SOURCES = "tender_sources"
    WRITE = "write"
    QUESTIONS = "questions"
    SERVICE_REQUESTS = "service_requests"


class MenuCb(CallbackData, prefix="menu"):
    """A main-menu entry."""

    action: MenuAction


class LanguageCb(CallbackData, prefix="lang"):
    code: str


class JoinFormAction(enum.StrEnum):
    SEND = "send"
    CANCEL = "cancel"
    # Back a step; from the summary, change one answer.
    BACK = "back"
    EDIT_ORGANISATION = "edit_org"
    EDIT_CUI = "edit_cui"
    EDIT_POSITION = "edit_pos"


class JoinFormCb(CallbackData, prefix="join"):
    """Buttons of the join conversation."""

    action: JoinFormAction


class JoinDecision(enum.StrEnum):
    APPROVE = "approve"
    # Asks for a reason; then "without a reason", the confirmation, and Back from either.
    REJECT = "reject"
    NO_REASON = "noreason"
    CONFIRM_REJECT = "rejectok"
    BACK = "back"


class JoinDecisionCb(CallbackData, prefix="jr"):
    """A manager's decision on join request `request_id`."""

    request_id: RowId
    decision: JoinDecision


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, an ellipsis marking a cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def clip_words(text: str, limit: int) -> str:
    """At most `limit` characters, cut between words (never inside one), an ellipsis marking a cut; a single
    word longer than the limit is the only thing cut inside."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if text[limit - 1] != " " and " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:-–") + "…"


def language_keyboard() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for code, label in LANGUAGE_NAMES.items():
        builder.button(text=label, callback_data=LanguageCb(code=code))
    builder.adjust(2)
    return builder.as_markup()


def main_menu(person: PersonView | None, *, with_languages: bool = False) -> InlineKeyboardMarkup:
    is_member = person is not None and person.is_member
    is_manager = person is not None and person.is_manager
    return _main_menu(get_i18n().current_locale, is_member, is_manager, with_languages)


# What a notice kind's wording gives (`handlers.notices`): the text, in HTML, and its buttons if any.
NoticeMessage = tuple[str, "InlineKeyboardMarkup | None"]


def menu_for(locale: str, *, is_member: bool, is_manager: bool) -> InlineKeyboardMarkup:
    """The main menu of a kind of person, when only their kind is known (a notice worded at send time)."""
    return _main_menu(locale, is_member, is_manager, False)


@lru_cache(maxsize=64)
def _main_menu(locale: str, is_member: bool, is_manager: bool, with_languages: bool) -> InlineKeyboardMarkup:
    # Built once per language and kind of person: it is on most answers, and building costs more than sending.
    builder = InlineKeyboardBuilder()
    if with_languages:
        builder.row(
            *(
                InlineKeyboardButton(text=label, callback_data=LanguageCb(code=code).pack())
                for code, label in LANGUAGE_NAMES.items()
            )
        )
    if not is_member:
        builder.row(
            InlineKeyboardButton(text=_("🤝 Join the cluster"), callback_data=MenuCb(action=MenuAction.JOIN).pack())
        )
        builder.row(
            InlineKeyboardButton(
                text=_("🎟 I have an invite code"), callback_data=MenuCb(action=MenuAction.INVITE_CODE).pack()
            )
        )
    builder.row(
        InlineKeyboardButton(text=_("🧰 Services"), callback_data=MenuCb(action=MenuAction.SERVICES).pack()),
        InlineKeyboardButton(text=_("👥 Working groups"), callback_data=MenuCb(action=MenuAction.GROUPS).pack()),
    )
    if is_member:
        builder.row(
            InlineKeyboardButton(text=_("📁 Projects"), callback_data=MenuCb(action=MenuAction.PROJECTS).pack()),
            InlineKeyboardButton(text=_("🔔 Tender alerts"), callback_data=MenuCb(action=MenuAction.TENDERS).pack()),
        )
    if is_manager:
        # The managers' screens (Projects above is theirs too: its list shows them the managers' buttons).
        builder.row(
            InlineKeyboardButton(text=_("📥 Join requests"), callback_data=MenuCb(action=MenuAction.REQUESTS).pack()),
            InlineKeyboardButton(
                text=_("📋 Service requests"), callback_data=MenuCb(action=MenuAction.SERVICE_REQUESTS).pack()
            ),
        )
        builder.row(
            InlineKeyboardButton(text=_("✉️ Questions"), callback_data=MenuCb(action=MenuAction.QUESTIONS).pack()),
            InlineKeyboardButton(text=_("📣 Announcement"), callback_data=MenuCb(action=MenuAction.ANNOUNCE).pack()),
        )
        builder.row(
            InlineKeyboardButton(
                text=_("🛰 Tender sources"), callback_data=MenuCb(action=MenuAction.TENDER_SOURCES).pack()
            ),
        )
    builder.row(
        InlineKeyboardButton(text=_("👤 My profile"), callback_data=MenuCb(action=MenuAction.PROFILE).pack()),
        InlineKeyboardButton(text=_("🌐 Language"), callback_data=MenuCb(action=MenuAction.LANGUAGE).pack()),
    )
    builder.row(
        InlineKeyboardButton(
            text=_("✉️ Write to the cluster team"), callback_data=MenuCb(action=MenuAction.WRITE).pack()
        )
    )
    builder.row(InlineKeyboardButton(text=_("❓ Help"), callback_data=MenuCb(action=MenuAction.HELP).pack()))
    return builder.as_markup()


def page_moves(number: int, pages: int, make: Callable[[int], CallbackData]) -> list[InlineKeyboardButton]:
    """The row that pages a list: ◀️ Previous page and Next page ▶️ where there is such a page (empty on a single page);
    `make(page)` is the callback data of a page."""
    row = []
    if number > 0:
        row.append(InlineKeyboardButton(text=_("◀️ Previous page"), callback_data=make(number - 1).pack()))
    if number + 1 < pages:
        row.append(InlineKeyboardButton(text=_("Next page ▶️"), callback_data=make(number + 1).pack()))
    return row


def back_to_menu() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=_("⬅️ Menu"), callback_data=MenuCb(action=MenuAction.HOME).pack())]]
    )


def join_form_cancel() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=_("✖️ Cancel"), callback_data=JoinFormCb(action=JoinFormAction.CANCEL).pack())]
        ]
    )


def _join_form_button(text: str, action: JoinFormAction) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=JoinFormCb(action=action).pack())


def join_form_step() -> InlineKeyboardMarkup:
    """A step of the join form after the first: Back a step, or Cancel."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                _join_form_button(_("⬅️ Back"), JoinFormAction.BACK),
                _join_form_button(_("✖️ Cancel"), JoinFormAction.CANCEL),
            ]
        ]
    )


def join_form_confirm() -> InlineKeyboardMarkup:
    """The join form's summary: change any answer, send, go back a step or cancel."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                _join_form_button(_("✏️ Organisation"), JoinFormAction.EDIT_ORGANISATION),
                _join_form_button(_("✏️ CUI"), JoinFormAction.EDIT_CUI),
                _join_form_button(_("✏️ Role"), JoinFormAction.EDIT_POSITION),
            ],
            [_join_form_button(_("✅ Send request"), JoinFormAction.SEND)],
            [
                _join_form_button(_("⬅️ Back"), JoinFormAction.BACK),
                _join_form_button(_("✖️ Cancel"), JoinFormAction.CANCEL),
            ],
        ]
    )


def _join_decisions(request_id: int, *buttons: tuple[str, JoinDecision]) -> InlineKeyboardMarkup:
    """One row of buttons on a join request's card, each a decision about that request."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=text, callback_data=JoinDecisionCb(request_id=request_id, decision=decision).pack()
                )
                for text, decision in buttons
            ]
        ]
    )


def join_decision(request_id: int) -> InlineKeyboardMarkup:
    return _join_decisions(request_id, (_("✅ Approve"), JoinDecision.APPROVE), (_("❌ Reject"), JoinDecision.REJECT))


def join_reject_reason(request_id: int) -> InlineKeyboardMarkup:
    """Under the question why a request is rejected: without a reason, or back (nothing changes)."""
    return _join_decisions(
        request_id, (_("Without a reason"), JoinDecision.NO_REASON), (_("⬅️ Back"), JoinDecision.BACK)
    )


def join_reject_confirm(request_id: int) -> InlineKeyboardMarkup:
    """The confirmation of a rejection, which cannot be undone."""
    return _join_decisions(
        request_id, (_("Yes, reject"), JoinDecision.CONFIRM_REJECT), (_("⬅️ Back"), JoinDecision.BACK)
    )


def person_link(name: str, telegram_id: int | None, username: str | None = None) -> str:
    """A person on a card, escaped: their name linked to their Telegram profile, and their @username if any."""
    shown = escape(name)
    # A forgotten person's id is negative (bot.services.privacy): it links to nobody.
    if telegram_id and telegram_id > 0:
        shown = f'<a href="tg://user?id={int(telegram_id)}">{shown}</a>'
    return shown + (f" (@{escape(username)})" if username else "")


def open_private_chat(bot_username: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=_("💬 Open a private chat"), url=f"https://t.me/{bot_username}")]]
    )
