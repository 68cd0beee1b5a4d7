"""Taking part in a working group: join, read and accept a confidential group's terms (which joins, or records
the acceptance of someone already in it), leave."""

from __future__ import annotations

import contextlib
from html import escape

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.services import groups
from bot.services.members import PersonView
from handlers.groups.keyboards import GroupAction, GroupCb, joined_keyboard, leave_keyboard, terms_keyboard
from handlers.groups.replies import show, show_card, shows_guests_the_way_in
from handlers.groups.texts import joined_text, localized, terms_text
from storage.models import GroupState
from storage.repositories import Repositories


async def join_group(
    query: CallbackQuery,
    callback_data: GroupCb,
    person: PersonView,
    repos: Repositories,
    settings: Settings,
    locale: str,
) -> None:
    outcome = await groups.join(repos, person, callback_data.group_id, settings.default_locale)
    await query.answer(_("✅ You joined the group."))
    # The message saying they are in comes below; the card above it is updated in place.
    await _tell_joined(query, outcome.card)
    await show_card(query, outcome.card, callback_data, locale, settings)


async def _tell_joined(query: CallbackQuery, card: groups.GroupCard) -> None:
    """The message saying the person is in, with the group's chat when it has one."""
    if isinstance(query.message, Message):
        await query.message.answer(joined_text(card), reply_markup=joined_keyboard(card))


async def show_terms(query: CallbackQuery, callback_data: GroupCb, person: PersonView, repos: Repositories) -> None:
    card = await groups.terms_to_accept(repos, person, callback_data.group_id)
    await query.answer()
    await show(query, terms_text(card), terms_keyboard(card, callback_data.view, callback_data.page))


async def accept_terms(
    query: CallbackQuery,
    callback_data: GroupCb,
    person: PersonView,
    repos: Repositories,
    settings: Settings,
    locale: str,
) -> None:
    outcome = await groups.accept_terms(repos, person, callback_data.group_id, locale, settings.default_locale)
    await query.answer(_("✅ You joined the group.") if outcome.joined else _("✅ Your acceptance is recorded."))
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=None)
    if outcome.joined:
        await _tell_joined(query, outcome.card)
    await show_card(query, outcome.card, callback_data, locale, settings, edit=False)


async def ask_to_leave(query: CallbackQuery, callback_data: GroupCb, person: PersonView, repos: Repositories) -> None:
    """Leave: asked to confirm first (the same group in the Yes button, checked again when pressed)."""
    card = await groups.card(repos, person, callback_data.group_id)
    if card.state is GroupState.DISSOLVED:
        raise groups.GroupError(groups.GroupRefusal.DISSOLVED)
    if not card.viewer_in:
        raise groups.GroupError(groups.GroupRefusal.NOT_IN)
    await query.answer()
    text = _(
        'Leave the working group "{title}"? Its news will no longer reach you; you can join it again later.'
    ).format(title=escape(localized(card.title)))
    await show(query, text, leave_keyboard(card, callback_data.view, callback_data.page))


async def leave_group(
    query: CallbackQuery,
    callback_data: GroupCb,
    person: PersonView,
    repos: Repositories,
    settings: Settings,
    locale: str,
) -> None:
    outcome = await groups.leave(repos, person, callback_data.group_id, settings.default_locale)
    await query.answer(_("You left the group."))
    await show_card(query, outcome.card, callback_data, locale, settings)


def build_router() -> Router:
    router = Router(name=__name__)
    shows_guests_the_way_in(router)
    router.callback_query.register(join_group, GroupCb.filter(F.action == GroupAction.JOIN))
    router.callback_query.register(show_terms, GroupCb.filter(F.action == GroupAction.TERMS))
    router.callback_query.register(accept_terms, GroupCb.filter(F.action == GroupAction.ACCEPT))
    router.callback_query.register(ask_to_leave, GroupCb.filter(F.action == GroupAction.LEAVE))
    router.callback_query.register(leave_group, GroupCb.filter(F.action == GroupAction.LEAVE_CONFIRMED))
    return router
