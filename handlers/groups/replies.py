"""How the groups' handlers answer a tap: in place of the message tapped or below it, a group's card, and the
way into the cluster for a guest (the one refusal said with buttons instead of an alert)."""

from __future__ import annotations

import contextlib
from typing import Any

from aiogram import Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message, TelegramObject

from bot.config import Settings
from bot.services.groups import GroupCard, GroupError, GroupRefusal
from bot.services.refusals import Refused
from handlers.groups.keyboards import GroupCb, card_keyboard, join_cluster_keyboard
from handlers.groups.texts import card_text
from handlers.guards import OnRefusal
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


async def _the_way_in(refusal: Refused, event: TelegramObject, data: dict[str, Any]) -> bool:
    """A guest's tap refused (`GroupRefusal.NOT_MEMBER`): the reason in a message with the way into the cluster,
    not an alert. Every other refusal goes on to `handlers.refusals.on_refusal`."""
    if not (isinstance(refusal, GroupError) and refusal.reason is GroupRefusal.NOT_MEMBER):
        return False
    if not isinstance(event, CallbackQuery):
        return False
    await event.answer()
    if isinstance(event.message, Message):
        await event.message.answer(explain(refusal), reply_markup=join_cluster_keyboard())
    return True


def shows_guests_the_way_in(router: Router) -> None:
    """On a router of members' taps: a guest refused there is shown the way in (`_the_way_in`)."""
    router.callback_query.outer_middleware(OnRefusal(_the_way_in))
