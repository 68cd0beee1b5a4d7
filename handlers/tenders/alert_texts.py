"""The wording of tender alerts (the `tender.*` notice kinds: an alert, a change, a digest, a reminder), in the
reader's language at send time, and their Follow / Not relevant buttons.

A tender's parameters are `bot.services.tenders.alerts.tender_params`: the title in the reader's language where
the source has it (else English, else the first one given), the buyer, the country's name (Babel), up to three
CPV labels from the vocabulary (the main code first), the value (`bot.amounts.format_money`), the deadline in
TIMEZONE with the days left, the link in the reader's language where there is one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from html import escape
from typing import Any

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext
from babel import Locale
from babel.dates import format_datetime
from pydantic import Field

from bot.amounts import format_money, format_quantity
from bot.notices import NoticeKind
from bot.services.tenders.alerts import AlertState, Verdict
from bot.services.tenders.cpv import vocabulary
from handlers.keyboards import NoticeMessage, RowId

CPV_SHOWN = 3


class TenderAlertCb(CallbackData, prefix="ta"):
    """A verdict on alert `alert_id`; `item` is its number in a digest (short labels), 0 on an alert of its own."""

    alert_id: RowId
    verdict: Verdict
    item: int = Field(default=0, ge=0, le=9999)


def _in_language(texts: Mapping[str, Any] | None, locale: str) -> str:
    texts = {key: str(value) for key, value in (texts or {}).items() if value}
    for language in (locale, "en"):
        if language in texts:
            return texts[language]
    return next(iter(texts.values()), "")


def _country(code: str | None, locale: str) -> str | None:
    if not code:
        return None
    return str(Locale.parse(locale).territories.get(code.upper(), code.upper()))


def _cpv(codes: Iterable[str], count: int, locale: str) -> str | None:
    labels = []
    words = vocabulary()
    for code in list(codes)[:CPV_SHOWN]:
        entry = words.get(code)
        labels.append(f"{entry.label(locale)} ({entry.full})" if entry is not None else code)
    if not labels:
        return None
    text = "; ".join(escape(label) for label in labels)
    more = max(count, len(labels)) - len(labels)
    if more:
        text += " " + ngettext("and {count} more", "and {count} more", more).format(count=more)
    return text


def _value(value: str | None, currency: str | None, locale: str) -> str | None:
    if value is None:
        return None
    try:
        amount = Decimal(value)
    except InvalidOperation:
        return None
    return format_money(amount, currency, locale) if currency else format_quantity(amount, locale)


def _days_left(days: int) -> str:
    if days < 0:
        return _("the deadline has passed")
    if days == 0:
        return _("the last day")
    return ngettext("{days} day left", "{days} days left", days).format(days=days)


def _deadline(tender: Mapping[str, Any], locale: str) -> str | None:
    when = tender.get("deadline")
    if not when:
        return None
    moment = datetime.fromisoformat(str(when))
    shown = format_datetime(moment, format="d MMMM y, HH:mm", tzinfo=moment.tzinfo, locale=locale)
    days = tender.get("days_left")
    return shown if days is None else f"{shown} ({_days_left(int(days))})"


def _link(tender: Mapping[str, Any], locale: str) -> str | None:
    link = _in_language(tender.get("links"), locale)
    return link or None


def tender_body(tender: Mapping[str, Any], locale: str) -> str:
    """A tender as an alert shows it: the title, then one line for each thing known of it."""
    title = escape(_in_language(tender.get("title"), locale)) or "—"
    lines = [f"<b>{title}</b>"]
    if tender.get("buyer"):
        lines.append(_("🏛 Buyer: {buyer}").format(buyer=escape(str(tender["buyer"]))))
    country = _country(tender.get("country"), locale)
    if country:
        lines.append(_("🌍 Country: {country}").format(country=escape(country)))
    cpv = _cpv(tender.get("cpv") or (), int(tender.get("cpv_count") or 0), locale)
    if cpv:
        lines.append(_("🏷 CPV: {labels}").format(labels=cpv))
    value = _value(tender.get("value"), tender.get("currency"), locale)
    if value:
        lines.append(_("💰 Estimated value: {value}").format(value=escape(value)))
    deadline = _deadline(tender, locale)
    if deadline:
        lines.append(_("⏳ Deadline: {deadline}").format(deadline=escape(deadline)))
    link = _link(tender, locale)
    if link:
        lines.append(f'🔗 <a href="{escape(link, quote=True)}">' + _("Open the notice") + "</a>")
    return "\n".join(lines)


# --- buttons ------------------------------------------------------------------------------------------------------


def _follow_button(alert_id: int, followed: bool, item: int) -> InlineKeyboardButton:
    verdict = Verdict.UNFOLLOW if followed else Verdict.FOLLOW
    if item:
        text = f"✅ {item}" if followed else f"⭐ {item}"
    else:
        text = _("✅ Following (unfollow)") if followed else _("⭐ Follow")
    return InlineKeyboardButton(
        text=text, callback_data=TenderAlertCb(alert_id=alert_id, verdict=verdict, item=item).pack()
    )


def _relevance_button(alert_id: int, not_relevant: bool, item: int) -> InlineKeyboardButton:
    verdict = Verdict.RELEVANT if not_relevant else Verdict.NOT_RELEVANT
    if item:
        text = f"↩️ {item}" if not_relevant else f"🚫 {item}"
    else:
        text = _("↩️ Relevant after all") if not_relevant else _("🚫 Not relevant")
    return InlineKeyboardButton(
        text=text, callback_data=TenderAlertCb(alert_id=alert_id, verdict=verdict, item=item).pack()
    )


def _buttons(alert_id: int, followed: bool, not_relevant: bool, item: int = 0) -> list[InlineKeyboardButton]:
    return [_follow_button(alert_id, followed, item), _relevance_button(alert_id, not_relevant, item)]


def alert_keyboard(alert_id: int, *, followed: bool = False, not_relevant: bool = False) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[_buttons(alert_id, followed, not_relevant)])


def updated_keyboard(markup: InlineKeyboardMarkup, state: AlertState) -> InlineKeyboardMarkup:
    """The message's keyboard with the buttons of `state`'s alert showing its verdicts now (a digest's other
    alerts keep theirs)."""
    rows: list[list[InlineKeyboardButton]] = []
    for row in markup.inline_keyboard:
        new_row = []
        for button in row:
            try:
                data = TenderAlertCb.unpack(button.callback_data or "")
            except (TypeError, ValueError):
                new_row.append(button)
                continue
            if data.alert_id != state.alert_id:
                new_row.append(button)
            elif data.verdict in (Verdict.FOLLOW, Verdict.UNFOLLOW):
                new_row.append(_follow_button(state.alert_id, state.followed, data.item))
            else:
                new_row.append(_relevance_button(state.alert_id, state.not_relevant, data.item))
        rows.append(new_row)
    return InlineKeyboardMarkup(inline_keyboard=rows)


def verdict_said(verdict: Verdict) -> str:
    """The answer to a press."""
    return {
        Verdict.FOLLOW: _("⭐ Followed: I will remind you 7 and 2 days before the deadline."),
        Verdict.UNFOLLOW: _("You no longer follow this tender."),
        Verdict.NOT_RELEVANT: _("🚫 Noted: not relevant. Thank you, this helps the cluster's team."),
        Verdict.RELEVANT: _("↩️ Marked relevant again."),
    }[verdict]


# --- the notice kinds ---------------------------------------------------------------------------------------------


def _keyboard_of(params: Mapping[str, Any]) -> InlineKeyboardMarkup:
    return alert_keyboard(
        int(params["alert_id"]),
        followed=bool(params.get("followed")),
        not_relevant=bool(params.get("not_relevant")),
    )


def tender_alert_notice(params: Mapping[str, Any], locale: str) -> NoticeMessage:
    """`tender.alert`: a new tender that matches the reader's profiles."""
    head = _("🔔 <b>A new tender for you</b>")
    return f"{head}\n\n{tender_body(params['tender'], locale)}", _keyboard_of(params)


def tender_changed_notice(params: Mapping[str, Any], locale: str) -> NoticeMessage:
    """`tender.changed`: an update of a tender the reader was alerted of."""
    head = _("✏️ <b>Update</b> of a tender you were alerted of: the notice was changed. As it stands now:")
    return f"{head}\n\n{tender_body(params['tender'], locale)}", _keyboard_of(params)


def tender_reminder_notice(params: Mapping[str, Any], locale: str) -> NoticeMessage:
    """`tender.reminder`: the deadline of a tender the reader follows is near (7 or 2 days)."""
    # The days really left (calendar days in TIMEZONE), which a 7-day reminder sent in the morning may round down.
    left = params["tender"].get("days_left")
    days = int(left if left is not None else params.get("days") or 0)
    head = ngettext(
        "⏰ <b>{days} day</b> to the deadline of a tender you follow:",
        "⏰ <b>{days} days</b> to the deadline of a tender you follow:",
        days,
    ).format(days=days)
    return f"{head}\n\n{tender_body(params['tender'], locale)}", _keyboard_of({**params, "followed": True})


def _digest_item(number: int, tender: Mapping[str, Any], locale: str) -> str:
    title = escape(_in_language(tender.get("title"), locale)) or "—"
    link = _link(tender, locale)
    shown = f'<a href="{escape(link, quote=True)}">{title}</a>' if link else title
    lines = [f"<b>{number}.</b> {shown}"]
    about = [escape(str(tender["buyer"]))] if tender.get("buyer") else []
    country = _country(tender.get("country"), locale)
    if country:
        about.append(escape(country))
    if about:
        lines.append(" · ".join(about))
    facts = []
    value = _value(tender.get("value"), tender.get("currency"), locale)
    if value:
        facts.append(f"💰 {escape(value)}")
    deadline = _deadline(tender, locale)
    if deadline:
        facts.append(f"⏳ {escape(deadline)}")
    if facts:
        lines.append(" · ".join(facts))
    return "\n".join(lines)


def tender_digest_notice(params: Mapping[str, Any], locale: str) -> NoticeMessage:
    """`tender.digest`: one part of the reader's daily digest, each tender with its numbered buttons."""
    items = list(params.get("items") or [])
    total, part, parts = (
        int(params.get("total") or len(items)),
        int(params.get("part") or 1),
        int(params.get("parts") or 1),
    )
    first = int(params.get("first") or 1)
    head = ngettext(
        "📬 <b>Your tender digest</b>: {total} new tender.",
        "📬 <b>Your tender digest</b>: {total} new tenders.",
        total,
    ).format(total=total)
    if parts > 1:
        head += " " + _("Part {part} of {parts}.").format(part=part, parts=parts)
    entries = [_digest_item(first + n, item["tender"], locale) for n, item in enumerate(items)]
    foot = _("⭐ N follows tender N (reminders 7 and 2 days before its deadline); 🚫 N marks it not relevant.")
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[_buttons(int(item["alert_id"]), False, False, first + n) for n, item in enumerate(items)]
    )
    return "\n\n".join([head, *entries, foot]), keyboard


WORDINGS = {
    NoticeKind.TENDER_ALERT: tender_alert_notice,
    NoticeKind.TENDER_CHANGED: tender_changed_notice,
    NoticeKind.TENDER_DIGEST: tender_digest_notice,
    NoticeKind.TENDER_REMINDER: tender_reminder_notice,
}
