"""The projects' wording: kinds of resources and units, amounts in the reader's language, the list and the card."""

from __future__ import annotations

from datetime import date
from html import escape
from zoneinfo import ZoneInfo

from aiogram.utils.i18n import get_i18n, ngettext
from aiogram.utils.i18n import gettext as _
from babel.dates import format_date

from bot.amounts import AmountProblem, format_money, format_percent, format_quantity, from_hundredths
from bot.i18n import format_when
from bot.services.project_views import (
    LineView,
    NeedView,
    ProjectCard,
    ProjectFilter,
    ProjectHistoryEntry,
    ProjectPage,
)
from bot.services.projects import Missing, Outcome, Unit
from bot.telegram_text import TEXT_LIMIT, parse_html, utf16_len
from handlers.groups.texts import localized, shown
from storage.models import ProjectState, ResourceKind

__all__ = ["localized", "shown"]

STATE_ICONS = {
    ProjectState.IDEA: "💡",
    ProjectState.PREPARATION: "🛠",
    ProjectState.RUNNING: "🚀",
    ProjectState.CLOSED: "🏁",
    ProjectState.CANCELLED: "⚫",
}
KIND_ICONS = {
    ResourceKind.MONEY: "💰",
    ResourceKind.PERSON_DAYS: "👷",
    ResourceKind.EQUIPMENT: "🔬",
    ResourceKind.OTHER: "📦",
}
LABEL_MAX = 48
QUOTE_MAX = 600
BAR_CELLS = 10


def locale_now() -> str:
    return str(get_i18n().current_locale)


def state_name(state: ProjectState) -> str:
    return {
        ProjectState.IDEA: _("idea"),
        ProjectState.PREPARATION: _("in preparation"),
        ProjectState.RUNNING: _("running"),
        ProjectState.CLOSED: _("closed"),
        ProjectState.CANCELLED: _("cancelled"),
    }[state]


def kind_name(kind: ResourceKind) -> str:
    return {
        ResourceKind.MONEY: _("money"),
        ResourceKind.PERSON_DAYS: _("person-days"),
        ResourceKind.EQUIPMENT: _("equipment or laboratory access"),
        ResourceKind.OTHER: _("other resources"),
    }[kind]


def unit_name(unit: str) -> str:
    """A unit as a label (a button, a CSV column): "RON", "person-days", "hours"..."""
    return {
        Unit.RON.value: "RON",
        Unit.EUR.value: "EUR",
        Unit.PERSON_DAYS.value: _("person-days"),
        Unit.HOURS.value: _("hours"),
        Unit.DAYS.value: _("days"),
        Unit.PIECES.value: _("pieces"),
    }.get(unit, unit)


def filter_name(view: ProjectFilter) -> str:
    return {
        ProjectFilter.ALL: _("All projects"),
        ProjectFilter.MINE: _("Mine"),
        ProjectFilter.PREPARATION: _("In preparation"),
        ProjectFilter.COMPETITION: _("In competition"),
    }[view]


def amount(hundredths: int, unit: str) -> str:
    """An amount with its unit, as the reader's language writes it: "12.500,00 lei", "RON 12,500.00",
    "20 de zile-om", "12.5 hours"."""
    locale = locale_now()
    value = from_hundredths(hundredths)
    if unit in (Unit.RON.value, Unit.EUR.value):
        return format_money(value, unit, locale)
    number = format_quantity(value, locale)
    # The plural form follows the whole part, as Romanian does ("1,5 zile", "20 de zile").
    count = int(value)
    forms = {
        Unit.PERSON_DAYS.value: ngettext("{amount} person-day", "{amount} person-days", count),
        Unit.HOURS.value: ngettext("{amount} hour", "{amount} hours", count),
        Unit.DAYS.value: ngettext("{amount} day", "{amount} days", count),
        Unit.PIECES.value: ngettext("{amount} piece", "{amount} pieces", count),
    }
    return forms.get(unit, "{amount} " + unit).format(amount=number)


def line_label(line: LineView) -> str:
    """A commitment on a button: "money: 5.000,00 lei"."""
    return f"{kind_name(line.kind)}: {amount(line.amount, line.unit)}"


def progress_bar(share: float) -> str:
    filled = min(BAR_CELLS, round(share * BAR_CELLS))
    return "▓" * filled + "░" * (BAR_CELLS - filled)


def need_lines(need: NeedView) -> list[str]:
    percent = format_percent(need.share, locale_now())
    return [
        _("{icon} {kind}: {committed} of {target}").format(
            icon=KIND_ICONS[need.kind],
            kind=kind_name(need.kind).capitalize(),
            committed=amount(need.committed, need.unit),
            target=amount(need.target, need.unit),
        ),
        f"<code>{progress_bar(need.share)}</code> {percent}",
    ]


def when_date(day: date) -> str:
    return format_date(day, format="d MMM y", locale=locale_now())


def list_text(page: ProjectPage) -> str:
    lines = [_("📁 <b>Projects</b>"), ""]
    if page.total == 0:
        lines.append(
            {
                ProjectFilter.ALL: _("There are no projects yet. Propose the first one."),
                ProjectFilter.MINE: _("Your organisation has no projects yet: none proposed, nothing committed."),
                ProjectFilter.PREPARATION: _("No project is in preparation now."),
                ProjectFilter.COMPETITION: _("No project is in competition now."),
            }[page.filter]
        )
    else:
        count = ngettext("{count} project", "{count} projects", page.total).format(count=page.total)
        lines.append(
            _("{view}: {count}, page {page} of {pages}.").format(
                view=filter_name(page.filter), count=count, page=page.page + 1, pages=page.pages
            )
        )
        lines.append(_("Tap a project to open it."))
        lines += [
            "",
            _("💡 idea · 🛠 in preparation · 🚀 running · 🏁 closed · ⚫ cancelled · ⚔️ in competition"),
        ]
    lines += ["", _("A project takes commitments once it has an action plan and a budget.")]
    return "\n".join(lines)


def missing_text(missing: list[Missing]) -> str:
    names = {Missing.ACTION_PLAN: _("an action plan"), Missing.BUDGET: _("a budget")}
    return _("To be prepared it still needs: {missing}.").format(missing=", ".join(names[m] for m in missing))


def position_text(card: ProjectCard) -> str | None:
    """The reader's own position: "Your organisation is in place 2 of 5; 3 places."."""
    if card.viewer_organisation_id is None or card.state not in (ProjectState.PREPARATION, ProjectState.RUNNING):
        return None
    if card.viewer_rank is None:
        if card.state is ProjectState.PREPARATION and card.taking_commitments:
            return _("Your organisation has not committed anything yet.")
        return None
    text = _("Your organisation is in place {rank} of {count}.").format(rank=card.viewer_rank, count=card.standing)
    if card.places is not None:
        text += " " + ngettext("{count} place.", "{count} places.", card.places).format(count=card.places)
    if card.viewer_outcome is Outcome.PARTICIPANT:
        text += " " + _("✅ It takes part.")
    elif card.viewer_outcome is Outcome.WAITING:
        text += " " + _("⏳ It is waiting: it moves up when a participant withdraws.")
    return text


def history_line(entry: ProjectHistoryEntry, locale: str, tz: ZoneInfo) -> str:
    when = format_when(entry.at, locale, tz)
    details = entry.details
    if entry.kind == "proposed":
        line = _("{when}: proposed").format(when=when)
    elif entry.kind == "state":
        line = _("{when}: now {state}. Reason: {reason}").format(
            when=when, state=state_name(ProjectState(details["to"])), reason=escape(str(details.get("reason", "")))
        )
    elif entry.kind == "rule":
        line = _("{when}: the participants recorded their rule").format(when=when)
    elif entry.kind == "list_closed":
        line = _("{when}: the list was closed").format(when=when)
    elif entry.kind == "committed":
        line = _("{when}: {organisation} committed {amount}").format(
            when=when,
            organisation=escape(str(details.get("organisation", ""))),
            amount=amount(int(details["hundredths"]), str(details["unit"])),
        )
    elif entry.kind == "withdrawn":
        line = _("{when}: {organisation} withdrew its {kind}").format(
            when=when,
            organisation=escape(str(details.get("organisation", ""))),
            kind=kind_name(ResourceKind(details["kind"])),
        )
    else:
        named = [_field_name(str(field)) for field in details.get("fields", []) if isinstance(field, str)]
        line = (
            _("{when}: edited ({fields})").format(when=when, fields=", ".join(named))
            if named
            else _("{when}: edited").format(when=when)
        )
    return "• " + line


def _field_name(field: str) -> str:
    """What an edit changed, as the history names it ("title_ro" is the title)."""
    base = field.rsplit("_", 1)[0] if field.endswith(("_ro", "_en")) else field
    return {
        "title": _("title"),
        "description": _("description"),
        "plan": _("action plan"),
        "budget": _("budget"),
        "needs": _("resources needed"),
        "places": _("places"),
        "deadline": _("deadline"),
    }.get(base, base)


def card_text(card: ProjectCard, locale: str, tz: ZoneInfo) -> str:
    """The card, made to fit one message: the oldest history, then the end of the ranking, go first."""
    head = [f"📁 <b>{shown(card.title)}</b>", "", shown(card.description, QUOTE_MAX), ""]
    head.append(_("State: {icon} {state}").format(icon=STATE_ICONS[card.state], state=state_name(card.state)))
    if card.missing:
        head.append(missing_text(card.missing))
    if card.group_title is not None:
        head.append(_("Working group: {title}").format(title=shown(card.group_title)))
    if card.proposer:
        who = escape(card.proposer)
        if card.proposer_organisation:
            who += f" ({escape(card.proposer_organisation)})"
        head.append(_("Proposed by {who}, {when}").format(who=who, when=format_when(card.created_at, locale, tz)))
    if card.budget is not None and card.currency:
        head.append(_("Budget: {amount}").format(amount=amount(card.budget, card.currency)))
    if card.places is not None:
        head.append(
            ngettext("Places: {count} organisation", "Places: {count} organisations", card.places).format(
                count=card.places
            )
        )
    if card.deadline is not None:
        head.append(_("Commitments until: {when}").format(when=format_when(card.deadline, locale, tz)))
        if card.deadline_passed and card.state is ProjectState.PREPARATION:
            head.append(_("The deadline has passed: commitments can only be withdrawn."))
    position = position_text(card)

    needs = [line for need in card.needs for line in need_lines(need)]
    others = [
        f"{KIND_ICONS[ResourceKind(kind)]} {kind_name(ResourceKind(kind)).capitalize()}: {amount(total, unit)}"
        for (kind, unit), total in card.other_commitments.items()
    ]
    steps = [
        _("{position}. {text} — {owner}, by {due}").format(
            position=step.position,
            text=escape(step.text),
            owner=escape(step.owner) if step.owner else _("no owner yet"),
            due=when_date(step.due_on),
        )
        for step in card.steps
    ]
    ranking = [
        f"{row.rank}. {escape(row.name)}"
        + {Outcome.PARTICIPANT: " ✅", Outcome.WAITING: " ⏳", Outcome.STANDING: ""}[row.outcome]
        + (" ◀️" if row.organisation_id == card.viewer_organisation_id else "")
        for row in card.ranking
    ]
    history = [history_line(entry, locale, tz) for entry in card.history]

    def compose() -> str:
        parts = ["\n".join(head)]
        if needs or others:
            block = [_("<b>What it needs</b>, and what stands committed:"), *needs]
            if others:
                block += [_("Also committed:"), *others]
            parts.append("\n".join(block))
        if steps:
            parts.append("\n".join([_("<b>Action plan</b>"), *steps]))
        if card.standing:
            title = ngettext(
                "<b>Organisations committed</b> ({count}), first to commit first:",
                "<b>Organisations committed</b> ({count}), first to commit first:",
                card.standing,
            ).format(count=card.standing)
            block = [title, *ranking]
            hidden = card.standing - len(ranking)
            if hidden > 0:
                block.append(ngettext("and {count} more", "and {count} more", hidden).format(count=hidden))
            if card.in_competition:
                block.append(
                    _("⚔️ In competition: more organisations than places. The list is closed.")
                    if card.list_closed_at is not None
                    else _("⚔️ In competition: more organisations than places, until a manager closes the list.")
                )
                if card.rule:
                    block.append(_("Rule agreed by the participants: {rule}").format(rule=escape(card.rule)))
                else:
                    block.append(_("The participants have not recorded their rule yet."))
            parts.append("\n".join(block))
        if position:
            parts.append(position)
        if history:
            parts.append("\n".join([_("<b>History</b>, newest first:"), *history]))
        return "\n\n".join(parts)

    text = compose()
    while utf16_len(parse_html(text)[0]) > TEXT_LIMIT and (history or len(ranking) > 3 or steps):
        (history or (ranking if len(ranking) > 3 else steps)).pop()
        text = compose()
    return text


def amount_problem(problem: AmountProblem) -> str:
    """Why a typed amount was not taken, in the reader's language."""
    return {
        AmountProblem.NOT_A_NUMBER: _(
            "Please write a number, such as 5000, 5.000 or 5.000,50 (or 5,000.50 in English)."
        ),
        AmountProblem.NOT_POSITIVE: _("Please write an amount greater than zero."),
        AmountProblem.TOO_LARGE: _("That is more than one thousand billion: please check the amount."),
        AmountProblem.TOO_PRECISE: _("Please write at most two decimals."),
    }[problem]
