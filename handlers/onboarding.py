"""Joining the cluster: the join request conversation, invite codes, and the managers' decisions."""

from __future__ import annotations

import re
from collections.abc import Mapping
from html import escape
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

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
    main_menu,
    menu_for,
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


def request_card(request: JoinRequestView, applicant: PersonView) -> str:
    return join_request_text(members.join_request_params(request, applicant))


def join_request_text(params: Mapping[str, Any]) -> str:
    """A join request as managers read it, in the current language (`members.join_request_params`)."""
    username = params.get("applicant_username")
    who = escape(params["applicant_name"]) + (f" (@{escape(username)})" if username else "")
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
    return "\n".join(lines)


def join_requested_notice(params: Mapping[str, Any], locale: str) -> NoticeMessage:
    """`NoticeKind.JOIN_REQUESTED`, to every manager: the request and the approve and reject buttons."""
    return join_request_text(params), join_decision(int(params["request_id"]))


def join_decided_notice(params: Mapping[str, Any], locale: str) -> NoticeMessage:
    """`NoticeKind.JOIN_DECIDED`, to the applicant: the decision and their main menu as it is now."""
    organisation = f"<b>{escape(params.get('organisation_name') or '')}</b>"
    if params["approved"]:
        text = _(
            "🎉 Good news: your request was approved. Welcome to the cluster! You now represent {organisation}."
        ).format(organisation=organisation)
    else:
        text = _(
            "Your request to join for {organisation} was not approved. "
            "If you think this is a mistake, please write to the cluster team."
        ).format(organisation=organisation)
    return text, menu_for(locale, is_member=bool(params.get("member")), is_manager=bool(params.get("manager")))


def locale_of(person: PersonView, settings: Settings) -> str:
    return resolve_locale(person.language, person.telegram_language, settings.default_locale)


# --- asking to join ---------------------------------------------------------------------------------------------


async def begin_join(message: Message, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    try:
        members.ensure_can_apply(person)
        if await members.pending_request_of(repos, person.id):
            raise MembershipError(members.Refusal.REQUEST_PENDING)
    except MembershipError as refusal:
        await message.answer(explain(refusal), reply_markup=main_menu(person))
        return
    await state.set_state(JoinForm.organisation)
    await message.answer(
        _("Let's ask the managers to let your organisation in. It takes three short answers.")
        + "\n\n"
        + _("1/3. What is the name of the organisation you represent?"),
        reply_markup=join_form_cancel(),
    )


async def join_command(message: Message, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    await begin_join(message, person, repos, state)


async def join_button(query: CallbackQuery, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await begin_join(query.message, person, repos, state)


async def got_organisation(message: Message, state: FSMContext) -> None:
    try:
        name = members.clean_text(message.text, members.ORGANISATION_NAME_MAX)
    except MembershipError as refusal:
        await message.answer(explain(refusal), reply_markup=join_form_cancel())
        return
    await state.update_data(organisation=name)
    await state.set_state(JoinForm.cui)
    await message.answer(
        _("2/3. What is its fiscal code (CUI)? For example: RO 14399840."), reply_markup=join_form_cancel()
    )


async def got_cui(message: Message, state: FSMContext) -> None:
    cui = members.normalise_cui(message.text or "")
    if cui is None:
        await message.answer(explain(MembershipError(members.Refusal.INVALID_CUI)), reply_markup=join_form_cancel())
        return
    await state.update_data(cui=cui)
    await state.set_state(JoinForm.position)
    await message.answer(
        _("3/3. What is your role in the organisation? For example: director, project manager."),
        reply_markup=join_form_cancel(),
    )


async def got_position(message: Message, state: FSMContext) -> None:
    try:
        position = members.clean_text(message.text, members.POSITION_MAX)
    except MembershipError as refusal:
        await message.answer(explain(refusal), reply_markup=join_form_cancel())
        return
    data = await state.update_data(position=position)
    await state.set_state(JoinForm.confirm)
    summary = "\n".join(
        (
            _("Please check your request:"),
            "",
            _("Organisation: {organisation}").format(organisation=escape(data["organisation"])),
            _("Fiscal code (CUI): {cui}").format(cui=escape(data["cui"])),
            _("Role in the organisation: {position}").format(position=escape(position)),
        )
    )
    await message.answer(summary, reply_markup=join_form_confirm())


async def confirm_with_buttons(message: Message) -> None:
    await message.answer(_("Please use the buttons: send the request, or cancel."), reply_markup=join_form_confirm())


async def form_needs_text(message: Message) -> None:
    await message.answer(_("Please send it as text."), reply_markup=join_form_cancel())


async def cancel_form(query: CallbackQuery, person: PersonView, state: FSMContext) -> None:
    await state.clear()
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
        await query.message.answer(
            _("Stopped. Nothing was sent.") + "\n\n" + menu_text(person), reply_markup=main_menu(person)
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
    approve = callback_data.decision is JoinDecision.APPROVE
    try:
        await members.decide_join_request(
            repos, callback_data.request_id, person, approve=approve, default_locale=settings.default_locale
        )
    except MembershipError as refusal:
        await query.answer(explain(refusal), show_alert=True)
        if refusal.reason is members.Refusal.REQUEST_DECIDED and isinstance(query.message, Message):
            await query.message.edit_reply_markup(reply_markup=None)
        return
    when = format_when(utcnow(), locale_of(person, settings), settings.tz)
    outcome = (_("✅ Approved by {manager}, {when}.") if approve else _("❌ Rejected by {manager}, {when}.")).format(
        manager=escape(person.full_name), when=when
    )
    await query.answer(outcome)
    if isinstance(query.message, Message):
        await query.message.edit_text(f"{query.message.html_text}\n\n{outcome}", reply_markup=None)


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

    managers = managers_router(f"{__name__}.managers")
    managers.message.register(requests_command, Command("requests", ignore_case=True), private)
    managers.message.register(invite_command, Command("invite", ignore_case=True), private)
    managers.callback_query.register(requests_button, MenuCb.filter(F.action == MenuAction.REQUESTS))
    managers.callback_query.register(decide, JoinDecisionCb.filter())
    router.include_router(managers)
    return deep_links, router
