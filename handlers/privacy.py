"""Data rights in the chat (issue 12): /privacy, the privacy notice in full; 📥 Download my data, a JSON file;
🗑 Forget me, confirmed twice (two presses, the second a distinct button carrying the code the first one gave,
both checked here against the conversation state), then `bot.services.privacy.forget`."""

from __future__ import annotations

import enum
import logging
import secrets

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext
from pydantic import Field

from bot.config import Settings
from bot.services import privacy
from bot.services.members import PersonView
from bot.services.privacy import PrivacyError, PrivacyRefusal
from handlers.keyboards import MenuAction, MenuCb, main_menu
from storage.repositories import Repositories

log = logging.getLogger(__name__)


class PrivacyAction(enum.StrEnum):
    SHOW = "show"
    DOWNLOAD = "download"
    FORGET = "forget"
    # The first confirmation, then the second, distinct one that forgets.
    CONTINUE = "continue"
    ERASE = "erase"
    KEEP = "keep"


class PrivacyCb(CallbackData, prefix="prv"):
    """A button of /privacy; `code` is the one-time code of the second confirmation of "Forget me"."""

    action: PrivacyAction
    code: str = Field(default="", max_length=16, pattern=r"^[A-Za-z0-9_-]*$")


class PrivacyForm(StatesGroup):
    # The first "Forget me" was pressed; its code is in the state's data.
    forget = State()


CODE_KEY = "forget_code"


def former_representative() -> str:
    """How a forgotten person is named to others, in the reader's language."""
    return _("a former representative")


def shown_name(name: str | None) -> str | None:
    """A person's name as stored, or "a former representative" for a forgotten person (stored empty)."""
    return former_representative() if name == "" else name


def explain_privacy(error: PrivacyError) -> str:
    return {
        PrivacyRefusal.NOT_FOUND: _("I keep nothing about you any more."),
        PrivacyRefusal.ALREADY_FORGOTTEN: _("I keep nothing about you any more."),
        PrivacyRefusal.LAST_MANAGER: _(
            "You are the cluster's last manager: someone must stay to decide the requests. "
            "Please make another person a manager first, then ask again."
        ),
        PrivacyRefusal.NOT_CONFIRMED: _(
            "This confirmation is not valid. To be forgotten, open /privacy and press 🗑 Forget me again."
        ),
    }[error.reason]


def privacy_text(days: int) -> str:
    return "\n".join(
        (
            _("🔒 <b>Privacy: what I keep about you and why</b>"),
            "",
            _("To run the cluster's services for you, I keep:"),
            _("• your Telegram id, name, username and language: to know who writes and to answer in your language;"),
            _("• your organisation and your role in it: what you may see and do depends on them;"),
            _("• your requests to join the cluster and for services, with your notes: the team handles them;"),
            _(
                "• the working groups you are in and the confidentiality terms you accepted "
                "(with the date and hour of the acceptance);"
            ),
            _("• the commitments you made for your organisation to projects;"),
            _("• your tender alert profiles, the tenders I told you of, those you follow or marked not relevant;"),
            _("• your questions to the cluster team and its answers: so that the team can follow up;"),
            _("• the messages I sent you, until they are delivered and for a while after;"),
            _("• a log of what was done and by whom (without the contents of your messages)."),
            "",
            ngettext(
                "Messages delivered and tender alerts are deleted after {days} day.",
                "Messages delivered and tender alerts are deleted after {days} days.",
                days,
            ).format(days=days)
            + " "
            + _("I never share your data outside the cluster's team."),
            "",
            _("📥 Download my data: a file with everything I keep about you."),
            _(
                "🗑 Forget me: I erase your personal data. Your organisation's commitments and the log stay, "
                'showing "a former representative" instead of your name.'
            ),
        )
    )


def privacy_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=_("📥 Download my data"), callback_data=PrivacyCb(action=PrivacyAction.DOWNLOAD).pack()
                )
            ],
            [InlineKeyboardButton(text=_("🗑 Forget me"), callback_data=PrivacyCb(action=PrivacyAction.FORGET).pack())],
            [InlineKeyboardButton(text=_("⬅️ Menu"), callback_data=MenuCb(action=MenuAction.HOME).pack())],
        ]
    )


def kept_text() -> str:
    return "\n".join(
        (
            _("What I keep, and why:"),
            _(
                "• your organisation's commitments to projects and the confidentiality terms accepted: "
                "they are the organisation's, and the other organisations rely on them;"
            ),
            _("• your organisation's service requests, without your notes: the team's work on them;"),
            _("• the log of what was done: the cluster must be able to account for its decisions;"),
            _('all of them showing "a former representative" instead of your name.'),
        )
    )


def forget_first_text() -> str:
    return "\n".join(
        (
            _("🗑 <b>Forget me</b>"),
            "",
            _("I will erase:"),
            _("• your name, username, language, Telegram id and your link to your organisation;"),
            _("• your tender alert profiles and alerts, your join requests and your group memberships;"),
            _("• your questions to the cluster team, with its answers;"),
            _("• the messages still waiting to be sent to you."),
            "",
            kept_text(),
            "",
            _("This cannot be undone. Continue?"),
        )
    )


def forget_second_text() -> str:
    return _(
        "⚠️ <b>Last confirmation.</b> After this, I no longer know you: writing to me again starts as a new "
        "guest. Forget me now?"
    )


def forget_done_text() -> str:
    return "\n\n".join(
        (
            _("✅ I have forgotten you: your personal data is erased."),
            kept_text(),
            _("If you write to me again, you start as a new guest. Goodbye!"),
        )
    )


def forget_first_keyboard(code: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=_("Continue ➡️"), callback_data=PrivacyCb(action=PrivacyAction.CONTINUE, code=code).pack()
                ),
                InlineKeyboardButton(
                    text=_("✖️ Keep my data"), callback_data=PrivacyCb(action=PrivacyAction.KEEP).pack()
                ),
            ]
        ]
    )


def forget_second_keyboard(code: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=_("🗑 Yes, forget me for good"),
                    callback_data=PrivacyCb(action=PrivacyAction.ERASE, code=code).pack(),
                )
            ],
            [InlineKeyboardButton(text=_("✖️ Keep my data"), callback_data=PrivacyCb(action=PrivacyAction.KEEP).pack())],
        ]
    )


async def show_privacy(message: Message, settings: Settings) -> None:
    await message.answer(privacy_text(settings.retention_days), reply_markup=privacy_keyboard())


async def privacy_button(query: CallbackQuery, settings: Settings) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await show_privacy(query.message, settings)


async def download(query: CallbackQuery, person: PersonView, repos: Repositories) -> None:
    try:
        data = await privacy.export(repos, person.id)
    except PrivacyError as refusal:
        await query.answer(explain_privacy(refusal), show_alert=True)
        return
    await privacy.record_export(repos, person.id, actor_id=person.id)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer_document(
            BufferedInputFile(privacy.export_json(data), filename=privacy.export_filename(person.id)),
            caption=_("📥 Everything I keep about you (JSON, UTF-8)."),
        )


async def forget_first(query: CallbackQuery, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    try:
        await privacy.ensure_can_forget(repos, person.id)
    except PrivacyError as refusal:
        await query.answer(explain_privacy(refusal), show_alert=True)
        return
    # Two steps, each with its own code: the first press's code opens the second screen, whose code (a new
    # one) is the only thing that forgets. A press that skips a step, or an old or invented code, is refused.
    code = secrets.token_urlsafe(6)
    await state.set_state(PrivacyForm.forget)
    await state.set_data({CODE_KEY: code, "step": 1})
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(forget_first_text(), reply_markup=forget_first_keyboard(code))


def _expected_code(data: dict[str, object], step: int, code: str) -> bool:
    expected = data.get(CODE_KEY)
    return data.get("step") == step and isinstance(expected, str) and secrets.compare_digest(expected, code)


async def forget_continue(query: CallbackQuery, callback_data: PrivacyCb, state: FSMContext) -> None:
    """The first confirmation: valid only right after "Forget me", with its code; gives the second screen."""
    data = await state.get_data() if await state.get_state() == PrivacyForm.forget.state else {}
    if not _expected_code(data, 1, callback_data.code):
        await query.answer(explain_privacy(PrivacyError(PrivacyRefusal.NOT_CONFIRMED)), show_alert=True)
        return
    code = secrets.token_urlsafe(6)
    await state.set_data({CODE_KEY: code, "step": 2})
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
        await query.message.answer(forget_second_text(), reply_markup=forget_second_keyboard(code))


async def forget_erase(
    query: CallbackQuery,
    callback_data: PrivacyCb,
    person: PersonView,
    repos: Repositories,
    state: FSMContext,
    settings: Settings,
) -> None:
    """The second confirmation: valid only after the first, with the code of the second screen."""
    data = await state.get_data() if await state.get_state() == PrivacyForm.forget.state else {}
    if not _expected_code(data, 2, callback_data.code):
        await query.answer(explain_privacy(PrivacyError(PrivacyRefusal.NOT_CONFIRMED)), show_alert=True)
        return
    await state.clear()
    try:
        await privacy.forget(repos, person.id, default_locale=settings.default_locale, actor_id=person.id)
    except PrivacyError as refusal:
        await query.answer(explain_privacy(refusal), show_alert=True)
        return
    # Said after the commit: the first call to Telegram commits the update's transaction, or fails with it.
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
        await query.message.answer(forget_done_text())


async def keep(query: CallbackQuery, person: PersonView, state: FSMContext) -> None:
    if await state.get_state() == PrivacyForm.forget.state:
        await state.clear()
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
        await query.message.answer(_("Nothing was erased: your data stays as it was."), reply_markup=main_menu(person))


def build_router() -> Router:
    router = Router(name=__name__)
    router.message.register(show_privacy, Command("privacy", ignore_case=True), F.chat.type == "private")
    router.callback_query.register(privacy_button, PrivacyCb.filter(F.action == PrivacyAction.SHOW))
    router.callback_query.register(download, PrivacyCb.filter(F.action == PrivacyAction.DOWNLOAD))
    router.callback_query.register(forget_first, PrivacyCb.filter(F.action == PrivacyAction.FORGET))
    router.callback_query.register(forget_continue, PrivacyCb.filter(F.action == PrivacyAction.CONTINUE))
    router.callback_query.register(forget_erase, PrivacyCb.filter(F.action == PrivacyAction.ERASE))
    router.callback_query.register(keep, PrivacyCb.filter(F.action == PrivacyAction.KEEP))
    return router
