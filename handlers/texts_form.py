"""The managers' texts form, written once: texts asked one after the other (the Romanian one, then the English
one, then whatever else the form needs), a preview, then a confirmation.

A form kind (`Kind`) says which texts to ask, in order (`Field`: key, question, length limit, cleaning, and
optionally the "↩️ Keep it as it is" button for a current value or a skip button such as "🇷🇴 Only the Romanian
text"), which buttons its family uses (`Buttons`: their callback data are the family's, as before), how to show
the preview and what to do once confirmed. Kinds are registered by name (`register`) when their feature module is
imported; the conversation keeps only that name and the texts in its FSM data (`FORM`), so a conversation held in
Redis goes on after a restart. The states and the step handlers below are registered once, on one router of
`handlers.guards.managers_router` (`build_router`).

Used by the catalogue's new category, rename category, new service and edit service (`handlers.catalogue.editing`)
and by the working groups' transform and make confidential (`handlers.groups.manage`).

Not moved here:
- the announcements' conversation (`handlers.announcements`): its answers are texts, photos or documents with
  captions, and its preview sends them as members will get them; it is not a series of bilingual texts;
- the groups' dissolve (one reason, no second language) and add-the-missing-language (which texts it asks
  depends on the group, each quoting the other language, and it saves without a preview), and the members'
  proposal: they stay as they are in `handlers.groups`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, TelegramObject
from aiogram.utils.i18n import gettext as _

from bot.services.members import PersonView
from bot.services.refusals import Refused
from handlers.guards import managers_router
from handlers.keyboards import main_menu
from handlers.refusals import explain

# The key of the form's data in the conversation's FSM data.
FORM = "texts_form"


class TextsForm(StatesGroup):
    # One text after the other (which one is the form's "step"), then the preview with its confirmation.
    text = State()
    confirm = State()


STATES = frozenset((TextsForm.text.state, TextsForm.confirm.state))


@dataclass(frozen=True)
class Step:
    """What a kind's callables get: the form's data, what `Kind.check` returned, the update's middleware data."""

    form: dict[str, Any]
    checked: Any = None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def texts(self) -> dict[str, str]:
        texts: dict[str, str] = self.form["texts"]
        return texts


@dataclass(frozen=True)
class Field:
    key: str
    # The whole message that asks for it (the step's number, a heading, the current text: the kind's wording).
    question: Callable[[Step], str]
    limit: int
    # The answer cleaned, or a `Refused` (said to the person, the question staying open).
    clean: Callable[[str | None, int], str]
    # A "keep it as it is" button when the form has a current value for this field.
    keeps: bool = False
    # A button that goes on without this text (nothing is stored for it).
    skip: Callable[[], InlineKeyboardButton] | None = None


@dataclass(frozen=True)
class Buttons:
    """A family's buttons: a question's keyboard (the extra buttons in rows above Cancel), and the packed callback
    data of Keep, Skip and Confirm (those pressed on a question or on the preview)."""

    keyboard: Callable[[Sequence[InlineKeyboardButton]], InlineKeyboardMarkup]
    confirm_data: str
    skip_data: str = ""
    keep: Callable[[], InlineKeyboardButton] | None = None
    keep_data: str = ""


@dataclass(frozen=True)
class Kind:
    name: str
    fields: tuple[Field, ...]
    buttons: Buttons
    # Sends the preview with its confirmation button (the state is already the confirmation).
    preview: Callable[[Message, Step], Awaitable[None]]
    # The confirmation pressed: ends the conversation and does what the form is for (the tap is to be answered).
    complete: Callable[[CallbackQuery, Step], Awaitable[None]]
    # The reminder to a message typed at the preview.
    use_the_buttons: Callable[[], str]
    # Reads again, at every step, what the form is about; a refusal ends the conversation (see `refused`).
    # (Cancel stays each family's own handler, with its own callback data.)
    check: Callable[[Step], Awaitable[Any]] | None = None
    # A refusal at a step (the guard's included): True when answered here, False to let it go on to
    # `handlers.refusals.on_refusal` (an alert for a button).
    refused: Callable[[Refused, TelegramObject, dict[str, Any]], Awaitable[bool]] | None = None
    # The answer to a message that is no text at a question; None: such messages are not this form's.
    needs_text: Callable[[Message], Awaitable[None]] | None = None
    # Whether any message (not a command) at the preview gets the reminder, or only a typed one.
    reminds_any_message: bool = False


_KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    _KINDS[kind.name] = kind
    return kind


def _prompt(kind: Kind, step: Step) -> tuple[str, InlineKeyboardMarkup]:
    asked = kind.fields[step.form["step"]]
    extra = []
    if asked.keeps and kind.buttons.keep is not None and step.form["current"].get(asked.key):
        extra.append(kind.buttons.keep())
    if asked.skip is not None:
        extra.append(asked.skip())
    return asked.question(step), kind.buttons.keyboard(extra)


async def start(
    message: Message | None,
    state: FSMContext,
    kind: Kind,
    *,
    checked: Any = None,
    current: dict[str, str] | None = None,
    **extra: Any,
) -> None:
    """Begin a form of `kind` (the caller has left any conversation under way) and ask its first text."""
    form = {"kind": kind.name, "step": 0, "texts": {}, "current": current or {}, **extra}
    await state.set_state(TextsForm.text)
    await state.update_data({FORM: form})
    if message is not None:
        text, markup = _prompt(kind, Step(form, checked))
        await message.answer(text, reply_markup=markup)


async def _form(state: FSMContext) -> tuple[Kind, dict[str, Any]] | None:
    form = dict((await state.get_data()).get(FORM) or {})
    kind = _KINDS.get(form.get("kind", ""))
    return (kind, form) if kind is not None else None


async def _stop(state: FSMContext) -> None:
    """End a conversation whose data is gone or unknown, keeping the rest of the data."""
    data = await state.get_data()
    await state.set_state(None)
    await state.set_data({key: value for key, value in data.items() if key != FORM})


async def _checked(kind: Kind, form: dict[str, Any], data: dict[str, Any]) -> Step:
    step = Step(form, data=data)
    if kind.check is None:
        return step
    return Step(form, await kind.check(step), data)


async def _next(message: Message, state: FSMContext, kind: Kind, step: Step) -> None:
    step.form["step"] += 1
    await state.update_data({FORM: step.form})
    if step.form["step"] < len(kind.fields):
        text, markup = _prompt(kind, step)
        await message.answer(text, reply_markup=markup)
        return
    await state.set_state(TextsForm.confirm)
    await kind.preview(message, step)


async def got_text(message: Message, person: PersonView, state: FSMContext, **data: Any) -> None:
    found = await _form(state)
    if found is None:
        # The conversation's data is gone (a storage that lost it): start again rather than guess.
        await _stop(state)
        await message.answer(_("Stopped. Nothing was changed."), reply_markup=main_menu(person))
        return
    kind, form = found
    step = await _checked(kind, form, {"person": person, "state": state, **data})
    asked = kind.fields[form["step"]]
    try:
        step.texts[asked.key] = asked.clean(message.text, asked.limit)
    except Refused as refusal:
        # The question stays: another text, or Cancel.
        await message.answer(explain(refusal), reply_markup=kind.buttons.keyboard([]))
        return
    await _next(message, state, kind, step)


async def keep_text(query: CallbackQuery, state: FSMContext, **data: Any) -> None:
    found = await _form(state)
    if found is None or query.data != found[0].buttons.keep_data:
        await query.answer(_("This button is no longer valid. Open /menu for a fresh one."), show_alert=True)
        return
    kind, form = found
    step = await _checked(kind, form, {"state": state, **data})
    asked = kind.fields[form["step"]]
    current = form["current"].get(asked.key)
    if not asked.keeps or not current:
        await query.answer(_("This button is no longer valid. Open /menu for a fresh one."), show_alert=True)
        return
    await query.answer()
    step.texts[asked.key] = current
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=None)
        await _next(query.message, state, kind, step)


async def skip_text(query: CallbackQuery, state: FSMContext, **data: Any) -> None:
    found = await _form(state)
    assert found is not None  # `_skips` matched
    kind, form = found
    step = await _checked(kind, form, {"state": state, **data})
    await query.answer()
    if isinstance(query.message, Message):
        await _next(query.message, state, kind, step)


async def confirm(query: CallbackQuery, state: FSMContext, **data: Any) -> None:
    found = await _form(state)
    if found is None:
        await _stop(state)
        await query.answer(_("This button is no longer valid. Open /menu for a fresh one."), show_alert=True)
        return
    kind, form = found
    await kind.complete(query, Step(form, data={"state": state, **data}))


async def use_the_buttons(message: Message, state: FSMContext) -> None:
    found = await _form(state)
    assert found is not None  # `_reminds` matched
    await message.answer(found[0].use_the_buttons())


async def needs_text(message: Message, state: FSMContext) -> None:
    found = await _form(state)
    assert found is not None and found[0].needs_text is not None  # `_needs_text` matched
    await found[0].needs_text(message)


# Filters on the form's kind (filters run before the managers' guard: what is not the form's goes on elsewhere).


async def _keeps(query: CallbackQuery, state: FSMContext) -> bool:
    # Any Keep of a family at a question (an invalid one is answered as stale, as before).
    return bool(query.data) and query.data in {kind.buttons.keep_data for kind in _KINDS.values()}


async def _skips(query: CallbackQuery, state: FSMContext) -> bool:
    found = await _form(state)
    if found is None:
        return False
    kind, form = found
    asked = kind.fields[form["step"]] if form["step"] < len(kind.fields) else None
    return asked is not None and asked.skip is not None and query.data == kind.buttons.skip_data


async def _confirms(query: CallbackQuery, state: FSMContext) -> bool:
    found = await _form(state)
    if found is None:
        return query.data in {kind.buttons.confirm_data for kind in _KINDS.values()}
    return query.data == found[0].buttons.confirm_data


async def _reminds(message: Message, state: FSMContext) -> bool:
    found = await _form(state)
    return found is not None and (found[0].reminds_any_message or bool(message.text))


async def _needs_text(message: Message, state: FSMContext) -> bool:
    found = await _form(state)
    return found is not None and found[0].needs_text is not None


async def _refused_at_a_step(refusal: Refused, event: TelegramObject, data: dict[str, Any]) -> bool:
    """A refusal at a step, the guard's included: the form's kind says what follows."""
    state = data.get("state")
    found = await _form(state) if isinstance(state, FSMContext) else None
    return found is not None and found[0].refused is not None and await found[0].refused(refusal, event, data)


def build_router() -> Router:
    """The form's steps, for managers only (`handlers.guards.managers_router`)."""
    router = managers_router(__name__, on_refusal=_refused_at_a_step)
    router.message.register(got_text, TextsForm.text, F.text & ~F.text.startswith("/"))
    router.message.register(needs_text, TextsForm.text, ~F.text, _needs_text)
    router.message.register(use_the_buttons, TextsForm.confirm, ~F.text.startswith("/"), _reminds)
    router.callback_query.register(keep_text, TextsForm.text, _keeps)
    router.callback_query.register(skip_text, TextsForm.text, _skips)
    router.callback_query.register(confirm, TextsForm.confirm, _confirms)
    return router
