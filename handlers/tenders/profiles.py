"""Tender alerts: a member's alert profiles (see handlers.tenders). `/tenders` and the menu's 🔔 button list them;
a card shows one whole with ✏️ Edit, ⏸ Pause / ▶️ Resume, 🗑 Delete (confirmed) and 🔎 Current matches; the
organisation's other representatives' profiles open read-only with 📋 Copy to me. Members only: a guest or
someone without an organisation is shown the way into the cluster. The form is handlers.tenders.profile_form."""

from __future__ import annotations

from html import escape

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.services.members import PersonView
from bot.services.tenders import profiles
from handlers.common import leave_conversation
from handlers.keyboards import MenuAction, MenuCb
from handlers.tenders import profile_form
from handlers.tenders.profile_cards import show_card
from handlers.tenders.profile_form import say
from handlers.tenders.profile_keyboards import (
    TpAction,
    TpCb,
    colleagues_keyboard,
    delete_keyboard,
    list_keyboard,
    matches_keyboard,
)
from handlers.tenders.profile_texts import colleagues_text, list_text, matches_text
from storage.models import utcnow
from storage.repositories import Repositories


async def tenders_command(
    message: Message, person: PersonView, repos: Repositories, state: FSMContext, locale: str
) -> None:
    await leave_conversation(state)
    mine = await profiles.mine(repos, person)
    await message.answer(list_text(mine, locale), reply_markup=list_keyboard(mine))


async def tenders_button(
    query: CallbackQuery, person: PersonView, repos: Repositories, state: FSMContext, locale: str
) -> None:
    await leave_conversation(state)
    mine = await profiles.mine(repos, person)
    await query.answer()
    await say(query, list_text(mine, locale), list_keyboard(mine))


async def show_list(query: CallbackQuery, person: PersonView, repos: Repositories, locale: str) -> None:
    mine = await profiles.mine(repos, person)
    await query.answer()
    await say(query, list_text(mine, locale), list_keyboard(mine), edit=True)


async def show_colleagues(query: CallbackQuery, person: PersonView, repos: Repositories, locale: str) -> None:
    found = await profiles.colleagues(repos, person)
    await query.answer()
    await say(query, colleagues_text(found, locale), colleagues_keyboard(found), edit=True)


async def new_profile(
    query: CallbackQuery, person: PersonView, repos: Repositories, state: FSMContext, settings: Settings
) -> None:
    await profiles.may_add(repos, person)
    await query.answer()
    await profile_form.begin_new(query, state, person, repos, settings)


async def open_card(
    query: CallbackQuery, callback_data: TpCb, person: PersonView, repos: Repositories, settings: Settings, locale: str
) -> None:
    seen = await profiles.visible(repos, person, callback_data.profile_id)
    await query.answer()
    await show_card(query, seen, settings, locale)


async def edit_profile(
    query: CallbackQuery,
    callback_data: TpCb,
    person: PersonView,
    repos: Repositories,
    state: FSMContext,
    settings: Settings,
) -> None:
    await profiles.own(repos, person, callback_data.profile_id)
    await query.answer()
    await profile_form.begin_edit(query, state, person, repos, settings, callback_data.profile_id)


async def pause_or_resume(
    query: CallbackQuery, callback_data: TpCb, person: PersonView, repos: Repositories, settings: Settings, locale: str
) -> None:
    paused = callback_data.action is TpAction.PAUSE
    profile = await profiles.set_paused(repos, person, callback_data.profile_id, paused)
    await query.answer(_("⏸ Paused: no alerts from it until you resume it.") if paused else _("▶️ Resumed."))
    await show_card(query, profiles.Owned(profile, mine=True), settings, locale)


async def ask_delete(query: CallbackQuery, callback_data: TpCb, person: PersonView, repos: Repositories) -> None:
    profile = await profiles.own(repos, person, callback_data.profile_id)
    await query.answer()
    await say(
        query,
        _('Delete the profile "{name}"? Its alerts already sent stay in the chat.').format(name=escape(profile.name)),
        delete_keyboard(profile.id),
        edit=True,
    )


async def delete_profile(
    query: CallbackQuery, callback_data: TpCb, person: PersonView, repos: Repositories, locale: str
) -> None:
    await profiles.delete(repos, person, callback_data.profile_id)
    await query.answer(_("🗑 Deleted."))
    mine = await profiles.mine(repos, person)
    await say(query, list_text(mine, locale), list_keyboard(mine), edit=True)


async def copy_profile(
    query: CallbackQuery, callback_data: TpCb, person: PersonView, repos: Repositories, settings: Settings, locale: str
) -> None:
    copied = await profiles.copy(repos, person, callback_data.profile_id, now=utcnow())
    await query.answer(_("📋 Copied to your profiles. It alerts you of new tenders from now on."))
    await show_card(query, profiles.Owned(copied, mine=True), settings, locale, edit=False)


async def show_matches(
    query: CallbackQuery, callback_data: TpCb, person: PersonView, repos: Repositories, settings: Settings, locale: str
) -> None:
    now = utcnow()
    seen, page = await profiles.matches_page(
        repos, person, callback_data.profile_id, callback_data.page, now=now, rates=settings.tenders.rates
    )
    await query.answer()
    await say(query, matches_text(seen, page, locale, settings.tz, now), matches_keyboard(seen, page), edit=True)


def build_router() -> Router:
    router = Router(name=__name__)
    profile_form.handles_refusals(router)
    router.message.register(tenders_command, Command("tenders", ignore_case=True), F.chat.type == "private")
    router.callback_query.register(tenders_button, MenuCb.filter(F.action == MenuAction.TENDERS))
    router.callback_query.register(show_list, TpCb.filter(F.action == TpAction.LIST))
    router.callback_query.register(show_colleagues, TpCb.filter(F.action == TpAction.COLLEAGUES))
    router.callback_query.register(new_profile, TpCb.filter(F.action == TpAction.NEW))
    router.callback_query.register(open_card, TpCb.filter(F.action == TpAction.CARD))
    router.callback_query.register(edit_profile, TpCb.filter(F.action == TpAction.EDIT))
    router.callback_query.register(pause_or_resume, TpCb.filter(F.action.in_({TpAction.PAUSE, TpAction.RESUME})))
    router.callback_query.register(ask_delete, TpCb.filter(F.action == TpAction.DELETE))
    router.callback_query.register(delete_profile, TpCb.filter(F.action == TpAction.DELETE_YES))
    router.callback_query.register(copy_profile, TpCb.filter(F.action == TpAction.COPY))
    router.callback_query.register(show_matches, TpCb.filter(F.action == TpAction.MATCHES))
    router.include_router(profile_form.build_router())
    return router
