"""How an alert profile is shown: its card, with the buttons its reader may use (their own, or a colleague's)."""

from __future__ import annotations

from aiogram.types import CallbackQuery

from bot.config import Settings
from bot.services.tenders import profiles
from handlers.tenders.profile_form import say
from handlers.tenders.profile_keyboards import card_keyboard
from handlers.tenders.profile_texts import card_text


async def show_card(
    query: CallbackQuery, seen: profiles.Owned, settings: Settings, locale: str, *, edit: bool = True
) -> None:
    text = card_text(seen, locale, settings.tz, settings.tenders.quiet)
    await say(query, text, card_keyboard(seen), edit=edit)
