"""Managers edit the catalogue in the chat: add, rename and edit (each text asked in turn, then Save), hide,
show and move categories and services. Every route is guarded once, on its router."""

from __future__ import annotations

import contextlib
from html import escape
from typing import Any

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot.services import catalogue
from bot.services.catalogue import CatalogueError, ServiceTexts
from bot.services.members import PersonView
from handlers.catalogue.forms import EditForm, leave_form, managers_routes, needs_text
from handlers.catalogue.keyboards import (
    CATEGORY_CHANGES,
    SERVICE_CHANGES,
    CatalogueEditAction,
    CatalogueEditCb,
    CatalogueFormAction,
    CatalogueFormCb,
    button,
    cancel_row,
    keyboard,
)
from handlers.catalogue.screens import (
    Screen,
    card_screen,
    card_text,
    category_of,
    replace_screen,
    send_screen,
    short,
)
from handlers.keyboards import main_menu
from handlers.refusals import explain
from storage.repositories import Repositories

# How much of the current text an editing step shows.
CURRENT_SHOWN = 300

_SERVICE_FIELDS = ("title_ro", "title_en", "description_ro", "description_en")
_CATEGORY_FIELDS = ("title_ro", "title_en")


def _step_prompt(edit: dict[str, Any]) -> Screen:
    fields = edit["fields"]
    field = fields[edit["step"]]
    limit = catalogue.DESCRIPTION_MAX if field.startswith("description") else catalogue.TITLE_MAX
    questions = {
        "title_ro": _("{step}/{steps}. The title in Romanian (at most {limit} characters)."),
        "title_en": _("{step}/{steps}. The title in English (at most {limit} characters)."),
        "description_ro": _("{step}/{steps}. The description in Romanian (at most {limit} characters)."),
        "description_en": _("{step}/{steps}. The description in English (at most {limit} characters)."),
    }
    lines = [edit["heading"], "", questions[field].format(step=edit["step"] + 1, steps=len(fields), limit=limit)]
    rows = [cancel_row()]
    current = edit["current"].get(field)
    if current:
        lines += ["", _("Now: {text}").format(text=f"<i>{escape(short(current, CURRENT_SHOWN))}</i>")]
        rows.insert(0, [button(_("↩️ Keep it as it is"), CatalogueFormCb(action=CatalogueFormAction.KEEP))])
    return "\n".join(lines), keyboard(rows)


async def _begin_edit(
    query: CallbackQuery, state: FSMContext, heading: str, fields: tuple[str, ...], **edit: Any
) -> None:
    await query.answer()
    await leave_form(state)
    form = {"heading": heading, "fields": list(fields), "step": 0, "texts": {}, "current": {}, **edit}
    await state.set_state(EditForm.text)
    await state.update_data(edit=form)
    if isinstance(query.message, Message):
        await send_screen(query.message, _step_prompt(form))


async def begin_service_edit(
    query: CallbackQuery,
    callback_data: CatalogueEditCb,
    person: PersonView,
    repos: Repositories,
    locale: str,
    state: FSMContext,
) -> None:
    service = await catalogue.service(repos, person, callback_data.id)
    await _begin_edit(
        query,
        state,
        _("✏️ <b>Editing</b> {service}").format(service=escape(service.title(locale))),
        _SERVICE_FIELDS,
        kind="service",
        target=service.id,
        current={name: getattr(service, name) for name in _SERVICE_FIELDS},
        page=callback_data.page,
        back=callback_data.back,
    )


async def begin_service_add(
    query: CallbackQuery,
    callback_data: CatalogueEditCb,
    person: PersonView,
    repos: Repositories,
    locale: str,
    state: FSMContext,
) -> None:
    category, _services = await catalogue.category(repos, person, callback_data.id)
    await _begin_edit(
        query,
        state,
        _("➕ <b>New service</b> in {category}").format(category=escape(category.title(locale))),
        _SERVICE_FIELDS,
        kind="service",
        category=category.id,
    )


async def begin_category_add(query: CallbackQuery, state: FSMContext) -> None:
    await _begin_edit(query, state, _("➕ <b>New category</b>"), _CATEGORY_FIELDS, kind="category")


async def begin_category_rename(
    query: CallbackQuery,
    callback_data: CatalogueEditCb,
    person: PersonView,
    repos: Repositories,
    locale: str,
    state: FSMContext,
) -> None:
    category, _services = await catalogue.category(repos, person, callback_data.id)
    await _begin_edit(
        query,
        state,
        _("✏️ <b>Renaming</b> {category}").format(category=escape(category.title(locale))),
        _CATEGORY_FIELDS,
        kind="category",
        target=category.id,
        current={"title_ro": category.title_ro, "title_en": category.title_en},
        page=callback_data.page,
    )


async def _next_step(message: Message, state: FSMContext, edit: dict[str, Any]) -> None:
    edit["step"] += 1
    await state.update_data(edit=edit)
    if edit["step"] < len(edit["fields"]):
        await send_screen(message, _step_prompt(edit))
        return
    await state.set_state(EditForm.confirm)
    texts = edit["texts"]
    save = keyboard([[button(_("💾 Save"), CatalogueFormCb(action=CatalogueFormAction.SAVE)), *cancel_row()]])
    if edit["kind"] == "category":
        await message.answer(
            "\n".join(
                (
                    _("Please check, then save:"),
                    "",
                    f"🇷🇴 <b>{escape(texts['title_ro'])}</b>",
                    f"🇬🇧 <b>{escape(texts['title_en'])}</b>",
                )
            ),
            reply_markup=save,
        )
        return
    # What members will see, each language as its readers get it.
    for flag, language in (("🇷🇴", "ro"), ("🇬🇧", "en")):
        await message.answer(
            card_text(f"{flag} {texts[f'title_{language}']}", "", texts[f"description_{language}"]),
        )
    await message.answer(_("Save these texts?"), reply_markup=save)


async def got_text(message: Message, person: PersonView, state: FSMContext) -> None:
    edit = dict((await state.get_data()).get("edit") or {})
    if not edit:
        # The conversation's data is gone (a storage that lost it): start again rather than guess.
        await leave_form(state)
        await message.answer(_("Stopped. Nothing was changed."), reply_markup=main_menu(person))
        return
    field = edit["fields"][edit["step"]]
    clean = catalogue.clean_description if field.startswith("description") else catalogue.clean_title
    try:
        edit["texts"][field] = clean(message.text)
    except CatalogueError as refusal:
        # The question stays: another text, or Cancel.
        await message.answer(explain(refusal), reply_markup=keyboard([cancel_row()]))
        return
    await _next_step(message, state, edit)


async def keep_text(query: CallbackQuery, state: FSMContext) -> None:
    edit = dict((await state.get_data()).get("edit") or {})
    field = edit["fields"][edit["step"]] if edit else None
    if field is None or not edit["current"].get(field):
        await query.answer(_("This button is no longer valid. Open /menu for a fresh one."), show_alert=True)
        return
    await query.answer()
    edit["texts"][field] = edit["current"][field]
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=None)
        await _next_step(query.message, state, edit)


async def save_edit(
    query: CallbackQuery, person: PersonView, repos: Repositories, locale: str, state: FSMContext
) -> None:
    edit = dict((await state.get_data()).get("edit") or {})
    texts = edit.get("texts", {})
    if not edit:
        await leave_form(state)
        await query.answer(_("This button is no longer valid. Open /menu for a fresh one."), show_alert=True)
        return
    try:
        if edit["kind"] == "category":
            if edit.get("target"):
                saved = await catalogue.edit_category(
                    repos, person, edit["target"], texts["title_ro"], texts["title_en"]
                )
            else:
                saved = await catalogue.add_category(repos, person, texts["title_ro"], texts["title_en"])
            screen = await category_of(repos, person, locale, saved.id, int(edit.get("page", 0)))
        else:
            service_texts = ServiceTexts(**{name: texts[name] for name in _SERVICE_FIELDS})
            if edit.get("target"):
                service = await catalogue.edit_service(repos, person, edit["target"], service_texts)
                page, back = int(edit.get("page", 0)), str(edit.get("back", ""))
            else:
                service = await catalogue.add_service(repos, person, edit["category"], service_texts)
                page, back = 0, f"c{service.category_id}"
            screen = card_screen(service, locale, page, back, manager=True)
    except CatalogueError:
        # Refused (what was edited is gone meanwhile, say): the form is over; handlers.refusals.on_refusal says why.
        await leave_form(state)
        raise
    await leave_form(state)
    await query.answer(_("✅ Saved."))
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=None)
        await send_screen(query.message, screen)


async def confirm_with_buttons(message: Message) -> None:
    await message.answer(_("Please use the buttons: save, or cancel."))


async def change_service(
    query: CallbackQuery, callback_data: CatalogueEditCb, person: PersonView, repos: Repositories, locale: str
) -> None:
    """Hide, show, or move a service, then show its card again as it is now."""
    changes = {
        CatalogueEditAction.HIDE: (
            lambda: catalogue.set_service_hidden(repos, person, callback_data.id, True),
            _("🙈 Hidden from members."),
        ),
        CatalogueEditAction.SHOW: (
            lambda: catalogue.set_service_hidden(repos, person, callback_data.id, False),
            _("👁 Members see it again."),
        ),
        CatalogueEditAction.UP: (lambda: catalogue.move_service(repos, person, callback_data.id, -1), _("⬆️ Moved up.")),
        CatalogueEditAction.DOWN: (
            lambda: catalogue.move_service(repos, person, callback_data.id, 1),
            _("⬇️ Moved down."),
        ),
    }
    change, done = changes[callback_data.action]
    service = await change()
    await query.answer(done)
    await replace_screen(query, *card_screen(service, locale, callback_data.page, callback_data.back, manager=True))


async def change_category(
    query: CallbackQuery, callback_data: CatalogueEditCb, person: PersonView, repos: Repositories, locale: str
) -> None:
    """Hide, show, or move a category, then show its page again as it is now."""
    changes = {
        CatalogueEditAction.CATEGORY_HIDE: (
            lambda: catalogue.set_category_hidden(repos, person, callback_data.id, True),
            _("🙈 Hidden from members."),
        ),
        CatalogueEditAction.CATEGORY_SHOW: (
            lambda: catalogue.set_category_hidden(repos, person, callback_data.id, False),
            _("👁 Members see it again."),
        ),
        CatalogueEditAction.CATEGORY_UP: (
            lambda: catalogue.move_category(repos, person, callback_data.id, -1),
            _("⬆️ Moved up."),
        ),
        CatalogueEditAction.CATEGORY_DOWN: (
            lambda: catalogue.move_category(repos, person, callback_data.id, 1),
            _("⬇️ Moved down."),
        ),
    }
    change, done = changes[callback_data.action]
    await change()
    screen = await category_of(repos, person, locale, callback_data.id, callback_data.page)
    await query.answer(done)
    await replace_screen(query, *screen)


def build_router() -> Router:
    router = managers_routes(__name__)
    router.message.register(got_text, EditForm.text, F.text & ~F.text.startswith("/"))
    router.message.register(confirm_with_buttons, EditForm.confirm, ~F.text.startswith("/"))
    router.message.register(needs_text, EditForm.text, ~F.text)
    router.callback_query.register(
        keep_text, EditForm.text, CatalogueFormCb.filter(F.action == CatalogueFormAction.KEEP)
    )
    router.callback_query.register(
        save_edit, EditForm.confirm, CatalogueFormCb.filter(F.action == CatalogueFormAction.SAVE)
    )
    router.callback_query.register(begin_service_edit, CatalogueEditCb.filter(F.action == CatalogueEditAction.EDIT))
    router.callback_query.register(begin_service_add, CatalogueEditCb.filter(F.action == CatalogueEditAction.ADD))
    router.callback_query.register(begin_category_add, CatalogueEditCb.filter(F.action == CatalogueEditAction.NEW))
    router.callback_query.register(
        begin_category_rename, CatalogueEditCb.filter(F.action == CatalogueEditAction.RENAME)
    )
    router.callback_query.register(change_service, CatalogueEditCb.filter(F.action.in_(SERVICE_CHANGES)))
    router.callback_query.register(change_category, CatalogueEditCb.filter(F.action.in_(CATEGORY_CHANGES)))
    return router
