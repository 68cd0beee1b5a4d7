"""Browsing the working groups: /groups and the menu's button, the list (All, Mine, Proposed) page by page, and a
group's card. Anyone may look."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.config import Settings
from bot.services import groups
from bot.services.groups import GroupFilter
from bot.services.members import PersonView
from handlers.common import leave_conversation
from handlers.groups.keyboards import GroupAction, GroupCb, GroupListCb, list_keyboard
from handlers.groups.replies import show, show_card
from handlers.groups.texts import list_text
from handlers.keyboards import MenuAction, MenuCb
from storage.repositories import Repositories


async def groups_command(message: Message, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    await leave_conversation(state)
    page = await groups.list_groups(repos, person, GroupFilter.ALL, 0)
    await message.answer(list_text(page), reply_markup=list_keyboard(page))


async def groups_button(query: CallbackQuery, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    await leave_conversation(state)
    page = await groups.list_groups(repos, person, GroupFilter.ALL, 0)
    await query.answer()
    await show(query, list_text(page), list_keyboard(page), edit=False)


async def show_page(query: CallbackQuery, callback_data: GroupListCb, person: PersonView, repos: Repositories) -> None:
    page = await groups.list_groups(repos, person, callback_data.view, callback_data.page)
    await query.answer()
    await show(query, list_text(page), list_keyboard(page))


async def open_card(
    query: CallbackQuery,
    callback_data: GroupCb,
    person: PersonView,
    repos: Repositories,
    settings: Settings,
    locale: str,
) -> None:
    card = await groups.card(repos, person, callback_data.group_id)
    await query.answer()
    await show_card(query, card, callback_data, locale, settings)


def build_router() -> Router:
    router = Router(name=__name__)
    router.message.register(groups_command, Command("groups", ignore_case=True), F.chat.type == "private")
    router.callback_query.register(groups_button, MenuCb.filter(F.action == MenuAction.GROUPS))
    router.callback_query.register(show_page, GroupListCb.filter())
    router.callback_query.register(open_card, GroupCb.filter(F.action == GroupAction.CARD))
    return router
