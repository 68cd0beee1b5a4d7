"""A member organisation's representative proposes a working group: its title, its objective, a confirmation.
They take part in it at once; managers are told (and may add the other language, handlers.groups.manage)."""

from __future__ import annotations

import contextlib
from html import escape
from typing import Any

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.services import groups
from bot.services.groups import GroupError
from bot.services.members import MembershipError, PersonView
from handlers.groups.forms import ANSWER, ProposeForm, read_text
from handlers.groups.keyboards import (
    GroupAction,
    GroupCb,
    GroupFormAction,
    GroupFormCb,
    cancel_keyboard,
    card_keyboard,
)
from handlers.groups.replies import show, shows_guests_the_way_in
from handlers.groups.texts import QUOTE_MAX, card_text, language_name
from handlers.keyboards import clip, main_menu
from handlers.proposal_steps import StepAction, StepCb, back_keyboard, remove_buttons, summary_keyboard, with_current
from handlers.refusals import explain
from storage.repositories import Repositories

_CANCEL = GroupFormCb(action=GroupFormAction.CANCEL).pack()


def _title_question(locale: str, data: dict[str, Any]) -> str:
    question = _(
        "💡 <b>Propose a working group</b>\n\n"
        "Write it in {language}; the cluster's managers can add the other language later. "
        "You will be a member of the group at once, and it becomes active when three member organisations have "
        "joined it.\n\n"
        "1/2. What is the group's title?"
    ).format(language=language_name(locale))
    return with_current(question, data.get("title"))


def _objective_question(data: dict[str, Any]) -> str:
    question = _("2/2. What is its objective: what will the member organisations do together?")
    return with_current(question, data.get("objective"))


def _summary(data: dict[str, Any]) -> str:
    return "\n\n".join(
        (
            _("Please check your proposal:"),
            f"<b>{escape(data['title'])}</b>",
            escape(clip(data["objective"], QUOTE_MAX)),
        )
    )


async def begin_propose(
    query: CallbackQuery, person: PersonView, repos: Repositories, state: FSMContext, locale: str
) -> None:
    await groups.ensure_can_propose(repos, person)
    await query.answer()
    await state.clear()
    await state.set_state(ProposeForm.title)
    await state.update_data(locale=locale)
    await show(query, _title_question(locale, {}), cancel_keyboard(), edit=False)


async def _still_member(message: Message, person: PersonView, repos: Repositories, state: FSMContext) -> bool:
    """Checked at each step; someone who may not propose any more leaves the conversation, back to the menu."""
    try:
        await groups.ensure_can_propose(repos, person)
    except (GroupError, MembershipError) as error:
        await state.clear()
        await message.answer(explain(error), reply_markup=main_menu(person))
        return False
    return True


async def _ask_objective(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    await state.set_state(ProposeForm.objective)
    await message.answer(_objective_question(data), reply_markup=back_keyboard(_CANCEL))


async def _ask_to_confirm(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    await state.update_data(editing=False)
    await state.set_state(ProposeForm.confirm)
    fields = (("title", _("✏️ Edit the title")), ("objective", _("✏️ Edit the objective")))
    markup = summary_keyboard(_("💡 Propose it"), GroupFormCb(action=GroupFormAction.CONFIRM).pack(), _CANCEL, fields)
    await message.answer(_summary(data), reply_markup=markup)


async def got_proposal_title(message: Message, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    if not await _still_member(message, person, repos, state):
        return
    title = await read_text(message, groups.TITLE_MAX)
    if title is None:
        return
    data = await state.update_data(title=title)
    if data.get("editing") and data.get("objective"):
        await _ask_to_confirm(message, state, data)
        return
    await _ask_objective(message, state, data)


async def got_proposal_objective(message: Message, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    if not await _still_member(message, person, repos, state):
        return
    objective = await read_text(message, groups.OBJECTIVE_MAX)
    if objective is None:
        return
    data = await state.update_data(objective=objective)
    await _ask_to_confirm(message, state, data)


async def step_back(query: CallbackQuery, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    """Back a step: from the summary to the objective, from the objective to the title (what was given is
    quoted; nothing is lost until it is sent again)."""
    await groups.ensure_can_propose(repos, person)
    await query.answer()
    await remove_buttons(query)
    data = await state.update_data(editing=False)
    if not isinstance(query.message, Message):
        return
    if await state.get_state() == ProposeForm.confirm.state:
        await _ask_objective(query.message, state, data)
        return
    await state.set_state(ProposeForm.title)
    await query.message.answer(_title_question(data["locale"], data), reply_markup=cancel_keyboard())


async def edit_field(
    query: CallbackQuery, callback_data: StepCb, person: PersonView, repos: Repositories, state: FSMContext
) -> None:
    """Edit one field from the summary: its question again, then straight back to the summary."""
    await groups.ensure_can_propose(repos, person)
    await query.answer()
    await remove_buttons(query)
    data = await state.update_data(editing=True)
    if not isinstance(query.message, Message):
        return
    if callback_data.field == "title":
        await state.set_state(ProposeForm.title)
        await query.message.answer(_title_question(data["locale"], data), reply_markup=cancel_keyboard())
    else:
        await state.set_state(ProposeForm.objective)
        await query.message.answer(_objective_question(data), reply_markup=cancel_keyboard())


async def confirm_proposal(
    query: CallbackQuery,
    person: PersonView,
    repos: Repositories,
    state: FSMContext,
    settings: Settings,
    locale: str,
) -> None:
    data = await state.get_data()
    await state.clear()
    card = await groups.propose(
        repos,
        person,
        title=data["title"],
        objective=data["objective"],
        locale=data["locale"],
        default_locale=settings.default_locale,
    )
    await query.answer(_("💡 Your group is proposed."))
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=None)
    await show(query, card_text(card, locale, settings.tz), card_keyboard(card), edit=False)


def build_router() -> Router:
    router = Router(name=__name__)
    shows_guests_the_way_in(router)
    router.callback_query.register(begin_propose, GroupCb.filter(F.action == GroupAction.PROPOSE))
    router.message.register(got_proposal_title, ProposeForm.title, ANSWER)
    router.message.register(got_proposal_objective, ProposeForm.objective, ANSWER)
    confirm = GroupFormCb.filter(F.action == GroupFormAction.CONFIRM)
    router.callback_query.register(confirm_proposal, ProposeForm.confirm, confirm)
    back = StepCb.filter(F.action == StepAction.BACK)
    router.callback_query.register(step_back, StateFilter(ProposeForm.objective, ProposeForm.confirm), back)
    edit = StepCb.filter(F.action == StepAction.EDIT)
    router.callback_query.register(edit_field, ProposeForm.confirm, edit)
    return router
