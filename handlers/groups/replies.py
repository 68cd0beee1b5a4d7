"""How the groups' handlers answer a tap: in place of the message tapped or below it, a group's card, and the
way into the cluster for a guest (the one refusal said with buttons instead of an alert)."""

from __future__ import annotations

import contextlib

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.config import Settings
from bot.services.groups import GroupCard, GroupError
from handlers.groups.keyboards import GroupCb, card_keyboard, join_cluster_keyboard
from handlers.groups.texts import card_text
from handlers.refusals import explain


async def show(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup, *, edit: bool = True) -> None:
    """Put the answer in place of the message tapped (paging, opening a card), or below it."""
    if not isinstance(query.message, Message):
        return
    if edit:
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_text(text, reply_markup=markup)
            return
    await query.message.answer(text, reply_markup=markup)


async def show_card(
    query: CallbackQuery, card: GroupCard, callback_data: GroupCb, locale: str, settings: Settings, *, edit: bool = True
) -> None:
    """A group's card, its buttons leading back to the list page it was opened from."""
    markup = card_keyboard(card, callback_data.view, callback_data.page)
    await show(query, card_text(card, locale, settings.tz), markup, edit=edit)


async def show_the_way_in(query: CallbackQuery, refusal: GroupError) -> None:
    """A guest's tap refused (`GroupRefusal.NOT_MEMBER`): the reason in a message with the way into the cluster,
    not an alert. Handlers let every other refusal through to `handlers.refusals.on_refusal`."""
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(explain(refusal), reply_markup=join_cluster_keyboard())
