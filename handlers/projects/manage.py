"""Managers move projects on (to preparation, running, closed, or cancelled) with a reason everyone involved reads,
and close a competition's list; the organisations standing in a competition record the rule they agreed.

Managers' routes are on a guarded router (`handlers.guards.managers_router`): a demoted manager's press, or their
answer in the middle of a move, is refused and the conversation ends. What a move would refuse (another
manager moved the project meanwhile, no plan or budget yet) is said when the button is pressed, before the
reason is asked, and checked again when it is confirmed.
"""

from __future__ import annotations

from html import escape
from typing import Any

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot.config import Settings
from bot.services import project_views, projects
from bot.services.members import PersonView
from bot.services.project_views import ProjectFilter
from bot.services.projects import Outcome
from handlers.guards import managers_router
from handlers.projects.forms import ANSWER, ends_on_refusal, guard_forms, read_text, remove_buttons, use_the_buttons
from handlers.projects.keyboards import (
    ProjectAction,
    ProjectCb,
    ProjectFormAction,
    ProjectFormCb,
    cancel_keyboard,
    card_keyboard,
    confirm_keyboard,
)
from handlers.projects.replies import show, show_card
from handlers.projects.texts import card_text, shown, state_name
from storage.models import ProjectState
from storage.repositories import Repositories


class MoveForm(StatesGroup):
    reason = State()
    confirm = State()


class CloseListForm(StatesGroup):
    confirm = State()


class RuleForm(StatesGroup):
    rule = State()


async def _card_after(
    query: CallbackQuery, repos: Repositories, person: PersonView, data: dict[str, Any], locale: str, settings: Settings
) -> None:
    card = await project_views.card(repos, person, data["project_id"])
    await show_card(
        query,
        card,
        locale,
        settings,
        view=ProjectFilter(data.get("view", "all")),
        page=data.get("page", 0),
        edit=False,
    )


# --- moving a project on ---------------------------------------------------------------------------------------


async def begin_move(
    query: CallbackQuery, callback_data: ProjectCb, person: PersonView, repos: Repositories, state: FSMContext
) -> None:
    target = callback_data.target
    project = await projects.check_move(repos, person, callback_data.project_id, target)
    await query.answer()
    await state.clear()
    await state.set_state(MoveForm.reason)
    await state.update_data(
        project_id=project.id, target=target.value, view=callback_data.view.value, page=callback_data.page
    )
    title = f"<b>{shown(project_views.title_of(project))}</b>"
    await show(
        query,
        _(
            "{title}: from {current} to {target}.\n\n"
            "Why? Everyone involved reads the reason: the proposer and the organisations that committed."
        ).format(title=title, current=state_name(ProjectState(project.state)), target=state_name(target)),
        cancel_keyboard(),
        edit=False,
    )


async def got_move_reason(message: Message, state: FSMContext) -> None:
    reason = await read_text(message, projects.REASON_MAX)
    if reason is None:
        return
    data = await state.update_data(reason=reason)
    await state.set_state(MoveForm.confirm)
    await message.answer(
        _("Move the project to {target}, with this reason?\n\n{reason}").format(
            target=state_name(ProjectState(data["target"])), reason=escape(reason)
        ),
        reply_markup=confirm_keyboard(_("✅ Move it")),
    )


async def confirm_move(
    query: CallbackQuery,
    person: PersonView,
    repos: Repositories,
    state: FSMContext,
    settings: Settings,
    locale: str,
) -> None:
    data = await state.get_data()
    await state.clear()
    target = ProjectState(data["target"])
    await projects.move(
        repos, person, data["project_id"], target, reason=data["reason"], default_locale=settings.default_locale
    )
    await query.answer(_("✅ The project is now {state}.").format(state=state_name(target)))
    await remove_buttons(query)
    await _card_after(query, repos, person, data, locale, settings)


# --- a competition: closing the list, recording the rule --------------------------------------------------------------


async def begin_close_list(
    query: CallbackQuery, callback_data: ProjectCb, person: PersonView, repos: Repositories, state: FSMContext
) -> None:
    card = await project_views.card(repos, person, callback_data.project_id)
    if not card.in_competition:
        raise projects.ProjectError(projects.ProjectRefusal.NOT_IN_COMPETITION)
    if card.list_closed_at is not None:
        raise projects.ProjectError(projects.ProjectRefusal.LIST_CLOSED)
    await query.answer()
    await state.clear()
    await state.set_state(CloseListForm.confirm)
    await state.update_data(project_id=card.id, view=callback_data.view.value, page=callback_data.page)
    places = card.places or 0
    await show(
        query,
        ngettext(
            "Close the list of {title}? The first {count} organisation takes part; the others wait in order and "
            "move up when a participant withdraws. Everyone is told their outcome.",
            "Close the list of {title}? The first {count} organisations take part; the others wait in order and "
            "move up when a participant withdraws. Everyone is told their outcome.",
            places,
        ).format(title=f"<b>{shown(card.title)}</b>", count=places),
        confirm_keyboard(_("🔒 Close the list")),
        edit=False,
    )


async def confirm_close_list(
    query: CallbackQuery,
    person: PersonView,
    repos: Repositories,
    state: FSMContext,
    settings: Settings,
    locale: str,
) -> None:
    data = await state.get_data()
    await state.clear()
    result = await projects.close_list(repos, person, data["project_id"], default_locale=settings.default_locale)
    taking = sum(1 for outcome in result.values() if outcome is Outcome.PARTICIPANT)
    await query.answer(
        _("🔒 The list is closed. Taking part: {participants}; waiting: {waiting}.").format(
            participants=taking, waiting=len(result) - taking
        )
    )
    await remove_buttons(query)
    await _card_after(query, repos, person, data, locale, settings)


async def begin_rule(
    query: CallbackQuery, callback_data: ProjectCb, person: PersonView, repos: Repositories, state: FSMContext
) -> None:
    project = await projects.ensure_standing(repos, person, callback_data.project_id)
    await query.answer()
    await state.clear()
    await state.set_state(RuleForm.rule)
    await state.update_data(project_id=project.id, view=callback_data.view.value, page=callback_data.page)
    current = (
        "\n\n" + _("The rule recorded now: {rule}").format(rule=escape(project.competition_rule))
        if project.competition_rule
        else ""
    )
    await show(
        query,
        _(
            "📜 More organisations want to take part than there are places. Write the rule the organisations "
            "committed have agreed on to choose the participants (every version is kept in the history).{current}"
        ).format(current=current),
        cancel_keyboard(),
        edit=False,
    )


async def got_rule(
    message: Message, person: PersonView, repos: Repositories, state: FSMContext, settings: Settings, locale: str
) -> None:
    rule = await read_text(message, projects.DESCRIPTION_MAX)
    if rule is None:
        return
    data = await state.get_data()
    await state.clear()
    project = await projects.record_rule(repos, person, data["project_id"], rule)
    card = await project_views.card(repos, person, project.id)
    await message.answer(_("📜 The rule is recorded."))
    await message.answer(
        card_text(card, locale, settings.tz),
        reply_markup=card_keyboard(card, ProjectFilter(data.get("view", "all")), data.get("page", 0)),
    )


def build_routers() -> tuple[Router, Router]:
    """Managers' routes (guarded), and the members' rule."""
    managers = managers_router(__name__ + ".managers", on_refusal=ends_on_refusal(MoveForm, CloseListForm))
    managers.callback_query.register(begin_move, ProjectCb.filter(F.action == ProjectAction.MOVE))
    managers.callback_query.register(begin_close_list, ProjectCb.filter(F.action == ProjectAction.CLOSE_LIST))
    managers.message.register(got_move_reason, MoveForm.reason, ANSWER)
    confirm = ProjectFormCb.filter(F.action == ProjectFormAction.CONFIRM)
    managers.callback_query.register(confirm_move, MoveForm.confirm, confirm)
    managers.callback_query.register(confirm_close_list, CloseListForm.confirm, confirm)
    managers.message.register(use_the_buttons, MoveForm.confirm, ANSWER)
    managers.message.register(use_the_buttons, CloseListForm.confirm, ANSWER)

    members = Router(name=__name__ + ".members")
    guard_forms(members, RuleForm)
    members.callback_query.register(begin_rule, ProjectCb.filter(F.action == ProjectAction.RULE))
    members.message.register(got_rule, RuleForm.rule, ANSWER)
    return managers, members
