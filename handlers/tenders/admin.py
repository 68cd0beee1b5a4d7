"""Tender alerts, managers' side: /tenders_admin (🛰 on the managers' menu).

- each configured source's health: its last run and last success, what the last run fetched, stored anew and
  changed, its runs and failures, and the open incident (why, since when);
- 🔄 Fetch now, one source or all: the result in the manager's language (how many fetched, new, changed, or
  what went wrong); a source already being fetched (by the scheduler, another manager, another process) is
  not fetched a second time at once;
- 📊 the week's figures (the last 7 days in TIMEZONE: tenders stored, alerts, follows, not relevant) and 📄 the
  same as CSV (UTF-8 with a BOM, a row per day).

Also the wording of the notices managers get when a source breaks and when it works again. Every route is on
a managers' router: a member's or a demoted manager's press is refused before the handler runs.
"""

from __future__ import annotations

import csv
import enum
import io
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext
from babel.dates import format_datetime
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.delivery import Sender
from bot.jobs import Jobs
from bot.services.tenders import sources
from bot.services.tenders.fetch import SourceFailure
from bot.services.tenders.sources import FetchOutcome, SourceHealth
from handlers.guards import managers_router
from handlers.keyboards import MenuAction, MenuCb, NoticeMessage, PageNumber
from handlers.projects.texts import locale_now
from storage.db import unit_of_work
from storage.repositories import Repositories
from storage.tender_figures import DayCounts

_KIND_NAMES = {"ted": "TED", "ocds": "OCDS", "rss": "RSS", "csv": "CSV"}
_DETAIL_SHOWN = 200


class AdminAction(enum.StrEnum):
    HOME = "home"
    FETCH = "fetch"
    WEEK = "week"
    CSV = "csv"


class TenderAdminCb(CallbackData, prefix="tadm"):
    """A button of /tenders_admin; `source` is a source's place in TENDER_SOURCES from 1 (0: all of them)."""

    action: AdminAction
    source: PageNumber = 0


def _local(moment: datetime | None, settings: Settings) -> str:
    if moment is None:
        return _("never")
    return format_datetime(moment.astimezone(settings.tz), "d MMM y, HH:mm", locale=locale_now())


def failure_text(reason: str) -> str:
    """Why a source failed, in the reader's words."""
    words = {
        SourceFailure.UNREACHABLE.value: _("it could not be reached (or kept failing after several tries)"),
        SourceFailure.REFUSED.value: _("it refused the request"),
        SourceFailure.BAD_JSON.value: _("it answered something that cannot be read"),
        SourceFailure.WRONG_SHAPE.value: _("its answer is not in the expected format"),
        SourceFailure.TOO_BIG.value: _("its answer is larger than the configured limit"),
        SourceFailure.ENDLESS.value: _("its pages never ended"),
        SourceFailure.TOKEN_EXPIRED.value: _("its page tokens kept expiring"),
        "": _("an unexpected error (the log says more)"),
    }
    return words.get(reason, reason)


def _reason_of(error: str) -> tuple[str, str]:
    reason, _sep, detail = error.partition(": ")
    return reason, detail


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def source_block(health: SourceHealth, settings: Settings) -> str:
    kind = _KIND_NAMES.get(health.kind, health.kind)
    lines = [
        _("<b>{name}</b> · {kind} · every {minutes} min").format(
            name=escape(health.name), kind=kind, minutes=health.every_minutes
        )
    ]
    state = health.state
    if state is None or state.last_run_at is None:
        lines.append(_("Not run yet."))
        return "\n".join(lines)
    lines.append(
        _("Last run: {run} · last success: {success}").format(
            run=_local(state.last_run_at, settings), success=_local(state.last_success_at, settings)
        )
    )
    lines.append(
        ngettext(
            "Last run: {fetched} notice fetched, {new} new, {changed} changed",
            "Last run: {fetched} notices fetched, {new} new, {changed} changed",
            state.last_fetched,
        ).format(fetched=state.last_fetched, new=state.last_new, changed=state.last_changed)
        + " · "
        + _("runs: {runs}, failures: {count}").format(count=state.failures, runs=state.runs)
    )
    if state.error:
        reason, detail = _reason_of(state.error)
        line = _("⚠️ Not working since {since}: {reason}.").format(
            since=_local(state.error_since, settings), reason=failure_text(reason)
        )
        if detail:
            line += f"\n<code>{escape(_clip(detail, _DETAIL_SHOWN))}</code>"
        lines.append(line)
    return "\n".join(lines)


def health_text(healths: Sequence[SourceHealth], settings: Settings) -> str:
    head = _("🛰 <b>Tender sources</b>")
    if not healths:
        return "\n\n".join([head, _("No source is configured (TENDER_SOURCES).")])
    return "\n\n".join([head, *(source_block(health, settings) for health in healths)])


def health_keyboard(healths: Sequence[SourceHealth]) -> InlineKeyboardMarkup:
    rows = [
        [
            InlineKeyboardButton(
                text=_("🔄 Fetch now: {name}").format(name=health.name),
                callback_data=TenderAdminCb(action=AdminAction.FETCH, source=place).pack(),
            )
        ]
        for place, health in enumerate(healths, start=1)
    ]
    if len(healths) > 1:
        rows.append(
            [
                InlineKeyboardButton(
                    text=_("🔄 Fetch all now"), callback_data=TenderAdminCb(action=AdminAction.FETCH).pack()
                )
            ]
        )
    rows.append(
        [
            InlineKeyboardButton(text=_("📊 This week"), callback_data=TenderAdminCb(action=AdminAction.WEEK).pack()),
            InlineKeyboardButton(
                text=_("📄 This week (CSV)"), callback_data=TenderAdminCb(action=AdminAction.CSV).pack()
            ),
        ]
    )
    rows.append(
        [InlineKeyboardButton(text=_("🔃 Refresh"), callback_data=TenderAdminCb(action=AdminAction.HOME).pack())]
    )
    return InlineKeyboardMarkup(inline_keyboard=rows)


def outcome_text(name: str, outcome: FetchOutcome | None) -> str:
    shown = f"<b>{escape(name)}</b>"
    if outcome is None:
        return _("⏳ {source} is being fetched already; the result will show in its health shortly.").format(
            source=shown
        )
    if not outcome.ok:
        text = _("⚠️ {source}: the fetch failed: {reason}.").format(
            source=shown, reason=failure_text(outcome.reason.value if outcome.reason else "")
        )
        if outcome.new or outcome.changed:
            text += " " + _("What it stored before failing is kept ({new} new, {changed} changed).").format(
                new=outcome.new, changed=outcome.changed
            )
        return text
    if not outcome.asked:
        return _("✅ {source}: no member has an active alert profile, so there was nothing to ask for.").format(
            source=shown
        )
    return ngettext(
        "✅ {source}: {fetched} notice fetched, {new} new, {changed} changed.",
        "✅ {source}: {fetched} notices fetched, {new} new, {changed} changed.",
        outcome.fetched,
    ).format(source=shown, fetched=outcome.fetched, new=outcome.new, changed=outcome.changed)


def week_text(days: Sequence[DayCounts]) -> str:
    tenders = sum(day.tenders for day in days)
    alerts = sum(day.alerts for day in days)
    follows = sum(day.follows for day in days)
    not_relevant = sum(day.not_relevant for day in days)
    lines = [
        _("📊 <b>Tender alerts, the last 7 days</b>"),
        ngettext("{count} tender stored", "{count} tenders stored", tenders).format(count=tenders),
        ngettext("{count} alert", "{count} alerts", alerts).format(count=alerts),
        ngettext("{count} followed", "{count} followed", follows).format(count=follows),
        ngettext("{count} marked not relevant", "{count} marked not relevant", not_relevant).format(count=not_relevant),
        "",
        _("Per day: tenders · alerts · followed · not relevant"),
    ]
    for day in days:
        date_text = format_datetime(day.start, "EEE d MMM", locale=locale_now())
        lines.append(f"{date_text}: {day.tenders} · {day.alerts} · {day.follows} · {day.not_relevant}")
    return "\n".join(lines)


def week_csv(days: Sequence[DayCounts]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([_("Day"), _("Tenders stored"), _("Alerts"), _("Followed"), _("Not relevant")])
    for day in days:
        writer.writerow([day.start.date().isoformat(), day.tenders, day.alerts, day.follows, day.not_relevant])
    return out.getvalue().encode("utf-8-sig")


def _back() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=_("⬅️ Tender sources"), callback_data=TenderAdminCb(action=AdminAction.HOME).pack()
                )
            ]
        ]
    )


# --- notices -------------------------------------------------------------------------------------------------


def source_failed_notice(params: Mapping[str, Any], locale: str) -> NoticeMessage:
    """`NoticeKind.TENDER_SOURCE_FAILED`, to managers and admins, once per incident."""
    text = _(
        "⚠️ The tender source <b>{source}</b> stopped working: {reason}. Tenders already stored are kept; "
        "the bot keeps trying on its schedule and will say when it works again."
    ).format(source=escape(str(params["source"])), reason=failure_text(str(params.get("reason", ""))))
    detail = str(params.get("detail") or "")
    if detail:
        text += f"\n<code>{escape(_clip(detail, _DETAIL_SHOWN))}</code>"
    return text, _back()


def source_recovered_notice(params: Mapping[str, Any], locale: str) -> NoticeMessage:
    """`NoticeKind.TENDER_SOURCE_RECOVERED`, to managers and admins, when a source that failed works again."""
    text = _("✅ The tender source <b>{source}</b> works again.").format(source=escape(str(params["source"])))
    return text, _back()


# --- routes --------------------------------------------------------------------------------------------------


async def _show(message: Message, repos: Repositories, settings: Settings, *, edit: bool = False) -> None:
    healths = await sources.health(repos, settings)
    text, markup = health_text(healths, settings), health_keyboard(healths)
    if edit:
        await message.edit_text(text, reply_markup=markup)
    else:
        await message.answer(text, reply_markup=markup)


async def admin_command(message: Message, repos: Repositories, settings: Settings) -> None:
    await _show(message, repos, settings)


async def admin_menu(query: CallbackQuery, repos: Repositories, settings: Settings) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await _show(query.message, repos, settings)


def _chosen(callback_data: TenderAdminCb, settings: Settings) -> list[str] | None:
    """The sources a press names (all of them for 0); None when its place is out of range (forged, or the
    configuration changed since the button was shown)."""
    names = [source.name for source in settings.tenders.sources]
    if callback_data.source == 0:
        return names
    if callback_data.source > len(names):
        return None
    return [names[callback_data.source - 1]]


async def admin_button(
    query: CallbackQuery,
    callback_data: TenderAdminCb,
    repos: Repositories,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    sender: Sender | None = None,
) -> None:
    message = query.message if isinstance(query.message, Message) else None
    action = callback_data.action
    if action is AdminAction.HOME:
        await query.answer()
        if message is not None:
            await _show(message, repos, settings, edit=True)
        return
    if action is AdminAction.WEEK:
        days = await sources.week_figures(repos, settings.tz)
        await query.answer()
        if message is not None:
            await message.answer(week_text(days), reply_markup=_back())
        return
    if action is AdminAction.CSV:
        days = await sources.week_figures(repos, settings.tz)
        await query.answer()
        if message is not None:
            today = datetime.now(settings.tz).date().isoformat()
            await message.answer_document(
                BufferedInputFile(week_csv(days), filename=f"tender-alerts-week-{today}.csv"),
                caption=_("📄 Tender alerts, the last 7 days, a row per day."),
            )
        return
    names = _chosen(callback_data, settings)
    if names is None:
        await query.answer(_("This source is no longer configured. Open /tenders_admin again."), show_alert=True)
        return
    await query.answer(_("🔄 Fetching…"))
    jobs = Jobs(settings, session_factory, sender)
    outcomes = await jobs.fetch_now(names, datetime.now(UTC))
    if message is not None:
        text = "\n".join(outcome_text(name, outcome) for name, outcome in zip(names, outcomes, strict=True))
        await message.answer(text)
        # Read afresh: the update's own transaction may have begun before the fetch (SQLite's snapshot).
        async with unit_of_work(session_factory) as session:
            await _show(message, Repositories(session), settings)


def build_router() -> Router:
    router = managers_router(__name__)
    private = F.chat.type == "private"
    router.message.register(admin_command, Command("tenders_admin", ignore_case=True), private)
    router.callback_query.register(admin_menu, MenuCb.filter(F.action == MenuAction.TENDER_SOURCES))
    router.callback_query.register(admin_button, TenderAdminCb.filter())
    return router


__all__ = [
    "TenderAdminCb",
    "build_router",
    "failure_text",
    "source_failed_notice",
    "source_recovered_notice",
    "week_csv",
]
