"""Managers' exports: a project's commitments as a CSV file (📄 on its card) and this year's totals per
organisation (📊 on the list), as text and as CSV; the same files for `clusterbot projects export` and `totals`.

The files are for Excel and LibreOffice: UTF-8 with a BOM (so that Excel reads the diacritics), commas, one
header row in the current language, kinds and units named in it too. Amounts are plain numbers with a decimal
point and two decimals (``12500.00``), in every language, so that a spreadsheet or a script reads them as
numbers; times are ``YYYY-MM-DD HH:MM:SS`` in the cluster's time zone (the header names it). A text cell that a
spreadsheet would take for a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return:
an organisation's or a person's name, a note) starts with an apostrophe instead (`safe_cell`).

Both routes are on a managers' router: a member's or a demoted manager's forged press is refused before the
handler runs, and the service checks the role again.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from aiogram import F, Router
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot.config import Settings
from bot.services import project_reports
from bot.services.members import PersonView
from bot.services.project_reports import OrganisationTotal, ProjectCommitments
from bot.services.project_views import ProjectFilter
from bot.telegram_text import TEXT_LIMIT, parse_html, utf16_len
from handlers.guards import managers_router
from handlers.privacy import shown_name
from handlers.projects.keyboards import ProjectAction, ProjectCb, ProjectListCb
from handlers.projects.texts import KIND_ICONS, amount, kind_name, shown, unit_name
from storage.models import ResourceKind
from storage.repositories import Repositories

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Room left in a totals message for its last line ("and 12 more...").
_TOTALS_ROOM = 200


def safe_cell(text: str | None) -> str:
    """A text cell a spreadsheet shows as it is: one that would start a formula gets an apostrophe first."""
    if not text:
        return ""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def plain_amount(hundredths: int) -> str:
    """``1250050`` hundredths as ``12500.50``: a number any spreadsheet or script reads."""
    return f"{hundredths // 100}.{hundredths % 100:02d}"


def _csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


class _Labels:
    """Kind, unit and yes/no words of the current language, each translated once for a whole file (a large
    project's 2,000 rows asked gettext 25,000 times)."""

    def __init__(self) -> None:
        self.kinds = {kind: kind_name(kind) for kind in ResourceKind}
        self.units: dict[str, str] = {}
        self.yes, self.no = _("yes"), _("no")

    def unit(self, unit: str) -> str:
        if unit not in self.units:
            self.units[unit] = unit_name(unit)
        return self.units[unit]

    def yes_no(self, value: bool) -> str:
        return self.yes if value else self.no


def _local_time(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def commitments_csv(report: ProjectCommitments, tz: ZoneInfo) -> bytes:
    """Every version of every line of a project (one row each), worded in the current language."""
    header = [
        _("Organisation"),
        _("Resource"),
        _("Unit"),
        _("Amount"),
        _("Note"),
        _("Version"),
        _("Author"),
        _("Time ({zone})").format(zone=tz.key),
        _("Withdrawn"),
        _("Latest version"),
        _("Rank"),
    ]
    labels = _Labels()
    rows = (
        [
            safe_cell(row.organisation),
            labels.kinds[row.kind],
            labels.unit(row.unit),
            "" if row.withdrawn else plain_amount(row.amount),
            safe_cell(row.note),
            row.version,
            safe_cell(shown_name(row.author)),
            _local_time(row.at, tz),
            labels.yes_no(row.withdrawn),
            labels.yes_no(row.latest),
            "" if row.rank is None else row.rank,
        ]
        for row in report.rows
    )
    return _csv(header, rows)


def totals_csv(totals: Sequence[OrganisationTotal]) -> bytes:
    """One row per organisation and resource."""
    header = [
        _("Organisation"),
        _("Projects"),
        _("Resource"),
        _("Unit"),
        _("Amount"),
        _("Projects with this resource"),
    ]
    labels = _Labels()
    rows = (
        [
            safe_cell(total.name),
            total.projects,
            labels.kinds[resource.kind],
            labels.unit(resource.unit),
            plain_amount(resource.amount),
            resource.projects,
        ]
        for total in totals
        for resource in total.resources
    )
    return _csv(header, rows)


def commitments_filename(project_id: int) -> str:
    return f"project-{project_id}-commitments.csv"


def totals_filename(year: int) -> str:
    return f"totals-{year}.csv"


def totals_text(totals: Sequence[OrganisationTotal], year: int) -> str:
    """This year's totals per organisation, as many organisations as fit one message (the file has them all)."""
    head = [
        _("📊 <b>What member organisations committed in {year}</b>").format(year=year),
        _("Commitments begun this year that still stand, at their latest amount, in projects not cancelled."),
    ]
    if not totals:
        return "\n".join([*head, "", _("No organisation has committed resources in {year} yet.").format(year=year)])
    text = "\n".join(head)
    for shown_count, total in enumerate(totals):
        lines = [
            ngettext("<b>{name}</b>: {count} project", "<b>{name}</b>: {count} projects", total.projects).format(
                name=escape(total.name), count=total.projects
            )
        ]
        lines += [
            f"{KIND_ICONS[resource.kind]} {kind_name(resource.kind)}: {amount(resource.amount, resource.unit)}"
            for resource in total.resources
        ]
        candidate = "\n\n".join([text, "\n".join(lines)])
        if utf16_len(parse_html(candidate)[0]) > TEXT_LIMIT - _TOTALS_ROOM:
            left = len(totals) - shown_count
            more = ngettext(
                "…and {count} more organisation: every one is in the file.",
                "…and {count} more organisations: every one is in the file.",
                left,
            ).format(count=left)
            return "\n\n".join([text, more])
        text = candidate
    return text


def _back_to_projects() -> InlineKeyboardMarkup:
    back = ProjectListCb(view=ProjectFilter.ALL, page=0).pack()
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=_("⬅️ Projects"), callback_data=back)]])


async def export_commitments(
    query: CallbackQuery, callback_data: ProjectCb, person: PersonView, repos: Repositories, settings: Settings
) -> None:
    report = await project_reports.commitments(repos, person, callback_data.project_id)
    data = commitments_csv(report, settings.tz)
    await query.answer()
    if isinstance(query.message, Message):
        caption = _("📄 {title}: every version of every commitment, {count} in all.").format(
            title=shown(report.title, 200), count=len(report.rows)
        )
        await query.message.answer_document(
            BufferedInputFile(data, filename=commitments_filename(report.project_id)), caption=caption
        )


async def show_totals(query: CallbackQuery, person: PersonView, repos: Repositories, settings: Settings) -> None:
    year = datetime.now(settings.tz).year
    totals = await project_reports.yearly_totals(repos, person, year, settings.tz)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(totals_text(totals, year), reply_markup=_back_to_projects())
        await query.message.answer_document(
            BufferedInputFile(totals_csv(totals), filename=totals_filename(year)),
            caption=_("📊 Totals per organisation, {year}.").format(year=year),
        )


def build_router() -> Router:
    router = managers_router(__name__)
    router.callback_query.register(export_commitments, ProjectCb.filter(F.action == ProjectAction.EXPORT))
    router.callback_query.register(show_totals, ProjectCb.filter(F.action == ProjectAction.TOTALS))
    return router
