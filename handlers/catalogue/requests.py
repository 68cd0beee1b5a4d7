"""Requests for a service: a member's request and its note; the managers' Take it / Done / Decline (with a
reason) and `/service_requests`; what each side is told (the notices' wordings) and /profile's lines."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import datetime
from html import escape
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext
from babel.dates import format_datetime

from bot.config import Settings
from bot.services import catalogue
from bot.services.catalogue import CatalogueError, Refusal, RequestAction, ServiceRequestView
from bot.services.members import PersonView
from handlers.catalogue.forms import DeclineForm, RequestForm, leave_form, managers_routes, needs_text
from handlers.catalogue.keyboards import BrowseAction, ServiceRequestCb, ServicesCb, button, cancel_row, keyboard
from handlers.catalogue.screens import replace_screen, short
from handlers.keyboards import MenuAction, MenuCb, NoticeMessage, main_menu, person_link
from handlers.privacy import shown_name
from handlers.refusals import explain
from storage.models import ServiceRequestStatus
from storage.repositories import Repositories

# --- what people read -------------------------------------------------------------------------------------------------


def join_invitation() -> InlineKeyboardMarkup:
    return keyboard(
        [
            [InlineKeyboardButton(text=_("🤝 Join the cluster"), callback_data=MenuCb(action=MenuAction.JOIN).pack())],
            [
                InlineKeyboardButton(
                    text=_("🎟 I have an invite code"), callback_data=MenuCb(action=MenuAction.INVITE_CODE).pack()
                )
            ],
        ]
    )


def request_card(request: ServiceRequestView, locale: str, changed_at: str | None = None) -> str:
    """A request as managers see it, with how it stands (and since when, `changed_at`, an ISO moment in the
    cluster's time zone, on the managers' copies edited after a change)."""
    who = person_link(shown_name(request.person_name) or "", request.person_telegram_id, request.person_username)
    lines = [
        _("📨 <b>Service request #{id}</b>").format(id=request.id),
        "",
        _("Service: {service}").format(service=f"<b>{escape(request.service_title(locale))}</b>"),
        _("From: {name}").format(name=who),
        _("Organisation: {organisation}").format(
            organisation=escape(request.organisation_name) if request.organisation_name else "—"
        ),
        _("Note: {note}").format(note=escape(request.note)),
    ]
    manager = escape(request.handled_by_name or "—")
    status = {
        ServiceRequestStatus.TAKEN: _("🙋 Taken by {manager}.").format(manager=manager),
        ServiceRequestStatus.DONE: _("✅ Done, marked by {manager}.").format(manager=manager),
        ServiceRequestStatus.DECLINED: _("❌ Declined by {manager}: {reason}").format(
            manager=manager, reason=escape(request.decline_reason or "")
        ),
    }.get(request.status)
    if status:
        lines += ["", status]
        if changed_at:
            moment = datetime.fromisoformat(changed_at)
            when = format_datetime(moment, format="d MMM y, HH:mm", tzinfo=moment.tzinfo, locale=locale)
            lines.append(_("Last change: {when}").format(when=when))
    return "\n".join(lines)


def request_keyboard(request: ServiceRequestView) -> InlineKeyboardMarkup | None:
    labels = {
        RequestAction.TAKE: _("🙋 Take it"),
        RequestAction.DONE: _("✅ Done"),
        RequestAction.DECLINE: _("❌ Decline"),
    }
    row = [
        button(labels[action], ServiceRequestCb(request_id=request.id, action=action))
        for action in catalogue.actions_for(request.status)
    ]
    return keyboard([row]) if row else None


def service_requested_notice(params: Mapping[str, Any], locale: str) -> NoticeMessage:
    """`NoticeKind.SERVICE_REQUESTED`, to every manager: the request and what they can do with it."""
    request = ServiceRequestView.from_params(params)
    changed_at = params.get("changed_at")
    return request_card(request, locale, str(changed_at) if changed_at else None), request_keyboard(request)


def service_request_changed_notice(params: Mapping[str, Any], locale: str) -> NoticeMessage:
    """`NoticeKind.SERVICE_REQUEST_CHANGED`, to the member: taken, done or declined, and their profile."""
    profile = InlineKeyboardButton(text=_("👤 My profile"), callback_data=MenuCb(action=MenuAction.PROFILE).pack())
    return member_notice(ServiceRequestView.from_params(params), locale), keyboard([[profile]])


def member_notice(request: ServiceRequestView, locale: str) -> str:
    """What the member is told when their request changes."""
    service = f"<b>{escape(request.service_title(locale))}</b>"
    manager = escape(request.handled_by_name or "")
    if request.status is ServiceRequestStatus.TAKEN:
        return _(
            "🙋 {manager} from the cluster's team has taken your request for {service} and will be in touch."
        ).format(manager=manager, service=service)
    if request.status is ServiceRequestStatus.DONE:
        return _("✅ Your request for {service} is done.").format(service=service)
    return _("Your request for {service} was declined by {manager}. The reason: {reason}").format(
        service=service, manager=manager, reason=escape(request.decline_reason or "")
    )


def requests_section(requests: list[ServiceRequestView], locale: str) -> list[str]:
    """The lines /profile shows about a member's latest requests for services."""
    if not requests:
        return []
    names = {
        ServiceRequestStatus.OPEN: _("waiting for the team"),
        ServiceRequestStatus.DONE: _("done"),
        ServiceRequestStatus.DECLINED: _("declined"),
    }
    lines = ["", _("🧰 Your requests for services:")]
    for request in requests:
        if request.status is ServiceRequestStatus.TAKEN:
            status = _("taken by {manager}").format(manager=escape(request.handled_by_name or "—"))
        else:
            status = names[request.status]
        lines.append(f"• {escape(short(request.service_title(locale), 80))}: {status}")
    return lines


# --- a member asks --------------------------------------------------------------------------------------------------


async def ask_note(
    query: CallbackQuery,
    callback_data: ServicesCb,
    person: PersonView,
    repos: Repositories,
    locale: str,
    state: FSMContext,
) -> None:
    try:
        service = await catalogue.check_can_request(repos, person, callback_data.id)
    except CatalogueError as refusal:
        if refusal.reason is not Refusal.MEMBERS_ONLY or not isinstance(query.message, Message):
            raise
        # A guest: invited to join, in the chat.
        await query.answer()
        await query.message.answer(explain(refusal), reply_markup=join_invitation())
        return
    await query.answer()
    await state.set_state(RequestForm.note)
    await state.update_data(service_id=service.id)
    if isinstance(query.message, Message):
        await query.message.answer(
            f"📨 <b>{escape(service.title(locale))}</b>\n\n"
            + _(
                "In a few words, what do you need? The cluster's team reads it with your request "
                "(at most {limit} characters)."
            ).format(limit=catalogue.NOTE_MAX),
            reply_markup=keyboard([cancel_row()]),
        )


async def got_note(
    message: Message, person: PersonView, repos: Repositories, state: FSMContext, settings: Settings
) -> None:
    service_id = int((await state.get_data()).get("service_id", 0))
    try:
        await catalogue.submit_request(repos, person, service_id, message.text, default_locale=settings.default_locale)
    except CatalogueError as refusal:
        if refusal.reason in (Refusal.TEXT_EMPTY, Refusal.TEXT_TOO_LONG):
            # The question stays: another note, or Cancel.
            await message.answer(explain(refusal), reply_markup=keyboard([cancel_row()]))
            return
        # Refused otherwise (the service hidden meanwhile, say): the form is over, the menu is offered.
        await leave_form(state)
        await message.answer(explain(refusal), reply_markup=main_menu(person))
        return
    await leave_form(state)
    await message.answer(
        _(
            "✅ Your request has been sent to the cluster's team. I will tell you here when someone takes it; "
            "/profile shows how it stands."
        ),
        reply_markup=main_menu(person),
    )


# --- managers handle them ---------------------------------------------------------------------------------------------


async def _refresh_stale(query: CallbackQuery, refusal: CatalogueError, locale: str) -> None:
    """A stale button: say what happened, and show the request as it stands now; other refusals go on."""
    request = refusal.context.get("request")
    if not isinstance(request, ServiceRequestView):
        raise refusal
    await query.answer(explain(refusal), show_alert=True)
    await replace_screen(query, request_card(request, locale), request_keyboard(request))


async def act_on_request(
    query: CallbackQuery,
    callback_data: ServiceRequestCb,
    person: PersonView,
    repos: Repositories,
    locale: str,
    settings: Settings,
) -> None:
    try:
        changed = await catalogue.act_on_request(
            repos,
            person,
            callback_data.request_id,
            callback_data.action,
            default_locale=settings.default_locale,
            tz=settings.tz,
        )
    except CatalogueError as refusal:
        await _refresh_stale(query, refusal, locale)
        return
    await query.answer()
    await replace_screen(query, request_card(changed.request, locale), request_keyboard(changed.request))


async def ask_reason(
    query: CallbackQuery,
    callback_data: ServiceRequestCb,
    person: PersonView,
    repos: Repositories,
    locale: str,
    state: FSMContext,
) -> None:
    try:
        request = await catalogue.check_can_act(repos, person, callback_data.request_id, RequestAction.DECLINE)
    except CatalogueError as refusal:
        await _refresh_stale(query, refusal, locale)
        return
    await query.answer()
    if not isinstance(query.message, Message):
        return
    await state.set_state(DeclineForm.reason)
    await state.update_data(
        request_id=request.id, card_chat_id=query.message.chat.id, card_message_id=query.message.message_id
    )
    await query.message.answer(
        _("Why are you declining request #{id} ({service})? {member} will read your reason.").format(
            id=request.id, service=escape(request.service_title(locale)), member=escape(request.person_name)
        ),
        reply_markup=keyboard([cancel_row()]),
    )


async def got_reason(
    message: Message,
    person: PersonView,
    repos: Repositories,
    state: FSMContext,
    locale: str,
    settings: Settings,
    bot: Bot,
) -> None:
    data = await state.get_data()
    try:
        changed = await catalogue.act_on_request(
            repos,
            person,
            int(data.get("request_id", 0)),
            RequestAction.DECLINE,
            default_locale=settings.default_locale,
            reason=message.text,
            tz=settings.tz,
        )
    except CatalogueError as refusal:
        if refusal.reason in (Refusal.TEXT_EMPTY, Refusal.TEXT_TOO_LONG):
            # The question stays: another reason, or Cancel.
            await message.answer(explain(refusal), reply_markup=keyboard([cancel_row()]))
            return
        # Handled or gone meanwhile: the form is over (the refusal is said by handlers.refusals.on_refusal).
        await leave_form(state)
        raise
    await leave_form(state)
    request = changed.request
    with contextlib.suppress(TelegramBadRequest):
        await bot.edit_message_text(
            text=request_card(request, locale),
            chat_id=int(data["card_chat_id"]),
            message_id=int(data["card_message_id"]),
            reply_markup=request_keyboard(request),
        )
    await message.answer(
        _("❌ Declined. {member} will be told, with your reason.").format(member=escape(request.person_name))
    )


async def _list_requests(message: Message, person: PersonView, repos: Repositories, locale: str) -> None:
    requests, total = await catalogue.unfinished_requests(repos, person)
    if not requests:
        await message.answer(_("No service requests are waiting."))
        return
    await message.answer(
        ngettext(
            "{count} service request is waiting or in hand:", "{count} service requests are waiting or in hand:", total
        ).format(count=total)
    )
    for request in requests:
        await message.answer(request_card(request, locale), reply_markup=request_keyboard(request))


async def requests_command(message: Message, person: PersonView, repos: Repositories, locale: str) -> None:
    await _list_requests(message, person, repos, locale)


async def requests_button(query: CallbackQuery, person: PersonView, repos: Repositories, locale: str) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await _list_requests(query.message, person, repos, locale)


def build_routers() -> tuple[Router, Router]:
    """The members' side (asking) and the managers' side (guarded once, on its router)."""
    members = Router(name=__name__)
    members.message.register(got_note, RequestForm.note, F.text & ~F.text.startswith("/"))
    members.callback_query.register(ask_note, ServicesCb.filter(F.action == BrowseAction.ASK))

    managers = managers_routes(f"{__name__}.managers")
    managers.message.register(requests_command, Command("service_requests", ignore_case=True), F.chat.type == "private")
    managers.message.register(got_reason, DeclineForm.reason, F.text & ~F.text.startswith("/"))
    managers.message.register(needs_text, DeclineForm.reason, ~F.text)
    managers.callback_query.register(requests_button, ServicesCb.filter(F.action == BrowseAction.REQUESTS))
    managers.callback_query.register(
        act_on_request, ServiceRequestCb.filter(F.action.in_({RequestAction.TAKE, RequestAction.DONE}))
    )
    managers.callback_query.register(ask_reason, ServiceRequestCb.filter(F.action == RequestAction.DECLINE))
    return members, managers
