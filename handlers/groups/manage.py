"""What the cluster's managers do to a working group: transform it (a new objective, with a reason), dissolve it,
add the language it lacks, make it confidential.

Every handler here is on a router of `handlers.guards.managers_router`, which refuses anyone else once, before the
handler runs. The services check the role again and each step reads the group again (`groups.managed_group`), so
a role taken away or a group dissolved midway stops the conversation: `RefusalEndsTheConversation` clears it on
any refusal at a step, the guard's included.
"""

from __future__ import annotations

import contextlib
from html import escape
from typing import Any

from aiogram import BaseMiddleware, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, TelegramObject
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.middlewares import Handler
from bot.services import groups
from bot.services.groups import GroupCard, GroupError, GroupRefusal, Texts
from bot.services.members import PersonView
from bot.services.refusals import Refused
from handlers.groups.forms import ANSWER, DissolveForm, TermsForm, TransformForm, TranslateForm, read_text
from handlers.groups.keyboards import (
    GroupAction,
    GroupCb,
    GroupFormAction,
    GroupFormCb,
    cancel_keyboard,
    card_keyboard,
    confirm_keyboard,
    only_romanian_button,
)
from handlers.groups.replies import show
from handlers.groups.texts import FLAGS, QUOTE_MAX, card_text, language_name, shown
from handlers.guards import managers_router
from handlers.keyboards import clip, main_menu
from handlers.refusals import explain
from storage.repositories import Repositories


class RefusalEndsTheConversation(BaseMiddleware):
    """A refusal at a step of a manager's conversation ends it. Outer, so that it also sees the guard's refusal,
    raised before the handler. A typed answer is answered here with the main menu (the way on); a button press
    goes on to `handlers.refusals.on_refusal` (an alert)."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        try:
            return await handler(event, data)
        except Refused as refusal:
            state: FSMContext | None = data.get("state")
            if state is not None:
                await state.clear()
            if not isinstance(event, Message):
                raise
            await event.answer(explain(refusal), reply_markup=main_menu(data.get("person")))
            return None


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


async def begin_transform(
    query: CallbackQuery, callback_data: GroupCb, person: PersonView, repos: Repositories, state: FSMContext
) -> None:
    card = await _begin(callback_data, person, repos, state)
    await query.answer()
    await state.set_state(TransformForm.ro)
    await show(
        query,
        _(
            "🔁 <b>Transform {title}</b>\n\nCurrent objective: {objective}\n\n1/3. Send the new objective in Romanian."
        ).format(title=shown(card.title), objective=shown(card.objective, QUOTE_MAX)),
        cancel_keyboard(),
        edit=False,
    )


async def got_objective_ro(message: Message, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    await _managed(person, repos, state)
    text = await read_text(message, groups.OBJECTIVE_MAX)
    if text is None:
        return
    await state.update_data(ro=text)
    await state.set_state(TransformForm.en)
    await message.answer(
        _("2/3. Now the new objective in English, or keep only the Romanian text."),
        reply_markup=cancel_keyboard(only_romanian_button()),
    )


async def _ask_reason(message: Message, state: FSMContext) -> None:
    await state.set_state(TransformForm.reason)
    await message.answer(
        _("3/3. Why is the group transformed? Everyone in the group will read this reason."),
        reply_markup=cancel_keyboard(),
    )


async def got_objective_en(message: Message, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    await _managed(person, repos, state)
    text = await read_text(message, groups.OBJECTIVE_MAX)
    if text is None:
        return
    await state.update_data(en=text)
    await _ask_reason(message, state)


async def _managed_from_button(
    query: CallbackQuery, person: PersonView, repos: Repositories, state: FSMContext
) -> GroupCard:
    """`_managed` for a button pressed inside a manager's conversation; answers the tap."""
    card = await _managed(person, repos, state)
    await query.answer()
    return card


async def objective_in_romanian_only(
    query: CallbackQuery, person: PersonView, repos: Repositories, state: FSMContext
) -> None:
    await _managed_from_button(query, person, repos, state)
    if isinstance(query.message, Message):
        await _ask_reason(query.message, state)


async def got_transform_reason(message: Message, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    card = await _managed(person, repos, state)
    reason = await read_text(message, groups.REASON_MAX)
    if reason is None:
        return
    data = await state.update_data(reason=reason)
    await state.set_state(TransformForm.confirm)
    objective = Texts(ro=data.get("ro"), en=data.get("en"))
    lines = [_("Transform {title}?").format(title=f"<b>{shown(card.title)}</b>"), ""]
    for code in ("ro", "en"):
        text = objective.get(code)
        if text:
            lines.append(f"{FLAGS[code]} {escape(clip(text, QUOTE_MAX))}")
    lines += ["", _("Reason: {reason}").format(reason=escape(reason))]
    await message.answer("\n".join(lines), reply_markup=confirm_keyboard(_("🔁 Transform")))


async def confirm_transform(
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
    card = await groups.transform(
        repos,
        person,
        int(data["group_id"]),
        objective={code: data[code] for code in ("ro", "en") if data.get(code)},
        reason=data["reason"],
        default_locale=settings.default_locale,
    )
    await _done(query, card, locale, settings, _("🔁 Transformed; everyone in the group is told why."))


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


async def begin_confidential(
    query: CallbackQuery, callback_data: GroupCb, person: PersonView, repos: Repositories, state: FSMContext
) -> None:
    card = await _begin(callback_data, person, repos, state)
    if card.confidential:
        await state.clear()
        raise GroupError(GroupRefusal.ALREADY_CONFIDENTIAL)
    await query.answer()
    await state.set_state(TermsForm.ro)
    await show(
        query,
        _(
            "🔒 <b>Make {title} confidential</b>\n\n"
            "Whoever joins from now on accepts its terms first, and the people already in it are asked to accept "
            "them.\n\n1/2. Send the confidentiality terms in Romanian."
        ).format(title=shown(card.title)),
        cancel_keyboard(),
        edit=False,
    )


async def got_terms_ro(message: Message, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    await _managed(person, repos, state)
    text = await read_text(message, groups.TERMS_MAX)
    if text is None:
        return
    await state.update_data(ro=text)
    await state.set_state(TermsForm.en)
    await message.answer(
        _("2/2. Now the terms in English, or keep only the Romanian text."),
        reply_markup=cancel_keyboard(only_romanian_button()),
    )


async def got_terms_en(message: Message, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    card = await _managed(person, repos, state)
    text = await read_text(message, groups.TERMS_MAX)
    if text is None:
        return
    await state.update_data(en=text)
    await _confirm_terms(message, card, state)


async def terms_in_romanian_only(
    query: CallbackQuery, person: PersonView, repos: Repositories, state: FSMContext
) -> None:
    card = await _managed_from_button(query, person, repos, state)
    if isinstance(query.message, Message):
        await _confirm_terms(query.message, card, state)


async def _confirm_terms(message: Message, card: GroupCard, state: FSMContext) -> None:
    data = await state.get_data()
    await state.set_state(TermsForm.confirm)
    lines = [_("Make {title} confidential with these terms?").format(title=f"<b>{shown(card.title)}</b>"), ""]
    lines += [f"{FLAGS[code]} {escape(clip(data[code], QUOTE_MAX))}" for code in ("ro", "en") if data.get(code)]
    await message.answer("\n".join(lines), reply_markup=confirm_keyboard(_("🔒 Make confidential")))


async def confirm_confidential(
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
    card = await groups.make_confidential(
        repos,
        person,
        int(data["group_id"]),
        terms={code: data[code] for code in ("ro", "en") if data.get(code)},
        default_locale=settings.default_locale,
    )
    await _done(query, card, locale, settings, _("🔒 The group is confidential; its members are asked to accept."))


def build_routers() -> tuple[Router, Router]:
    """The buttons that start a manager's conversation, and its steps (typed answers, buttons, confirmations)."""
    begin = managers_router(__name__)
    for action, handler in (
        (GroupAction.TRANSFORM, begin_transform),
        (GroupAction.DISSOLVE, begin_dissolve),
        (GroupAction.TRANSLATE, begin_translate),
        (GroupAction.CONFIDENTIAL, begin_confidential),
    ):
        begin.callback_query.register(handler, GroupCb.filter(F.action == action))

    steps = managers_router(f"{__name__}.steps")
    ends = RefusalEndsTheConversation()
    steps.message.outer_middleware(ends)
    steps.callback_query.outer_middleware(ends)
    steps.message.register(got_objective_ro, TransformForm.ro, ANSWER)
    steps.message.register(got_objective_en, TransformForm.en, ANSWER)
    steps.message.register(got_transform_reason, TransformForm.reason, ANSWER)
    steps.message.register(got_dissolve_reason, DissolveForm.reason, ANSWER)
    steps.message.register(got_translated_title, TranslateForm.title, ANSWER)
    steps.message.register(got_translated_objective, TranslateForm.objective, ANSWER)
    steps.message.register(got_terms_ro, TermsForm.ro, ANSWER)
    steps.message.register(got_terms_en, TermsForm.en, ANSWER)
    one = GroupFormCb.filter(F.action == GroupFormAction.ONE)
    steps.callback_query.register(objective_in_romanian_only, TransformForm.en, one)
    steps.callback_query.register(terms_in_romanian_only, TermsForm.en, one)
    confirm = GroupFormCb.filter(F.action == GroupFormAction.CONFIRM)
    steps.callback_query.register(confirm_transform, TransformForm.confirm, confirm)
    steps.callback_query.register(confirm_dissolve, DissolveForm.confirm, confirm)
    steps.callback_query.register(confirm_confidential, TermsForm.confirm, confirm)
    return begin, steps
