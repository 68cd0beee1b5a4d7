"""Start, menu, help, profile and language; group chats; what the bot says to anything it does not expect."""

from __future__ import annotations

import logging
from html import escape
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, ErrorEvent, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.services import catalogue, members, questions
from bot.services.members import PersonView
from bot.services.questions import ThreadView
from handlers.catalogue import requests_section
from handlers.catalogue.requests import requests_button as service_requests_screen
from handlers.guards import managers_router
from handlers.keyboards import (
    LANGUAGE_NAMES,
    LanguageCb,
    MenuAction,
    MenuCb,
    back_to_menu,
    language_keyboard,
    main_menu,
    open_private_chat,
)
from handlers.questions import profile_buttons as questions_buttons
from handlers.questions import profile_section as questions_section
from handlers.questions import write_button
from handlers.refusals import tell_about_update
from storage.models import Role
from storage.repositories import Repositories

log = logging.getLogger(__name__)


GROUP_COMMANDS = ("start", "help", "menu", "profile", "language", "join")


def role_name(role: Role) -> str:
    return {
        Role.GUEST: _("guest"),
        Role.MEMBER: _("member"),
        Role.MANAGER: _("manager"),
        Role.ADMIN: _("administrator"),
    }[role]


def status_line(person: PersonView) -> str:
    if person.organisation_name:
        line = _("You represent {organisation} in the cluster.").format(
            organisation=f"<b>{escape(person.organisation_name)}</b>"
        )
    elif person.is_manager:
        line = ""
    elif person.is_member:
        line = _("You are a member of the cluster.")
    else:
        line = _("You are visiting as a guest. To take part, join the cluster for your organisation.")
    if person.is_manager:
        line = "\n".join(filter(None, (line, _("Role in the cluster: {role}").format(role=role_name(person.role)))))
    return line


def menu_text(person: PersonView) -> str:
    """Where the person stands, then the menu's question: the question comes last, right above the buttons."""
    return "\n\n".join(filter(None, (status_line(person), _("What would you like to do?"))))


def welcome_back_text(person: PersonView) -> str:
    """/start for someone welcomed before: a greeting and the menu, without the privacy notice again."""
    return _("👋 Hello again, {name}!").format(name=escape(person.first_name)) + "\n\n" + menu_text(person)


def welcome_text(person: PersonView) -> str:
    """The first /start: who the bot is, what it does, where the person stands and the privacy notice."""
    return "\n\n".join(
        (
            _("👋 Hello, {name}!").format(name=escape(person.first_name)),
            _(
                "I'm the cluster's assistant. With my help, organisations can join the cluster, and their "
                "representatives can ask for the cluster's services, take part in its working groups and projects, "
                "receive alerts of public tenders and write to the cluster team."
            ),
            status_line(person),
            _(
                "🔒 Privacy: I keep your Telegram name and id, your language and what you tell me about "
                "your organisation, only to run the cluster's services. /privacy shows all I keep; there you "
                "can download it or have it erased."
            ),
            _("What would you like to do?"),
        )
    )


def help_text(person: PersonView) -> str:
    lines = [
        _("Here is what I understand:"),
        "",
        _("/start: welcome and main menu"),
        _("/menu: main menu"),
        _("/services: the cluster's services; /services WORDS searches them"),
    ]
    if person.is_member:
        # What only members do: a guest is not offered what would refuse them.
        lines += [
            _("/groups: working groups: browse, join, leave or propose one"),
            _("/projects: projects: propose one, commit your organisation's resources, see its rank"),
            _("/tenders: your tender alert profiles: which public tenders I tell you of"),
        ]
    else:
        lines += [
            _("/groups: the cluster's working groups"),
            _("/join: ask to join the cluster for your organisation"),
        ]
    lines += [
        _("/profile: your organisation, role, language and service requests"),
        _("/language: choose Romanian or English"),
        _("/privacy: what I keep about you; download it or have it erased"),
        _("/write: write to the cluster team (a question, a photo or a document); the reply comes here"),
        _("/cancel: stop what you are doing"),
        _("/help: this message"),
    ]
    if person.is_manager:
        lines += [
            "",
            _("For managers:"),
            _("/requests: join requests waiting for a decision"),
            _("/invite ORGANISATION: an invite link for an organisation (its name or CUI)"),
            _("/announce: send an announcement to members"),
            _("/announcements: scheduled announcements"),
            _("/service_requests: members' service requests still open"),
            _("/questions: messages to the cluster team still waiting, the oldest first"),
            _("The services and working groups screens show you buttons to edit them."),
        ]
    return "\n".join(lines)


async def profile_text(
    repos: Repositories, person: PersonView, locale: str, threads: list[ThreadView] | None = None
) -> str:
    lines = [
        _("👤 <b>Your profile</b>"),
        "",
        _("Name: {name}").format(name=escape(person.full_name)),
        _("Organisation: {organisation}").format(
            organisation=escape(person.organisation_name) if person.organisation_name else _("none yet")
        ),
    ]
    if person.position:
        lines.append(_("Your role in the organisation: {position}").format(position=escape(person.position)))
    lines.append(_("Role in the cluster: {role}").format(role=role_name(person.role)))
    lines.append(_("Language: {language}").format(language=LANGUAGE_NAMES[locale]))
    # Only someone not yet in an organisation can have a request waiting.
    pending = None if person.organisation_id else await members.pending_request_of(repos, person.id)
    if pending is not None:
        lines += [
            "",
            _(
                "The request of organisation {organisation} to join the cluster is waiting for a manager's decision."
            ).format(organisation=f"<b>{escape(pending.organisation_name)}</b>"),
        ]
    if person.has_service_requests is not False:
        lines += requests_section(await catalogue.requests_of(repos, person.id), locale)
    lines += questions_section(threads if threads is not None else await questions.threads_of(repos, person.id))
    return "\n".join(lines)


async def profile_screen(repos: Repositories, person: PersonView, locale: str) -> tuple[str, InlineKeyboardMarkup]:
    """/profile: the text, a button for each of the latest conversations with the team, and the menu."""
    threads = await questions.threads_of(repos, person.id)
    rows = [*questions_buttons(threads), [write_button()], *back_to_menu().inline_keyboard]
    return await profile_text(repos, person, locale, threads), InlineKeyboardMarkup(inline_keyboard=rows)


# --- private chat ---------------------------------------------------------------------------------------------


async def leave_conversation(state: FSMContext) -> bool:
    """Forget a half-finished conversation; True when there was one."""
    if await state.get_state() is None:
        return False
    await state.clear()
    return True


async def start(message: Message, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    """The first /start welcomes in full (the privacy notice, the language buttons); later ones are short."""
    await leave_conversation(state)
    if await members.first_welcome(repos, person):
        markup = main_menu(person, with_languages=person.language is None)
        await message.answer(welcome_text(person), reply_markup=markup)
        return
    await message.answer(welcome_back_text(person), reply_markup=main_menu(person))


async def show_menu(message: Message, person: PersonView, state: FSMContext) -> None:
    await leave_conversation(state)
    await message.answer(menu_text(person), reply_markup=main_menu(person))


async def show_help(message: Message, person: PersonView) -> None:
    await message.answer(help_text(person), reply_markup=back_to_menu())


async def show_profile(message: Message, person: PersonView, repos: Repositories, locale: str) -> None:
    text, markup = await profile_screen(repos, person, locale)
    await message.answer(text, reply_markup=markup)


async def ask_language(message: Message) -> None:
    await message.answer(_("Choose your language:"), reply_markup=language_keyboard())


async def cancel(message: Message, person: PersonView, state: FSMContext) -> None:
    had_state = await leave_conversation(state)
    text = _("Cancelled: nothing was sent or saved.") if had_state else _("You have nothing to cancel.")
    await message.answer(text + "\n\n" + menu_text(person), reply_markup=main_menu(person))


async def menu_button(query: CallbackQuery, person: PersonView, state: FSMContext) -> None:
    await leave_conversation(state)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(menu_text(person), reply_markup=main_menu(person))


async def help_button(query: CallbackQuery, person: PersonView) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(help_text(person), reply_markup=back_to_menu())


async def profile_button(query: CallbackQuery, person: PersonView, repos: Repositories, locale: str) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        text, markup = await profile_screen(repos, person, locale)
        await query.message.answer(text, reply_markup=markup)


async def language_button(query: CallbackQuery) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(_("Choose your language:"), reply_markup=language_keyboard())


async def choose_language(
    query: CallbackQuery, callback_data: LanguageCb, person: PersonView, repos: Repositories, i18n: I18n
) -> None:
    if callback_data.code not in LANGUAGE_NAMES:
        await query.answer(_("This button is no longer valid."), show_alert=True)
        return
    updated = await members.set_language(repos, person.id, callback_data.code)
    with i18n.use_locale(callback_data.code):
        await query.answer(_("Language: {language}").format(language=LANGUAGE_NAMES[callback_data.code]))
        if isinstance(query.message, Message):
            await query.message.answer(
                _("From now on I will write to you in English.") + "\n\n" + menu_text(updated),
                reply_markup=main_menu(updated),
            )


# --- group chats ----------------------------------------------------------------------------------------------


async def group_command(message: Message, bot: Bot) -> None:
    me = await bot.me()
    await message.reply(
        _("I work in a private chat, so that what you tell me stays between us. Write to me there."),
        reply_markup=open_private_chat(me.username or ""),
    )


# --- anything else ----------------------------------------------------------------------------------------------


async def unexpected(message: Message, person: PersonView, state: FSMContext) -> None:
    if message.text and message.text.startswith("/"):
        hint = _("I do not know that command.")
    else:
        hint = _("I did not understand that.")
    if await state.get_state() is not None:
        # In the middle of a conversation: keep it, and say how to leave it.
        await message.answer(hint + " " + _("Please answer the question above, or send /cancel to stop."))
        return
    await message.answer(hint + " " + _("Choose from the menu, or see /help."), reply_markup=main_menu(person))


async def stale_button(query: CallbackQuery) -> None:
    # Buttons from old messages, or callback data nobody here produced: refuse politely.
    await query.answer(_("This button is no longer valid. Open /menu for a fresh one."), show_alert=True)


async def on_error(event: ErrorEvent, bot: Bot, i18n: I18n, settings: Settings, **data: Any) -> bool:
    """The bot never crashes on an update: log what failed (no token, no personal data), say try again."""
    update = event.update
    log.error(
        "update %s failed: %s",
        update.update_id,
        type(event.exception).__name__,
        exc_info=(type(event.exception), event.exception, event.exception.__traceback__),
    )
    await tell_about_update(
        event,
        bot,
        i18n,
        settings,
        data,
        lambda: _("Something went wrong and nothing was saved. Please try again in a moment."),
    )
    return True


def build_routers() -> tuple[Router, Router]:
    """The feature router and the catch-all router (included last by handlers.setup_routers)."""
    router = Router(name=__name__)
    private = Router(name=f"{__name__}.private")
    private.message.filter(F.chat.type == "private")
    private.message.register(start, CommandStart(ignore_case=True))
    private.message.register(show_menu, Command("menu", ignore_case=True))
    private.message.register(show_help, Command("help", ignore_case=True))
    private.message.register(show_profile, Command("profile", ignore_case=True))
    private.message.register(ask_language, Command("language", ignore_case=True))
    private.message.register(cancel, Command("cancel", ignore_case=True))

    group = Router(name=f"{__name__}.group")
    group.message.filter(F.chat.type.in_({"group", "supergroup"}))
    group.message.register(group_command, Command(*GROUP_COMMANDS, ignore_case=True))

    router.callback_query.register(menu_button, MenuCb.filter(F.action == MenuAction.HOME))
    router.callback_query.register(help_button, MenuCb.filter(F.action == MenuAction.HELP))
    router.callback_query.register(profile_button, MenuCb.filter(F.action == MenuAction.PROFILE))
    router.callback_query.register(language_button, MenuCb.filter(F.action == MenuAction.LANGUAGE))
    router.callback_query.register(choose_language, LanguageCb.filter())
    # The manager menu's Service requests: the /service_requests screen, refused at the press for anyone who is
    # not a manager now (the guard reads the role afresh).
    managers = managers_router(f"{__name__}.managers")
    managers.callback_query.register(service_requests_screen, MenuCb.filter(F.action == MenuAction.SERVICE_REQUESTS))
    router.include_routers(group, private, managers)

    fallback = Router(name=f"{__name__}.fallback")
    fallback.message.register(unexpected, F.chat.type == "private")
    fallback.callback_query.register(stale_button)
    return router, fallback
