"""Back and Edit in the members' proposal forms (a working group: `handlers.groups.propose`; a project:
`handlers.projects.propose`), written once: the buttons under a question (Back a step, Cancel) and under the
summary before Send (Send, Edit per field, Back, Cancel), and a question asked again quoting what was given.

Each form keeps its states and its answers; this module only carries which field a button is about
(`StepCb`), so a form registers `StepCb.filter(F.action == StepAction.BACK)` and `...EDIT` on its own states.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Sequence
from html import escape

from aiogram.exceptions import TelegramBadRequest
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from handlers.keyboards import clip

# A quoted answer is cut here, so that the question stays short.
QUOTE_MAX = 600


class StepAction(enum.StrEnum):
    BACK = "back"
    EDIT = "edit"


class StepCb(CallbackData, prefix="ps"):
    """Back a step, or edit `field` (a form's own field name; empty for Back)."""

    action: StepAction
    field: str = ""


def back_keyboard(cancel_data: str) -> InlineKeyboardMarkup:
    """Under a question after the first: back a step, or cancel."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text=_("⬅️ Back"), callback_data=StepCb(action=StepAction.BACK).pack()),
                InlineKeyboardButton(text=_("✖️ Cancel"), callback_data=cancel_data),
            ]
        ]
    )


def summary_keyboard(
    send_label: str, send_data: str, cancel_data: str, fields: Sequence[tuple[str, str]]
) -> InlineKeyboardMarkup:
    """Under the summary before Send: send it, an Edit button per field ((field, label) pairs), back, cancel."""
    rows = [[InlineKeyboardButton(text=send_label, callback_data=send_data)]]
    rows += [
        [InlineKeyboardButton(text=label, callback_data=StepCb(action=StepAction.EDIT, field=field).pack())]
        for field, label in fields
    ]
    rows.append(
        [
            InlineKeyboardButton(text=_("⬅️ Back"), callback_data=StepCb(action=StepAction.BACK).pack()),
            InlineKeyboardButton(text=_("✖️ Cancel"), callback_data=cancel_data),
        ]
    )
    return InlineKeyboardMarkup(inline_keyboard=rows)


def with_current(question: str, current: str | None) -> str:
    """A question asked again (Back, Edit) quotes what was given, to be sent again as it should read."""
    if not current:
        return question
    return question + "\n\n" + _("Now: {text}").format(text=escape(clip(current, QUOTE_MAX)))


async def remove_buttons(query: CallbackQuery) -> None:
    """Take the buttons off the message tapped, so that an old summary cannot be sent."""
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=None)
