"""The proposer (while the project is an idea or in preparation) or a manager edits a project: a menu of what to
change, then one short conversation each: title and description, the action plan (typed one step a line, read
back for a confirmation), the budget, the resources it needs (kind and unit by buttons, the target typed; then a
confirmation), the places, the commitments' deadline, and for managers the text in the other language.

Every step asks the service again (`projects.editing`), so a person demoted or a project moved on meanwhile is
told why and the conversation ends (`handlers.projects.forms.guard_forms`); a typed value that cannot be taken
is said and the same question stays open. Amounts are read with `bot.amounts.parse_amount` and dates with
`bot.dates.parse_date`, in the reader's language; a date typed as a deadline means the end of that day in the
cluster's time zone.
"""

from __future__ import annotations

import enum
import re
from datetime import date, datetime, time
from html import escape
from typing import Any, Self

from aiogram import F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from babel.dates import format_date
from pydantic import model_validator

from bot.amounts import AmountError, parse_amount, to_hundredths
from bot.config import Settings
from bot.dates import DateError, parse_date
from bot.services import project_views, projects
from bot.services.members import PersonView
from bot.services.projects import UNITS, EditView, ProjectError, ProjectRefusal
from handlers.groups.texts import FLAGS, language_name
from handlers.keyboards import RowId
from handlers.projects.forms import ANSWER, choose_with_the_buttons, guard_forms, read_text, remove_buttons
from handlers.projects.keyboards import (
    ProjectAction,
    ProjectCb,
    ProjectFormAction,
    ProjectFormCb,
    cancel_keyboard,
    card_keyboard,
    confirm_keyboard,
    skip_button,
)
from handlers.projects.replies import show, show_card
from handlers.projects.texts import (
    KIND_ICONS,
    amount,
    amount_problem,
    card_text,
    kind_name,
    shown,
    unit_name,
    when_date,
)
from handlers.refusals import explain, explain_date
from storage.models import ResourceKind
from storage.repositories import Repositories

# A typed value the service refuses with one of these keeps the question open (said, then asked again).
_ASK_AGAIN = {
    ProjectRefusal.BAD_AMOUNT,
    ProjectRefusal.BAD_CURRENCY,
    ProjectRefusal.BAD_PLACES,
    ProjectRefusal.BAD_DEADLINE,
    ProjectRefusal.BAD_PLAN,
}
_CURRENCY_WORDS = {"lei": "RON", "leu": "RON", "ron": "RON", "eur": "EUR", "euro": "EUR", "€": "EUR"}


class EditField(enum.StrEnum):
    TEXTS = "texts"
    OTHER_LANGUAGE = "other"
    PLAN = "plan"
    BUDGET = "budget"
    NEEDS = "needs"
    PLACES = "places"
    DEADLINE = "deadline"


class EditCb(CallbackData, prefix="pe"):
    """What to edit of project `project_id`."""

    project_id: RowId
    field: EditField


class NeedKindCb(CallbackData, prefix="pnk"):
    kind: ResourceKind


class NeedUnitCb(CallbackData, prefix="pnu"):
    """A need's unit: the index of a unit in `UNITS[kind]`."""

    kind: ResourceKind
    unit: int

    @model_validator(mode="after")
    def _a_unit_of_the_kind(self) -> Self:
        if not 0 <= self.unit < len(UNITS[self.kind]):
            raise ValueError("no such unit for this kind")
        return self


class EditProjectForm(StatesGroup):
    title = State()
    description = State()
    plan = State()
    plan_confirm = State()
    budget = State()
    needs_kind = State()
    needs_unit = State()
    needs_amount = State()
    needs_confirm = State()
    places = State()
    deadline = State()


# --- reading what people type ----------------------------------------------------------------------------------


class CurrencyProblem(enum.Enum):
    MISSING = "missing"
    UNKNOWN = "unknown"


def currency_of(text: str) -> str | CurrencyProblem:
    """The currency a typed budget names ("250.000 lei", "EUR 50,000", "€50,000"): RON or EUR; missing, or
    unknown (another word, two currencies)."""
    words = {word.lower() for word in re.findall(r"[^\W\d_]+|€", text)}
    if not words:
        return CurrencyProblem.MISSING
    found = {_CURRENCY_WORDS.get(word) for word in words}
    if None in found or len(found) != 1:
        return CurrencyProblem.UNKNOWN
    return str(found.pop())


def _today(settings: Settings) -> date:
    return datetime.now(settings.tz).date()


def plan_lines(view: EditView, locale: str) -> list[str]:
    """The current plan as it is typed, so that it can be copied, changed and sent back."""
    return [
        f"{step.text}; {step.owner or '-'}; {format_date(step.due_on, 'd MMMM y', locale=locale)}"
        for step in view.steps
    ]


# --- the menu ----------------------------------------------------------------------------------------------------


def _own_language(view: EditView, locale: str) -> str:
    """The language the reader edits the texts in: theirs if the project has it, else the one it is written in."""
    if view.title.get(locale):
        return locale
    return next((code for code in ("ro", "en") if view.title.get(code)), locale)


def _other_language(view: EditView, locale: str) -> str:
    return "en" if _own_language(view, locale) == "ro" else "ro"


def menu_keyboard(view: EditView, locale: str) -> InlineKeyboardMarkup:
    def button(text: str, field: EditField) -> list[InlineKeyboardButton]:
        return [InlineKeyboardButton(text=text, callback_data=EditCb(project_id=view.id, field=field).pack())]

    rows = [button(_("📝 Title and description"), EditField.TEXTS)]
    if view.manages:
        other = _other_language(view, locale)
        rows.append(
            button(
                _("{flag} The text in {language}").format(flag=FLAGS[other], language=language_name(other)),
                EditField.OTHER_LANGUAGE,
            )
        )
    rows += [
        button(_("🗺 Action plan"), EditField.PLAN),
        button(_("💰 Budget"), EditField.BUDGET),
        button(_("📦 Resources it needs"), EditField.NEEDS),
        button(_("👥 Places"), EditField.PLACES),
        button(_("⏰ Deadline for commitments"), EditField.DEADLINE),
    ]
    back = ProjectCb(action=ProjectAction.CARD, project_id=view.id).pack()
    rows.append([InlineKeyboardButton(text=_("⬅️ Back to the project"), callback_data=back)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def open_menu(
    query: CallbackQuery, callback_data: ProjectCb, person: PersonView, repos: Repositories, locale: str
) -> None:
    view = await projects.editing(repos, person, callback_data.project_id)
    await query.answer()
    await show(
        query,
        _("✏️ <b>Edit {title}</b>\n\nWhat would you like to change?").format(title=shown(view.title)),
        menu_keyboard(view, locale),
        edit=False,
    )


async def _checked(person: PersonView, repos: Repositories, state: FSMContext) -> tuple[EditView, dict[str, Any]]:
    """The conversation's project, checked again at this step (a refusal ends the conversation)."""
    data = await state.get_data()
    return await projects.editing(repos, person, int(data["project_id"])), data


async def _saved(
    target: CallbackQuery | Message,
    person: PersonView,
    repos: Repositories,
    state: FSMContext,
    settings: Settings,
    locale: str,
    project_id: int,
    said: str,
) -> None:
    """After a save: the conversation ends, and the project's card follows with what was saved."""
    await state.clear()
    card = await project_views.card(repos, person, project_id)
    if isinstance(target, CallbackQuery):
        await target.answer(said)
        await remove_buttons(target)
        await show_card(target, card, locale, settings, edit=False)
    else:
        await target.answer(said)
        await target.answer(card_text(card, locale, settings.tz), reply_markup=card_keyboard(card))


async def _refused_again(message: Message, error: ProjectError) -> bool:
    """A typed value the service refused: said, and the question stays open (True); else False (let it end)."""
    if error.reason not in _ASK_AGAIN:
        return False
    await message.answer(explain(error), reply_markup=cancel_keyboard())
    return True


async def begin_field(
    query: CallbackQuery,
    callback_data: EditCb,
    person: PersonView,
    repos: Repositories,
    state: FSMContext,
    settings: Settings,
    locale: str,
) -> None:
    view = await projects.editing(repos, person, callback_data.project_id)
    field = callback_data.field
    if field is EditField.OTHER_LANGUAGE and not view.manages:
        raise ProjectError(ProjectRefusal.OTHER_LANGUAGE)
    await query.answer()
    await state.clear()
    await state.update_data(project_id=view.id)
    title = shown(view.title)
    if field in (EditField.TEXTS, EditField.OTHER_LANGUAGE):
        language = _own_language(view, locale) if field is EditField.TEXTS else _other_language(view, locale)
        present = bool(view.title.get(language))
        await state.update_data(language=language, present=present)
        await state.set_state(EditProjectForm.title)
        current = (
            _("Now: {text}").format(text=escape(view.title.get(language) or "")) if present else _("Not written yet.")
        )
        await show(
            query,
            _("📝 <b>{title}</b> in {language}\n\n{current}\n\n1/2. Send the title in {language}.").format(
                title=title, language=language_name(language), current=current
            ),
            cancel_keyboard(*([skip_button(_("Keep it"))] if present else [])),
            edit=False,
        )
    elif field is EditField.PLAN:
        await state.set_state(EditProjectForm.plan)
        lines = [
            _(
                "🗺 <b>Action plan of {title}</b>\n\n"
                "Send the steps in order, one a line: what; owner organisation; date. For example:"
            ).format(title=title),
            "<code>" + escape(_("Feasibility study; EcoTech SRL; 15 March 2027")) + "</code>",
            _("Write - when no member organisation owns a step yet. The plan you send replaces the current one."),
        ]
        typed = plan_lines(view, locale)
        if typed:
            lines += ["", _("The current plan, to copy and change:"), "<code>" + escape("\n".join(typed)) + "</code>"]
        await show(query, "\n".join(lines), cancel_keyboard(), edit=False)
    elif field is EditField.BUDGET:
        await state.set_state(EditProjectForm.budget)
        current = (
            _("Now: {amount}").format(amount=amount(view.budget, view.currency))
            if view.budget is not None and view.currency
            else _("No budget yet.")
        )
        await show(
            query,
            _(
                "💰 <b>Budget of {title}</b>\n\n{current}\n\n"
                "Send the budget with its currency, lei or euro: for example 250.000 lei, or EUR 50,000."
            ).format(title=title, current=current),
            cancel_keyboard(),
            edit=False,
        )
    elif field is EditField.NEEDS:
        await state.update_data(needs=[])
        await state.set_state(EditProjectForm.needs_kind)
        await show(query, _needs_text(view, []), _kinds_keyboard(False), edit=False)
    elif field is EditField.PLACES:
        await state.set_state(EditProjectForm.places)
        current = _("Now: {count}").format(count=view.places) if view.places is not None else _("Now: no limit.")
        await show(
            query,
            _(
                "👥 <b>Places in {title}</b>\n\n{current}\n\n"
                "How many member organisations can take part? Send a number from 1 to {limit}, or choose no limit. "
                "When more organisations commit than there are places, the project is in competition."
            ).format(title=title, current=current, limit=projects.PLACES_MAX),
            cancel_keyboard(skip_button(_("♾ No limit"))),
            edit=False,
        )
    else:
        await state.set_state(EditProjectForm.deadline)
        current = (
            _("Now: until {when}").format(when=when_date(view.deadline.astimezone(settings.tz).date()))
            if view.deadline is not None
            else _("Now: no deadline.")
        )
        await show(
            query,
            _(
                "⏰ <b>Deadline for commitments to {title}</b>\n\n{current}\n\n"
                "Until which day can organisations commit? Send a date, for example 15.03.2027, 15 martie 2027 or "
                "15 March 2027: commitments are taken until the end of that day."
            ).format(title=title, current=current),
            cancel_keyboard(skip_button(_("No deadline"))),
            edit=False,
        )


# --- title and description ---------------------------------------------------------------------------------------


async def got_title(message: Message, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    view, data = await _checked(person, repos, state)
    title = await read_text(message, projects.TITLE_MAX)
    if title is None:
        return
    await _ask_description(message, view, data, state, title)


async def keep_title(query: CallbackQuery, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    view, data = await _checked(person, repos, state)
    await query.answer()
    await remove_buttons(query)
    if isinstance(query.message, Message):
        await _ask_description(query.message, view, data, state, None)


async def _ask_description(
    message: Message, view: EditView, data: dict[str, Any], state: FSMContext, title: str | None
) -> None:
    language = str(data["language"])
    await state.update_data(title=title)
    await state.set_state(EditProjectForm.description)
    present = bool(data.get("present"))
    current = view.description.get(language)
    lines = [_("2/2. Send the description in {language}.").format(language=language_name(language))]
    if current:
        lines.append(_("Now: {text}").format(text=escape(current)))
    await message.answer(
        "\n\n".join(lines), reply_markup=cancel_keyboard(*([skip_button(_("Keep it"))] if present else []))
    )


async def _save_texts(
    target: CallbackQuery | Message,
    person: PersonView,
    repos: Repositories,
    state: FSMContext,
    settings: Settings,
    locale: str,
    description: str | None,
) -> None:
    view, data = await _checked(person, repos, state)
    await projects.edit_texts(
        repos,
        person,
        view.id,
        locale=str(data["language"]),
        title=data.get("title"),
        description=description,
    )
    await _saved(target, person, repos, state, settings, locale, view.id, _("📝 Saved."))


async def got_description(
    message: Message, person: PersonView, repos: Repositories, state: FSMContext, settings: Settings, locale: str
) -> None:
    description = await read_text(message, projects.DESCRIPTION_MAX)
    if description is None:
        return
    await _save_texts(message, person, repos, state, settings, locale, description)


async def keep_description(
    query: CallbackQuery, person: PersonView, repos: Repositories, state: FSMContext, settings: Settings, locale: str
) -> None:
    await _save_texts(query, person, repos, state, settings, locale, None)


# --- the action plan ---------------------------------------------------------------------------------------------


async def got_plan(
    message: Message, person: PersonView, repos: Repositories, state: FSMContext, settings: Settings, locale: str
) -> None:
    view, _data = await _checked(person, repos, state)
    try:
        steps = await projects.read_plan(repos, person, view.id, message.text or "", locale, today=_today(settings))
    except ProjectError as error:
        if await _refused_again(message, error):
            return
        raise
    await state.update_data(steps=[[step.text, step.owner_id, step.owner, step.due_on.isoformat()] for step in steps])
    await state.set_state(EditProjectForm.plan_confirm)
    lines = [_("I read this plan:"), ""]
    lines += [
        _("{position}. {text} — {owner}, by {due}").format(
            position=position,
            text=escape(step.text),
            owner=escape(step.owner) if step.owner else _("no owner yet"),
            due=when_date(step.due_on),
        )
        for position, step in enumerate(steps, 1)
    ]
    lines += ["", _("Save it? To change something, send the plan again.")]
    await message.answer("\n".join(lines), reply_markup=confirm_keyboard(_("✅ Save the plan")))


async def confirm_plan(
    query: CallbackQuery, person: PersonView, repos: Repositories, state: FSMContext, settings: Settings, locale: str
) -> None:
    view, data = await _checked(person, repos, state)
    steps = [(str(text), owner, date.fromisoformat(due)) for text, owner, _name, due in data["steps"]]
    await projects.set_plan(repos, person, view.id, steps)
    await _saved(query, person, repos, state, settings, locale, view.id, _("🗺 The plan is saved."))


# --- the budget --------------------------------------------------------------------------------------------------


async def got_budget(
    message: Message, person: PersonView, repos: Repositories, state: FSMContext, settings: Settings, locale: str
) -> None:
    view, _data = await _checked(person, repos, state)
    text = message.text or ""
    currency = currency_of(text)
    if currency is CurrencyProblem.MISSING:
        await message.answer(
            _("Please add the currency, lei or euro: for example 250.000 lei, or EUR 50,000."),
            reply_markup=cancel_keyboard(),
        )
        return
    if currency is CurrencyProblem.UNKNOWN:
        await message.answer(explain(ProjectError(ProjectRefusal.BAD_CURRENCY)), reply_markup=cancel_keyboard())
        return
    try:
        hundredths = to_hundredths(parse_amount(text, locale))
    except AmountError as error:
        await message.answer(amount_problem(error.reason), reply_markup=cancel_keyboard())
        return
    try:
        await projects.set_budget(repos, person, view.id, hundredths, str(currency))
    except ProjectError as error:
        if await _refused_again(message, error):
            return
        raise
    said = _("💰 Budget saved: {amount}.").format(amount=amount(hundredths, str(currency)))
    await _saved(message, person, repos, state, settings, locale, view.id, said)


# --- the resources it needs --------------------------------------------------------------------------------------


def _need_line(kind: str, unit: str, hundredths: int) -> str:
    resource = ResourceKind(kind)
    return f"{KIND_ICONS[resource]} {kind_name(resource).capitalize()}: {amount(hundredths, unit)}"


def _needs_text(view: EditView, needs: list[list[Any]]) -> str:
    lines = [
        _(
            "📦 <b>Resources {title} needs</b>\n\n"
            "Choose a kind of resource, then its unit, then send the target amount; repeat for each. "
            "The list you save replaces the current one."
        ).format(title=shown(view.title))
    ]
    if view.needs and not needs:
        lines += ["", _("Now:")] + [_need_line(kind, unit, target) for (kind, unit), target in view.needs.items()]
    if needs:
        lines += ["", _("So far:")] + [_need_line(kind, unit, target) for kind, unit, target in needs]
    return "\n".join(lines)


def _kinds_keyboard(any_chosen: bool) -> InlineKeyboardMarkup:
    rows = [
        [
            InlineKeyboardButton(
                text=f"{KIND_ICONS[kind]} {kind_name(kind).capitalize()}",
                callback_data=NeedKindCb(kind=kind).pack(),
            )
        ]
        for kind in ResourceKind
    ]
    if any_chosen:
        done = ProjectFormCb(action=ProjectFormAction.CONFIRM).pack()
        rows.append([InlineKeyboardButton(text=_("✅ That is all"), callback_data=done)])
    cancel = ProjectFormCb(action=ProjectFormAction.CANCEL).pack()
    rows.append([InlineKeyboardButton(text=_("✖️ Cancel"), callback_data=cancel)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def _ask_target(target: CallbackQuery, state: FSMContext, kind: ResourceKind, unit: str) -> None:
    await state.update_data(kind=kind.value, unit=unit)
    await state.set_state(EditProjectForm.needs_amount)
    await show(
        target,
        _("What is the target for {kind}, in {unit}? Send the amount, for example 20 or 12,500.").format(
            kind=kind_name(kind), unit=unit_name(unit)
        ),
        cancel_keyboard(),
        edit=False,
    )


async def picked_kind(
    query: CallbackQuery, callback_data: NeedKindCb, person: PersonView, repos: Repositories, state: FSMContext
) -> None:
    await _checked(person, repos, state)
    await query.answer()
    await remove_buttons(query)
    units = UNITS[callback_data.kind]
    if len(units) == 1:
        await _ask_target(query, state, callback_data.kind, units[0].value)
        return
    await state.update_data(kind=callback_data.kind.value)
    await state.set_state(EditProjectForm.needs_unit)
    buttons = [
        [
            InlineKeyboardButton(
                text=unit_name(unit.value),
                callback_data=NeedUnitCb(kind=callback_data.kind, unit=index).pack(),
            )
        ]
        for index, unit in enumerate(units)
    ]
    cancel = ProjectFormCb(action=ProjectFormAction.CANCEL).pack()
    buttons.append([InlineKeyboardButton(text=_("✖️ Cancel"), callback_data=cancel)])
    await show(
        query,
        _("In which unit is {kind} counted?").format(kind=kind_name(callback_data.kind)),
        InlineKeyboardMarkup(inline_keyboard=buttons),
        edit=False,
    )


async def picked_unit(
    query: CallbackQuery, callback_data: NeedUnitCb, person: PersonView, repos: Repositories, state: FSMContext
) -> None:
    await _checked(person, repos, state)
    await query.answer()
    await remove_buttons(query)
    await _ask_target(query, state, callback_data.kind, UNITS[callback_data.kind][callback_data.unit].value)


async def got_target(message: Message, person: PersonView, repos: Repositories, state: FSMContext, locale: str) -> None:
    view, data = await _checked(person, repos, state)
    try:
        hundredths = to_hundredths(parse_amount(message.text or "", locale))
    except AmountError as error:
        await message.answer(amount_problem(error.reason), reply_markup=cancel_keyboard())
        return
    kind, unit = str(data["kind"]), str(data["unit"])
    needs = [need for need in data.get("needs", []) if (need[0], need[1]) != (kind, unit)]
    needs.append([kind, unit, hundredths])
    await state.update_data(needs=needs)
    await state.set_state(EditProjectForm.needs_kind)
    await message.answer(_needs_text(view, needs), reply_markup=_kinds_keyboard(True))


async def needs_done(query: CallbackQuery, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    _view, data = await _checked(person, repos, state)
    await query.answer()
    await remove_buttons(query)
    await state.set_state(EditProjectForm.needs_confirm)
    lines = [_("Save these needs?"), ""] + [_need_line(kind, unit, target) for kind, unit, target in data["needs"]]
    await show(query, "\n".join(lines), confirm_keyboard(_("✅ Save the needs")), edit=False)


async def confirm_needs(
    query: CallbackQuery, person: PersonView, repos: Repositories, state: FSMContext, settings: Settings, locale: str
) -> None:
    view, data = await _checked(person, repos, state)
    needs = {(str(kind), str(unit)): int(target) for kind, unit, target in data["needs"]}
    await projects.set_needs(repos, person, view.id, needs)
    await _saved(query, person, repos, state, settings, locale, view.id, _("📦 The needs are saved."))


# --- places and the deadline -------------------------------------------------------------------------------------


async def got_places(
    message: Message, person: PersonView, repos: Repositories, state: FSMContext, settings: Settings, locale: str
) -> None:
    view, _data = await _checked(person, repos, state)
    text = (message.text or "").strip()
    if not (text.isascii() and text.isdigit()):
        refusal = ProjectError(ProjectRefusal.BAD_PLACES, limit=projects.PLACES_MAX)
        await message.answer(explain(refusal), reply_markup=cancel_keyboard(skip_button(_("♾ No limit"))))
        return
    try:
        await projects.set_places(repos, person, view.id, int(text))
    except ProjectError as error:
        if await _refused_again(message, error):
            return
        raise
    await _saved(
        message, person, repos, state, settings, locale, view.id, _("👥 Places saved: {count}.").format(count=int(text))
    )


async def no_places(
    query: CallbackQuery, person: PersonView, repos: Repositories, state: FSMContext, settings: Settings, locale: str
) -> None:
    view, _data = await _checked(person, repos, state)
    await projects.set_places(repos, person, view.id, None)
    await _saved(query, person, repos, state, settings, locale, view.id, _("👥 No limit of places."))


async def got_deadline(
    message: Message, person: PersonView, repos: Repositories, state: FSMContext, settings: Settings, locale: str
) -> None:
    view, _data = await _checked(person, repos, state)
    try:
        day = parse_date(message.text or "", locale, today=_today(settings))
    except DateError as error:
        await message.answer(explain_date(error.reason), reply_markup=cancel_keyboard())
        return
    # A date typed means the whole of that day where the cluster is.
    end_of_day = datetime.combine(day, time(23, 59, 59), tzinfo=settings.tz)
    try:
        await projects.set_deadline(repos, person, view.id, end_of_day)
    except ProjectError as error:
        if await _refused_again(message, error):
            return
        raise
    said = _("⏰ Commitments are taken until the end of {day}.").format(day=when_date(day))
    await _saved(message, person, repos, state, settings, locale, view.id, said)


async def no_deadline(
    query: CallbackQuery, person: PersonView, repos: Repositories, state: FSMContext, settings: Settings, locale: str
) -> None:
    view, _data = await _checked(person, repos, state)
    await projects.set_deadline(repos, person, view.id, None)
    await _saved(query, person, repos, state, settings, locale, view.id, _("⏰ No deadline for commitments."))


def build_router() -> Router:
    router = Router(name=__name__)
    guard_forms(router, EditProjectForm)
    router.callback_query.register(open_menu, ProjectCb.filter(F.action == ProjectAction.EDIT))
    router.callback_query.register(begin_field, EditCb.filter())
    skip = ProjectFormCb.filter(F.action == ProjectFormAction.SKIP)
    confirm = ProjectFormCb.filter(F.action == ProjectFormAction.CONFIRM)
    router.message.register(got_title, EditProjectForm.title, ANSWER)
    router.callback_query.register(keep_title, EditProjectForm.title, skip)
    router.message.register(got_description, EditProjectForm.description, ANSWER)
    router.callback_query.register(keep_description, EditProjectForm.description, skip)
    router.message.register(got_plan, EditProjectForm.plan, ANSWER)
    # At the confirmation the plan may be sent again, corrected.
    router.message.register(got_plan, EditProjectForm.plan_confirm, ANSWER)
    router.callback_query.register(confirm_plan, EditProjectForm.plan_confirm, confirm)
    router.message.register(got_budget, EditProjectForm.budget, ANSWER)
    router.callback_query.register(picked_kind, EditProjectForm.needs_kind, NeedKindCb.filter())
    router.callback_query.register(needs_done, EditProjectForm.needs_kind, confirm)
    router.callback_query.register(picked_unit, EditProjectForm.needs_unit, NeedUnitCb.filter())
    router.message.register(got_target, EditProjectForm.needs_amount, ANSWER)
    router.callback_query.register(confirm_needs, EditProjectForm.needs_confirm, confirm)
    router.message.register(got_places, EditProjectForm.places, ANSWER)
    router.callback_query.register(no_places, EditProjectForm.places, skip)
    router.message.register(got_deadline, EditProjectForm.deadline, ANSWER)
    router.callback_query.register(no_deadline, EditProjectForm.deadline, skip)
    for waiting in (EditProjectForm.needs_kind, EditProjectForm.needs_unit, EditProjectForm.needs_confirm):
        router.message.register(choose_with_the_buttons, waiting, ANSWER)
    return router
