"""The alert profiles' wording: refusals, a profile's card and one-line summary, the list, the CPV screens and
the current matches, in the reader's language."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from aiogram.utils.i18n import get_i18n, ngettext
from aiogram.utils.i18n import gettext as _
from babel.dates import format_date

from bot.amounts import AmountProblem, format_money, from_hundredths
from bot.i18n import format_when
from bot.services.tenders import profiles
from bot.services.tenders.cpv import CpvCode, vocabulary
from bot.services.tenders.model import TenderKind
from bot.services.tenders.profiles import CpvBrowse, Draft, MatchesPage, ProfileError, ProfileRefusal
from handlers.keyboards import clip
from storage.models import AlertDelivery, AlertProfile, Person

LABEL_MAX = 48
CODE_LABEL_MAX = 90


def locale_now() -> str:
    return str(get_i18n().current_locale)


def explain_profile(error: ProfileError) -> str:
    """A profile refusal in the reader's words (registered in handlers.refusals)."""
    limit = error.context.get("limit", "")
    if error.reason is ProfileRefusal.UNKNOWN_COUNTRIES:
        given = error.context.get("unknown")
        names = ", ".join(escape(str(name)) for name in (given if isinstance(given, list) else []))
        return _(
            "I do not know these countries: {names}. Write two-letter codes (RO, BG) or names, separated by commas."
        ).format(names=names)
    if error.reason is ProfileRefusal.TOO_MANY:
        return ngettext(
            "You already have {limit} alert profile, the most a member may have. Delete or change one instead.",
            "You already have {limit} alert profiles, the most a member may have. Delete or change one instead.",
            int(str(limit) or profiles.MAX_PROFILES),
        ).format(limit=limit)
    return {
        ProfileRefusal.MEMBERS_ONLY: _(
            "Tender alerts are for the cluster's members. Join the cluster for your organisation first."
        ),
        ProfileRefusal.NO_ORGANISATION: _(
            "Tender alerts are for the representatives of member organisations, and you do not represent one."
        ),
        ProfileRefusal.NOT_FOUND: _("This alert profile does not exist (any more), or it is not yours to change."),
        ProfileRefusal.TOO_MANY: "",
        ProfileRefusal.NOTHING_TO_MATCH: _(
            "This profile would match nothing: give it at least one CPV code or one keyword to look for."
        ),
        ProfileRefusal.NAME_TOO_LONG: _("That is too long: at most {limit} characters, please.").format(limit=limit),
        ProfileRefusal.BAD_CODE: _("That is not a CPV code I know."),
        ProfileRefusal.TOO_MANY_CODES: _("A profile has at most {limit} CPV codes.").format(limit=limit),
        ProfileRefusal.TOO_MANY_KEYWORDS: _("At most {limit} keywords, please.").format(limit=limit),
        ProfileRefusal.KEYWORD_TOO_LONG: _("A keyword or phrase has at most {limit} characters.").format(limit=limit),
        ProfileRefusal.NO_KEYWORDS: _("I found no keyword there. Write words separated by commas, phrases in quotes."),
        ProfileRefusal.UNKNOWN_COUNTRIES: "",
        ProfileRefusal.BAD_CURRENCY: _("Values are in RON or EUR."),
        ProfileRefusal.BAD_RANGE: _("The minimum is above the maximum: please give a maximum at least as large."),
        ProfileRefusal.BAD_DAYS: _("Please give a whole number of days from 0 to {limit}.").format(limit=limit),
        ProfileRefusal.BAD_HOUR: _("Please choose an hour from 0 to 23."),
        ProfileRefusal.NO_KINDS: _("Choose at least one kind of notice."),
        ProfileRefusal.BAD_DELIVERY: _("Choose instant alerts or a daily digest."),
        ProfileRefusal.BAD_PAGE: _("That page does not exist."),
    }[error.reason]


def explain_amount(problem: AmountProblem) -> str:
    return {
        AmountProblem.NOT_A_NUMBER: _("I could not read that as an amount. Please write it like 250000 or 250.000,00."),
        AmountProblem.NOT_POSITIVE: _("Please give an amount greater than zero."),
        AmountProblem.TOO_LARGE: _("That is more than one thousand billion: please check the amount."),
        AmountProblem.TOO_PRECISE: _("At most two decimals, please."),
    }[problem]


def kind_name(kind: str) -> str:
    return {
        TenderKind.PLANNING.value: _("planned purchases"),
        TenderKind.COMPETITION.value: _("calls for competition"),
        TenderKind.RESULT.value: _("contract awards"),
    }[kind]


def code_line(code: str, language: str, limit: int = CODE_LABEL_MAX) -> str:
    entry = vocabulary().get(code)
    label = entry.label(language) if entry else "?"
    return f"{entry.full if entry else code} {clip(label, limit)}"


def countries_text(countries: Sequence[str], language: str) -> str:
    if not countries:
        return _("any country")
    if profiles.is_all_eu(countries):
        return _("all EU member states")
    return ", ".join(profiles.country_name(code, language) for code in countries)


def keywords_text(entries: Sequence[str]) -> str:
    return ", ".join(f'"{escape(entry)}"' if " " in entry else escape(entry) for entry in entries)


def value_text(draft: Draft, language: str) -> str:
    low = None if draft.value_min is None else format_money(from_hundredths(draft.value_min), draft.currency, language)
    high = None if draft.value_max is None else format_money(from_hundredths(draft.value_max), draft.currency, language)
    if low and high:
        return _("from {low} to {high}").format(low=low, high=high)
    if low:
        return _("at least {low}").format(low=low)
    if high:
        return _("at most {high}").format(high=high)
    return _("any value")


def quiet_text(quiet: tuple[int, int] | None) -> str:
    if quiet is None:
        return ""
    return _("No alert is sent at night, from {start}:00 to {end}:00: those wait for the morning.").format(
        start=f"{quiet[0]:02d}", end=f"{quiet[1]:02d}"
    )


def delivery_text(draft: Draft) -> str:
    if draft.delivery == AlertDelivery.DIGEST.value:
        return _("a daily digest at {hour}:00").format(hour=f"{draft.digest_hour:02d}")
    return _("each alert as soon as it is found")


def summary_line(profile: AlertProfile, language: str) -> str:
    """One line about a profile: what it is about, where, how it arrives."""
    draft = profiles.draft_of(profile)
    about = []
    if draft.cpv:
        about.append(ngettext("{count} CPV code", "{count} CPV codes", len(draft.cpv)).format(count=len(draft.cpv)))
    if draft.include:
        about.append(keywords_text(draft.include[:3]) + ("…" if len(draft.include) > 3 else ""))
    where = countries_text(draft.countries, language)
    return " · ".join([", ".join(about) or "—", clip(where, 40), delivery_text(draft)])


def state_mark(profile: AlertProfile) -> str:
    return "⏸" if profile.paused else "▶️"


def state_name(profile: AlertProfile) -> str:
    return _("paused") if profile.paused else _("active")


def list_text(mine: Sequence[AlertProfile], language: str) -> str:
    lines = [
        _("🔔 <b>Your tender alert profiles</b> ({count} of {limit})").format(
            count=len(mine), limit=profiles.MAX_PROFILES
        ),
        "",
    ]
    if not mine:
        lines.append(
            _(
                "You have none yet. A profile says which public tenders interest you (CPV codes, keywords, countries, "
                "values); I tell you of new ones as they are published, in Romania and the EU."
            )
        )
    for number, profile in enumerate(mine, start=1):
        lines.append(
            f"{number}. {state_mark(profile)} <b>{escape(profile.name)}</b> ({state_name(profile)})\n"
            f"    {summary_line(profile, language)}"
        )
    return "\n".join(lines)


def colleagues_text(found: Sequence[tuple[AlertProfile, Person]], language: str) -> str:
    lines = [_("👥 <b>Profiles of your organisation's other representatives</b>"), ""]
    if not found:
        lines.append(_("None of your colleagues has an alert profile yet."))
    for number, (profile, owner) in enumerate(found, start=1):
        name = f"{owner.first_name} {owner.last_name}" if owner.last_name else owner.first_name
        lines.append(f"{number}. <b>{escape(profile.name)}</b> — {escape(name)}\n    {summary_line(profile, language)}")
    if found:
        lines += ["", _("Open one to see it whole, or copy it to your own profiles.")]
    return "\n".join(lines)


def draft_text(draft: Draft, language: str, quiet: tuple[int, int] | None) -> str:
    """Everything a profile holds, one field a line."""
    lines = []
    if draft.cpv:
        lines.append(_("<b>CPV codes</b> (each covers the codes below it):"))
        lines += [f"• {escape(code_line(code, language))}" for code in draft.cpv]
    else:
        lines.append(_("<b>CPV codes:</b> none"))
    lines.append(_("<b>Keywords:</b> {words}").format(words=keywords_text(draft.include) or _("none")))
    lines.append(_("<b>Excluding:</b> {words}").format(words=keywords_text(draft.exclude) or _("nothing")))
    lines.append(_("<b>Countries:</b> {countries}").format(countries=escape(countries_text(draft.countries, language))))
    lines.append(_("<b>Value:</b> {value}").format(value=value_text(draft, language)))
    lines.append(
        ngettext(
            "<b>Deadline:</b> at least {days} day left",
            "<b>Deadline:</b> at least {days} days left",
            draft.min_days_left,
        ).format(days=draft.min_days_left)
        if draft.min_days_left
        else _("<b>Deadline:</b> any, while still open")
    )
    kinds = ", ".join(kind_name(kind) for kind in draft.kinds) or _("none")
    lines.append(_("<b>Notices:</b> {kinds}").format(kinds=kinds))
    lines.append(_("<b>Delivery:</b> {delivery}").format(delivery=delivery_text(draft)))
    note = quiet_text(quiet)
    if note:
        lines.append(note)
    return "\n".join(lines)


def card_text(seen: profiles.Owned, language: str, tz: ZoneInfo, quiet: tuple[int, int] | None) -> str:
    profile = seen.profile
    lines = [f"🔔 <b>{escape(profile.name)}</b> — {state_mark(profile)} {state_name(profile)}"]
    if not seen.mine:
        lines.append(
            _("A profile of {owner}, of your organisation (read-only).").format(owner=escape(seen.owner or "—"))
        )
    lines += ["", draft_text(profiles.draft_of(profile), language, quiet), ""]
    lines.append(
        _("Alerts come for tenders first seen from {when} on.").format(
            when=format_when(profile.starts_at, language, tz)
        )
    )
    return "\n".join(lines)


def review_text(draft: Draft, language: str, quiet: tuple[int, int] | None, matches: int, editing: bool) -> str:
    head = _('✏️ <b>Editing "{name}"</b>') if editing else _('🔔 <b>New profile "{name}"</b>')
    name = draft.name or profiles.default_name(draft, language)
    lines = [head.format(name=escape(name)), "", draft_text(draft, language, quiet), ""]
    if not draft.about_something:
        lines.append(
            _(
                "⚠️ It cannot be saved yet: give it at least one CPV code or one keyword to look for, "
                "or it matches nothing."
            )
        )
    else:
        lines.append(
            ngettext(
                "🔎 It would match <b>{count}</b> current tender (still open, already stored).",
                "🔎 It would match <b>{count}</b> current tenders (still open, already stored).",
                matches,
            ).format(count=matches)
        )
        lines.append(_("Once saved, you are told of new tenders from now on, not of those already published."))
    return "\n".join(lines)


def chosen_codes_text(draft: Draft, language: str) -> str:
    if not draft.cpv:
        return _("No code chosen yet.")
    return "\n".join([_("Chosen:"), *(f"• {escape(code_line(code, language))}" for code in draft.cpv)])


def cpv_browse_text(draft: Draft, screen: CpvBrowse, language: str) -> str:
    lines = [
        _("<b>CPV codes</b>. Tap a division or group to open it, or ➕ to add it: it matches everything below it."),
        _('You can also type a code ("09300000", "0931") or words to search, such as "solar panels".'),
        "",
        chosen_codes_text(draft, language),
        "",
    ]
    if screen.node is None:
        lines.append(_("Divisions, page {page} of {pages}:").format(page=screen.page + 1, pages=screen.pages))
    else:
        path = " › ".join(escape(code_line(entry.code, language, LABEL_MAX)) for entry in screen.path)
        lines.append(_("You are in: {path}").format(path=path))
    return "\n".join(lines)


def cpv_search_text(draft: Draft, found: Sequence[CpvCode], typed: str, language: str) -> str:
    lines = [chosen_codes_text(draft, language), ""]
    if not found:
        lines.append(_('No CPV code matches "{typed}". Try other words, or browse.').format(typed=escape(typed)))
    else:
        lines.append(_('Codes for "{typed}": tap one to add it.').format(typed=escape(typed)))
        lines += [f"• {escape(code_line(entry.code, language))}" for entry in found]
    return "\n".join(lines)


def days_left(deadline: datetime, now: datetime) -> int:
    return max(0, (deadline - now).days)


def matches_text(seen: profiles.Owned, page: MatchesPage, language: str, tz: ZoneInfo, now: datetime) -> str:
    lines = [
        ngettext(
            "🔎 <b>{name}</b>: {count} open tender matches now",
            "🔎 <b>{name}</b>: {count} open tenders match now",
            page.total,
        ).format(name=escape(seen.profile.name), count=page.total)
    ]
    if page.pages > 1:
        lines.append(_("Page {page} of {pages}").format(page=page.page + 1, pages=page.pages))
    lines.append("")
    if not page.tenders:
        lines.append(_("No stored tender still open matches it now. New ones will come as alerts."))
    for number, row in enumerate(page.tenders, start=page.shown_from + 1):
        title = escape(clip(profiles.tender_title(row, language), 200)) or "—"
        parts = [f"{number}. <b>{title}</b>"]
        if row.buyer:
            parts.append("    " + escape(clip(row.buyer, 120)))
        if row.deadline is not None:
            left = days_left(row.deadline, now)
            when = format_date(row.deadline.astimezone(tz), format="medium", locale=language)
            parts.append(
                "    ⏳ "
                + ngettext("{date} ({days} day left)", "{date} ({days} days left)", left).format(date=when, days=left)
            )
        else:
            parts.append("    ⏳ " + _("no deadline given"))
        link = profiles.tender_link(row, language)
        if link:
            parts.append(f'    <a href="{escape(link, quote=True)}">{_("Open the notice")}</a>')
        lines.append("\n".join(parts))
    return "\n".join(lines)
