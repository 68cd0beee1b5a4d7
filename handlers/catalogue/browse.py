"""Browsing the catalogue: `/services`, the categories, a category's services, a service's card, pages, Back."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.services import catalogue
from bot.services.members import PersonView
from handlers.catalogue.forms import leave_form
from handlers.catalogue.keyboards import BrowseAction, ServicesCb
from handlers.catalogue.screens import card_screen, category_of, home_of, replace_screen, send_screen
from handlers.catalogue.search import send_results
from handlers.keyboards import MenuAction, MenuCb
from storage.repositories import Repositories


async def services_button(
    query: CallbackQuery, person: PersonView, repos: Repositories, locale: str, state: FSMContext
) -> None:
    await leave_form(state)
    await query.answer()
    if isinstance(query.message, Message):
        await send_screen(query.message, await home_of(repos, person, locale))


async def services_command(
    message: Message, command: CommandObject, person: PersonView, repos: Repositories, locale: str, state: FSMContext
) -> None:
    await leave_form(state)
    if command.args and command.args.strip():
        await send_results(message, command.args, person, repos, locale, state)
        return
    await send_screen(message, await home_of(repos, person, locale))


async def open_home(
    query: CallbackQuery, callback_data: ServicesCb, person: PersonView, repos: Repositories, locale: str
) -> None:
    await query.answer()
    await replace_screen(query, *await home_of(repos, person, locale, callback_data.page))


async def open_category(
    query: CallbackQuery, callback_data: ServicesCb, person: PersonView, repos: Repositories, locale: str
) -> None:
    screen = await category_of(repos, person, locale, callback_data.id, callback_data.page)
    await query.answer()
    await replace_screen(query, *screen)


async def open_card(
    query: CallbackQuery, callback_data: ServicesCb, person: PersonView, repos: Repositories, locale: str
) -> None:
    service = await catalogue.service(repos, person, callback_data.id)
    await query.answer()
    await replace_screen(
        query, *card_screen(service, locale, callback_data.page, callback_data.back, person.is_manager)
    )


def build_router() -> Router:
    router = Router(name=__name__)
    router.message.register(services_command, Command("services", ignore_case=True), F.chat.type == "private")
    router.callback_query.register(services_button, MenuCb.filter(F.action == MenuAction.SERVICES))
    router.callback_query.register(open_home, ServicesCb.filter(F.action == BrowseAction.HOME))
    router.callback_query.register(open_category, ServicesCb.filter(F.action == BrowseAction.CATEGORY))
    router.callback_query.register(open_card, ServicesCb.filter(F.action == BrowseAction.CARD))
    return router
