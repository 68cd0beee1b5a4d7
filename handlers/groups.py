"""Working groups: list, card, join (after the terms, for confidential groups), leave, propose; managers
transform, dissolve, add the missing language and make groups confidential."""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Mapping
from html import escape
from typing import Any, Self
from zoneinfo import ZoneInfo

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n, get_i18n, ngettext
from aiogram.utils.i18n import gettext as _
from pydantic import model_validator

from bot.config import Settings
from bot.i18n import format_when
from bot.notices import NoticeKind
from bot.services import groups
from bot.services.groups import (
    GroupCard,
    GroupError,
    GroupFilter,
    GroupNotice,
    GroupPage,
    GroupRefusal,
    HistoryEntry,
    Texts,
)
from bot.services.members import MembershipError, PersonView, clean_text
from bot.telegram_text import TEXT_LIMIT, parse_html, utf16_len
from handlers.common import leave_conversation
from handlers.keyboards import (
    MenuAction,
    MenuCb,
    NoticeMessage,
    PageNumber,
    RowIdOrZero,
    check_row_id,
    clip,
    main_menu,
)
from handlers.refusals import explain
from storage.models import GroupEventKind, GroupState
from storage.repositories import Repositories

FLAGS = {"ro": "🇷🇴", "en": "🇬🇧"}
STATE_ICONS = {GroupState.ACTIVE: "🟢", GroupState.PROPOSED: "🟡", GroupState.DISSOLVED: "⚫"}
# A button shows this much of a title; the card shows all of it.
LABEL_MAX = 48
# Long texts quoted in a summary or in the history are cut here, so the message stays within Telegram's limit.
QUOTE_MAX = 600
HISTORY_QUOTE_MAX = 200


class GroupListCb(CallbackData, prefix="gl"):
    """A page of the list."""

    view: GroupFilter
    page: PageNumber


class GroupAction(enum.StrEnum):
    CARD = "card"
    JOIN = "join"
    TERMS = "terms"
    ACCEPT = "accept"
    LEAVE = "leave"
    # The one action about no group: its `group_id` is 0.
    PROPOSE = "propose"
    TRANSFORM = "transform"
    DISSOLVE = "dissolve"
    TRANSLATE = "translate"
    CONFIDENTIAL = "confidential"


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


class ProposeForm(StatesGroup):
    title = State()
    objective = State()
    confirm = State()


class TransformForm(StatesGroup):
    ro = State()
    en = State()
    reason = State()
    confirm = State()


class DissolveForm(StatesGroup):
    reason = State()
    confirm = State()


class TranslateForm(StatesGroup):
    title = State()
    objective = State()


class TermsForm(StatesGroup):
    ro = State()
    en = State()
    confirm = State()


# --- wording -----------------------------------------------------------------------------------------------------


def language_name(code: str) -> str:
    return {"ro": _("Romanian"), "en": _("English")}[code]


def localized(texts: Texts, limit: int | None = None) -> str:
    """The text in the reader's language, else in the other one marked with its flag; plain text."""
    locale = get_i18n().current_locale
    text = texts.get(locale)
    mark = ""
    if not text:
        other = next((code for code in FLAGS if texts.get(code)), None)
        if other is None:
            return "—"
        text, mark = texts.get(other) or "", f" {FLAGS[other]}"
    return (clip(text, limit) if limit else text) + mark


def shown(texts: Texts, limit: int | None = None) -> str:
    """`localized`, escaped for an HTML message."""
    return escape(localized(texts, limit))


def filter_name(view: GroupFilter) -> str:
    return {
        GroupFilter.ALL: _("All groups"),
        GroupFilter.MINE: _("Mine"),
        GroupFilter.PROPOSED: _("Proposed"),
    }[view]


def list_text(page: GroupPage) -> str:
    lines = [_("👥 <b>Working groups</b>"), ""]
    if page.total == 0:
        lines.append(
            {
                GroupFilter.ALL: _("There are no working groups yet."),
                GroupFilter.MINE: _("You do not take part in any working group yet."),
                GroupFilter.PROPOSED: _("No proposed group is waiting for member organisations."),
            }[page.filter]
        )
    else:
        count = ngettext("{count} group", "{count} groups", page.total).format(count=page.total)
        lines.append(
            _("{view}: {count}, page {page} of {pages}.").format(
                view=filter_name(page.filter), count=count, page=page.page + 1, pages=page.pages
            )
        )
        lines.append(_("Tap a group to open it."))
        lines += ["", _("🟢 active · 🟡 proposed · ⚫ dissolved · 🔒 confidential · ✅ you take part")]
    lines += [
        "",
        _("A group becomes active when three member organisations have joined it."),
    ]
    return "\n".join(lines)


def list_keyboard(page: GroupPage) -> InlineKeyboardMarkup:
    filters = [
        InlineKeyboardButton(
            text=("▸ " if view is page.filter else "") + filter_name(view),
            callback_data=GroupListCb(view=view, page=0).pack(),
        )
        for view in GroupFilter
    ]
    rows = [filters]
    for group in page.groups:
        title = localized(group.title, LABEL_MAX)
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
    moves = []
    if page.page > 0:
        moves.append(
            InlineKeyboardButton(
                text=_("◀️ Previous"), callback_data=GroupListCb(view=page.filter, page=page.page - 1).pack()
            )
        )
    if page.page + 1 < page.pages:
        moves.append(
            InlineKeyboardButton(
                text=_("Next ▶️"), callback_data=GroupListCb(view=page.filter, page=page.page + 1).pack()
            )
        )
    if moves:
        rows.append(moves)
    propose = GroupCb(action=GroupAction.PROPOSE, group_id=0).pack()
    rows.append([InlineKeyboardButton(text=_("💡 Propose a group"), callback_data=propose)])
    rows.append([InlineKeyboardButton(text=_("⬅️ Menu"), callback_data=MenuCb(action=MenuAction.HOME).pack())])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def history_line(entry: HistoryEntry, locale: str, tz: ZoneInfo) -> str:
    when = format_when(entry.at, locale, tz)
    reason = escape(entry.reason or "")
    line = {
        GroupEventKind.CREATED: _("{when}: created"),
        GroupEventKind.PROPOSED: _("{when}: proposed by a member"),
        GroupEventKind.ACTIVATED: _("{when}: became active"),
        GroupEventKind.FLAGGED: _("{when}: fell below three member organisations"),
        GroupEventKind.RECOVERED: _("{when}: has three member organisations again"),
        GroupEventKind.CONFIDENTIAL: _("{when}: made confidential"),
        GroupEventKind.TRANSFORMED: _("{when}: transformed with a new objective. Reason: {reason}"),
        GroupEventKind.DISSOLVED: _("{when}: dissolved. Reason: {reason}"),
    }[entry.kind].format(when=when, reason=reason)
    if entry.previous_objective is not None:
        line += "\n  " + _("Previous objective: {objective}").format(
            objective=shown(entry.previous_objective, HISTORY_QUOTE_MAX)
        )
    return "• " + line


def state_line(card: GroupCard) -> str:
    if card.state is GroupState.ACTIVE:
        return _("State: 🟢 active")
    if card.state is GroupState.DISSOLVED:
        return _("State: ⚫ dissolved")
    needed = max(groups.ORGANISATIONS_NEEDED - card.organisations, 1)
    return ngettext(
        "State: 🟡 proposed, waiting for {count} more member organisation",
        "State: 🟡 proposed, waiting for {count} more member organisations",
        needed,
    ).format(count=needed)


def card_text(card: GroupCard, locale: str, tz: ZoneInfo) -> str:
    """The card, made to fit one message: the oldest history and acceptances go first when it is too long."""
    head = [f"👥 <b>{shown(card.title)}</b>", "", shown(card.objective), "", state_line(card)]
    head.append(
        _("Taking part: {organisations}, {people}").format(
            organisations=ngettext(
                "{count} member organisation", "{count} member organisations", card.organisations
            ).format(count=card.organisations),
            people=ngettext("{count} person", "{count} people", card.people).format(count=card.people),
        )
    )
    head.append(
        _("🔒 Confidential: members accept its terms before joining.")
        if card.confidential
        else _("🔓 Open to every member organisation.")
    )
    head.append(_("Created: {when}").format(when=format_when(card.created_at, locale, tz)))
    if card.flagged_at is not None and card.state is GroupState.ACTIVE:
        head.append(
            _("⚠️ Below three member organisations since {when}.").format(when=format_when(card.flagged_at, locale, tz))
        )
    if card.viewer_in:
        head.append(_("✅ You take part in this group."))
        if card.confidential and not card.viewer_accepted:
            head.append(_("You have not accepted its confidentiality terms yet."))
    history = [history_line(entry, locale, tz) for entry in card.history]
    accepted = [
        f"• {escape(row.name)}, {format_when(row.accepted_at, locale, tz)} {FLAGS.get(row.locale, '')}"
        for row in card.acceptances
    ]

    def compose() -> str:
        parts = ["\n".join(head)]
        if history:
            parts.append("\n".join([_("<b>History</b>, newest first:"), *history]))
        if card.viewer_manages and card.confidential and not card.acceptances_total:
            parts.append(_("Nobody has accepted its terms yet."))
        elif card.viewer_manages and card.confidential:
            lines = [
                ngettext(
                    "<b>{count} person accepted the terms:</b>",
                    "<b>{count} people accepted the terms:</b>",
                    card.acceptances_total,
                ).format(count=card.acceptances_total),
                *accepted,
            ]
            hidden = card.acceptances_total - len(accepted)
            if hidden > 0:
                lines.append(ngettext("and {count} more", "and {count} more", hidden).format(count=hidden))
            parts.append("\n".join(lines))
        return "\n\n".join(parts)

    text = compose()
    # Telegram counts the text its HTML parser leaves, in UTF-16 units; the sender validates with the same parser.
    while utf16_len(parse_html(text)[0]) > TEXT_LIMIT and (history or accepted):
        (accepted or history).pop()
        text = compose()
    return text


def card_keyboard(card: GroupCard, view: GroupFilter = GroupFilter.ALL, page: int = 0) -> InlineKeyboardMarkup:
    def button(text: str, action: GroupAction) -> InlineKeyboardButton:
        return InlineKeyboardButton(
            text=text, callback_data=GroupCb(action=action, group_id=card.id, view=view, page=page).pack()
        )

    rows: list[list[InlineKeyboardButton]] = []
    if card.state is not GroupState.DISSOLVED:
        if card.viewer_in:
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
                extra.append(button(_("🔒 Make confidential"), GroupAction.CONFIDENTIAL))
            if extra:
                rows.append(extra)
    rows.append(
        [InlineKeyboardButton(text=_("⬅️ Working groups"), callback_data=GroupListCb(view=view, page=page).pack())]
    )
    return InlineKeyboardMarkup(inline_keyboard=rows)


def terms_text(card: GroupCard) -> str:
    return "\n\n".join(
        (
            f"🔒 <b>{shown(card.title)}</b>",
            _(
                "This group is confidential. Before taking part, your organisation accepts these terms; "
                "your acceptance is recorded with its time."
            ),
            shown(card.terms),
        )
    )


def group_notice(kind: NoticeKind, params: Mapping[str, Any], locale: str) -> NoticeMessage:
    """The `group.*` notice kinds, in the current language (`GroupNotice.notice` gives their parameters)."""
    notice = GroupNotice.from_params(kind, params)
    title = f"<b>{shown(notice.title)}</b>"
    markup: InlineKeyboardMarkup | None = None

    def one_button(label: str, action: GroupAction) -> InlineKeyboardMarkup:
        pressed = GroupCb(action=action, group_id=notice.group_id).pack()
        return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=label, callback_data=pressed)]])

    if notice.kind is GroupEventKind.ACTIVATED:
        text = ngettext(
            "🎉 The working group {title} is now active: {count} member organisation takes part in it.",
            "🎉 The working group {title} is now active: {count} member organisations take part in it.",
            notice.organisations,
        ).format(title=title, count=notice.organisations)
    elif notice.kind is GroupEventKind.FLAGGED:
        text = ngettext(
            "⚠️ The working group {title} is below three member organisations: {count} is left. Open it with /groups.",
            "⚠️ The working group {title} is below three member organisations: {count} are left. Open it with /groups.",
            notice.organisations,
        ).format(title=title, count=notice.organisations)
    elif notice.kind is GroupEventKind.RECOVERED:
        text = ngettext(
            "✅ The working group {title} is back to {count} member organisation.",
            "✅ The working group {title} is back to {count} member organisations.",
            notice.organisations,
        ).format(title=title, count=notice.organisations)
    elif notice.kind is GroupEventKind.PROPOSED:
        text = _(
            "💡 {proposer} proposed a new working group: {title}. It becomes active when three member "
            "organisations take part."
        ).format(proposer=escape(notice.proposer or ""), title=title)
        markup = one_button(_("👥 Open the group"), GroupAction.CARD)
    elif notice.kind is GroupEventKind.DISSOLVED:
        text = _("The working group {title} has been dissolved.\nReason: {reason}").format(
            title=title, reason=escape(notice.reason or "")
        )
    elif notice.kind is GroupEventKind.TRANSFORMED:
        assert notice.objective is not None
        text = _(
            "🔁 The working group {title} has a new objective.\nReason: {reason}\n\nNew objective: {objective}"
        ).format(title=title, reason=escape(notice.reason or ""), objective=shown(notice.objective))
    elif notice.kind is GroupEventKind.CONFIDENTIAL:
        assert notice.terms is not None
        text = "\n\n".join(
            (
                _(
                    "🔒 The working group {title} is now confidential. To keep taking part, please accept its terms:"
                ).format(title=title),
                shown(notice.terms),
            )
        )
        markup = one_button(_("✅ I accept"), GroupAction.ACCEPT)
    else:
        raise ValueError(f"no wording for {kind}")
    return text, markup


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


def join_cluster_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=_("🤝 Join the cluster"), callback_data=MenuCb(action=MenuAction.JOIN).pack())],
            [InlineKeyboardButton(text=_("⬅️ Menu"), callback_data=MenuCb(action=MenuAction.HOME).pack())],
        ]
    )


# --- showing -----------------------------------------------------------------------------------------------------


async def _show(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup, *, edit: bool = True) -> None:
    """Put the answer in place of the message tapped (paging, opening a card), or below it."""
    if not isinstance(query.message, Message):
        return
    if edit:
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_text(text, reply_markup=markup)
            return
    await query.message.answer(text, reply_markup=markup)


async def _show_card(
    query: CallbackQuery, card: GroupCard, callback_data: GroupCb, locale: str, settings: Settings, *, edit: bool = True
) -> None:
    """A group's card, its buttons leading back to the list page it was opened from."""
    markup = card_keyboard(card, callback_data.view, callback_data.page)
    await _show(query, card_text(card, locale, settings.tz), markup, edit=edit)


async def _refuse(query: CallbackQuery, error: GroupError | MembershipError) -> None:
    """A refused tap: an alert, except for guests, who get the way into the cluster."""
    if isinstance(error, GroupError) and error.reason is GroupRefusal.NOT_MEMBER:
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.answer(explain(error), reply_markup=join_cluster_keyboard())
        return
    await query.answer(explain(error), show_alert=True)


# --- list and card -------------------------------------------------------------------------------------------------


async def groups_command(message: Message, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    await leave_conversation(state)
    page = await groups.list_groups(repos, person, GroupFilter.ALL, 0)
    await message.answer(list_text(page), reply_markup=list_keyboard(page))


async def groups_button(query: CallbackQuery, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    await leave_conversation(state)
    page = await groups.list_groups(repos, person, GroupFilter.ALL, 0)
    await query.answer()
    await _show(query, list_text(page), list_keyboard(page), edit=False)


async def show_page(query: CallbackQuery, callback_data: GroupListCb, person: PersonView, repos: Repositories) -> None:
    page = await groups.list_groups(repos, person, callback_data.view, callback_data.page)
    await query.answer()
    await _show(query, list_text(page), list_keyboard(page))


async def show_card(
    query: CallbackQuery,
    callback_data: GroupCb,
    person: PersonView,
    repos: Repositories,
    settings: Settings,
    locale: str,
) -> None:
    try:
        card = await groups.card(repos, person, callback_data.group_id)
    except GroupError as error:
        await _refuse(query, error)
        return
    await query.answer()
    await _show_card(query, card, callback_data, locale, settings)


# --- joining and leaving -------------------------------------------------------------------------------------------


async def join_group(
    query: CallbackQuery,
    callback_data: GroupCb,
    person: PersonView,
    repos: Repositories,
    settings: Settings,
    locale: str,
    i18n: I18n,
) -> None:
    try:
        outcome = await groups.join(repos, person, callback_data.group_id, settings.default_locale)
    except (GroupError, MembershipError) as error:
        await _refuse(query, error)
        return
    await query.answer(_("✅ You joined the group."))
    await _show_card(query, outcome.card, callback_data, locale, settings)


async def show_terms(query: CallbackQuery, callback_data: GroupCb, person: PersonView, repos: Repositories) -> None:
    try:
        card = await groups.terms_to_accept(repos, person, callback_data.group_id)
    except (GroupError, MembershipError) as error:
        await _refuse(query, error)
        return
    await query.answer()

    def button(text: str, action: GroupAction) -> InlineKeyboardButton:
        return InlineKeyboardButton(
            text=text,
            callback_data=GroupCb(
                action=action, group_id=card.id, view=callback_data.view, page=callback_data.page
            ).pack(),
        )

    await _show(
        query,
        terms_text(card),
        InlineKeyboardMarkup(
            inline_keyboard=[[button(_("✅ I accept"), GroupAction.ACCEPT), button(_("✖️ Cancel"), GroupAction.CARD)]]
        ),
    )


async def accept_terms(
    query: CallbackQuery,
    callback_data: GroupCb,
    person: PersonView,
    repos: Repositories,
    settings: Settings,
    locale: str,
    i18n: I18n,
) -> None:
    try:
        outcome = await groups.accept_terms(repos, person, callback_data.group_id, locale, settings.default_locale)
    except (GroupError, MembershipError) as error:
        await _refuse(query, error)
        return
    await query.answer(_("✅ You joined the group.") if outcome.joined else _("✅ Your acceptance is recorded."))
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=None)
    await _show_card(query, outcome.card, callback_data, locale, settings, edit=False)


async def leave_group(
    query: CallbackQuery,
    callback_data: GroupCb,
    person: PersonView,
    repos: Repositories,
    settings: Settings,
    locale: str,
    i18n: I18n,
) -> None:
    try:
        outcome = await groups.leave(repos, person, callback_data.group_id, settings.default_locale)
    except (GroupError, MembershipError) as error:
        await _refuse(query, error)
        return
    await query.answer(_("You left the group."))
    await _show_card(query, outcome.card, callback_data, locale, settings)


# --- proposing -----------------------------------------------------------------------------------------------------


async def begin_propose(
    query: CallbackQuery, person: PersonView, repos: Repositories, state: FSMContext, locale: str
) -> None:
    try:
        await groups.ensure_can_propose(repos, person)
    except (GroupError, MembershipError) as error:
        await _refuse(query, error)
        return
    await query.answer()
    await state.clear()
    await state.set_state(ProposeForm.title)
    await state.update_data(locale=locale)
    await _show(
        query,
        _(
            "💡 <b>Propose a working group</b>\n\n"
            "Write it in {language}; the cluster's managers can add the other language later. "
            "You take part in it at once, and it becomes active when three member organisations have joined it.\n\n"
            "1/2. What is the group's title?"
        ).format(language=language_name(locale)),
        cancel_keyboard(),
        edit=False,
    )


async def _still_member(message: Message, person: PersonView, repos: Repositories, state: FSMContext) -> bool:
    try:
        await groups.ensure_can_propose(repos, person)
    except (GroupError, MembershipError) as error:
        await state.clear()
        await message.answer(explain(error), reply_markup=main_menu(person))
        return False
    return True


async def _text(message: Message, limit: int) -> str | None:
    """The answer, cleaned; None (and the reason said) when it is empty or too long."""
    try:
        return clean_text(message.text, limit)
    except MembershipError as refusal:
        await message.answer(explain(refusal), reply_markup=cancel_keyboard())
        return None


async def got_proposal_title(message: Message, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    if not await _still_member(message, person, repos, state):
        return
    title = await _text(message, groups.TITLE_MAX)
    if title is None:
        return
    await state.update_data(title=title)
    await state.set_state(ProposeForm.objective)
    await message.answer(
        _("2/2. What is its objective: what will the member organisations do together?"),
        reply_markup=cancel_keyboard(),
    )


async def got_proposal_objective(message: Message, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    if not await _still_member(message, person, repos, state):
        return
    objective = await _text(message, groups.OBJECTIVE_MAX)
    if objective is None:
        return
    data = await state.update_data(objective=objective)
    await state.set_state(ProposeForm.confirm)
    await message.answer(
        "\n\n".join(
            (
                _("Please check your proposal:"),
                f"<b>{escape(data['title'])}</b>",
                escape(clip(objective, QUOTE_MAX)),
            )
        ),
        reply_markup=confirm_keyboard(_("💡 Propose it")),
    )


async def confirm_proposal(
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
    try:
        card = await groups.propose(
            repos,
            person,
            title=data["title"],
            objective=data["objective"],
            locale=data["locale"],
            default_locale=settings.default_locale,
        )
    except (GroupError, MembershipError) as error:
        await _refuse(query, error)
        return
    await query.answer(_("💡 Your group is proposed."))
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=None)
    await _show(query, card_text(card, locale, settings.tz), card_keyboard(card), edit=False)


# --- managers --------------------------------------------------------------------------------------------------------


async def _begin_managing(
    query: CallbackQuery, callback_data: GroupCb, person: PersonView, repos: Repositories, state: FSMContext
) -> GroupCard | None:
    """The group a manager starts a conversation about, checked; its id is kept for the next steps.
    The tap is still to be answered."""
    try:
        card = await groups.managed_group(repos, person, callback_data.group_id)
    except (GroupError, MembershipError) as error:
        await _refuse(query, error)
        return None
    await state.clear()
    await state.update_data(group_id=card.id)
    return card


async def _still_managing(
    message: Message, person: PersonView, repos: Repositories, state: FSMContext
) -> GroupCard | None:
    data = await state.get_data()
    try:
        return await groups.managed_group(repos, person, int(data["group_id"]))
    except (GroupError, MembershipError) as error:
        await state.clear()
        await message.answer(explain(error), reply_markup=main_menu(person))
        return None


async def begin_transform(
    query: CallbackQuery, callback_data: GroupCb, person: PersonView, repos: Repositories, state: FSMContext
) -> None:
    card = await _begin_managing(query, callback_data, person, repos, state)
    if card is None:
        return
    await query.answer()
    await state.set_state(TransformForm.ro)
    await _show(
        query,
        _(
            "🔁 <b>Transform {title}</b>\n\nCurrent objective: {objective}\n\n1/3. Send the new objective in Romanian."
        ).format(title=shown(card.title), objective=shown(card.objective, QUOTE_MAX)),
        cancel_keyboard(),
        edit=False,
    )


async def got_objective_ro(message: Message, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    if await _still_managing(message, person, repos, state) is None:
        return
    text = await _text(message, groups.OBJECTIVE_MAX)
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
    if await _still_managing(message, person, repos, state) is None:
        return
    text = await _text(message, groups.OBJECTIVE_MAX)
    if text is None:
        return
    await state.update_data(en=text)
    await _ask_reason(message, state)


async def _managing_from_button(
    query: CallbackQuery, person: PersonView, repos: Repositories, state: FSMContext
) -> GroupCard | None:
    """`_still_managing` for a button pressed inside a manager's conversation; answers the tap."""
    data = await state.get_data()
    try:
        card = await groups.managed_group(repos, person, int(data["group_id"]))
    except (GroupError, MembershipError) as error:
        await state.clear()
        await _refuse(query, error)
        return None
    await query.answer()
    return card


async def objective_in_romanian_only(
    query: CallbackQuery, person: PersonView, repos: Repositories, state: FSMContext
) -> None:
    if await _managing_from_button(query, person, repos, state) is not None and isinstance(query.message, Message):
        await _ask_reason(query.message, state)


async def got_transform_reason(message: Message, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    card = await _still_managing(message, person, repos, state)
    if card is None:
        return
    reason = await _text(message, groups.REASON_MAX)
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
    try:
        card = await groups.transform(
            repos,
            person,
            int(data["group_id"]),
            objective={code: data[code] for code in ("ro", "en") if data.get(code)},
            reason=data["reason"],
            default_locale=settings.default_locale,
        )
    except (GroupError, MembershipError) as error:
        await _refuse(query, error)
        return
    await _done(query, card, locale, settings, _("🔁 Transformed; everyone in the group is told why."))


async def _done(query: CallbackQuery, card: GroupCard, locale: str, settings: Settings, toast: str) -> None:
    await query.answer(toast)
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=None)
    await _show(query, card_text(card, locale, settings.tz), card_keyboard(card), edit=False)


async def begin_dissolve(
    query: CallbackQuery, callback_data: GroupCb, person: PersonView, repos: Repositories, state: FSMContext
) -> None:
    card = await _begin_managing(query, callback_data, person, repos, state)
    if card is None:
        return
    await query.answer()
    await state.set_state(DissolveForm.reason)
    await _show(
        query,
        _("🗑 <b>Dissolve {title}</b>\n\nWhy is it dissolved? Everyone in the group will read this reason.").format(
            title=shown(card.title)
        ),
        cancel_keyboard(),
        edit=False,
    )


async def got_dissolve_reason(message: Message, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    card = await _still_managing(message, person, repos, state)
    if card is None:
        return
    reason = await _text(message, groups.REASON_MAX)
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
    try:
        card = await groups.dissolve(
            repos, person, int(data["group_id"]), reason=data["reason"], default_locale=settings.default_locale
        )
    except (GroupError, MembershipError) as error:
        await _refuse(query, error)
        return
    await _done(query, card, locale, settings, _("🗑 Dissolved; everyone in the group is told why."))


async def begin_translate(
    query: CallbackQuery, callback_data: GroupCb, person: PersonView, repos: Repositories, state: FSMContext
) -> None:
    card = await _begin_managing(query, callback_data, person, repos, state)
    if card is None:
        return
    language = card.missing_language
    if language is None:
        await state.clear()
        await query.answer(explain(GroupError(GroupRefusal.NOTHING_MISSING)), show_alert=True)
        return
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
    card = await _still_managing(message, person, repos, state)
    if card is None:
        return
    title = await _text(message, groups.TITLE_MAX)
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
    if await _still_managing(message, person, repos, state) is None:
        return
    objective = await _text(message, groups.OBJECTIVE_MAX)
    if objective is None:
        return
    await state.update_data(objective=objective)
    await _save_translation(message, person, repos, state, settings, locale)


async def _save_translation(
    message: Message, person: PersonView, repos: Repositories, state: FSMContext, settings: Settings, locale: str
) -> None:
    data = await state.get_data()
    await state.clear()
    try:
        card = await groups.add_language(
            repos,
            person,
            int(data["group_id"]),
            locale=data["locale"],
            title=data.get("title"),
            objective=data.get("objective"),
        )
    except (GroupError, MembershipError) as error:
        await message.answer(explain(error), reply_markup=main_menu(person))
        return
    await message.answer(
        _("🌐 Saved: the group now reads in {language} too.").format(language=language_name(data["locale"]))
    )
    await message.answer(card_text(card, locale, settings.tz), reply_markup=card_keyboard(card))


async def begin_confidential(
    query: CallbackQuery, callback_data: GroupCb, person: PersonView, repos: Repositories, state: FSMContext
) -> None:
    card = await _begin_managing(query, callback_data, person, repos, state)
    if card is None:
        return
    if card.confidential:
        await state.clear()
        await query.answer(explain(GroupError(GroupRefusal.ALREADY_CONFIDENTIAL)), show_alert=True)
        return
    await query.answer()
    await state.set_state(TermsForm.ro)
    await _show(
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
    if await _still_managing(message, person, repos, state) is None:
        return
    text = await _text(message, groups.TERMS_MAX)
    if text is None:
        return
    await state.update_data(ro=text)
    await state.set_state(TermsForm.en)
    await message.answer(
        _("2/2. Now the terms in English, or keep only the Romanian text."),
        reply_markup=cancel_keyboard(only_romanian_button()),
    )


async def got_terms_en(message: Message, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    card = await _still_managing(message, person, repos, state)
    if card is None:
        return
    text = await _text(message, groups.TERMS_MAX)
    if text is None:
        return
    await state.update_data(en=text)
    await _confirm_terms(message, card, state)


async def terms_in_romanian_only(
    query: CallbackQuery, person: PersonView, repos: Repositories, state: FSMContext
) -> None:
    card = await _managing_from_button(query, person, repos, state)
    if card is not None and isinstance(query.message, Message):
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
    try:
        card = await groups.make_confidential(
            repos,
            person,
            int(data["group_id"]),
            terms={code: data[code] for code in ("ro", "en") if data.get(code)},
            default_locale=settings.default_locale,
        )
    except (GroupError, MembershipError) as error:
        await _refuse(query, error)
        return
    await _done(query, card, locale, settings, _("🔒 The group is confidential; its members are asked to accept."))


# --- leaving a conversation ------------------------------------------------------------------------------------------


async def cancel_form(query: CallbackQuery, person: PersonView, state: FSMContext) -> None:
    await state.clear()
    await query.answer()
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=None)
        await query.message.answer(_("Stopped. Nothing was changed."), reply_markup=main_menu(person))


async def use_the_buttons(message: Message) -> None:
    await message.answer(_("Please use the buttons above: confirm, or cancel."))


def build_router() -> Router:
    router = Router(name=__name__)
    private = F.chat.type == "private"
    answer = F.text & ~F.text.startswith("/")
    router.message.register(groups_command, Command("groups", ignore_case=True), private)
    router.message.register(got_proposal_title, ProposeForm.title, answer)
    router.message.register(got_proposal_objective, ProposeForm.objective, answer)
    router.message.register(got_objective_ro, TransformForm.ro, answer)
    router.message.register(got_objective_en, TransformForm.en, answer)
    router.message.register(got_transform_reason, TransformForm.reason, answer)
    router.message.register(got_dissolve_reason, DissolveForm.reason, answer)
    router.message.register(got_translated_title, TranslateForm.title, answer)
    router.message.register(got_translated_objective, TranslateForm.objective, answer)
    router.message.register(got_terms_ro, TermsForm.ro, answer)
    router.message.register(got_terms_en, TermsForm.en, answer)
    router.message.register(
        use_the_buttons,
        StateFilter(ProposeForm.confirm, TransformForm.confirm, DissolveForm.confirm, TermsForm.confirm),
        answer,
    )

    router.callback_query.register(groups_button, MenuCb.filter(F.action == MenuAction.GROUPS))
    router.callback_query.register(show_page, GroupListCb.filter())
    router.callback_query.register(show_card, GroupCb.filter(F.action == GroupAction.CARD))
    router.callback_query.register(join_group, GroupCb.filter(F.action == GroupAction.JOIN))
    router.callback_query.register(show_terms, GroupCb.filter(F.action == GroupAction.TERMS))
    router.callback_query.register(accept_terms, GroupCb.filter(F.action == GroupAction.ACCEPT))
    router.callback_query.register(leave_group, GroupCb.filter(F.action == GroupAction.LEAVE))
    router.callback_query.register(begin_propose, GroupCb.filter(F.action == GroupAction.PROPOSE))
    router.callback_query.register(begin_transform, GroupCb.filter(F.action == GroupAction.TRANSFORM))
    router.callback_query.register(begin_dissolve, GroupCb.filter(F.action == GroupAction.DISSOLVE))
    router.callback_query.register(begin_translate, GroupCb.filter(F.action == GroupAction.TRANSLATE))
    router.callback_query.register(begin_confidential, GroupCb.filter(F.action == GroupAction.CONFIDENTIAL))
    router.callback_query.register(cancel_form, GroupFormCb.filter(F.action == GroupFormAction.CANCEL))
    one = GroupFormCb.filter(F.action == GroupFormAction.ONE)
    router.callback_query.register(objective_in_romanian_only, TransformForm.en, one)
    router.callback_query.register(terms_in_romanian_only, TermsForm.en, one)
    confirm = GroupFormCb.filter(F.action == GroupFormAction.CONFIRM)
    router.callback_query.register(confirm_proposal, ProposeForm.confirm, confirm)
    router.callback_query.register(confirm_transform, TransformForm.confirm, confirm)
    router.callback_query.register(confirm_dissolve, DissolveForm.confirm, confirm)
    router.callback_query.register(confirm_confidential, TermsForm.confirm, confirm)
    return router
