"""The catalogue as a file, for managers' bulk edits: 📤 Export as a file sends catalogue.yaml, 📥 Import a file
takes an edited one back (all of it or nothing, its problems worded by handlers.catalogue_problems). Every
route is guarded once, on its router."""

from __future__ import annotations

from html import escape

from aiogram import Bot, F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import BufferedInputFile, CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot.services import catalogue
from bot.services.catalogue import CatalogueError, CatalogueReport
from bot.services.catalogue_file import CatalogueFileError
from bot.services.members import PersonView
from handlers.catalogue.forms import ImportForm, leave_form, managers_routes
from handlers.catalogue.keyboards import CatalogueEditAction, CatalogueEditCb, cancel_row, keyboard
from handlers.catalogue.screens import short
from handlers.catalogue_problems import describe
from handlers.keyboards import main_menu
from handlers.refusals import explain
from storage.repositories import Repositories

# An imported catalogue file: larger ones are refused before they are read; problems listed, each cut to a length.
IMPORT_MAX_BYTES = 1024 * 1024
PROBLEMS_SHOWN = 15
PROBLEM_LENGTH = 200


async def export_file(query: CallbackQuery, person: PersonView, repos: Repositories) -> None:
    """The whole catalogue as catalogue.yaml, for a manager to edit and send back."""
    text = await catalogue.export_for(repos, person)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer_document(
            BufferedInputFile(text.encode("utf-8"), filename="catalogue.yaml"),
            caption=_(
                "📤 The services catalogue, hidden entries included. Edit it, keeping the keys, "
                "and send it back with 📥 Import a file."
            ),
        )


async def begin_import(query: CallbackQuery, state: FSMContext) -> None:
    await leave_form(state)
    await state.set_state(ImportForm.file)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(
            _(
                "📥 Send the edited catalogue file (from 📤 Export as a file) as a document. "
                "The catalogue becomes what the file says; what the file no longer has is hidden from members, "
                "never deleted."
            ),
            reply_markup=keyboard([cancel_row()]),
        )


def import_report(report: CatalogueReport) -> str:
    if not report.changed:
        return _("✅ The file matches the catalogue; nothing changed.")
    categories, services = report.categories, report.services
    return "\n".join(
        [
            _("✅ The catalogue was imported."),
            _("Categories: {added} added, {updated} updated, {hidden} hidden.").format(
                added=categories.added, updated=categories.updated, hidden=categories.hidden
            ),
            _("Services: {added} added, {updated} updated, {hidden} hidden.").format(
                added=services.added, updated=services.updated, hidden=services.hidden
            ),
        ]
    )


def problems_text(error: CatalogueFileError) -> str:
    lines = [_("⚠️ The file has problems:")]
    for problem in error.problems[:PROBLEMS_SHOWN]:
        lines.append("• " + escape(short(describe(problem), PROBLEM_LENGTH)))
    if len(error.problems) > PROBLEMS_SHOWN:
        lines.append(_("…and {count} more.").format(count=len(error.problems) - PROBLEMS_SHOWN))
    lines += ["", _("Nothing was imported; send a corrected file or Cancel.")]
    return "\n".join(lines)


async def got_file(message: Message, person: PersonView, repos: Repositories, state: FSMContext, bot: Bot) -> None:
    document = message.document
    assert document is not None
    retry = keyboard([cancel_row()])
    too_large = _(
        "This file is over 1 MB; a catalogue file is much smaller. Send the file made with 📤 Export as a file."
    )
    if document.file_size is not None and document.file_size > IMPORT_MAX_BYTES:
        await message.answer(too_large, reply_markup=retry)
        return
    downloaded = await bot.download(document)
    content = downloaded.read() if downloaded is not None else b""
    if len(content) > IMPORT_MAX_BYTES:
        await message.answer(too_large, reply_markup=retry)
        return
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        await message.answer(
            _("This file is not UTF-8 text. Save it as UTF-8 (plain text) and send it again."), reply_markup=retry
        )
        return
    try:
        report = await catalogue.import_from_chat(repos, person, text)
    except CatalogueFileError as error:
        await message.answer(problems_text(error), reply_markup=retry)
        return
    except CatalogueError as refusal:
        # Refused by the service: the form is over, the menu is offered.
        await leave_form(state)
        await message.answer(explain(refusal), reply_markup=main_menu(person))
        return
    await leave_form(state)
    await message.answer(import_report(report), reply_markup=main_menu(person))


async def needs_document(message: Message) -> None:
    await message.answer(
        _("Please send the catalogue file as a document (📎, File), or Cancel."), reply_markup=keyboard([cancel_row()])
    )


def build_router() -> Router:
    router = managers_routes(__name__)
    router.message.register(got_file, ImportForm.file, F.document)
    router.message.register(needs_document, ImportForm.file, ~F.text.startswith("/"))
    router.callback_query.register(export_file, CatalogueEditCb.filter(F.action == CatalogueEditAction.EXPORT))
    router.callback_query.register(begin_import, CatalogueEditCb.filter(F.action == CatalogueEditAction.IMPORT))
    return router
