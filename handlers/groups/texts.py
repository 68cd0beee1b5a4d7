"""The working groups' wording: texts in the reader's language, the list and a group's card."""

from __future__ import annotations

from html import escape
from zoneinfo import ZoneInfo

from aiogram.utils.i18n import get_i18n, ngettext
from aiogram.utils.i18n import gettext as _

from bot.i18n import format_when
from bot.services import groups
from bot.services.groups import GroupCard, GroupFilter, GroupPage, HistoryEntry, Texts
from bot.telegram_text import TEXT_LIMIT, parse_html, utf16_len
from handlers.keyboards import clip
from storage.models import GroupEventKind, GroupState

FLAGS = {"ro": "🇷🇴", "en": "🇬🇧"}
STATE_ICONS = {GroupState.ACTIVE: "🟢", GroupState.PROPOSED: "🟡", GroupState.DISSOLVED: "⚫"}
# A button shows this much of a title; the card shows all of it.
LABEL_MAX = 48
# Long texts quoted in a summary or in the history are cut here, so the message stays within Telegram's limit.
QUOTE_MAX = 600
HISTORY_QUOTE_MAX = 200


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
