"""Data rights in the chat (issue 12): /privacy, the privacy notice in full; 📥 Download my data, a JSON file;
🗑 Forget me, confirmed twice (two presses, the second a distinct button carrying the code the first one gave,
both checked here against the conversation state), then `bot.services.privacy.forget`.

A manager does the same for a person on that person's request (🔒 Data rights, on the person's conversation
with the cluster team, where such a request arrives): 📥 their data, sent to the manager; 🗑 forget them,
confirmed twice the same way, every press checked again (the manager's role read afresh, the person still known,
not the cluster's last manager). Both audited with the manager as the actor. The person is told, in their
language, that they were forgotten and what was kept and why, in a message sent once the erasure committed
(not stored: the outbox keeps nothing more about them)."""

from __future__ import annotations

import enum
import logging
import secrets
from html import escape

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n, ngettext
from aiogram.utils.i18n import gettext as _
from pydantic import Field

from bot.config import Settings
from bot.i18n import resolve_locale
from bot.services import privacy
from bot.services.members import PersonView
from bot.services.privacy import PrivacyError, PrivacyRefusal, Subject
from handlers.guards import managers_router
from handlers.keyboards import MenuAction, MenuCb, RowId, main_menu
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
    # A manager's first "Forget them" was pressed; the code and the person's id are in the state's data.
    forget_other = State()


class ForOtherAction(enum.StrEnum):
    SHOW = "show"
    DOWNLOAD = "download"
    FORGET = "forget"
    CONTINUE = "continue"
    ERASE = "erase"
    KEEP = "keep"


class ForOtherCb(CallbackData, prefix="prvm"):
    """A manager's button about a person's data (on the person's request); `code` as in `PrivacyCb`."""

    action: ForOtherAction
    person_id: RowId
    code: str = Field(default="", max_length=16, pattern=r"^[A-Za-z0-9_-]*$")


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
        PrivacyRefusal.SELF: _("For your own data, please use /privacy."),
    }[error.reason]


def explain_for_other(error: PrivacyError) -> str:
    """A refusal of a manager's data-rights action, worded about the other person."""
    if error.reason in (PrivacyRefusal.NOT_FOUND, PrivacyRefusal.ALREADY_FORGOTTEN):
        return _("I keep nothing about this person any more.")
    if error.reason is PrivacyRefusal.LAST_MANAGER:
        return _(
            "This person is the cluster's last manager: someone must stay to decide the requests. "
            "Another person must be made a manager first."
        )
    if error.reason is PrivacyRefusal.NOT_CONFIRMED:
        return _("This confirmation is not valid. Open the person's 🔒 Data rights and press 🗑 Forget them again.")
    return explain_privacy(error)


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


# --- a manager, on a person's request ------------------------------------------------------------------------


def data_rights_button(person_id: int) -> InlineKeyboardButton:
    """On a person's card for managers: their data rights, on their request."""
    return InlineKeyboardButton(
        text=_("🔒 Data rights"), callback_data=ForOtherCb(action=ForOtherAction.SHOW, person_id=person_id).pack()
    )


def _named(subject: Subject) -> str:
    name = f"<b>{escape(subject.name)}</b>"
    return f"{name} ({escape(subject.organisation)})" if subject.organisation else name


def for_other_text(subject: Subject) -> str:
    return "\n".join(
        (
            _("🔒 <b>Data rights of {person}</b>").format(person=_named(subject)),
            "",
            _("Only when the person asks for it, you can:"),
            _("📥 Their data: I send you the file with everything I keep about them, for you to pass on to them."),
            _(
                "🗑 Forget them: I erase their personal data as 🗑 Forget me in /privacy does; their organisation's "
                'commitments and the log stay, showing "a former representative". I tell them what was kept and why.'
            ),
            "",
            _("Both are recorded in the log, with your name."),
        )
    )


def for_other_keyboard(person_id: int) -> InlineKeyboardMarkup:
    def button(text: str, action: ForOtherAction) -> InlineKeyboardButton:
        return InlineKeyboardButton(text=text, callback_data=ForOtherCb(action=action, person_id=person_id).pack())

    return InlineKeyboardMarkup(
        inline_keyboard=[
            [button(_("📥 Their data"), ForOtherAction.DOWNLOAD)],
            [button(_("🗑 Forget them"), ForOtherAction.FORGET)],
        ]
    )


def forget_other_first_text(subject: Subject) -> str:
    return "\n".join(
        (
            _("🗑 <b>Forget {person}?</b>").format(person=_named(subject)),
            "",
            _(
                "I will erase their name, username, language, Telegram id and link to their organisation; their "
                "tender alert profiles and alerts, join requests and group memberships; their questions to the "
                "cluster team; the messages still waiting to be sent to them."
            ),
            _(
                "Their organisation's commitments and service requests (without their notes) and the log stay, "
                'showing "a former representative".'
            ),
            "",
            _("Only on the person's own request. This cannot be undone. Continue?"),
        )
    )


def _for_other_confirm(subject: Subject, code: str, action: ForOtherAction, label: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=label, callback_data=ForOtherCb(action=action, person_id=subject.id, code=code).pack()
                )
            ],
            [
                InlineKeyboardButton(
                    text=_("✖️ Keep their data"),
                    callback_data=ForOtherCb(action=ForOtherAction.KEEP, person_id=subject.id).pack(),
                )
            ],
        ]
    )


def forgotten_by_team_text() -> str:
    """To the person, in their language, once a manager forgot them on their request."""
    return "\n\n".join(
        (
            _("✅ As you asked the cluster team, I have forgotten you: your personal data is erased."),
            kept_text(),
            _("If you write to me again, you start as a new guest. Goodbye!"),
        )
    )


async def for_other_show(
    query: CallbackQuery, callback_data: ForOtherCb, person: PersonView, repos: Repositories
) -> None:
    try:
        subject = await privacy.subject_for(repos, person, callback_data.person_id)
    except PrivacyError as refusal:
        await query.answer(explain_for_other(refusal), show_alert=True)
        return
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(for_other_text(subject), reply_markup=for_other_keyboard(subject.id))


async def for_other_download(
    query: CallbackQuery, callback_data: ForOtherCb, person: PersonView, repos: Repositories
) -> None:
    try:
        subject, data = await privacy.export_for(repos, person, callback_data.person_id)
    except PrivacyError as refusal:
        await query.answer(explain_for_other(refusal), show_alert=True)
        return
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer_document(
            BufferedInputFile(privacy.export_json(data), filename=privacy.export_filename(subject.id)),
            caption=_("📥 Everything I keep about {person} (JSON, UTF-8), for them only.").format(
                person=_named(subject)
            ),
        )


def _other_code(data: dict[str, object], step: int, callback_data: ForOtherCb) -> bool:
    return data.get("person_id") == callback_data.person_id and _expected_code(data, step, callback_data.code)


async def for_other_forget(
    query: CallbackQuery, callback_data: ForOtherCb, person: PersonView, repos: Repositories, state: FSMContext
) -> None:
    try:
        subject = await privacy.check_forget_for(repos, person, callback_data.person_id)
    except PrivacyError as refusal:
        await query.answer(explain_for_other(refusal), show_alert=True)
        return
    code = secrets.token_urlsafe(6)
    await state.set_state(PrivacyForm.forget_other)
    await state.set_data({CODE_KEY: code, "step": 1, "person_id": subject.id})
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(
            forget_other_first_text(subject),
            reply_markup=_for_other_confirm(subject, code, ForOtherAction.CONTINUE, _("Continue ➡️")),
        )


async def _forget_other_data(state: FSMContext) -> dict[str, object]:
    return await state.get_data() if await state.get_state() == PrivacyForm.forget_other.state else {}


async def for_other_continue(
    query: CallbackQuery, callback_data: ForOtherCb, person: PersonView, repos: Repositories, state: FSMContext
) -> None:
    if not _other_code(await _forget_other_data(state), 1, callback_data):
        await query.answer(explain_for_other(PrivacyError(PrivacyRefusal.NOT_CONFIRMED)), show_alert=True)
        return
    try:
        subject = await privacy.check_forget_for(repos, person, callback_data.person_id)
    except PrivacyError as refusal:
        await state.clear()
        await query.answer(explain_for_other(refusal), show_alert=True)
        return
    code = secrets.token_urlsafe(6)
    await state.set_data({CODE_KEY: code, "step": 2, "person_id": subject.id})
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
        await query.message.answer(
            _("⚠️ <b>Last confirmation.</b> Forget {person} now, for good?").format(person=_named(subject)),
            reply_markup=_for_other_confirm(subject, code, ForOtherAction.ERASE, _("🗑 Yes, forget them for good")),
        )


async def for_other_erase(
    query: CallbackQuery,
    callback_data: ForOtherCb,
    person: PersonView,
    repos: Repositories,
    state: FSMContext,
    settings: Settings,
    bot: Bot,
    i18n: I18n,
) -> None:
    if not _other_code(await _forget_other_data(state), 2, callback_data):
        await query.answer(explain_for_other(PrivacyError(PrivacyRefusal.NOT_CONFIRMED)), show_alert=True)
        return
    await state.clear()
    try:
        subject, _forgotten = await privacy.forget_for(
            repos, person, callback_data.person_id, default_locale=settings.default_locale
        )
    except PrivacyError as refusal:
        await query.answer(explain_for_other(refusal), show_alert=True)
        return
    # The first call to Telegram commits the update's transaction: the person is told only after it.
    await query.answer()
    told = False
    with i18n.use_locale(resolve_locale(subject.locale, None, settings.default_locale)):
        text = forgotten_by_team_text()
    try:
        await bot.send_message(subject.telegram_id, text)
        told = True
    except TelegramAPIError as error:
        # Blocked, or never started the bot: nothing more to do (no personal data in the log).
        log.info("could not tell a forgotten person: %s", type(error).__name__)
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
        done = _("✅ {person} is forgotten: their personal data is erased.").format(person=_named(subject))
        said = (
            _("I told them what was kept and why.")
            if told
            else _("I could not tell them (they blocked me or never wrote to me).")
        )
        await query.message.answer(f"{done}\n{said}", reply_markup=main_menu(person))


async def for_other_keep(query: CallbackQuery, person: PersonView, state: FSMContext) -> None:
    if await state.get_state() == PrivacyForm.forget_other.state:
        await state.clear()
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
        await query.message.answer(_("Nothing was erased."), reply_markup=main_menu(person))


def build_router() -> Router:
    router = Router(name=__name__)
    router.message.register(show_privacy, Command("privacy", ignore_case=True), F.chat.type == "private")
    router.callback_query.register(privacy_button, PrivacyCb.filter(F.action == PrivacyAction.SHOW))
    router.callback_query.register(download, PrivacyCb.filter(F.action == PrivacyAction.DOWNLOAD))
    router.callback_query.register(forget_first, PrivacyCb.filter(F.action == PrivacyAction.FORGET))
    router.callback_query.register(forget_continue, PrivacyCb.filter(F.action == PrivacyAction.CONTINUE))
    router.callback_query.register(forget_erase, PrivacyCb.filter(F.action == PrivacyAction.ERASE))
    router.callback_query.register(keep, PrivacyCb.filter(F.action == PrivacyAction.KEEP))

    # A manager for another person: the guard refuses anyone who is not a manager at the press.
    managers = managers_router(f"{__name__}.managers")
    action = ForOtherCb.filter
    managers.callback_query.register(for_other_show, action(F.action == ForOtherAction.SHOW))
    managers.callback_query.register(for_other_download, action(F.action == ForOtherAction.DOWNLOAD))
    managers.callback_query.register(for_other_forget, action(F.action == ForOtherAction.FORGET))
    managers.callback_query.register(for_other_continue, action(F.action == ForOtherAction.CONTINUE))
    managers.callback_query.register(for_other_erase, action(F.action == ForOtherAction.ERASE))
    managers.callback_query.register(for_other_keep, action(F.action == ForOtherAction.KEEP))
    router.include_router(managers)
    return router
