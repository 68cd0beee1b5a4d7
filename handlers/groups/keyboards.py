"""The working groups' buttons: their callback data (prefixes and packed formats are kept: buttons already in
chats keep working) and the keyboards, labelled in the current language."""

from __future__ import annotations

import enum
from typing import Self

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from pydantic import model_validator

from bot.services.groups import GroupCard, GroupFilter, GroupPage
from handlers.groups.texts import STATE_ICONS, filter_name, label, language_name
from handlers.keyboards import MenuAction, MenuCb, PageNumber, RowIdOrZero, check_row_id, page_moves
from storage.models import GroupState


class GroupListCb(CallbackData, prefix="gl"):
    """A page of the list."""

    view: GroupFilter
    page: PageNumber


class GroupAction(enum.StrEnum):
    CARD = "card"
    JOIN = "join"
    TERMS = "terms"
    ACCEPT = "accept"
    # Asks to confirm; leaving is `LEAVE_CONFIRMED`.
    LEAVE = "leave"
    LEAVE_CONFIRMED = "leaveok"
    # The one action about no group: its `group_id` is 0.
    PROPOSE = "propose"
    TRANSFORM = "transform"
    DISSOLVE = "dissolve"
    TRANSLATE = "translate"
    CONFIDENTIAL = "confidential"
    # A manager attaches (or changes) the group's chat link; `UNLINK` removes it.
    LINK = "link"
    UNLINK = "unlink"


class GroupCb(CallbackData, prefix="g"):
    """An action on group `group_id`; `view` and `page` are the list page the card was opened from."""

    action: GroupAction
    group_id: RowIdOrZero
    view: GroupFilter = GroupFilter.ALL
    page: PageNumber = 0

    @model_validator(mode="after")
    def _group_when_about_one(self) -> Self:
        check_row_id(self.group_id, self.action, {GroupAction.PROPOSE})
        return self


class GroupFormAction(enum.StrEnum):
    CONFIRM = "confirm"
    # Keep a single language.
    ONE = "one"
    CANCEL = "cancel"


class GroupFormCb(CallbackData, prefix="gf"):
    """Buttons of the groups' conversations."""

    action: GroupFormAction


def list_keyboard(page: GroupPage) -> InlineKeyboardMarkup:
    # A guest is in no group and may propose none: no Mine, no Propose, but the way into the cluster.
    views = [view for view in GroupFilter if not (page.viewer_guest and view is GroupFilter.MINE)]
    filters = [
        InlineKeyboardButton(
            text=("▸ " if view is page.filter else "") + filter_name(view),
            callback_data=GroupListCb(view=view, page=0).pack(),
        )
        for view in views
    ]
    rows = [filters]
    for group in page.groups:
        title = label(group.title, group.short_title)
        marks = (" 🔒" if group.confidential else "") + (" ✅" if group.mine else "")
        rows.append(
            [
                InlineKeyboardButton(
                    text=f"{STATE_ICONS[group.state]} {title}{marks}",
                    callback_data=GroupCb(
                        action=GroupAction.CARD, group_id=group.id, view=page.filter, page=page.page
                    ).pack(),
                )
            ]
        )
    moves = page_moves(page.page, page.pages, lambda number: GroupListCb(view=page.filter, page=number))
    if moves:
        rows.append(moves)
    if page.viewer_guest:
        rows.append([join_cluster_button()])
    else:
        propose = GroupCb(action=GroupAction.PROPOSE, group_id=0).pack()
        rows.append([InlineKeyboardButton(text=_("💡 Propose a group"), callback_data=propose)])
    rows.append([InlineKeyboardButton(text=_("⬅️ Menu"), callback_data=MenuCb(action=MenuAction.HOME).pack())])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def card_keyboard(card: GroupCard, view: GroupFilter = GroupFilter.ALL, page: int = 0) -> InlineKeyboardMarkup:
    def button(text: str, action: GroupAction) -> InlineKeyboardButton:
        return InlineKeyboardButton(
            text=text, callback_data=GroupCb(action=action, group_id=card.id, view=view, page=page).pack()
        )

    rows: list[list[InlineKeyboardButton]] = []
    if card.chat_link is not None and card.viewer_in:
        rows.append([InlineKeyboardButton(text=_("💬 Open the group chat"), url=card.chat_link)])
    if card.state is not GroupState.DISSOLVED:
        if card.viewer_guest:
            rows.append([join_cluster_button()])
        elif card.viewer_in:
            if card.confidential and not card.viewer_accepted:
                rows.append([button(_("🔒 Read and accept the terms"), GroupAction.TERMS)])
            rows.append([button(_("🚪 Leave the group"), GroupAction.LEAVE)])
        elif card.confidential and not card.viewer_accepted:
            rows.append([button(_("🔒 Read the terms and join"), GroupAction.TERMS)])
        else:
            rows.append([button(_("✅ Join the group"), GroupAction.JOIN)])
        if card.viewer_manages:
            rows.append(
                [button(_("🔁 Transform"), GroupAction.TRANSFORM), button(_("🗑 Dissolve"), GroupAction.DISSOLVE)]
            )
            extra = []
            if card.missing_language:
                extra.append(
                    button(
                        _("🌐 Add {language}").format(language=language_name(card.missing_language)),
                        GroupAction.TRANSLATE,
                    )
                )
            if not card.confidential:
                extra.append(button(_("🔒 Make it confidential"), GroupAction.CONFIDENTIAL))
            if extra:
                rows.append(extra)
            rows.append(
                [
                    button(
                        _("💬 Change the chat link") if card.chat_link else _("💬 Add the chat link"), GroupAction.LINK
                    )
                ]
            )
    rows.append(
        [InlineKeyboardButton(text=_("⬅️ Working groups"), callback_data=GroupListCb(view=view, page=page).pack())]
    )
    return InlineKeyboardMarkup(inline_keyboard=rows)


def leave_keyboard(card: GroupCard, view: GroupFilter, page: int) -> InlineKeyboardMarkup:
    """The confirmation of leaving a group: yes, or back to its card."""

    def button(text: str, action: GroupAction) -> InlineKeyboardButton:
        return InlineKeyboardButton(
            text=text, callback_data=GroupCb(action=action, group_id=card.id, view=view, page=page).pack()
        )

    return InlineKeyboardMarkup(
        inline_keyboard=[[button(_("Yes, leave"), GroupAction.LEAVE_CONFIRMED), button(_("⬅️ Back"), GroupAction.CARD)]]
    )


def terms_keyboard(card: GroupCard, view: GroupFilter, page: int) -> InlineKeyboardMarkup:
    """Under a confidential group's terms: accept (and join), or back to its card."""

    def button(text: str, action: GroupAction) -> InlineKeyboardButton:
        return InlineKeyboardButton(
            text=text, callback_data=GroupCb(action=action, group_id=card.id, view=view, page=page).pack()
        )

    return InlineKeyboardMarkup(
        inline_keyboard=[[button(_("✅ I accept"), GroupAction.ACCEPT), button(_("✖️ Cancel"), GroupAction.CARD)]]
    )


def cancel_keyboard(*extra: InlineKeyboardButton) -> InlineKeyboardMarkup:
    rows = [[button] for button in extra]
    cancel = GroupFormCb(action=GroupFormAction.CANCEL).pack()
    rows.append([InlineKeyboardButton(text=_("✖️ Cancel"), callback_data=cancel)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def confirm_keyboard(label: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text=label, callback_data=GroupFormCb(action=GroupFormAction.CONFIRM).pack()),
                InlineKeyboardButton(
                    text=_("✖️ Cancel"), callback_data=GroupFormCb(action=GroupFormAction.CANCEL).pack()
                ),
            ]
        ]
    )


def only_romanian_button() -> InlineKeyboardButton:
    one = GroupFormCb(action=GroupFormAction.ONE).pack()
    return InlineKeyboardButton(text=_("🇷🇴 Only the Romanian text"), callback_data=one)


def join_cluster_button() -> InlineKeyboardButton:
    """The invitation a guest gets instead of Join, Mine and Propose: the cluster's own join flow."""
    return InlineKeyboardButton(text=_("🤝 Join the cluster"), callback_data=MenuCb(action=MenuAction.JOIN).pack())


def join_cluster_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [join_cluster_button()],
            [InlineKeyboardButton(text=_("⬅️ Menu"), callback_data=MenuCb(action=MenuAction.HOME).pack())],
        ]
    )


def joined_keyboard(card: GroupCard) -> InlineKeyboardMarkup | None:
    """Under the message telling someone they are in: the group's chat, when it has one."""
    if card.chat_link is None:
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=_("💬 Open the group chat"), url=card.chat_link)]]
    )


def chat_link_keyboard(card: GroupCard) -> InlineKeyboardMarkup:
    """Under the question asking a manager for the chat link: remove the one there is, or cancel."""
    rows = []
    if card.chat_link is not None:
        unlink = GroupCb(action=GroupAction.UNLINK, group_id=card.id).pack()
        rows.append([InlineKeyboardButton(text=_("🗑 Remove the chat link"), callback_data=unlink)])
    rows.append(
        [InlineKeyboardButton(text=_("✖️ Cancel"), callback_data=GroupFormCb(action=GroupFormAction.CANCEL).pack())]
    )
    return InlineKeyboardMarkup(inline_keyboard=rows)
