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
from handlers.keyboards import clip_words
from storage.models import GroupEventKind, GroupState

FLAGS = {"ro": "🇷🇴", "en": "🇬🇧"}
STATE_ICONS = {GroupState.ACTIVE: "🟢", GroupState.PROPOSED: "🟡", GroupState.DISSOLVED: "⚫"}
# A button shows the short title, or this much of the title cut at a word; the card shows all of it.
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
    return (clip_words(text, limit) if limit else text) + mark


def shown(texts: Texts, limit: int | None = None) -> str:
    """`localized`, escaped for an HTML message."""
    return escape(localized(texts, limit))


def label(title: Texts, short_title: Texts, limit: int = LABEL_MAX) -> str:
    """A group's name on a button: its short title in the reader's language, else its title cut between words
    (plain text; the flag of the other language when the reader's is missing)."""
    locale = get_i18n().current_locale
    if short_title.get(locale):
        return clip_words(short_title.get(locale) or "", limit)
    if title.get(locale):
        return clip_words(title.get(locale) or "", limit)
    if any(short_title.get(code) for code in FLAGS):
        return localized(short_title, limit)
    return localized(title, limit)


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
        lines += ["", _("🟢 active · 🟡 proposed · ⚫ dissolved · 🔒 confidential · ✅ you're a member")]
    lines += [
        "",
        _("A group becomes active when three member organisations have joined it."),
    ]
    if page.viewer_guest:
        lines += ["", guest_invitation()]
    return "\n".join(lines)


def guest_invitation() -> str:
    return _(
        "Working groups are for the cluster's member organisations. Once your organisation has joined the "
        "cluster, you can join a group or propose one."
    )


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
        return _("Status: 🟢 active")
    if card.state is GroupState.DISSOLVED:
        return _("Status: ⚫ dissolved")
    needed = max(groups.ORGANISATIONS_NEEDED - card.organisations, 1)
    return ngettext(
        "Status: 🟡 proposed, waiting for {count} more member organisation",
        "Status: 🟡 proposed, waiting for {count} more member organisations",
        needed,
    ).format(count=needed)


def organisations_lines(card: GroupCard) -> list[str]:
    """The member organisations of the group, by name (the first `ORGANISATIONS_SHOWN`, then how many more)."""
    if not card.organisation_names:
        return []
    lines = [_("<b>Member organisations:</b>"), *(f"• {escape(name)}" for name in card.organisation_names)]
    hidden = card.organisations - len(card.organisation_names)
    if hidden > 0:
        lines.append(ngettext("and {count} more", "and {count} more", hidden).format(count=hidden))
    return lines


def chat_link_line(card: GroupCard) -> str | None:
    """The group's own chat, as the people in it read it (and managers, who are told who sees it)."""
    if card.chat_link is None:
        return None
    link = f'<a href="{escape(card.chat_link)}">{escape(card.chat_link)}</a>'
    if card.viewer_in:
        return _("💬 The group's Telegram chat: {link}").format(link=link)
    return _("💬 The group's Telegram chat (only its members see it): {link}").format(link=link)


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
    if card.state is GroupState.DISSOLVED:
        if card.dissolved_at is not None:
            head.append(
                _("⚫ Dissolved on {when}: nobody can join it.").format(when=format_when(card.dissolved_at, locale, tz))
            )
        else:
            head.append(_("⚫ Dissolved: nobody can join it."))
    elif card.confidential:
        head.append(_("🔒 Confidential: members must accept its terms; the date and hour of acceptance are recorded."))
    else:
        head.append(_("🔓 Open to every member organisation."))
    head.append(_("Created: {when}").format(when=format_when(card.created_at, locale, tz)))
    if card.flagged_at is not None and card.state is GroupState.ACTIVE:
        head.append(
            _("⚠️ Below three member organisations since {when}.").format(when=format_when(card.flagged_at, locale, tz))
        )
    if card.viewer_in:
        head.append(_("✅ You're a member of this group."))
        if card.confidential and not card.viewer_accepted:
            head.append(_("You have not accepted its confidentiality terms yet."))
    chat = chat_link_line(card)
    if chat is not None:
        head.append(chat)
    if card.viewer_guest and card.state is not GroupState.DISSOLVED:
        head += ["", guest_invitation()]
    organisations = organisations_lines(card)
    history = [history_line(entry, locale, tz) for entry in card.history]
    accepted = [
        f"• {escape(row.name)}, {format_when(row.accepted_at, locale, tz)} {FLAGS.get(row.locale, '')}"
        for row in card.acceptances
    ]

    def compose() -> str:
        parts = ["\n".join(head)]
        if organisations:
            parts.append("\n".join(organisations))
        if history:
            parts.append("\n".join([_("<b>History</b> (newest first):"), *history]))
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
    while utf16_len(parse_html(text)[0]) > TEXT_LIMIT and (history or accepted or organisations):
        (accepted or history or organisations).pop()
        text = compose()
    return text


def terms_text(card: GroupCard) -> str:
    return "\n\n".join(
        (
            f"🔒 <b>{shown(card.title)}</b>",
            _(
                "This group is confidential. Before joining it, your organisation must accept these terms; "
                "the date and hour of acceptance are recorded."
            ),
            shown(card.terms),
        )
    )


def joined_text(card: GroupCard) -> str:
    """The message telling someone they are in the group, with its chat when it has one."""
    lines = [_('✅ You\'re a member of the group "{title}" now.').format(title=shown(card.title))]
    if card.chat_link is not None:
        lines += ["", _("Its members talk in the group's Telegram chat: tap below to open it.")]
    return "\n".join(lines)
