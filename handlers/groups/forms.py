"""The groups' conversations: their states (named as before, so conversations under way survive a deploy), the
answers they read, and what every one of them offers: cancel, and "use the buttons" at a confirmation. Transform
and make confidential are kinds of the shared texts form (`handlers.texts_form`, registered in `manage`)."""

from __future__ import annotations

import contextlib

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot.services.members import MembershipError, PersonView, clean_text
from handlers.groups.keyboards import GroupFormAction, GroupFormCb, cancel_keyboard
from handlers.keyboards import main_menu
from handlers.refusals import explain

# A typed answer (not a command: those leave the conversation through their own handlers).
ANSWER = F.text & ~F.text.startswith("/")


class ProposeForm(StatesGroup):
    title = State()
    objective = State()
    confirm = State()


class DissolveForm(StatesGroup):
    reason = State()
    confirm = State()


class TranslateForm(StatesGroup):
    title = State()
    objective = State()


class LinkForm(StatesGroup):
    # A manager sends the link of the group's own Telegram chat.
    link = State()


async def read_text(message: Message, limit: int) -> str | None:
    """The answer, cleaned; None (and the reason said, the form left open) when it is empty or too long."""
    try:
        return clean_text(message.text, limit)
    except MembershipError as refusal:
        await message.answer(explain(refusal), reply_markup=cancel_keyboard())
        return None


async def cancel_form(query: CallbackQuery, person: PersonView, state: FSMContext) -> None:
    await state.clear()
    await query.answer()
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=None)
        await query.message.answer(_("Stopped. Nothing was changed."), reply_markup=main_menu(person))


async def use_the_buttons(message: Message) -> None:
    await message.answer(_("Please use the buttons above: confirm, or cancel."))


def build_router() -> Router:
    """Cancel, and the reminder at a confirmation: for members' and managers' conversations alike (neither
    changes anything, so neither is guarded)."""
    router = Router(name=__name__)
    router.message.register(
        use_the_buttons,
        StateFilter(ProposeForm.confirm, DissolveForm.confirm),
        ANSWER,
    )
    router.callback_query.register(cancel_form, GroupFormCb.filter(F.action == GroupFormAction.CANCEL))
    return router
