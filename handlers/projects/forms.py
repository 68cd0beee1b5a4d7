"""What every projects conversation shares: the typed answers it reads, and cancel. Each conversation keeps its
states in its own module."""

from __future__ import annotations

import contextlib
from typing import Any

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import StatesGroup
from aiogram.types import CallbackQuery, Message, TelegramObject
from aiogram.utils.i18n import gettext as _

from bot.services.members import MembershipError, PersonView, clean_text
from bot.services.refusals import Refused
from handlers.guards import OnRefusal, RefusalHook
from handlers.keyboards import main_menu
from handlers.projects.keyboards import ProjectFormAction, ProjectFormCb, cancel_keyboard
from handlers.refusals import explain

# A typed answer (not a command: those leave the conversation through their own handlers).
ANSWER = F.text & ~F.text.startswith("/")


async def read_text(message: Message, limit: int) -> str | None:
    """The answer, cleaned; None (and the reason said, the form left open) when it is empty or too long."""
    try:
        return clean_text(message.text, limit)
    except MembershipError as refusal:
        await message.answer(explain(refusal), reply_markup=cancel_keyboard())
        return None


async def remove_buttons(query: CallbackQuery) -> None:
    """Take the buttons off the message tapped, so that it cannot be pressed twice."""
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=None)


async def cancel_form(query: CallbackQuery, person: PersonView, state: FSMContext) -> None:
    await state.clear()
    await query.answer()
    await remove_buttons(query)
    if isinstance(query.message, Message):
        await query.message.answer(_("Stopped. Nothing was changed."), reply_markup=main_menu(person))


async def use_the_buttons(message: Message) -> None:
    """Text typed at a confirmation."""
    await message.answer(_("Please use the buttons above: confirm, or cancel."))


async def choose_with_the_buttons(message: Message) -> None:
    """Text typed where the conversation waits for a button that is not a confirmation (a group, a kind)."""
    await message.answer(_("Please use the buttons above, or cancel."))


def ends_on_refusal(*forms: type[StatesGroup]) -> RefusalHook:
    """What a refusal does in the middle of one of `forms` (the project moved on, the deadline passed, the
    person was demoted or left the cluster): the reason with the menu, and the conversation ends. Outside them,
    the refusal goes on to `handlers.refusals.on_refusal`."""

    async def hook(refusal: Refused, event: TelegramObject, data: dict[str, Any]) -> bool:
        state: FSMContext | None = data.get("state")
        current = await state.get_state() if state is not None else None
        if state is None or current is None or not any(current in form for form in forms):
            return False
        await state.clear()
        if isinstance(event, CallbackQuery):
            await event.answer()
            message = event.message if isinstance(event.message, Message) else None
        else:
            message = event if isinstance(event, Message) else None
        if message is None:
            return False
        await message.answer(explain(refusal), reply_markup=main_menu(data["person"]))
        return True

    return hook


def guard_forms(router: Router, *forms: type[StatesGroup]) -> None:
    """On a members' router: a refusal in the middle of one of `forms` ends it (`ends_on_refusal`)."""
    hook = OnRefusal(ends_on_refusal(*forms))
    router.message.outer_middleware(hook)
    router.callback_query.outer_middleware(hook)


def build_router() -> Router:
    """Cancel, for every projects conversation (it changes nothing, so it is not guarded)."""
    router = Router(name=__name__)
    router.callback_query.register(cancel_form, ProjectFormCb.filter(F.action == ProjectFormAction.CANCEL))
    return router
