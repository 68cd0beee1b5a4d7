"""Callback data factories and the keyboards built from them, labelled in the current language."""

from __future__ import annotations

from functools import lru_cache

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import get_i18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.services.members import PersonView

LANGUAGE_NAMES = {"ro": "🇷🇴 Română", "en": "🇬🇧 English"}


class MenuCb(CallbackData, prefix="menu"):
    """A main-menu entry: home, join, invite_code, profile, language, help, requests, announce, services, groups."""

    action: str


class LanguageCb(CallbackData, prefix="lang"):
    code: str


class JoinFormCb(CallbackData, prefix="join"):
    """Buttons of the join conversation: `send`, `cancel`."""

    action: str


class JoinDecisionCb(CallbackData, prefix="jr"):
    """A manager's decision on join request `request_id`: `approve` or `reject`."""

    request_id: int
    decision: str


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, an ellipsis marking a cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def language_keyboard() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for code, label in LANGUAGE_NAMES.items():
        builder.button(text=label, callback_data=LanguageCb(code=code))
    builder.adjust(2)
    return builder.as_markup()


def main_menu(person: PersonView | None, *, with_languages: bool = False) -> InlineKeyboardMarkup:
    is_member = person is not None and person.is_member
    is_manager = person is not None and person.is_manager
    return _main_menu(get_i18n().current_locale, is_member, is_manager, with_languages)


@lru_cache(maxsize=64)
def _main_menu(locale: str, is_member: bool, is_manager: bool, with_languages: bool) -> InlineKeyboardMarkup:
    # Built once per language and kind of person: it is on most answers, and building costs more than sending.
    builder = InlineKeyboardBuilder()
    if with_languages:
        builder.row(
            *(
                InlineKeyboardButton(text=label, callback_data=LanguageCb(code=code).pack())
                for code, label in LANGUAGE_NAMES.items()
            )
        )
    if not is_member:
        builder.row(InlineKeyboardButton(text=_("🤝 Join the cluster"), callback_data=MenuCb(action="join").pack()))
        builder.row(
            InlineKeyboardButton(text=_("🎟 I have an invite code"), callback_data=MenuCb(action="invite_code").pack())
        )
    builder.row(
        InlineKeyboardButton(text=_("🧰 Services"), callback_data=MenuCb(action="services").pack()),
        InlineKeyboardButton(text=_("👥 Working groups"), callback_data=MenuCb(action="groups").pack()),
    )
    if is_manager:
        builder.row(
            InlineKeyboardButton(text=_("📥 Join requests"), callback_data=MenuCb(action="requests").pack()),
            InlineKeyboardButton(text=_("📣 Announcement"), callback_data=MenuCb(action="announce").pack()),
        )
    builder.row(
        InlineKeyboardButton(text=_("👤 My profile"), callback_data=MenuCb(action="profile").pack()),
        InlineKeyboardButton(text=_("🌐 Language"), callback_data=MenuCb(action="language").pack()),
    )
    builder.row(InlineKeyboardButton(text=_("❓ Help"), callback_data=MenuCb(action="help").pack()))
    return builder.as_markup()


def back_to_menu() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=_("⬅️ Menu"), callback_data=MenuCb(action="home").pack())]]
    )


def join_form_cancel() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=_("✖️ Cancel"), callback_data=JoinFormCb(action="cancel").pack())]]
    )


def join_form_confirm() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text=_("✅ Send request"), callback_data=JoinFormCb(action="send").pack()),
                InlineKeyboardButton(text=_("✖️ Cancel"), callback_data=JoinFormCb(action="cancel").pack()),
            ]
        ]
    )


def join_decision(request_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=_("✅ Approve"), callback_data=JoinDecisionCb(request_id=request_id, decision="approve").pack()
                ),
                InlineKeyboardButton(
                    text=_("❌ Reject"), callback_data=JoinDecisionCb(request_id=request_id, decision="reject").pack()
                ),
            ]
        ]
    )


def open_private_chat(bot_username: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=_("💬 Open a private chat"), url=f"https://t.me/{bot_username}")]]
    )
