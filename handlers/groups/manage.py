"""What the cluster's managers do to a working group: transform it (a new objective, with a reason), dissolve it,
add the language it lacks, make it confidential.

Every handler here is on a router of `handlers.guards.managers_router`, which refuses anyone else once, before the
handler runs. The services check the role again and each step reads the group again (`groups.managed_group`), so
a role taken away or a group dissolved midway stops the conversation: `_refusal_ends_it` clears it on any refusal
at a step, the guard's included. Transform and make confidential are kinds of the shared texts form
(`handlers.texts_form`: its steps run `_checked`, and `_refusal_ends_it` at a refusal); dissolve and add the
missing language keep their own steps (`_refusal_ends_it`, their router's `on_refusal`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from html import escape
from typing import Any

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, TelegramObject
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.services import groups
from bot.services.groups import GroupCard, GroupError, GroupRefusal
from bot.services.members import PersonView, clean_text
from bot.services.refusals import Refused
from handlers import texts_form
from handlers.groups.forms import ANSWER, DissolveForm, LinkForm, TranslateForm, read_text
from handlers.groups.keyboards import (
    GroupAction,
    GroupCb,
    GroupFormAction,
    GroupFormCb,
    cancel_keyboard,
    card_keyboard,
    chat_link_keyboard,
    confirm_keyboard,
    only_romanian_button,
)
from handlers.groups.replies import show
from handlers.groups.texts import FLAGS, QUOTE_MAX, card_text, language_name, shown
from handlers.guards import managers_router
from handlers.keyboards import clip, main_menu
from handlers.refusals import explain
from handlers.texts_form import Buttons, Field, Kind, Step
from storage.repositories import Repositories


async def _refusal_ends_it(refusal: Refused, event: TelegramObject, data: dict[str, Any]) -> bool:
    """A refusal at a step of a manager's conversation ends it. A typed answer is answered here with the main menu
    (the way on: True); a button press goes on to `handlers.refusals.on_refusal` (an alert: False)."""
    state: FSMContext | None = data.get("state")
    if state is not None:
        await state.clear()
    if not isinstance(event, Message):
        return False
    await event.answer(explain(refusal), reply_markup=main_menu(data.get("person")))
    return True


async def _begin(callback_data: GroupCb, person: PersonView, repos: Repositories, state: FSMContext) -> GroupCard:
    """The group a manager starts a conversation about, checked; its id is kept for the next steps.
    The tap is still to be answered. A refusal leaves any conversation under way as it was."""
    card = await groups.managed_group(repos, person, callback_data.group_id)
    await state.clear()
    await state.update_data(group_id=card.id)
    return card


async def _managed(person: PersonView, repos: Repositories, state: FSMContext) -> GroupCard:
    """The conversation's group, checked again at each step (a refusal ends the conversation)."""
    data = await state.get_data()
    return await groups.managed_group(repos, person, int(data["group_id"]))


async def _checked(step: Step) -> GroupCard:
    """The texts form's group, checked again at each step (a refusal ends the conversation)."""
    return await groups.managed_group(step.data["repos"], step.data["person"], int(step.form["group_id"]))


def _field(key: str, limit: int, question: Callable[[Step], str], *, skips: bool = False) -> Field:
    return Field(
        key=key,
        question=question,
        limit=limit,
        clean=clean_text,
        skip=only_romanian_button if skips else None,
    )


def _kind(name: str, fields: tuple[Field, ...], preview: Any, complete: Any) -> Kind:
    return texts_form.register(
        Kind(
            name=name,
            fields=fields,
            buttons=Buttons(
                keyboard=lambda extra: cancel_keyboard(*extra),
                confirm_data=GroupFormCb(action=GroupFormAction.CONFIRM).pack(),
                skip_data=GroupFormCb(action=GroupFormAction.ONE).pack(),
            ),
            preview=preview,
            complete=complete,
            use_the_buttons=lambda: _("Please use the buttons above: confirm, or cancel."),
            check=_checked,
            refused=_refusal_ends_it,
        )
    )


def _ro_and_en(texts: dict[str, str]) -> dict[str, str]:
    return {code: texts[code] for code in ("ro", "en") if texts.get(code)}


async def _begin_texts(
    query: CallbackQuery, callback_data: GroupCb, person: PersonView, repos: Repositories, state: FSMContext
) -> GroupCard:
    """The group a manager starts a texts form about, checked; the tap is still to be answered. A refusal leaves
    any conversation under way as it was."""
    card = await groups.managed_group(repos, person, callback_data.group_id)
    await state.clear()
    return card


def _transform_question(step: Step) -> str:
    card: GroupCard = step.checked
    return _(
        "🔁 <b>Transform {title}</b>\n\nCurrent objective: {objective}\n\n1/3. Send the new objective in Romanian."
    ).format(title=shown(card.title), objective=shown(card.objective, QUOTE_MAX))


async def _transform_preview(message: Message, step: Step) -> None:
    card: GroupCard = step.checked
    lines = [_('Change the objective of the group "{title}"?').format(title=f"<b>{shown(card.title)}</b>"), ""]
    lines += [f"{FLAGS[code]} {escape(clip(text, QUOTE_MAX))}" for code, text in _ro_and_en(step.texts).items()]
    lines += ["", _("Reason: {reason}").format(reason=escape(step.texts["reason"]))]
    await message.answer("\n".join(lines), reply_markup=confirm_keyboard(_("🔁 Transform")))


async def _transform(query: CallbackQuery, step: Step) -> None:
    await step.data["state"].clear()
    settings: Settings = step.data["settings"]
    card = await groups.transform(
        step.data["repos"],
        step.data["person"],
        int(step.form["group_id"]),
        objective=_ro_and_en(step.texts),
        reason=step.texts["reason"],
        default_locale=settings.default_locale,
    )
    await _done(query, card, step.data["locale"], settings, _("🔁 Transformed; everyone in the group is told why."))


TRANSFORM_FORM = _kind(
    "groups.transform",
    (
        _field("ro", groups.OBJECTIVE_MAX, _transform_question),
        _field(
            "en",
            groups.OBJECTIVE_MAX,
            lambda _step: _("2/3. Now the new objective in English, or keep only the Romanian text."),
            skips=True,
        ),
        _field(
            "reason",
            groups.REASON_MAX,
            lambda _step: _("3/3. Why is the group transformed? Everyone in the group will read this reason."),
        ),
    ),
    _transform_preview,
    _transform,
)


async def begin_transform(
    query: CallbackQuery, callback_data: GroupCb, person: PersonView, repos: Repositories, state: FSMContext
) -> None:
    card = await _begin_texts(query, callback_data, person, repos, state)
    await query.answer()
    message = query.message if isinstance(query.message, Message) else None
    await texts_form.start(message, state, TRANSFORM_FORM, checked=card, group_id=card.id)


async def _done(query: CallbackQuery, card: GroupCard, locale: str, settings: Settings, toast: str) -> None:
    await query.answer(toast)
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=None)
    await show(query, card_text(card, locale, settings.tz), card_keyboard(card), edit=False)


async def begin_dissolve(
    query: CallbackQuery, callback_data: GroupCb, person: PersonView, repos: Repositories, state: FSMContext
) -> None:
    card = await _begin(callback_data, person, repos, state)
    await query.answer()
    await state.set_state(DissolveForm.reason)
    await show(
        query,
        _("🗑 <b>Dissolve {title}</b>\n\nWhy is it dissolved? Everyone in the group will read this reason.").format(
            title=shown(card.title)
        ),
        cancel_keyboard(),
        edit=False,
    )


async def got_dissolve_reason(message: Message, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    card = await _managed(person, repos, state)
    reason = await read_text(message, groups.REASON_MAX)
    if reason is None:
        return
    await state.update_data(reason=reason)
    await state.set_state(DissolveForm.confirm)
    await message.answer(
        _("Dissolve {title}? Nobody can join it afterwards.\n\nReason: {reason}").format(
            title=f"<b>{shown(card.title)}</b>", reason=escape(reason)
        ),
        reply_markup=confirm_keyboard(_("🗑 Dissolve")),
    )


async def confirm_dissolve(
    query: CallbackQuery,
    person: PersonView,
    repos: Repositories,
    state: FSMContext,
    settings: Settings,
    locale: str,
    i18n: I18n,
) -> None:
    data = await state.get_data()
    await state.clear()
    card = await groups.dissolve(
        repos, person, int(data["group_id"]), reason=data["reason"], default_locale=settings.default_locale
    )
    await _done(query, card, locale, settings, _("🗑 Dissolved; everyone in the group is told why."))


async def begin_translate(
    query: CallbackQuery, callback_data: GroupCb, person: PersonView, repos: Repositories, state: FSMContext
) -> None:
    card = await _begin(callback_data, person, repos, state)
    language = card.missing_language
    if language is None:
        await state.clear()
        raise GroupError(GroupRefusal.NOTHING_MISSING)
    await query.answer()
    needs = [name for name, texts in (("title", card.title), ("objective", card.objective)) if not texts.get(language)]
    await state.update_data(locale=language, needs=needs)
    if isinstance(query.message, Message):
        await _ask_translation(query.message, card, language, needs[0], state)


async def _ask_translation(message: Message, card: GroupCard, language: str, what: str, state: FSMContext) -> None:
    """Ask for the title or the objective in `language`, quoting the text the group has in the other one."""
    if what == "title":
        await state.set_state(TranslateForm.title)
        question = _("🌐 Send the title in {language}. In the other language it reads:\n\n{text}").format(
            language=language_name(language), text=shown(card.title)
        )
    else:
        await state.set_state(TranslateForm.objective)
        question = _("🌐 Send the objective in {language}. In the other language it reads:\n\n{text}").format(
            language=language_name(language), text=shown(card.objective, QUOTE_MAX)
        )
    await message.answer(question, reply_markup=cancel_keyboard())


async def got_translated_title(
    message: Message, person: PersonView, repos: Repositories, state: FSMContext, settings: Settings, locale: str
) -> None:
    card = await _managed(person, repos, state)
    title = await read_text(message, groups.TITLE_MAX)
    if title is None:
        return
    data = await state.update_data(title=title)
    if "objective" in data["needs"]:
        await _ask_translation(message, card, data["locale"], "objective", state)
        return
    await _save_translation(message, person, repos, state, settings, locale)


async def got_translated_objective(
    message: Message, person: PersonView, repos: Repositories, state: FSMContext, settings: Settings, locale: str
) -> None:
    await _managed(person, repos, state)
    objective = await read_text(message, groups.OBJECTIVE_MAX)
    if objective is None:
        return
    await state.update_data(objective=objective)
    await _save_translation(message, person, repos, state, settings, locale)


async def _save_translation(
    message: Message, person: PersonView, repos: Repositories, state: FSMContext, settings: Settings, locale: str
) -> None:
    data = await state.get_data()
    await state.clear()
    card = await groups.add_language(
        repos,
        person,
        int(data["group_id"]),
        locale=data["locale"],
        title=data.get("title"),
        objective=data.get("objective"),
    )
    await message.answer(
        _("🌐 Saved: the group now reads in {language} too.").format(language=language_name(data["locale"]))
    )
    await message.answer(card_text(card, locale, settings.tz), reply_markup=card_keyboard(card))


def _terms_question(step: Step) -> str:
    card: GroupCard = step.checked
    return _(
        "🔒 <b>Make {title} confidential</b>\n\n"
        "Whoever joins from now on accepts its terms first, and the people already in it are asked to accept "
        "them.\n\n1/2. Send the confidentiality terms in Romanian."
    ).format(title=shown(card.title))


async def _terms_preview(message: Message, step: Step) -> None:
    card: GroupCard = step.checked
    lines = [_("Make {title} confidential with these terms?").format(title=f"<b>{shown(card.title)}</b>"), ""]
    lines += [f"{FLAGS[code]} {escape(clip(text, QUOTE_MAX))}" for code, text in _ro_and_en(step.texts).items()]
    await message.answer("\n".join(lines), reply_markup=confirm_keyboard(_("🔒 Make confidential")))


async def _make_confidential(query: CallbackQuery, step: Step) -> None:
    await step.data["state"].clear()
    settings: Settings = step.data["settings"]
    card = await groups.make_confidential(
        step.data["repos"],
        step.data["person"],
        int(step.form["group_id"]),
        terms=_ro_and_en(step.texts),
        default_locale=settings.default_locale,
    )
    await _done(
        query,
        card,
        step.data["locale"],
        settings,
        _("🔒 The group is confidential; its members are asked to accept."),
    )


TERMS_FORM = _kind(
    "groups.terms",
    (
        _field("ro", groups.TERMS_MAX, _terms_question),
        _field(
            "en",
            groups.TERMS_MAX,
            lambda _step: _("2/2. Now the terms in English, or keep only the Romanian text."),
            skips=True,
        ),
    ),
    _terms_preview,
    _make_confidential,
)


async def begin_confidential(
    query: CallbackQuery, callback_data: GroupCb, person: PersonView, repos: Repositories, state: FSMContext
) -> None:
    card = await _begin_texts(query, callback_data, person, repos, state)
    if card.confidential:
        raise GroupError(GroupRefusal.ALREADY_CONFIDENTIAL)
    await query.answer()
    message = query.message if isinstance(query.message, Message) else None
    await texts_form.start(message, state, TERMS_FORM, checked=card, group_id=card.id)


async def begin_link(
    query: CallbackQuery, callback_data: GroupCb, person: PersonView, repos: Repositories, state: FSMContext
) -> None:
    """Attach (or change) the group's own Telegram chat: the link is asked, with Remove when there is one."""
    card = await _begin(callback_data, person, repos, state)
    await query.answer()
    await state.set_state(LinkForm.link)
    question = _(
        "💬 <b>The chat of {title}</b>\n\n"
        "Send the link of the group's own Telegram chat (https://t.me/+…, https://t.me/joinchat/… or "
        "https://t.me/name). Only the people in the group will see it, on its card and when they join."
    ).format(title=shown(card.title))
    if card.chat_link is not None:
        question += "\n\n" + _("Now: {link}").format(link=escape(card.chat_link))
    await show(query, question, chat_link_keyboard(card), edit=False)


async def got_link(
    message: Message, person: PersonView, repos: Repositories, state: FSMContext, settings: Settings, locale: str
) -> None:
    card = await _managed(person, repos, state)
    try:
        groups.parse_chat_link(message.text)
    except GroupError as refusal:
        # The question stays open: the manager may send the link again, or cancel.
        await message.answer(explain(refusal), reply_markup=chat_link_keyboard(card))
        return
    await state.clear()
    card = await groups.set_chat_link(repos, person, card.id, message.text)
    await message.answer(_("💬 Saved: the people in the group see its chat now."))
    await message.answer(card_text(card, locale, settings.tz), reply_markup=card_keyboard(card))


async def remove_link(
    query: CallbackQuery,
    callback_data: GroupCb,
    person: PersonView,
    repos: Repositories,
    state: FSMContext,
    settings: Settings,
    locale: str,
) -> None:
    card = await groups.set_chat_link(repos, person, callback_data.group_id, None)
    await state.clear()
    await _done(query, card, locale, settings, _("🗑 The chat link is removed."))


def build_routers() -> tuple[Router, Router]:
    """The buttons that start a manager's conversation, and its steps (typed answers, buttons, confirmations)."""
    begin = managers_router(__name__)
    for action, handler in (
        (GroupAction.TRANSFORM, begin_transform),
        (GroupAction.DISSOLVE, begin_dissolve),
        (GroupAction.TRANSLATE, begin_translate),
        (GroupAction.CONFIDENTIAL, begin_confidential),
        (GroupAction.LINK, begin_link),
        (GroupAction.UNLINK, remove_link),
    ):
        begin.callback_query.register(handler, GroupCb.filter(F.action == action))

    steps = managers_router(f"{__name__}.steps", on_refusal=_refusal_ends_it)
    steps.message.register(got_dissolve_reason, DissolveForm.reason, ANSWER)
    steps.message.register(got_translated_title, TranslateForm.title, ANSWER)
    steps.message.register(got_translated_objective, TranslateForm.objective, ANSWER)
    steps.message.register(got_link, LinkForm.link, ANSWER)
    confirm = GroupFormCb.filter(F.action == GroupFormAction.CONFIRM)
    steps.callback_query.register(confirm_dissolve, DissolveForm.confirm, confirm)
    return begin, steps
