"""The catalogue's conversations: their states, leaving one, Cancel; the managers' routers, which end a
managers' form when its person is refused as no manager (demoted elsewhere mid-way)."""

from __future__ import annotations

import contextlib
from typing import Any

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message, TelegramObject
from aiogram.utils.i18n import gettext as _

from bot.services.catalogue import Refusal as CatalogueRefusal
from bot.services.members import PersonView
from bot.services.members import Refusal as MemberRefusal
from bot.services.refusals import Refused
from handlers import texts_form
from handlers.catalogue.keyboards import CatalogueFormAction, CatalogueFormCb, cancel_row, keyboard
from handlers.guards import managers_router
from handlers.keyboards import main_menu

# Searches too long for a button, remembered in the conversation's data (handlers.catalogue.search).
SEARCHES = "service_searches"
SEARCH_COUNT = "service_search_count"


class SearchForm(StatesGroup):
    words = State()


class RequestForm(StatesGroup):
    note = State()


class DeclineForm(StatesGroup):
    reason = State()


class ImportForm(StatesGroup):
    # Waiting for the edited catalogue file, as a document.
    file = State()


# The forms only managers are in: the catalogue's own, and the shared texts form (`handlers.texts_form`: adding,
# renaming and editing categories and services).
MANAGERS_FORMS = frozenset(state.state for state in (DeclineForm.reason, ImportForm.file)) | texts_form.STATES
NOT_A_MANAGER = (MemberRefusal.NOT_ALLOWED, CatalogueRefusal.NOT_ALLOWED)


async def leave_form(state: FSMContext) -> None:
    """End any conversation, keeping only the remembered searches (their results pages still have Back buttons)."""
    data = await state.get_data()
    await state.set_state(None)
    await state.set_data({key: value for key, value in data.items() if key in (SEARCHES, SEARCH_COUNT)})


async def _leave_managers_form(refusal: Refused, event: TelegramObject, data: dict[str, Any]) -> bool:
    """Someone refused as no manager leaves the managers' form they are in; `on_refusal` says the refusal."""
    state = data.get("state")
    if refusal.reason in NOT_A_MANAGER and isinstance(state, FSMContext) and await state.get_state() in MANAGERS_FORMS:
        await leave_form(state)
    return False


def managers_routes(name: str) -> Router:
    """A router for managers' handlers (`handlers.guards.managers_router`), whose refusals end a managers' form."""
    return managers_router(name, on_refusal=_leave_managers_form)


async def cancel_form(query: CallbackQuery, person: PersonView, state: FSMContext) -> None:
    editing = await state.get_state() in texts_form.STATES | {ImportForm.file.state}
    await leave_form(state)
    await query.answer()
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=None)
        text = _("Stopped. Nothing was changed.") if editing else _("Stopped. Nothing was sent.")
        await query.message.answer(text, reply_markup=main_menu(person))


async def needs_text(message: Message) -> None:
    await message.answer(_("Please send it as text."), reply_markup=keyboard([cancel_row()]))


def build_router() -> Router:
    """Cancel, in every form of the catalogue (a person refused mid-way may still press it); members' forms."""
    router = Router(name=__name__)
    router.message.register(needs_text, StateFilter(SearchForm.words, RequestForm.note), ~F.text)
    router.callback_query.register(cancel_form, CatalogueFormCb.filter(F.action == CatalogueFormAction.CANCEL))
    return router
