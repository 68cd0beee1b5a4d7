"""A member declares, changes or withdraws their organisation's commitment of resources to a project.

Declaring: the resource (a kind and its unit, from buttons; what the project needs comes first), the amount
typed in the reader's way of writing numbers (`bot.amounts.parse_amount`: "5.000,50" in Romanian, "5,000.50" in
English), an optional note, a confirmation. Changing a line asks only its new amount and note. Everything the
service would refuse at the end is also checked when the conversation starts, and each answer is checked again
at the end: the project may have moved on, the deadline passed, the person been removed from the cluster.
"""

from __future__ import annotations

from html import escape
from typing import Any

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from bot.amounts import AmountError, parse_amount, to_hundredths
from bot.config import Settings
from bot.services import project_views, projects
from bot.services.members import PersonView
from bot.services.project_views import ProjectFilter
from bot.services.projects import UNITS, ProjectError
from handlers.projects.forms import ANSWER, guard_forms, read_text, remove_buttons, use_the_buttons
from handlers.projects.keyboards import (
    CommitPickCb,
    ProjectAction,
    ProjectCb,
    ProjectFormAction,
    ProjectFormCb,
    cancel_keyboard,
    confirm_keyboard,
    skip_button,
)
from handlers.projects.replies import show, show_card, shows_guests_the_way_in
from handlers.projects.texts import KIND_ICONS, amount, amount_problem, kind_name, shown, unit_name
from handlers.refusals import explain
from storage.models import ResourceKind
from storage.repositories import Repositories


class CommitForm(StatesGroup):
    resource = State()
    amount = State()
    note = State()
    confirm = State()


class WithdrawForm(StatesGroup):
    confirm = State()


def resource_keyboard(needed: list[tuple[ResourceKind, str]]) -> InlineKeyboardMarkup:
    """Every resource a commitment may be in: what the project needs first (🎯), then the rest."""
    offered = list(needed) + [
        (kind, unit.value) for kind, units in UNITS.items() for unit in units if (kind, unit.value) not in needed
    ]
    buttons = [
        InlineKeyboardButton(
            text=("🎯 " if (kind, unit) in needed else KIND_ICONS[kind] + " ")
            + kind_name(kind).capitalize()
            + ("" if len(UNITS[kind]) == 1 else f" ({unit_name(unit)})"),
            callback_data=CommitPickCb(kind=kind, unit=[u.value for u in UNITS[kind]].index(unit)).pack(),
        )
        for kind, unit in offered
        if unit in {u.value for u in UNITS[kind]}
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    return InlineKeyboardMarkup(inline_keyboard=[*rows, *cancel_keyboard().inline_keyboard])


async def _project_title(repos: Repositories, project_id: int) -> str:
    project = await repos.projects.get(project_id)
    if project is None:
        raise ProjectError(projects.ProjectRefusal.NOT_FOUND)
    return f"<b>{shown(project_views.title_of(project))}</b>"


async def begin_commit(
    query: CallbackQuery, callback_data: ProjectCb, person: PersonView, repos: Repositories, state: FSMContext
) -> None:
    await projects.ensure_can_commit(repos, person, callback_data.project_id)
    card = await project_views.card(repos, person, callback_data.project_id)
    await query.answer()
    await state.clear()
    await state.set_state(CommitForm.resource)
    await state.update_data(project_id=card.id, view=callback_data.view.value, page=callback_data.page)
    needed = [(need.kind, need.unit) for need in card.needs]
    await show(
        query,
        _(
            "➕ <b>Commit resources to {title}</b>\n\n"
            "What does your organisation commit? 🎯 marks what the project needs. "
            "Organisations are ranked by when they first committed."
        ).format(title=f"<b>{shown(card.title)}</b>"),
        resource_keyboard(needed),
        edit=False,
    )


async def picked_resource(
    query: CallbackQuery, callback_data: CommitPickCb, state: FSMContext, repos: Repositories, person: PersonView
) -> None:
    units = UNITS[callback_data.kind]
    if callback_data.unit >= len(units):
        # A forged button: no such unit for this kind.
        await query.answer(explain(ProjectError(projects.ProjectRefusal.BAD_UNIT)), show_alert=True)
        return
    data = await state.update_data(kind=callback_data.kind.value, unit=units[callback_data.unit].value)
    await projects.ensure_can_commit(repos, person, data["project_id"])
    await query.answer()
    await remove_buttons(query)
    await state.set_state(CommitForm.amount)
    await _ask_amount(query, callback_data.kind, units[callback_data.unit].value)


async def _ask_amount(query: CallbackQuery, kind: ResourceKind, unit: str) -> None:
    await show(
        query,
        _("How much {kind} does your organisation commit, in {unit}? Write a number, such as 5000 or 5.000,50.").format(
            kind=kind_name(kind), unit=unit_name(unit)
        ),
        cancel_keyboard(),
        edit=False,
    )


async def begin_change(
    query: CallbackQuery, callback_data: ProjectCb, person: PersonView, repos: Repositories, state: FSMContext
) -> None:
    await projects.ensure_can_commit(repos, person, callback_data.project_id)
    line = await projects.own_line(repos, person, callback_data.project_id, callback_data.item)
    await query.answer()
    await state.clear()
    await state.set_state(CommitForm.amount)
    await state.update_data(
        project_id=callback_data.project_id,
        view=callback_data.view.value,
        page=callback_data.page,
        kind=line.kind,
        unit=line.unit,
        current=line.amount_hundredths,
    )
    await show(
        query,
        _("Your organisation commits {amount} of {kind} now. What is the new amount, in {unit}?").format(
            amount=amount(line.amount_hundredths, line.unit),
            kind=kind_name(ResourceKind(line.kind)),
            unit=unit_name(line.unit),
        ),
        cancel_keyboard(),
        edit=False,
    )


async def got_amount(message: Message, state: FSMContext, repos: Repositories, locale: str) -> None:
    data = await state.get_data()
    try:
        hundredths = to_hundredths(parse_amount(message.text or "", locale))
        await projects.check_commitment_amount(repos, data["project_id"], data["kind"], data["unit"], hundredths)
    except AmountError as problem:
        await message.answer(amount_problem(problem.reason), reply_markup=cancel_keyboard())
        return
    except ProjectError as refusal:
        # Too much for what the project needs: the form stays open for another amount.
        await message.answer(explain(refusal), reply_markup=cancel_keyboard())
        return
    data = await state.update_data(hundredths=hundredths)
    await state.set_state(CommitForm.note)
    await message.answer(
        _("{amount}. Would you add a note (what exactly, on what conditions)? Write it, or skip.").format(
            amount=amount(data["hundredths"], data["unit"])
        ),
        reply_markup=cancel_keyboard(skip_button(_("Skip the note"))),
    )


async def _ask_confirmation(answer: Message, data: dict[str, Any], title: str) -> None:
    lines = [
        _("Please check your organisation's commitment to {title}:").format(title=title),
        f"{KIND_ICONS[ResourceKind(data['kind'])]} {kind_name(ResourceKind(data['kind'])).capitalize()}: "
        + amount(data["hundredths"], data["unit"]),
    ]
    if data.get("note"):
        lines.append(_("Note: {note}").format(note=escape(data["note"])))
    await answer.answer("\n".join(lines), reply_markup=confirm_keyboard(_("✅ Commit")))


async def got_note(message: Message, state: FSMContext, repos: Repositories) -> None:
    note = await read_text(message, projects.NOTE_MAX)
    if note is None:
        return
    data = await state.update_data(note=note)
    await state.set_state(CommitForm.confirm)
    await _ask_confirmation(message, data, await _project_title(repos, data["project_id"]))


async def skipped_note(query: CallbackQuery, state: FSMContext, repos: Repositories) -> None:
    data = await state.update_data(note=None)
    await state.set_state(CommitForm.confirm)
    await query.answer()
    await remove_buttons(query)
    if isinstance(query.message, Message):
        await _ask_confirmation(query.message, data, await _project_title(repos, data["project_id"]))


async def confirm_commit(
    query: CallbackQuery,
    person: PersonView,
    repos: Repositories,
    state: FSMContext,
    settings: Settings,
    locale: str,
) -> None:
    data = await state.get_data()
    await state.clear()
    change = await projects.commit(
        repos,
        person,
        data["project_id"],
        kind=data["kind"],
        unit=data["unit"],
        hundredths=data["hundredths"],
        note=data.get("note"),
        default_locale=settings.default_locale,
    )
    card = await project_views.card(repos, person, data["project_id"])
    await query.answer(
        _("✅ Committed. Your organisation is in place {rank} of {count}.").format(
            rank=change.rank, count=len(change.ranking)
        ),
        show_alert=True,
    )
    await remove_buttons(query)
    await show_card(
        query,
        card,
        locale,
        settings,
        view=ProjectFilter(data.get("view", "all")),
        page=data.get("page", 0),
        edit=False,
    )


async def begin_withdraw(
    query: CallbackQuery, callback_data: ProjectCb, person: PersonView, repos: Repositories, state: FSMContext
) -> None:
    line = await projects.own_line(repos, person, callback_data.project_id, callback_data.item)
    card = await project_views.card(repos, person, callback_data.project_id)
    await query.answer()
    await state.clear()
    await state.set_state(WithdrawForm.confirm)
    await state.update_data(
        project_id=line.project_id,
        commitment_id=line.id,
        kind=line.kind,
        unit=line.unit,
        view=callback_data.view.value,
        page=callback_data.page,
    )
    others = [other for other in card.viewer_lines if other.commitment_id != line.id]
    warning = (
        _("Its other commitments keep its place.")
        if others
        else _("It has no other commitment here, so it loses its place in the ranking.")
    )
    await show(
        query,
        "\n\n".join(
            (
                _("Withdraw your organisation's commitment of {amount} of {kind} to {title}?").format(
                    amount=amount(line.amount_hundredths, line.unit),
                    kind=kind_name(ResourceKind(line.kind)),
                    title=f"<b>{shown(card.title)}</b>",
                ),
                warning,
            )
        ),
        confirm_keyboard(_("↩️ Withdraw")),
        edit=False,
    )


async def confirm_withdraw(
    query: CallbackQuery,
    person: PersonView,
    repos: Repositories,
    state: FSMContext,
    settings: Settings,
    locale: str,
) -> None:
    data = await state.get_data()
    await state.clear()
    # The line must still be the one the person saw: another representative may have changed it meanwhile.
    await projects.own_line(repos, person, data["project_id"], data["commitment_id"])
    change = await projects.withdraw(
        repos, person, data["project_id"], kind=data["kind"], unit=data["unit"], default_locale=settings.default_locale
    )
    card = await project_views.card(repos, person, data["project_id"])
    if change.rank is None:
        said = _("↩️ Withdrawn. Your organisation has no commitment left here.")
    else:
        said = _("↩️ Withdrawn. Your organisation is in place {rank} of {count}.").format(
            rank=change.rank, count=len(change.ranking)
        )
    await query.answer(said, show_alert=True)
    await remove_buttons(query)
    await show_card(
        query,
        card,
        locale,
        settings,
        view=ProjectFilter(data.get("view", "all")),
        page=data.get("page", 0),
        edit=False,
    )


def build_router() -> Router:
    router = Router(name=__name__)
    shows_guests_the_way_in(router)
    guard_forms(router, CommitForm, WithdrawForm)
    router.callback_query.register(begin_commit, ProjectCb.filter(F.action == ProjectAction.COMMIT))
    router.callback_query.register(begin_change, ProjectCb.filter(F.action == ProjectAction.CHANGE))
    router.callback_query.register(begin_withdraw, ProjectCb.filter(F.action == ProjectAction.WITHDRAW))
    router.callback_query.register(picked_resource, CommitForm.resource, CommitPickCb.filter())
    router.message.register(got_amount, CommitForm.amount, ANSWER)
    router.message.register(got_note, CommitForm.note, ANSWER)
    skip = ProjectFormCb.filter(F.action == ProjectFormAction.SKIP)
    router.callback_query.register(skipped_note, CommitForm.note, skip)
    confirm = ProjectFormCb.filter(F.action == ProjectFormAction.CONFIRM)
    router.callback_query.register(confirm_commit, CommitForm.confirm, confirm)
    router.callback_query.register(confirm_withdraw, WithdrawForm.confirm, confirm)
    router.message.register(use_the_buttons, CommitForm.confirm, ANSWER)
    router.message.register(use_the_buttons, WithdrawForm.confirm, ANSWER)
    return router
