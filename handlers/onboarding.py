"""Joining the cluster: the join request conversation, invite codes, and the managers' decisions."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from datetime import datetime
from html import escape
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import get_i18n, ngettext
from aiogram.utils.i18n import gettext as _
from babel.dates import format_datetime

from bot.config import Settings
from bot.i18n import format_when, resolve_locale
from bot.services import members
from bot.services.members import JoinRequestView, MembershipError, PersonView
from handlers.common import menu_text
from handlers.guards import managers_router
from handlers.keyboards import (
    JoinDecision,
    JoinDecisionCb,
    JoinFormAction,
    JoinFormCb,
    MenuAction,
    MenuCb,
    NoticeMessage,
    join_decision,
    join_form_cancel,
    join_form_confirm,
    join_form_step,
    join_reject_confirm,
    join_reject_reason,
    main_menu,
    menu_for,
    person_link,
)
from handlers.refusals import explain
from storage.models import utcnow
from storage.repositories import Repositories

_START_LINK = re.compile(r"start=([A-Za-z0-9_-]{1,64})")


class JoinForm(StatesGroup):
    organisation = State()
    cui = State()
    position = State()
    confirm = State()


class InviteForm(StatesGroup):
    code = State()


class RejectForm(StatesGroup):
    """A manager rejecting a join request: the reason (or none), then the confirmation."""

    reason = State()
    confirm = State()


def request_card(request: JoinRequestView, applicant: PersonView) -> str:
    return join_request_text(members.join_request_params(request, applicant))


def join_request_text(params: Mapping[str, Any]) -> str:
    """A join request as managers read it, in the current language (`members.join_request_params`); once
    decided, who decided and when ("decided", "decided_by", "decided_at")."""
    who = person_link(params["applicant_name"], params.get("applicant_telegram_id"), params.get("applicant_username"))
    lines = [
        _("📥 <b>Request to join the cluster</b>"),
        "",
        _("Person: {name}").format(name=who),
        _("Organisation: {organisation}").format(organisation=escape(params["organisation_name"])),
        _("Fiscal code (CUI): {cui}").format(cui=escape(params["cui"])),
        _("Role in the organisation: {position}").format(position=escape(params["position"])),
    ]
    existing = params.get("existing_organisation")
    if existing:
        count = int(params.get("existing_representatives") or 0)
        lines.append(
            ngettext(
                "Already in the cluster as {organisation}, with {count} representative.",
                "Already in the cluster as {organisation}, with {count} representatives.",
                count,
            ).format(organisation=escape(existing), count=count)
        )
    else:
        lines.append(_("A new organisation for the cluster."))
    decided = params.get("decided")
    if decided:
        moment = datetime.fromisoformat(str(params["decided_at"]))
        when = format_datetime(moment, format="d MMM y, HH:mm", tzinfo=moment.tzinfo, locale=get_i18n().current_locale)
        outcome = (
            _("✅ Approved by {manager}, {when}.") if decided == "approved" else _("❌ Rejected by {manager}, {when}.")
        )
        lines += ["", outcome.format(manager=escape(str(params.get("decided_by") or "")), when=when)]
    return "\n".join(lines)


def join_requested_notice(params: Mapping[str, Any], locale: str) -> NoticeMessage:
    """`NoticeKind.JOIN_REQUESTED`, to every manager: the request and the approve and reject buttons; once
    decided (each manager's copy edited, `bot.notices.tell_copies`), who decided and when, without buttons."""
    if params.get("decided"):
        return join_request_text(params), None
    return join_request_text(params), join_decision(int(params["request_id"]))


def join_decided_notice(params: Mapping[str, Any], locale: str) -> NoticeMessage:
    """`NoticeKind.JOIN_DECIDED`, to the applicant: the decision and their main menu as it is now."""
    organisation = f"<b>{escape(params.get('organisation_name') or '')}</b>"
    if params["approved"]:
        text = _(
            "🎉 Good news: your request was approved. Welcome to the cluster! You now represent {organisation}."
        ).format(organisation=organisation)
    elif params.get("reason"):
        text = _(
            "The cluster's managers did not approve the request of organisation {organisation} to join the cluster.\n"
            "Their reason: {reason}\n\nIf you think this is a mistake, please write to the cluster team."
        ).format(organisation=organisation, reason=escape(str(params["reason"])))
    else:
        text = _(
            "The cluster's managers did not approve the request of organisation {organisation} to join the cluster. "
            "If you think this is a mistake, please write to the cluster team."
        ).format(organisation=organisation)
    return text, menu_for(locale, is_member=bool(params.get("member")), is_manager=bool(params.get("manager")))


def locale_of(person: PersonView, settings: Settings) -> str:
    return resolve_locale(person.language, person.telegram_language, settings.default_locale)


# --- asking to join ---------------------------------------------------------------------------------------------


# The join form's steps, in order: the answer each keeps, and how many there are.
_STEPS = ("organisation", "cui", "position")


def _step_state(field: str) -> State:
    return {"organisation": JoinForm.organisation, "cui": JoinForm.cui, "position": JoinForm.position}[field]


def _question(field: str) -> str:
    if field == "organisation":
        return _("1/3. What is the name of the organisation you represent?")
    if field == "cui":
        return _("2/3. What is its fiscal code (CUI)? For example: RO 14399840.")
    return _("3/3. What is your role in the organisation? For example: director, project manager.")


async def _ask_step(message: Message, state: FSMContext, field: str, *, editing: bool = False) -> None:
    """Ask for one answer; an answer given before is shown, and the new one replaces it. `editing`: asked from
    the summary, to which the answer (or Back) returns."""
    data = await state.update_data(editing=editing)
    await state.set_state(_step_state(field))
    text = _question(field)
    if data.get(field):
        text += "\n\n" + _("Now: {answer}. Send the new one.").format(answer=f"<b>{escape(str(data[field]))}</b>")
    # The first question without a previous one has no Back (Cancel only), unless it returns to the summary.
    markup = join_form_step() if field != "organisation" or editing else join_form_cancel()
    await message.answer(text, reply_markup=markup)


def _summary_text(data: Mapping[str, Any]) -> str:
    return "\n".join(
        (
            _("Please check your request:"),
            "",
            _("Organisation: {organisation}").format(organisation=escape(str(data["organisation"]))),
            _("Fiscal code (CUI): {cui}").format(cui=escape(str(data["cui"]))),
            _("Role in the organisation: {position}").format(position=escape(str(data["position"]))),
            "",
            _("✏️ changes an answer; ⬅️ Back goes to the previous step. Nothing is sent before ✅ Send request."),
        )
    )


async def _answered(message: Message, state: FSMContext, field: str, value: str) -> None:
    """An answer kept: the summary once every answer is there (or it was changed from the summary), else the
    next step."""
    data = await state.update_data({field: value})
    missing = [step for step in _STEPS if not data.get(step)]
    if data.get("editing") or not missing:
        await _show_summary(message, state)
        return
    following = _STEPS[_STEPS.index(field) + 1 :]
    await _ask_step(message, state, next((step for step in following if step in missing), missing[0]))


async def _show_summary(message: Message, state: FSMContext) -> None:
    data = await state.update_data(editing=False)
    await state.set_state(JoinForm.confirm)
    await message.answer(_summary_text(data), reply_markup=join_form_confirm())


async def begin_join(message: Message, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    try:
        members.ensure_can_apply(person)
        if await members.pending_request_of(repos, person.id):
            raise MembershipError(members.Refusal.REQUEST_PENDING)
    except MembershipError as refusal:
        await message.answer(explain(refusal), reply_markup=main_menu(person))
        return
    await state.set_state(JoinForm.organisation)
    await state.set_data({})
    await message.answer(
        _("Let's ask the managers to let your organisation in. It takes three short answers.")
        + "\n\n"
        + _question("organisation"),
        reply_markup=join_form_cancel(),
    )


async def join_command(message: Message, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    await begin_join(message, person, repos, state)


async def join_button(query: CallbackQuery, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await begin_join(query.message, person, repos, state)


async def _markup_now(state: FSMContext, field: str) -> InlineKeyboardMarkup:
    editing = bool((await state.get_data()).get("editing"))
    return join_form_step() if field != "organisation" or editing else join_form_cancel()


async def got_organisation(message: Message, state: FSMContext) -> None:
    try:
        name = members.clean_text(message.text, members.ORGANISATION_NAME_MAX)
    except MembershipError as refusal:
        await message.answer(explain(refusal), reply_markup=await _markup_now(state, "organisation"))
        return
    await _answered(message, state, "organisation", name)


async def got_cui(message: Message, state: FSMContext) -> None:
    cui = members.normalise_cui(message.text or "")
    if cui is None:
        await message.answer(
            explain(MembershipError(members.Refusal.INVALID_CUI)), reply_markup=await _markup_now(state, "cui")
        )
        return
    await _answered(message, state, "cui", cui)


async def got_position(message: Message, state: FSMContext) -> None:
    try:
        position = members.clean_text(message.text, members.POSITION_MAX)
    except MembershipError as refusal:
        await message.answer(explain(refusal), reply_markup=await _markup_now(state, "position"))
        return
    await _answered(message, state, "position", position)


_EDITS = {
    JoinFormAction.EDIT_ORGANISATION: "organisation",
    JoinFormAction.EDIT_CUI: "cui",
    JoinFormAction.EDIT_POSITION: "position",
}


async def edit_answer(query: CallbackQuery, callback_data: JoinFormCb, state: FSMContext) -> None:
    """From the summary: ask one answer again; the new one returns to the summary."""
    await query.answer()
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=None)
        await _ask_step(query.message, state, _EDITS[callback_data.action], editing=True)


async def step_back(query: CallbackQuery, state: FSMContext) -> None:
    """Back: from the summary to the last question; from a question to the one before; from an answer being
    changed, to the summary unchanged."""
    current = await state.get_state()
    data = await state.get_data()
    await query.answer()
    if not isinstance(query.message, Message):
        return
    with contextlib.suppress(TelegramBadRequest):
        await query.message.edit_reply_markup(reply_markup=None)
    if current == JoinForm.confirm.state:
        await _ask_step(query.message, state, _STEPS[-1])
        return
    field = next(step for step in _STEPS if _step_state(step).state == current)
    if data.get("editing") and all(data.get(step) for step in _STEPS):
        await _show_summary(query.message, state)
        return
    await _ask_step(query.message, state, _STEPS[max(0, _STEPS.index(field) - 1)])


async def refuse_stale_form_button(query: CallbackQuery) -> None:
    """A join form's button outside its step (an older message, or forged): nothing changes."""
    await query.answer(
        _(
            "This button is no longer valid: it is from an earlier step of the form. Please use the buttons of "
            "the newest message."
        ),
        show_alert=True,
    )


async def confirm_with_buttons(message: Message) -> None:
    await message.answer(
        _("Please use the buttons: change an answer, send the request, or cancel."), reply_markup=join_form_confirm()
    )


async def form_needs_text(message: Message) -> None:
    await message.answer(_("Please send it as text."), reply_markup=join_form_cancel())


async def cancel_form(query: CallbackQuery, person: PersonView, state: FSMContext) -> None:
    await state.clear()
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
        await query.message.answer(
            _("Cancelled. Nothing was sent.") + "\n\n" + menu_text(person), reply_markup=main_menu(person)
        )


async def send_request(
    query: CallbackQuery,
    person: PersonView,
    repos: Repositories,
    state: FSMContext,
    settings: Settings,
) -> None:
    data = await state.get_data()
    try:
        await members.submit_join_request(
            repos,
            person,
            organisation_name=data["organisation"],
            cui=data["cui"],
            position=data["position"],
            default_locale=settings.default_locale,
        )
    except MembershipError as refusal:
        await state.clear()
        await query.answer(explain(refusal), show_alert=True)
        return
    await state.clear()
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
        await query.message.answer(
            _("✅ Your request has been sent to the cluster's managers. I will tell you here as soon as they decide."),
            reply_markup=main_menu(person),
        )


# --- invite codes -------------------------------------------------------------------------------------------------


async def use_invite(message: Message, person: PersonView, repos: Repositories, code: str) -> None:
    try:
        updated = await members.redeem_invite(repos, person, code)
    except MembershipError as refusal:
        await message.answer(explain(refusal), reply_markup=main_menu(person))
        return
    await message.answer(
        _("🎉 Welcome to the cluster! You now represent {organisation}.").format(
            organisation=f"<b>{escape(updated.organisation_name or '')}</b>"
        )
        + "\n\n"
        + menu_text(updated),
        reply_markup=main_menu(updated),
    )


async def start_with_code(
    message: Message, command: CommandObject, person: PersonView, repos: Repositories, state: FSMContext
) -> None:
    await state.clear()
    await use_invite(message, person, repos, (command.args or "").strip())


async def invite_code_button(query: CallbackQuery, state: FSMContext) -> None:
    await query.answer()
    await state.set_state(InviteForm.code)
    if isinstance(query.message, Message):
        await query.message.answer(
            _("Send me the invite code, or the whole invite link you received."), reply_markup=join_form_cancel()
        )


async def got_invite_code(message: Message, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    text = (message.text or "").strip()
    link = _START_LINK.search(text)
    await state.clear()
    await use_invite(message, person, repos, link.group(1) if link else text)


# --- managers -----------------------------------------------------------------------------------------------------


async def decide(
    query: CallbackQuery,
    callback_data: JoinDecisionCb,
    person: PersonView,
    repos: Repositories,
    settings: Settings,
) -> None:
    """Approve: one press (an approval can be followed by removing the person; a rejection is final)."""
    try:
        decision = await members.decide_join_request(
            repos,
            callback_data.request_id,
            person,
            approve=True,
            default_locale=settings.default_locale,
            tz=settings.tz,
        )
    except MembershipError as refusal:
        await _refused(query, refusal)
        return
    await _decided(query, decision, person, settings)


async def _refused(query: CallbackQuery, refusal: MembershipError) -> None:
    """A decided (or gone) request: said, and the stale buttons taken away."""
    await query.answer(explain(refusal), show_alert=True)
    if refusal.reason in (members.Refusal.REQUEST_DECIDED, members.Refusal.REQUEST_NOT_FOUND) and isinstance(
        query.message, Message
    ):
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=None)


def _outcome(decision: members.Decision, person: PersonView, settings: Settings) -> str:
    when = format_when(utcnow(), locale_of(person, settings), settings.tz)
    return (
        _("✅ Approved by {manager}, {when}.") if decision.approved else _("❌ Rejected by {manager}, {when}.")
    ).format(manager=escape(person.full_name), when=when)


async def _decided(query: CallbackQuery, decision: members.Decision, person: PersonView, settings: Settings) -> None:
    outcome = _outcome(decision, person, settings)
    await query.answer(outcome)
    if isinstance(query.message, Message):
        await query.message.edit_text(f"{query.message.html_text}\n\n{outcome}", reply_markup=None)


async def ask_reject_reason(
    query: CallbackQuery,
    callback_data: JoinDecisionCb,
    person: PersonView,
    repos: Repositories,
    state: FSMContext,
) -> None:
    """Reject: first the reason the applicant will read (or none), then the confirmation."""
    try:
        request = await members.check_can_decide(repos, callback_data.request_id, person)
    except MembershipError as refusal:
        await _refused(query, refusal)
        return
    await query.answer()
    if not isinstance(query.message, Message):
        return
    await state.set_state(RejectForm.reason)
    await state.set_data(
        {
            "reject_request_id": request.id,
            "organisation": request.organisation_name,
            "card_chat_id": query.message.chat.id,
            "card_message_id": query.message.message_id,
        }
    )
    await query.message.answer(
        _(
            "Why are you rejecting the request of organisation {organisation} to join? The applicant will "
            "receive the reason (at most {limit} characters)."
        ).format(organisation=f"<b>{escape(request.organisation_name)}</b>", limit=members.REASON_MAX),
        reply_markup=join_reject_reason(request.id),
    )


def _confirm_text(organisation: str, reason: str | None) -> str:
    text = _("Reject the request of organisation {organisation}? This cannot be undone.").format(
        organisation=f"<b>{escape(organisation)}</b>"
    )
    if reason:
        return text + "\n\n" + _("The reason the applicant will receive: {reason}").format(reason=escape(reason))
    return text + "\n\n" + _("The applicant will be told without a reason.")


async def got_reject_reason(message: Message, state: FSMContext) -> None:
    data = await state.get_data()
    request_id = int(data.get("reject_request_id", 0))
    try:
        reason = members.clean_text(message.text, members.REASON_MAX)
    except MembershipError as refusal:
        await message.answer(explain(refusal), reply_markup=join_reject_reason(request_id))
        return
    await state.update_data(reason=reason)
    await state.set_state(RejectForm.confirm)
    await message.answer(
        _confirm_text(str(data.get("organisation", "")), reason), reply_markup=join_reject_confirm(request_id)
    )


async def _same_request(
    query: CallbackQuery, callback_data: JoinDecisionCb, state: FSMContext
) -> dict[str, Any] | None:
    """The conversation's data when this button is for the request being rejected; refused otherwise (a button
    of an older conversation, or forged)."""
    data = await state.get_data()
    if int(data.get("reject_request_id", 0)) != callback_data.request_id:
        await query.answer(
            _("This button is from an earlier step. Please press Reject on the request again."), show_alert=True
        )
        return None
    return data


async def reject_without_reason(
    query: CallbackQuery, callback_data: JoinDecisionCb, person: PersonView, repos: Repositories, state: FSMContext
) -> None:
    data = await _same_request(query, callback_data, state)
    if data is None:
        return
    try:
        await members.check_can_decide(repos, callback_data.request_id, person)
    except MembershipError as refusal:
        await state.clear()
        await _refused(query, refusal)
        return
    await state.update_data(reason=None)
    await state.set_state(RejectForm.confirm)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(
            _confirm_text(str(data.get("organisation", "")), None),
            reply_markup=join_reject_confirm(callback_data.request_id),
        )


async def confirm_reject(
    query: CallbackQuery,
    callback_data: JoinDecisionCb,
    person: PersonView,
    repos: Repositories,
    state: FSMContext,
    settings: Settings,
    bot: Bot,
) -> None:
    data = await _same_request(query, callback_data, state)
    if data is None:
        return
    await state.clear()
    reason = data.get("reason")
    try:
        decision = await members.decide_join_request(
            repos,
            callback_data.request_id,
            person,
            approve=False,
            default_locale=settings.default_locale,
            reason=str(reason) if reason else None,
            tz=settings.tz,
        )
    except MembershipError as refusal:
        await _refused(query, refusal)
        return
    outcome = _outcome(decision, person, settings)
    await query.answer(outcome)
    if isinstance(query.message, Message):
        told = _("The applicant will receive the reason.") if reason else _("The applicant is told, without a reason.")
        await query.message.edit_text(f"{outcome}\n{told}", reply_markup=None)
    # The card the manager pressed Reject on (a notice's copy is also edited by the sender; a /requests card
    # only here).
    with contextlib.suppress(TelegramBadRequest, KeyError, ValueError):
        await bot.edit_message_reply_markup(
            chat_id=int(data["card_chat_id"]), message_id=int(data["card_message_id"]), reply_markup=None
        )


async def reject_back(
    query: CallbackQuery, callback_data: JoinDecisionCb, person: PersonView, repos: Repositories, state: FSMContext
) -> None:
    """Back from the reason or the confirmation: nothing changes, and the request can be decided again."""
    data = await state.get_data()
    if int(data.get("reject_request_id", 0)) == callback_data.request_id:
        await state.clear()
    await query.answer()
    if not isinstance(query.message, Message):
        return
    try:
        request = await members.check_can_decide(repos, callback_data.request_id, person)
    except MembershipError as refusal:
        await query.message.edit_text(explain(refusal), reply_markup=None)
        return
    await query.message.edit_text(
        _("Nothing was changed: the request of organisation {organisation} is still waiting.").format(
            organisation=f"<b>{escape(request.organisation_name)}</b>"
        ),
        reply_markup=join_decision(request.id),
    )


async def refuse_stale_step(query: CallbackQuery) -> None:
    await query.answer(
        _("This button is from an earlier step. Please press Reject on the request again."), show_alert=True
    )


async def list_requests(message: Message, person: PersonView, repos: Repositories) -> None:
    pending = await members.pending_requests(repos, person)
    if not pending:
        await message.answer(_("No join requests are waiting."), reply_markup=main_menu(person))
        return
    await message.answer(
        ngettext("{count} join request is waiting:", "{count} join requests are waiting:", len(pending)).format(
            count=len(pending)
        )
    )
    for request, applicant in pending[:20]:
        await message.answer(request_card(request, applicant), reply_markup=join_decision(request.id))


async def requests_command(message: Message, person: PersonView, repos: Repositories) -> None:
    await list_requests(message, person, repos)


async def requests_button(query: CallbackQuery, person: PersonView, repos: Repositories) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await list_requests(query.message, person, repos)


async def invite_command(
    message: Message, command: CommandObject, person: PersonView, repos: Repositories, bot: Bot
) -> None:
    query = (command.args or "").strip()
    if not query:
        await message.answer(
            _("Write the organisation's name or CUI after the command, for example: /invite EcoTech SRL")
        )
        return
    organisation = await members.find_organisation(repos, query)
    if organisation is None:
        await message.answer(
            _("I do not know that organisation.")
            + " "
            + _("Organisations enter the cluster through an approved request or the member list import.")
        )
        return
    invite = await members.create_invite(repos, organisation.id, actor=person)
    me = await bot.me()
    await message.answer(
        _(
            "🎟 Invite link for {organisation}:\n{link}\n\n"
            "Whoever opens it becomes a representative of this organisation at once. Share it only with them."
        ).format(
            organisation=f"<b>{escape(invite.organisation_name)}</b>",
            link=f"https://t.me/{me.username}?start={invite.code}",
        )
    )


def build_routers() -> tuple[Router, Router]:
    """Deep links (which must come before the plain /start) and the rest of joining."""
    deep_links = Router(name=f"{__name__}.deep_links")
    deep_links.message.register(
        start_with_code, CommandStart(deep_link=True, ignore_case=True), F.chat.type == "private"
    )

    router = Router(name=__name__)
    private = F.chat.type == "private"
    answer = F.text & ~F.text.startswith("/")
    router.message.register(join_command, Command("join", ignore_case=True), private)
    router.message.register(got_organisation, JoinForm.organisation, answer)
    router.message.register(got_cui, JoinForm.cui, answer)
    router.message.register(got_position, JoinForm.position, answer)
    router.message.register(got_invite_code, InviteForm.code, answer)
    router.message.register(confirm_with_buttons, JoinForm.confirm, ~F.text.startswith("/"))
    router.message.register(
        form_needs_text, StateFilter(JoinForm.organisation, JoinForm.cui, JoinForm.position, InviteForm.code), ~F.text
    )

    router.callback_query.register(join_button, MenuCb.filter(F.action == MenuAction.JOIN))
    router.callback_query.register(invite_code_button, MenuCb.filter(F.action == MenuAction.INVITE_CODE))
    router.callback_query.register(cancel_form, JoinFormCb.filter(F.action == JoinFormAction.CANCEL))
    router.callback_query.register(send_request, JoinForm.confirm, JoinFormCb.filter(F.action == JoinFormAction.SEND))
    router.callback_query.register(edit_answer, JoinForm.confirm, JoinFormCb.filter(F.action.in_(set(_EDITS))))
    router.callback_query.register(
        step_back,
        StateFilter(JoinForm.organisation, JoinForm.cui, JoinForm.position, JoinForm.confirm),
        JoinFormCb.filter(F.action == JoinFormAction.BACK),
    )
    # Send, Back or Edit outside their step: refused, nothing sent or changed.
    router.callback_query.register(refuse_stale_form_button, JoinFormCb.filter())

    managers = managers_router(f"{__name__}.managers")
    managers.message.register(requests_command, Command("requests", ignore_case=True), private)
    managers.message.register(invite_command, Command("invite", ignore_case=True), private)
    managers.callback_query.register(requests_button, MenuCb.filter(F.action == MenuAction.REQUESTS))
    decision = JoinDecisionCb.filter
    managers.message.register(got_reject_reason, RejectForm.reason, answer)
    managers.message.register(form_needs_text, RejectForm.reason, ~F.text)
    managers.callback_query.register(decide, decision(F.decision == JoinDecision.APPROVE))
    managers.callback_query.register(ask_reject_reason, decision(F.decision == JoinDecision.REJECT))
    managers.callback_query.register(
        reject_without_reason, RejectForm.reason, decision(F.decision == JoinDecision.NO_REASON)
    )
    managers.callback_query.register(
        confirm_reject, RejectForm.confirm, decision(F.decision == JoinDecision.CONFIRM_REJECT)
    )
    managers.callback_query.register(reject_back, decision(F.decision == JoinDecision.BACK))
    # A step's button outside its step (an older conversation, or forged): refused, nothing decided.
    managers.callback_query.register(
        refuse_stale_step, decision(F.decision.in_({JoinDecision.NO_REASON, JoinDecision.CONFIRM_REJECT}))
    )
    router.include_router(managers)
    return deep_links, router
