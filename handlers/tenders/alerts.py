"""Tender alerts: the buttons on an alert, a change, a reminder or a digest (Follow / Unfollow, Not relevant /
Relevant after all). The service checks that the alert is the presser's; the keyboard then shows the new state."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

from aiogram import Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, Message

from bot.services.members import PersonView
from bot.services.tenders import alerts
from handlers.tenders.alert_texts import TenderAlertCb, updated_keyboard, verdict_said
from storage.repositories import Repositories


async def press(query: CallbackQuery, callback_data: TenderAlertCb, person: PersonView, repos: Repositories) -> None:
    state = await alerts.decide(repos, person, callback_data.alert_id, callback_data.verdict, now=datetime.now(UTC))
    await query.answer(verdict_said(callback_data.verdict))
    message = query.message
    if isinstance(message, Message) and message.reply_markup is not None:
        with contextlib.suppress(TelegramBadRequest):
            await message.edit_reply_markup(reply_markup=updated_keyboard(message.reply_markup, state))


def build_router() -> Router:
    router = Router(name=__name__)
    router.callback_query.register(press, TenderAlertCb.filter())
    return router
