"""Managers edit the catalogue in the chat: add, rename and edit (each text asked in turn, then Save: the shared
`handlers.texts_form`, kinds `catalogue.category` and `catalogue.service`), hide, show and move categories and
services. Every route is guarded once, on its router."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Awaitable, Callable
from html import escape
from typing import Any

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message, TelegramObject
from aiogram.utils.i18n import gettext as _

from bot.services import catalogue
from bot.services.catalogue import CatalogueError, ServiceTexts
from bot.services.members import PersonView
from bot.services.refusals import Refused
from handlers import texts_form
from handlers.catalogue.forms import NOT_A_MANAGER, leave_form, managers_routes, needs_text
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
from handlers.texts_form import Buttons, Field, Kind, Step
from storage.repositories import Repositories

# How much of the current text an editing step shows.
CURRENT_SHOWN = 300

_SERVICE_FIELDS = ("title_ro", "title_en", "description_ro", "description_en")
_CATEGORY_FIELDS = ("title_ro", "title_en")


def _question(name: str, fields: tuple[str, ...]) -> Callable[[Step], str]:
    """The step's question under the form's heading, with the current text when there is one."""

    def question(step: Step) -> str:
        limit = catalogue.DESCRIPTION_MAX if name.startswith("description") else catalogue.TITLE_MAX
        questions = {
            "title_ro": _("{step}/{steps}. The title in Romanian (at most {limit} characters)."),
            "title_en": _("{step}/{steps}. The title in English (at most {limit} characters)."),
            "description_ro": _("{step}/{steps}. The description in Romanian (at most {limit} characters)."),
            "description_en": _("{step}/{steps}. The description in English (at most {limit} characters)."),
        }
        number = step.form["step"] + 1
        lines = [step.form["heading"], "", questions[name].format(step=number, steps=len(fields), limit=limit)]
        current = step.form["current"].get(name)
        if current:
            lines += ["", _("Now: {text}").format(text=f"<i>{escape(short(current, CURRENT_SHOWN))}</i>")]
        return "\n".join(lines)

    return question


def _fields(names: tuple[str, ...]) -> tuple[Field, ...]:
    def clean(text: str | None, _limit: int, name: str) -> str:
        return catalogue.clean_description(text) if name.startswith("description") else catalogue.clean_title(text)

    return tuple(
        Field(
            key=name,
            question=_question(name, names),
            limit=catalogue.DESCRIPTION_MAX if name.startswith("description") else catalogue.TITLE_MAX,
            clean=functools.partial(clean, name=name),
            keeps=True,
        )
        for name in names
    )


async def _refused(refusal: Refused, event: TelegramObject, data: dict[str, Any]) -> bool:
    """Someone refused as no manager leaves the form; the refusal goes on to `handlers.refusals.on_refusal`."""
    state = data.get("state")
    if refusal.reason in NOT_A_MANAGER and isinstance(state, FSMContext):
        await leave_form(state)
    return False


def _save_keyboard() -> InlineKeyboardMarkup:
    return keyboard([[button(_("💾 Save"), CatalogueFormCb(action=CatalogueFormAction.SAVE)), *cancel_row()]])


async def _category_preview(message: Message, step: Step) -> None:
    texts = step.texts
    await message.answer(
        "\n".join(
            (
                _("Please check, then save:"),
                "",
                f"🇷🇴 <b>{escape(texts['title_ro'])}</b>",
                f"🇬🇧 <b>{escape(texts['title_en'])}</b>",
            )
        ),
        reply_markup=_save_keyboard(),
    )


async def _service_preview(message: Message, step: Step) -> None:
    texts = step.texts
    # What members will see, each language as its readers get it.
    for flag, language in (("🇷🇴", "ro"), ("🇬🇧", "en")):
        await message.answer(
            card_text(f"{flag} {texts[f'title_{language}']}", "", texts[f"description_{language}"]),
        )
    await message.answer(_("Save these texts?"), reply_markup=_save_keyboard())


async def _save(query: CallbackQuery, step: Step, save: Callable[[], Awaitable[Screen]]) -> None:
    state: FSMContext = step.data["state"]
    try:
        screen = await save()
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


async def _save_category(query: CallbackQuery, step: Step) -> None:
    form, texts = step.form, step.texts
    person: PersonView = step.data["person"]
    repos: Repositories = step.data["repos"]

    async def save() -> Screen:
        if form.get("target"):
            saved = await catalogue.edit_category(repos, person, form["target"], texts["title_ro"], texts["title_en"])
        else:
            saved = await catalogue.add_category(repos, person, texts["title_ro"], texts["title_en"])
        return await category_of(repos, person, step.data["locale"], saved.id, int(form.get("page", 0)))

    await _save(query, step, save)


async def _save_service(query: CallbackQuery, step: Step) -> None:
    form, texts = step.form, step.texts
    person: PersonView = step.data["person"]
    repos: Repositories = step.data["repos"]

    async def save() -> Screen:
        service_texts = ServiceTexts(**{name: texts[name] for name in _SERVICE_FIELDS})
        if form.get("target"):
            service = await catalogue.edit_service(repos, person, form["target"], service_texts)
            page, back = int(form.get("page", 0)), str(form.get("back", ""))
        else:
            service = await catalogue.add_service(repos, person, form["category"], service_texts)
            page, back = 0, f"c{service.category_id}"
        return card_screen(service, step.data["locale"], page, back, manager=True)

    await _save(query, step, save)


def _kind(name: str, fields: tuple[str, ...], preview: Any, complete: Any) -> Kind:
    return texts_form.register(
        Kind(
            name=name,
            fields=_fields(fields),
            buttons=Buttons(
                keyboard=lambda extra: keyboard([*([each] for each in extra), cancel_row()]),
                confirm_data=CatalogueFormCb(action=CatalogueFormAction.SAVE).pack(),
                keep=lambda: button(_("↩️ Keep it as it is"), CatalogueFormCb(action=CatalogueFormAction.KEEP)),
                keep_data=CatalogueFormCb(action=CatalogueFormAction.KEEP).pack(),
            ),
            preview=preview,
            complete=complete,
            use_the_buttons=lambda: _("Please use the buttons: save, or cancel."),
            refused=_refused,
            needs_text=needs_text,
            reminds_any_message=True,
        )
    )


CATEGORY_FORM = _kind("catalogue.category", _CATEGORY_FIELDS, _category_preview, _save_category)
SERVICE_FORM = _kind("catalogue.service", _SERVICE_FIELDS, _service_preview, _save_service)


async def _begin_edit(query: CallbackQuery, state: FSMContext, heading: str, kind: Kind, **edit: Any) -> None:
    await query.answer()
    await leave_form(state)
    await texts_form.start(
        query.message if isinstance(query.message, Message) else None, state, kind, heading=heading, **edit
    )


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
        SERVICE_FORM,
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
        SERVICE_FORM,
        category=category.id,
    )


async def begin_category_add(query: CallbackQuery, state: FSMContext) -> None:
    await _begin_edit(query, state, _("➕ <b>New category</b>"), CATEGORY_FORM)


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
        CATEGORY_FORM,
        target=category.id,
        current={"title_ro": category.title_ro, "title_en": category.title_en},
        page=callback_data.page,
    )


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
    router.callback_query.register(begin_service_edit, CatalogueEditCb.filter(F.action == CatalogueEditAction.EDIT))
    router.callback_query.register(begin_service_add, CatalogueEditCb.filter(F.action == CatalogueEditAction.ADD))
    router.callback_query.register(begin_category_add, CatalogueEditCb.filter(F.action == CatalogueEditAction.NEW))
    router.callback_query.register(
        begin_category_rename, CatalogueEditCb.filter(F.action == CatalogueEditAction.RENAME)
    )
    router.callback_query.register(change_service, CatalogueEditCb.filter(F.action.in_(SERVICE_CHANGES)))
    router.callback_query.register(change_category, CatalogueEditCb.filter(F.action.in_(CATEGORY_CHANGES)))
    return router
