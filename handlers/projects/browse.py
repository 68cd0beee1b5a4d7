"""Browsing the projects: /projects and the menu's button, the list (all, mine, in preparation, in competition)
page by page, and a project's card. Members only: projects are for member organisations."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.config import Settings
from bot.services import project_views
from bot.services.members import PersonView
from bot.services.project_views import ProjectFilter
from handlers.common import leave_conversation
from handlers.keyboards import MenuAction, MenuCb
from handlers.projects.keyboards import ProjectAction, ProjectCb, ProjectListCb, list_keyboard
from handlers.projects.replies import show, show_card, shows_guests_the_way_in
from handlers.projects.texts import list_text
from storage.models import Role
from storage.repositories import Repositories


async def projects_command(message: Message, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    await leave_conversation(state)
    page = await project_views.list_projects(repos, person, ProjectFilter.ALL, 0)
    await message.answer(list_text(page), reply_markup=list_keyboard(page, manages=person.role.at_least(Role.MANAGER)))


async def projects_button(query: CallbackQuery, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    await leave_conversation(state)
    page = await project_views.list_projects(repos, person, ProjectFilter.ALL, 0)
    await query.answer()
    await show(query, list_text(page), list_keyboard(page, manages=person.role.at_least(Role.MANAGER)), edit=False)


async def show_page(
    query: CallbackQuery, callback_data: ProjectListCb, person: PersonView, repos: Repositories
) -> None:
    page = await project_views.list_projects(repos, person, callback_data.view, callback_data.page)
    await query.answer()
    await show(query, list_text(page), list_keyboard(page, manages=person.role.at_least(Role.MANAGER)))


async def open_card(
    query: CallbackQuery,
    callback_data: ProjectCb,
    person: PersonView,
    repos: Repositories,
    settings: Settings,
    locale: str,
) -> None:
    card = await project_views.card(repos, person, callback_data.project_id)
    await query.answer()
    await show_card(query, card, locale, settings, view=callback_data.view, page=callback_data.page)


def build_router() -> Router:
    router = Router(name=__name__)
    shows_guests_the_way_in(router)
    router.message.register(projects_command, Command("projects", ignore_case=True), F.chat.type == "private")
    router.callback_query.register(projects_button, MenuCb.filter(F.action == MenuAction.PROJECTS))
    router.callback_query.register(show_page, ProjectListCb.filter())
    router.callback_query.register(open_card, ProjectCb.filter(F.action == ProjectAction.CARD))
    return router
