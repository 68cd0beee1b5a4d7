"""A member proposes a project: its title and description in their language, the working group if any (one they
take part in, or none), a summary where each answer can be edited and Back goes a step back
(`handlers.proposal_steps`), then Send; the new project's card follows. Its plan, budget and needs are added
from the card (handlers.projects.edit)."""

from __future__ import annotations

from html import escape
from typing import Any

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.services import project_views, projects
from bot.services.groups import Texts
from bot.services.members import PersonView
from handlers.groups.texts import language_name
from handlers.keyboards import RowIdOrZero, clip, clip_words
from handlers.projects.forms import ANSWER, choose_with_the_buttons, guard_forms, read_text
from handlers.projects.keyboards import (
    ProjectAction,
    ProjectCb,
    ProjectFormAction,
    ProjectFormCb,
    cancel_keyboard,
)
from handlers.projects.replies import show, show_card
from handlers.projects.texts import LABEL_MAX, QUOTE_MAX, localized, shown
from handlers.proposal_steps import StepAction, StepCb, back_keyboard, remove_buttons, summary_keyboard, with_current
from storage.repositories import Repositories


class ProposeProjectForm(StatesGroup):
    title = State()
    description = State()
    group = State()
    confirm = State()


class ProposeGroupCb(CallbackData, prefix="pg"):
    """The working group a project is proposed for; 0: none."""

    group_id: RowIdOrZero


_CANCEL = ProjectFormCb(action=ProjectFormAction.CANCEL).pack()


def _title_question(locale: str, data: dict[str, Any]) -> str:
    question = _(
        "💡 <b>Propose a project</b>\n\n"
        "Write it in {language}; the cluster's managers can add the other language. After it is proposed you "
        "add its action plan, budget and the resources it needs from its card: it takes commitments once it "
        "has a plan and a budget.\n\n"
        "1/3. What is the project's title?"
    ).format(language=language_name(locale))
    return with_current(question, data.get("title"))


def _description_question(data: dict[str, Any]) -> str:
    question = _("2/3. Describe it: what will the member organisations do together, and to what end?")
    return with_current(question, data.get("description"))


async def begin_propose(
    query: CallbackQuery, person: PersonView, repos: Repositories, state: FSMContext, locale: str
) -> None:
    await projects.proposal_groups(repos, person)
    await query.answer()
    await state.clear()
    await state.set_state(ProposeProjectForm.title)
    await state.update_data(locale=locale)
    await show(query, _title_question(locale, {}), cancel_keyboard(), edit=False)


async def _ask_title(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    await state.set_state(ProposeProjectForm.title)
    await message.answer(_title_question(data["locale"], data), reply_markup=cancel_keyboard())


async def _ask_description(message: Message, state: FSMContext, data: dict[str, Any], *, back: bool = True) -> None:
    await state.set_state(ProposeProjectForm.description)
    await message.answer(
        _description_question(data), reply_markup=back_keyboard(_CANCEL) if back else cancel_keyboard()
    )


async def _ask_group(
    message: Message, state: FSMContext, choices: list[projects.GroupChoice], *, back: bool = True
) -> None:
    await state.set_state(ProposeProjectForm.group)
    await message.answer(
        _("3/3. Is it a project of one of your working groups?"), reply_markup=_groups_keyboard(choices, back=back)
    )


async def _ask_to_confirm(message: Message, state: FSMContext, data: dict[str, Any], with_group: bool) -> None:
    await state.update_data(editing=False)
    await state.set_state(ProposeProjectForm.confirm)
    fields = [("title", _("✏️ Edit the title")), ("description", _("✏️ Edit the description"))]
    if with_group:
        fields.append(("group", _("✏️ Change the working group")))
    send = ProjectFormCb(action=ProjectFormAction.CONFIRM).pack()
    await message.answer(_summary(data), reply_markup=summary_keyboard(_("💡 Propose it"), send, _CANCEL, fields))


async def got_title(message: Message, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    choices = await projects.proposal_groups(repos, person)
    title = await read_text(message, projects.TITLE_MAX)
    if title is None:
        return
    data = await state.update_data(title=title)
    if data.get("editing") and data.get("description"):
        await _ask_to_confirm(message, state, data, bool(choices))
        return
    await _ask_description(message, state, data)


def _groups_keyboard(choices: list[projects.GroupChoice], *, back: bool = True) -> InlineKeyboardMarkup:
    rows = [
        [
            InlineKeyboardButton(
                text="👥 " + clip_words(localized(choice.title), LABEL_MAX),
                callback_data=ProposeGroupCb(group_id=choice.id).pack(),
            )
        ]
        for choice in choices
    ]
    rows.append([InlineKeyboardButton(text=_("No working group"), callback_data=ProposeGroupCb(group_id=0).pack())])
    last = [InlineKeyboardButton(text=_("✖️ Cancel"), callback_data=_CANCEL)]
    if back:
        last.insert(0, InlineKeyboardButton(text=_("⬅️ Back"), callback_data=StepCb(action=StepAction.BACK).pack()))
    rows.append(last)
    return InlineKeyboardMarkup(inline_keyboard=rows)


def _summary(data: dict[str, Any]) -> str:
    group = data.get("group_title")
    lines = [
        _("Please check your proposal:"),
        "",
        f"<b>{escape(data['title'])}</b>",
        escape(clip(data["description"], QUOTE_MAX)),
        "",
        _("Working group: {title}").format(title=shown(Texts(**group))) if group else _("Not for a working group."),
    ]
    return "\n".join(lines)


async def got_description(message: Message, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    choices = await projects.proposal_groups(repos, person)
    description = await read_text(message, projects.DESCRIPTION_MAX)
    if description is None:
        return
    data = await state.update_data(description=description)
    if choices and not data.get("editing"):
        await _ask_group(message, state, choices)
        return
    await _ask_to_confirm(message, state, data, bool(choices))


async def picked_group(
    query: CallbackQuery, callback_data: ProposeGroupCb, person: PersonView, repos: Repositories, state: FSMContext
) -> None:
    choices = {choice.id: choice for choice in await projects.proposal_groups(repos, person)}
    chosen = choices.get(callback_data.group_id)
    if callback_data.group_id and chosen is None:
        await query.answer(_("You do not take part in that group (any more): choose another."), show_alert=True)
        return
    await query.answer()
    await remove_buttons(query)
    data = await state.update_data(
        group_id=chosen.id if chosen else None,
        group_title={"ro": chosen.title.ro, "en": chosen.title.en} if chosen else None,
    )
    if isinstance(query.message, Message):
        await _ask_to_confirm(query.message, state, data, bool(choices))


async def step_back(query: CallbackQuery, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    """Back a step: summary → working group (or description) → description → title; answers are kept and
    quoted until they are sent again."""
    choices = await projects.proposal_groups(repos, person)
    await query.answer()
    await remove_buttons(query)
    current = await state.get_state()
    data = await state.update_data(editing=False)
    if not isinstance(query.message, Message):
        return
    if current == ProposeProjectForm.confirm.state and choices:
        await _ask_group(query.message, state, choices)
    elif current in (ProposeProjectForm.confirm.state, ProposeProjectForm.group.state):
        await _ask_description(query.message, state, data)
    else:
        await _ask_title(query.message, state, data)


async def edit_field(
    query: CallbackQuery, callback_data: StepCb, person: PersonView, repos: Repositories, state: FSMContext
) -> None:
    """Edit one field from the summary: its question again, then straight back to the summary."""
    choices = await projects.proposal_groups(repos, person)
    await query.answer()
    await remove_buttons(query)
    data = await state.update_data(editing=True)
    if not isinstance(query.message, Message):
        return
    if callback_data.field == "title":
        await _ask_title(query.message, state, data)
    elif callback_data.field == "description":
        await _ask_description(query.message, state, data, back=False)
    elif callback_data.field == "group" and choices:
        await _ask_group(query.message, state, choices, back=False)
    else:
        await _ask_to_confirm(query.message, state, data, bool(choices))


async def confirm_proposal(
    query: CallbackQuery,
    person: PersonView,
    repos: Repositories,
    state: FSMContext,
    settings: Settings,
    locale: str,
) -> None:
    data = await state.get_data()
    project = await projects.propose(
        repos,
        person,
        title=data["title"],
        description=data["description"],
        locale=data["locale"],
        group_id=data.get("group_id"),
        default_locale=settings.default_locale,
    )
    await state.clear()
    card = await project_views.card(repos, person, project.id)
    await query.answer(_("💡 Your project is proposed."))
    await remove_buttons(query)
    await show_card(query, card, locale, settings, edit=False)


def build_router() -> Router:
    router = Router(name=__name__)
    guard_forms(router, ProposeProjectForm)
    router.callback_query.register(begin_propose, ProjectCb.filter(F.action == ProjectAction.PROPOSE))
    router.message.register(got_title, ProposeProjectForm.title, ANSWER)
    router.message.register(got_description, ProposeProjectForm.description, ANSWER)
    router.callback_query.register(picked_group, ProposeProjectForm.group, ProposeGroupCb.filter())
    confirm = ProjectFormCb.filter(F.action == ProjectFormAction.CONFIRM)
    router.callback_query.register(confirm_proposal, ProposeProjectForm.confirm, confirm)
    back = StepCb.filter(F.action == StepAction.BACK)
    steps = StateFilter(ProposeProjectForm.description, ProposeProjectForm.group, ProposeProjectForm.confirm)
    router.callback_query.register(step_back, steps, back)
    router.callback_query.register(edit_field, ProposeProjectForm.confirm, StepCb.filter(F.action == StepAction.EDIT))
    router.message.register(choose_with_the_buttons, ProposeProjectForm.group, ANSWER)
    router.message.register(choose_with_the_buttons, ProposeProjectForm.confirm, ANSWER)
    return router
