"""The services catalogue: browse, search, service cards, requests for a service, managers' editing."""

from __future__ import annotations

import contextlib
import enum
import re
from collections.abc import Callable, Mapping
from html import escape
from typing import Annotated, Any, Self

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n, ngettext
from aiogram.utils.i18n import gettext as _
from pydantic import AfterValidator, model_validator

from bot.config import Settings
from bot.services import catalogue
from bot.services.catalogue import (
    CatalogueError,
    CatalogueReport,
    CategoryView,
    Page,
    Refusal,
    RequestAction,
    ServiceRequestView,
    ServiceTexts,
    ServiceView,
)
from bot.services.catalogue_file import CatalogueFileError
from bot.services.members import PersonView
from bot.telegram_text import TEXT_LIMIT, utf16_len
from handlers.catalogue_problems import describe
from handlers.keyboards import (
    MAX_ROW_ID,
    MenuAction,
    MenuCb,
    NoticeMessage,
    PageNumber,
    RowId,
    RowIdOrZero,
    check_row_id,
    clip,
    main_menu,
)
from handlers.refusals import explain
from storage.models import ServiceRequestStatus
from storage.repositories import Repositories

# A screen of the catalogue: its text and its buttons.
Screen = tuple[str, InlineKeyboardMarkup]
# Labels longer than this are cut on buttons: Telegram shows about this much on a phone anyway.
BUTTON_TITLE = 56
# A search travels in the buttons of its results while it fits in this many bytes of their 64; longer ones are
# remembered in the conversation's data and travel as a number.
QUERY_IN_BUTTON = 40
_SEARCHES = "service_searches"
_SEARCH_COUNT = "service_search_count"
_SEARCHES_KEPT = 10
# How much of the current text an editing step shows.
CURRENT_SHOWN = 300
# An imported catalogue file: larger ones are refused before they are read; problems listed, each cut to a length.
IMPORT_MAX_BYTES = 1024 * 1024
PROBLEMS_SHOWN = 15
PROBLEM_LENGTH = 200


# Where a card was opened, for its Back button: "c<category id>", a search that fits ("s<words>"), one kept in
# the conversation's data ("t<number>"), or "" (the categories).
_ORIGIN = re.compile(r"c(?P<category>[1-9][0-9]{0,18})|s.+|t[1-9][0-9]{0,8}|", re.DOTALL)


def _origin(back: str) -> str:
    found = _ORIGIN.fullmatch(back)
    if found is None or int(found["category"] or 0) > MAX_ROW_ID:
        raise ValueError("not a place a card is opened from")
    return back


CardOrigin = Annotated[str, AfterValidator(_origin)]


class BrowseAction(enum.StrEnum):
    HOME = "home"  # categories page `page`
    CATEGORY = "cat"  # category `id`, page
    CARD = "card"  # service `id`
    FIND = "find"  # search results `back`, page
    SEARCH = "search"  # ask for words
    ASK = "ask"  # request service `id`
    REQUESTS = "requests"  # managers


_BROWSE_ABOUT_NO_ROW = {BrowseAction.HOME, BrowseAction.FIND, BrowseAction.SEARCH, BrowseAction.REQUESTS}


class ServicesCb(CallbackData, prefix="sv"):
    """Browsing. On a card, `page` and `back` say where it was opened (CardOrigin). `id` is 0 for the actions
    about no row."""

    action: BrowseAction
    id: RowIdOrZero = 0
    page: PageNumber = 0
    back: CardOrigin = ""

    @model_validator(mode="after")
    def _fields_of_the_action(self) -> Self:
        check_row_id(self.id, self.action, _BROWSE_ABOUT_NO_ROW)
        if self.action is BrowseAction.FIND and self.back[:1] not in ("s", "t"):
            raise ValueError("search results without a search")
        return self


class CatalogueEditAction(enum.StrEnum):
    # On service `id` (`page` and `back` as on its card).
    EDIT = "edit"
    HIDE = "hide"
    SHOW = "show"
    UP = "up"
    DOWN = "down"
    # On category `id` (`page` of its services).
    ADD = "add"  # a service
    RENAME = "rename"
    CATEGORY_HIDE = "chide"
    CATEGORY_SHOW = "cshow"
    CATEGORY_UP = "cup"
    CATEGORY_DOWN = "cdown"
    # On the catalogue (`id` 0): a new category, the catalogue as a file, ask for an edited file.
    NEW = "new"
    EXPORT = "export"
    IMPORT = "import"


SERVICE_CHANGES = {CatalogueEditAction.HIDE, CatalogueEditAction.SHOW, CatalogueEditAction.UP, CatalogueEditAction.DOWN}
CATEGORY_CHANGES = {
    CatalogueEditAction.CATEGORY_HIDE,
    CatalogueEditAction.CATEGORY_SHOW,
    CatalogueEditAction.CATEGORY_UP,
    CatalogueEditAction.CATEGORY_DOWN,
}
_EDIT_OF_THE_CATALOGUE = {CatalogueEditAction.NEW, CatalogueEditAction.EXPORT, CatalogueEditAction.IMPORT}


class CatalogueEditCb(CallbackData, prefix="se"):
    """Managers' changes."""

    action: CatalogueEditAction
    id: RowIdOrZero = 0
    page: PageNumber = 0
    back: CardOrigin = ""

    @model_validator(mode="after")
    def _fields_of_the_action(self) -> Self:
        check_row_id(self.id, self.action, _EDIT_OF_THE_CATALOGUE)
        return self


class ServiceRequestCb(CallbackData, prefix="sr"):
    """A manager's action on request `request_id`."""

    request_id: RowId
    action: RequestAction


class CatalogueFormAction(enum.StrEnum):
    CANCEL = "cancel"
    KEEP = "keep"  # the current text
    SAVE = "save"


class CatalogueFormCb(CallbackData, prefix="sf"):
    """Buttons of the catalogue's conversations."""

    action: CatalogueFormAction


class SearchForm(StatesGroup):
    words = State()


class RequestForm(StatesGroup):
    note = State()


class DeclineForm(StatesGroup):
    reason = State()


class ImportForm(StatesGroup):
    # Waiting for the edited catalogue file, as a document.
    file = State()


class EditForm(StatesGroup):
    # One text after the other (which one is in the data), then the preview with Save.
    text = State()
    confirm = State()


_SERVICE_FIELDS = ("title_ro", "title_en", "description_ro", "description_en")
_CATEGORY_FIELDS = ("title_ro", "title_en")


# --- pieces -----------------------------------------------------------------------------------------------------------


def short(text: str, limit: int = BUTTON_TITLE) -> str:
    return clip(text, limit)


def fit(head: str, body: str) -> str:
    """`head` (HTML) then `body` escaped, the body cut so that even the HTML stays within Telegram's limit."""
    escaped = escape(body)
    if utf16_len(head + escaped) <= TEXT_LIMIT:
        return head + escaped
    budget = TEXT_LIMIT - utf16_len(head) - 1
    kept = 0
    for count, char in enumerate(body):
        budget -= utf16_len(escape(char))
        if budget < 0:
            kept = count
            break
    return head + escape(body[:kept]) + "…"


def _button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def _cancel_row() -> list[InlineKeyboardButton]:
    return [_button(_("✖️ Cancel"), CatalogueFormCb(action=CatalogueFormAction.CANCEL))]


def _page_line(page: Page[Any]) -> str:
    if page.pages <= 1:
        return ""
    return "\n" + _("Page {page} of {pages}").format(page=page.number + 1, pages=page.pages)


def _nav_row(page: Page[Any], make: Callable[[int], CallbackData]) -> list[InlineKeyboardButton]:
    row = []
    if page.number > 0:
        row.append(_button(_("◀️ Previous"), make(page.number - 1)))
    if page.number + 1 < page.pages:
        row.append(_button(_("Next ▶️"), make(page.number + 1)))
    return row


def _markup(rows: list[list[InlineKeyboardButton]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[row for row in rows if row])


def _hidden_mark(hidden: bool) -> str:
    return "🙈 " if hidden else ""


async def _send(message: Message, screen: Screen) -> None:
    text, markup = screen
    await message.answer(text, reply_markup=markup)


async def _replace(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Show a screen in place of the message the button is on, so that Back finds the place the person left."""
    if not isinstance(query.message, Message):
        return
    try:
        await query.message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest as error:
        if "not modified" not in str(error):
            await query.message.answer(text, reply_markup=markup)


async def _leave(state: FSMContext) -> None:
    """End any conversation, keeping only the remembered searches (their results pages still have Back buttons)."""
    data = await state.get_data()
    await state.set_state(None)
    await state.set_data({key: value for key, value in data.items() if key in (_SEARCHES, _SEARCH_COUNT)})


# --- screens ----------------------------------------------------------------------------------------------------------


def home_screen(page: Page[CategoryView], locale: str, manager: bool) -> Screen:
    lines = [_("🧰 <b>The cluster's services</b>"), ""]
    lines.append(_("Choose a category, or search by words.") if page.total else _("No services are listed yet."))
    rows = [
        [
            _button(
                f"{_hidden_mark(item.hidden)}{short(item.title(locale), BUTTON_TITLE - 6)} ({item.services})",
                ServicesCb(action=BrowseAction.CATEGORY, id=item.id),
            )
        ]
        for item in page.items
    ]
    rows.append(_nav_row(page, lambda number: ServicesCb(action=BrowseAction.HOME, page=number)))
    rows.append([_button(_("🔎 Search"), ServicesCb(action=BrowseAction.SEARCH))])
    if manager:
        rows.append(
            [
                _button(_("➕ Add a category"), CatalogueEditCb(action=CatalogueEditAction.NEW)),
                _button(_("📋 Service requests"), ServicesCb(action=BrowseAction.REQUESTS)),
            ]
        )
        rows.append(
            [
                _button(_("📤 Export as a file"), CatalogueEditCb(action=CatalogueEditAction.EXPORT)),
                _button(_("📥 Import a file"), CatalogueEditCb(action=CatalogueEditAction.IMPORT)),
            ]
        )
    rows.append([InlineKeyboardButton(text=_("⬅️ Menu"), callback_data=MenuCb(action=MenuAction.HOME).pack())])
    return "\n".join(lines) + _page_line(page), _markup(rows)


def category_screen(category: CategoryView, page: Page[ServiceView], locale: str, manager: bool) -> Screen:
    lines = [f"🧰 <b>{escape(category.title(locale))}</b>"]
    if category.hidden:
        lines.append(_("🙈 Hidden from members."))
    lines.append(
        ngettext("{count} service", "{count} services", page.total).format(count=page.total)
        if page.total
        else _("No services in this category yet.")
    )
    rows = [
        [
            _button(
                f"{_hidden_mark(item.hidden)}{short(item.title(locale))}",
                ServicesCb(action=BrowseAction.CARD, id=item.id, page=page.number, back=f"c{category.id}"),
            )
        ]
        for item in page.items
    ]
    rows.append(_nav_row(page, lambda number: ServicesCb(action=BrowseAction.CATEGORY, id=category.id, page=number)))
    if manager:

        def on_category(action: CatalogueEditAction) -> CatalogueEditCb:
            return CatalogueEditCb(action=action, id=category.id, page=page.number)

        rows.append(
            [
                _button(_("➕ Add a service"), on_category(CatalogueEditAction.ADD)),
                _button(_("✏️ Rename"), on_category(CatalogueEditAction.RENAME)),
            ]
        )
        rows.append(
            [
                _button(
                    _("👁 Show") if category.hidden else _("🙈 Hide"),
                    on_category(
                        CatalogueEditAction.CATEGORY_SHOW if category.hidden else CatalogueEditAction.CATEGORY_HIDE
                    ),
                ),
                _button(_("⬆️ Move up"), on_category(CatalogueEditAction.CATEGORY_UP)),
                _button(_("⬇️ Move down"), on_category(CatalogueEditAction.CATEGORY_DOWN)),
            ]
        )
    rows.append([_button(_("⬅️ Categories"), ServicesCb(action=BrowseAction.HOME))])
    return "\n".join(lines) + _page_line(page), _markup(rows)


def results_screen(words: str, ref: str, page: Page[ServiceView], locale: str) -> Screen:
    if page.total:
        text = ngettext(
            "🔎 {count} service matches «{words}».", "🔎 {count} services match «{words}».", page.total
        ).format(count=page.total, words=escape(words))
    else:
        text = _("🔎 Nothing matches «{words}». Try fewer words, or other ones.").format(words=escape(words))
    rows = [
        [
            _button(
                f"{_hidden_mark(not item.shown)}{short(item.title(locale))}",
                ServicesCb(action=BrowseAction.CARD, id=item.id, page=page.number, back=ref),
            )
        ]
        for item in page.items
    ]
    rows.append(_nav_row(page, lambda number: ServicesCb(action=BrowseAction.FIND, page=number, back=ref)))
    rows.append(
        [
            _button(_("🔎 New search"), ServicesCb(action=BrowseAction.SEARCH)),
            _button(_("⬅️ Categories"), ServicesCb(action=BrowseAction.HOME)),
        ]
    )
    return text + _page_line(page), _markup(rows)


def card_text(title: str, category: str, description: str, *, hidden: bool = False) -> str:
    head = f"🧰 <b>{escape(title)}</b>\n" + (f"<i>{escape(category)}</i>\n" if category else "")
    if hidden:
        head += _("🙈 Hidden from members.") + "\n"
    return fit(head + "\n", description)


def card_screen(service: ServiceView, locale: str, page: int, back: str, manager: bool) -> Screen:
    text = card_text(
        service.title(locale), service.category_title(locale), service.description(locale), hidden=not service.shown
    )
    rows = []
    if service.shown:
        rows.append([_button(_("📨 Request this service"), ServicesCb(action=BrowseAction.ASK, id=service.id))])
    if manager:

        def on_service(action: CatalogueEditAction) -> CatalogueEditCb:
            return CatalogueEditCb(action=action, id=service.id, page=page, back=back)

        rows.append(
            [
                _button(_("✏️ Edit"), on_service(CatalogueEditAction.EDIT)),
                _button(
                    _("👁 Show") if service.hidden else _("🙈 Hide"),
                    on_service(CatalogueEditAction.SHOW if service.hidden else CatalogueEditAction.HIDE),
                ),
            ]
        )
        rows.append(
            [
                _button(_("⬆️ Move up"), on_service(CatalogueEditAction.UP)),
                _button(_("⬇️ Move down"), on_service(CatalogueEditAction.DOWN)),
            ]
        )
    rows.append([_button(_("⬅️ Back"), _back_to(page, back))])
    return text, _markup(rows)


def _back_to(page: int, back: str) -> ServicesCb:
    """Where a card's Back goes: the category page or the search results page it was opened from."""
    found = _ORIGIN.fullmatch(back)
    if found is not None and found["category"]:
        return ServicesCb(action=BrowseAction.CATEGORY, id=int(found["category"]), page=page)
    if back[:1] in ("s", "t"):
        return ServicesCb(action=BrowseAction.FIND, page=page, back=back)
    return ServicesCb(action=BrowseAction.HOME)


# --- browsing ---------------------------------------------------------------------------------------------------------


async def _home(repos: Repositories, person: PersonView, locale: str, page: int = 0) -> Screen:
    return home_screen(await catalogue.categories(repos, person, page), locale, person.is_manager)


async def services_button(
    query: CallbackQuery, person: PersonView, repos: Repositories, locale: str, state: FSMContext
) -> None:
    await _leave(state)
    await query.answer()
    if isinstance(query.message, Message):
        await _send(query.message, await _home(repos, person, locale))


async def services_command(
    message: Message, command: CommandObject, person: PersonView, repos: Repositories, locale: str, state: FSMContext
) -> None:
    await _leave(state)
    if command.args and command.args.strip():
        await _send_results(message, command.args, person, repos, locale, state)
        return
    await _send(message, await _home(repos, person, locale))


async def open_home(
    query: CallbackQuery, callback_data: ServicesCb, person: PersonView, repos: Repositories, locale: str
) -> None:
    await query.answer()
    await _replace(query, *await _home(repos, person, locale, callback_data.page))


async def _category(repos: Repositories, person: PersonView, locale: str, category_id: int, page: int) -> Screen:
    category, services = await catalogue.category(repos, person, category_id, page)
    return category_screen(category, services, locale, person.is_manager)


async def open_category(
    query: CallbackQuery, callback_data: ServicesCb, person: PersonView, repos: Repositories, locale: str
) -> None:
    try:
        screen = await _category(repos, person, locale, callback_data.id, callback_data.page)
    except CatalogueError as refusal:
        await query.answer(explain(refusal), show_alert=True)
        return
    await query.answer()
    await _replace(query, *screen)


async def open_card(
    query: CallbackQuery, callback_data: ServicesCb, person: PersonView, repos: Repositories, locale: str
) -> None:
    try:
        service = await catalogue.service(repos, person, callback_data.id)
    except CatalogueError as refusal:
        await query.answer(explain(refusal), show_alert=True)
        return
    await query.answer()
    await _replace(query, *card_screen(service, locale, callback_data.page, callback_data.back, person.is_manager))


# --- search -----------------------------------------------------------------------------------------------------------


async def _search_ref(state: FSMContext, words: str) -> str:
    """What the results' buttons carry to find the search again."""
    if len(f"s{words}".encode()) <= QUERY_IN_BUTTON:
        return f"s{words}"
    data = await state.get_data()
    number = int(data.get(_SEARCH_COUNT, 0)) + 1
    searches = {**data.get(_SEARCHES, {}), str(number): words}
    # A few are enough: Back on the results of an older long search shows the categories instead.
    kept = dict(list(searches.items())[-_SEARCHES_KEPT:])
    await state.update_data({_SEARCHES: kept, _SEARCH_COUNT: number})
    return f"t{number}"


async def _words_of(state: FSMContext, ref: str) -> str | None:
    if ref.startswith("s"):
        return ref[1:]
    if ref.startswith("t"):
        found = (await state.get_data()).get(_SEARCHES, {}).get(ref[1:])
        return str(found) if found else None
    return None


async def _send_results(
    message: Message, text: str, person: PersonView, repos: Repositories, locale: str, state: FSMContext
) -> None:
    words = " ".join(catalogue.search_words(text))
    if not words:
        await message.answer(
            _("Please send one or more words to look for."),
            reply_markup=_markup([[_button(_("⬅️ Categories"), ServicesCb(action=BrowseAction.HOME))]]),
        )
        return
    page = await catalogue.search(repos, person, words)
    await _send(message, results_screen(words, await _search_ref(state, words), page, locale))


async def ask_words(query: CallbackQuery, state: FSMContext) -> None:
    await query.answer()
    await state.set_state(SearchForm.words)
    if isinstance(query.message, Message):
        await query.message.answer(
            _("🔎 Which words should I look for? For example: funding, eco-innovation, tenders."),
            reply_markup=_markup([_cancel_row()]),
        )


async def got_words(message: Message, person: PersonView, repos: Repositories, locale: str, state: FSMContext) -> None:
    await _leave(state)
    await _send_results(message, message.text or "", person, repos, locale, state)


async def open_results(
    query: CallbackQuery,
    callback_data: ServicesCb,
    person: PersonView,
    repos: Repositories,
    locale: str,
    state: FSMContext,
) -> None:
    words = await _words_of(state, callback_data.back)
    await query.answer()
    if words is None:
        await _replace(query, *await _home(repos, person, locale))
        return
    page = await catalogue.search(repos, person, words, callback_data.page)
    await _replace(query, *results_screen(words, callback_data.back, page, locale))


# --- requests for a service -------------------------------------------------------------------------------------------


def join_invitation() -> InlineKeyboardMarkup:
    return _markup(
        [
            [InlineKeyboardButton(text=_("🤝 Join the cluster"), callback_data=MenuCb(action=MenuAction.JOIN).pack())],
            [
                InlineKeyboardButton(
                    text=_("🎟 I have an invite code"), callback_data=MenuCb(action=MenuAction.INVITE_CODE).pack()
                )
            ],
        ]
    )


async def ask_note(
    query: CallbackQuery,
    callback_data: ServicesCb,
    person: PersonView,
    repos: Repositories,
    locale: str,
    state: FSMContext,
) -> None:
    try:
        service = await catalogue.check_can_request(repos, person, callback_data.id)
    except CatalogueError as refusal:
        if refusal.reason is Refusal.MEMBERS_ONLY and isinstance(query.message, Message):
            await query.answer()
            await query.message.answer(explain(refusal), reply_markup=join_invitation())
            return
        await query.answer(explain(refusal), show_alert=True)
        return
    await query.answer()
    await state.set_state(RequestForm.note)
    await state.update_data(service_id=service.id)
    if isinstance(query.message, Message):
        await query.message.answer(
            f"📨 <b>{escape(service.title(locale))}</b>\n\n"
            + _(
                "In a few words, what do you need? The cluster's team reads it with your request "
                "(at most {limit} characters)."
            ).format(limit=catalogue.NOTE_MAX),
            reply_markup=_markup([_cancel_row()]),
        )


def request_card(request: ServiceRequestView, locale: str) -> str:
    """A request as managers see it, with how it stands."""
    who = escape(request.person_name) + (f" (@{escape(request.person_username)})" if request.person_username else "")
    lines = [
        _("📨 <b>Service request #{id}</b>").format(id=request.id),
        "",
        _("Service: {service}").format(service=f"<b>{escape(request.service_title(locale))}</b>"),
        _("From: {name}").format(name=who),
        _("Organisation: {organisation}").format(
            organisation=escape(request.organisation_name) if request.organisation_name else "—"
        ),
        _("Note: {note}").format(note=escape(request.note)),
    ]
    manager = escape(request.handled_by_name or "—")
    status = {
        ServiceRequestStatus.TAKEN: _("🙋 Taken by {manager}.").format(manager=manager),
        ServiceRequestStatus.DONE: _("✅ Done, marked by {manager}.").format(manager=manager),
        ServiceRequestStatus.DECLINED: _("❌ Declined by {manager}: {reason}").format(
            manager=manager, reason=escape(request.decline_reason or "")
        ),
    }.get(request.status)
    if status:
        lines += ["", status]
    return "\n".join(lines)


def request_keyboard(request: ServiceRequestView) -> InlineKeyboardMarkup | None:
    labels = {
        RequestAction.TAKE: _("🙋 Take it"),
        RequestAction.DONE: _("✅ Done"),
        RequestAction.DECLINE: _("❌ Decline"),
    }
    row = [
        _button(labels[action], ServiceRequestCb(request_id=request.id, action=action))
        for action in catalogue.actions_for(request.status)
    ]
    return _markup([row]) if row else None


async def got_note(
    message: Message,
    person: PersonView,
    repos: Repositories,
    state: FSMContext,
    i18n: I18n,
    settings: Settings,
) -> None:
    service_id = int((await state.get_data()).get("service_id", 0))
    try:
        await catalogue.submit_request(
            repos, person, service_id, message.text, default_locale=settings.default_locale
        )
    except CatalogueError as refusal:
        if refusal.reason in (Refusal.TEXT_EMPTY, Refusal.TEXT_TOO_LONG):
            await message.answer(explain(refusal), reply_markup=_markup([_cancel_row()]))
            return
        await _leave(state)
        await message.answer(explain(refusal), reply_markup=main_menu(person))
        return
    await _leave(state)
    await message.answer(
        _(
            "✅ Your request has been sent to the cluster's team. I will tell you here when someone takes it; "
            "/profile shows how it stands."
        ),
        reply_markup=main_menu(person),
    )


def service_requested_notice(params: Mapping[str, Any], locale: str) -> NoticeMessage:
    """`NoticeKind.SERVICE_REQUESTED`, to every manager: the request and what they can do with it."""
    request = ServiceRequestView.from_params(params)
    return request_card(request, locale), request_keyboard(request)


def service_request_changed_notice(params: Mapping[str, Any], locale: str) -> NoticeMessage:
    """`NoticeKind.SERVICE_REQUEST_CHANGED`, to the member: taken, done or declined, and their profile."""
    profile = InlineKeyboardButton(text=_("👤 My profile"), callback_data=MenuCb(action=MenuAction.PROFILE).pack())
    return member_notice(ServiceRequestView.from_params(params), locale), _markup([[profile]])


def member_notice(request: ServiceRequestView, locale: str) -> str:
    """What the member is told when their request changes."""
    service = f"<b>{escape(request.service_title(locale))}</b>"
    manager = escape(request.handled_by_name or "")
    if request.status is ServiceRequestStatus.TAKEN:
        return _(
            "🙋 {manager} from the cluster's team has taken your request for {service} and will be in touch."
        ).format(manager=manager, service=service)
    if request.status is ServiceRequestStatus.DONE:
        return _("✅ Your request for {service} is done.").format(service=service)
    return _("Your request for {service} was declined by {manager}. The reason: {reason}").format(
        service=service, manager=manager, reason=escape(request.decline_reason or "")
    )


async def _refresh_stale(query: CallbackQuery, refusal: CatalogueError, locale: str) -> None:
    """A stale button: say what happened, and show the request as it stands now."""
    await query.answer(explain(refusal), show_alert=True)
    request = refusal.context.get("request")
    if isinstance(request, ServiceRequestView):
        await _replace(query, request_card(request, locale), request_keyboard(request))


async def act_on_request(
    query: CallbackQuery,
    callback_data: ServiceRequestCb,
    person: PersonView,
    repos: Repositories,
    locale: str,
    i18n: I18n,
    settings: Settings,
) -> None:
    action = callback_data.action
    try:
        changed = await catalogue.act_on_request(
            repos, person, callback_data.request_id, action, default_locale=settings.default_locale
        )
    except CatalogueError as refusal:
        await _refresh_stale(query, refusal, locale)
        return
    await query.answer()
    await _replace(query, request_card(changed.request, locale), request_keyboard(changed.request))


async def ask_reason(
    query: CallbackQuery,
    callback_data: ServiceRequestCb,
    person: PersonView,
    repos: Repositories,
    locale: str,
    state: FSMContext,
) -> None:
    try:
        request = await catalogue.check_can_act(repos, person, callback_data.request_id, RequestAction.DECLINE)
    except CatalogueError as refusal:
        await _refresh_stale(query, refusal, locale)
        return
    await query.answer()
    if not isinstance(query.message, Message):
        return
    await state.set_state(DeclineForm.reason)
    await state.update_data(
        request_id=request.id, card_chat_id=query.message.chat.id, card_message_id=query.message.message_id
    )
    await query.message.answer(
        _("Why are you declining request #{id} ({service})? {member} will read your reason.").format(
            id=request.id, service=escape(request.service_title(locale)), member=escape(request.person_name)
        ),
        reply_markup=_markup([_cancel_row()]),
    )


async def got_reason(
    message: Message,
    person: PersonView,
    repos: Repositories,
    state: FSMContext,
    locale: str,
    i18n: I18n,
    settings: Settings,
    bot: Bot,
) -> None:
    data = await state.get_data()
    try:
        changed = await catalogue.act_on_request(
            repos,
            person,
            int(data.get("request_id", 0)),
            RequestAction.DECLINE,
            default_locale=settings.default_locale,
            reason=message.text,
        )
    except CatalogueError as refusal:
        if refusal.reason in (Refusal.TEXT_EMPTY, Refusal.TEXT_TOO_LONG):
            await message.answer(explain(refusal), reply_markup=_markup([_cancel_row()]))
            return
        await _leave(state)
        await message.answer(explain(refusal))
        return
    await _leave(state)
    request = changed.request
    with contextlib.suppress(TelegramBadRequest):
        await bot.edit_message_text(
            text=request_card(request, locale),
            chat_id=int(data["card_chat_id"]),
            message_id=int(data["card_message_id"]),
            reply_markup=request_keyboard(request),
        )
    await message.answer(
        _("❌ Declined. {member} will be told, with your reason.").format(member=escape(request.person_name))
    )


async def _list_requests(message: Message, person: PersonView, repos: Repositories, locale: str) -> None:
    try:
        requests, total = await catalogue.unfinished_requests(repos, person)
    except CatalogueError as refusal:
        await message.answer(explain(refusal))
        return
    if not requests:
        await message.answer(_("No service requests are waiting."))
        return
    await message.answer(
        ngettext(
            "{count} service request is waiting or in hand:", "{count} service requests are waiting or in hand:", total
        ).format(count=total)
    )
    for request in requests:
        await message.answer(request_card(request, locale), reply_markup=request_keyboard(request))


async def requests_command(message: Message, person: PersonView, repos: Repositories, locale: str) -> None:
    await _list_requests(message, person, repos, locale)


async def requests_button(query: CallbackQuery, person: PersonView, repos: Repositories, locale: str) -> None:
    if not person.is_manager:
        await query.answer(_("Sorry, only the cluster's managers can do that."), show_alert=True)
        return
    await query.answer()
    if isinstance(query.message, Message):
        await _list_requests(query.message, person, repos, locale)


def requests_section(requests: list[ServiceRequestView], locale: str) -> list[str]:
    """The lines /profile shows about a member's latest requests for services."""
    if not requests:
        return []
    names = {
        ServiceRequestStatus.OPEN: _("waiting for the team"),
        ServiceRequestStatus.DONE: _("done"),
        ServiceRequestStatus.DECLINED: _("declined"),
    }
    lines = ["", _("🧰 Your requests for services:")]
    for request in requests:
        if request.status is ServiceRequestStatus.TAKEN:
            status = _("taken by {manager}").format(manager=escape(request.handled_by_name or "—"))
        else:
            status = names[request.status]
        lines.append(f"• {escape(short(request.service_title(locale), 80))}: {status}")
    return lines


# --- managers' editing ------------------------------------------------------------------------------------------------


async def _manager_refused(query: CallbackQuery, repos: Repositories, person: PersonView) -> bool:
    try:
        await catalogue.check_manager(repos, person)
    except CatalogueError as refusal:
        await query.answer(explain(refusal), show_alert=True)
        return True
    return False


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
    rows = [_cancel_row()]
    current = edit["current"].get(field)
    if current:
        lines += ["", _("Now: {text}").format(text=f"<i>{escape(short(current, CURRENT_SHOWN))}</i>")]
        rows.insert(0, [_button(_("↩️ Keep it as it is"), CatalogueFormCb(action=CatalogueFormAction.KEEP))])
    return "\n".join(lines), _markup(rows)


async def _begin_edit(
    query: CallbackQuery, state: FSMContext, heading: str, fields: tuple[str, ...], **edit: Any
) -> None:
    await query.answer()
    await _leave(state)
    form = {"heading": heading, "fields": list(fields), "step": 0, "texts": {}, "current": {}, **edit}
    await state.set_state(EditForm.text)
    await state.update_data(edit=form)
    if isinstance(query.message, Message):
        await _send(query.message, _step_prompt(form))


async def begin_service_edit(
    query: CallbackQuery,
    callback_data: CatalogueEditCb,
    person: PersonView,
    repos: Repositories,
    locale: str,
    state: FSMContext,
) -> None:
    if await _manager_refused(query, repos, person):
        return
    try:
        service = await catalogue.service(repos, person, callback_data.id)
    except CatalogueError as refusal:
        await query.answer(explain(refusal), show_alert=True)
        return
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
    if await _manager_refused(query, repos, person):
        return
    try:
        category, _services = await catalogue.category(repos, person, callback_data.id)
    except CatalogueError as refusal:
        await query.answer(explain(refusal), show_alert=True)
        return
    await _begin_edit(
        query,
        state,
        _("➕ <b>New service</b> in {category}").format(category=escape(category.title(locale))),
        _SERVICE_FIELDS,
        kind="service",
        category=category.id,
    )


async def begin_category_add(query: CallbackQuery, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    if await _manager_refused(query, repos, person):
        return
    await _begin_edit(query, state, _("➕ <b>New category</b>"), _CATEGORY_FIELDS, kind="category")


async def begin_category_rename(
    query: CallbackQuery,
    callback_data: CatalogueEditCb,
    person: PersonView,
    repos: Repositories,
    locale: str,
    state: FSMContext,
) -> None:
    if await _manager_refused(query, repos, person):
        return
    try:
        category, _services = await catalogue.category(repos, person, callback_data.id)
    except CatalogueError as refusal:
        await query.answer(explain(refusal), show_alert=True)
        return
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
        await _send(message, _step_prompt(edit))
        return
    await state.set_state(EditForm.confirm)
    texts = edit["texts"]
    save = _markup([[_button(_("💾 Save"), CatalogueFormCb(action=CatalogueFormAction.SAVE)), *_cancel_row()]])
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


async def got_text(message: Message, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    try:
        await catalogue.check_manager(repos, person)
    except CatalogueError as refusal:
        await _leave(state)
        await message.answer(explain(refusal))
        return
    edit = dict((await state.get_data()).get("edit") or {})
    if not edit:
        # The conversation's data is gone (a storage that lost it): start again rather than guess.
        await _leave(state)
        await message.answer(_("Stopped. Nothing was changed."), reply_markup=main_menu(person))
        return
    field = edit["fields"][edit["step"]]
    clean = catalogue.clean_description if field.startswith("description") else catalogue.clean_title
    try:
        edit["texts"][field] = clean(message.text)
    except CatalogueError as refusal:
        await message.answer(explain(refusal), reply_markup=_markup([_cancel_row()]))
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
        await _leave(state)
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
            screen = await _category(repos, person, locale, saved.id, int(edit.get("page", 0)))
        else:
            service_texts = ServiceTexts(**{name: texts[name] for name in _SERVICE_FIELDS})
            if edit.get("target"):
                service = await catalogue.edit_service(repos, person, edit["target"], service_texts)
                page, back = int(edit.get("page", 0)), str(edit.get("back", ""))
            else:
                service = await catalogue.add_service(repos, person, edit["category"], service_texts)
                page, back = 0, f"c{service.category_id}"
            screen = card_screen(service, locale, page, back, manager=True)
    except CatalogueError as refusal:
        await _leave(state)
        await query.answer(explain(refusal), show_alert=True)
        return
    await _leave(state)
    await query.answer(_("✅ Saved."))
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=None)
        await _send(query.message, screen)


async def confirm_with_buttons(message: Message) -> None:
    await message.answer(_("Please use the buttons: save, or cancel."))


async def needs_text(message: Message) -> None:
    await message.answer(_("Please send it as text."), reply_markup=_markup([_cancel_row()]))


async def cancel_form(query: CallbackQuery, person: PersonView, state: FSMContext) -> None:
    editing = await state.get_state() in (EditForm.text.state, EditForm.confirm.state, ImportForm.file.state)
    await _leave(state)
    await query.answer()
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=None)
        text = _("Stopped. Nothing was changed.") if editing else _("Stopped. Nothing was sent.")
        await query.message.answer(text, reply_markup=main_menu(person))


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
    try:
        service = await change()
    except CatalogueError as refusal:
        await query.answer(explain(refusal), show_alert=True)
        return
    await query.answer(done)
    await _replace(query, *card_screen(service, locale, callback_data.page, callback_data.back, manager=True))


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
    try:
        await change()
        screen = await _category(repos, person, locale, callback_data.id, callback_data.page)
    except CatalogueError as refusal:
        await query.answer(explain(refusal), show_alert=True)
        return
    await query.answer(done)
    await _replace(query, *screen)


# --- the catalogue as a file ------------------------------------------------------------------------------------------


async def export_file(query: CallbackQuery, person: PersonView, repos: Repositories) -> None:
    """The whole catalogue as catalogue.yaml, for a manager to edit and send back."""
    try:
        text = await catalogue.export_for(repos, person)
    except CatalogueError as refusal:
        await query.answer(explain(refusal), show_alert=True)
        return
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer_document(
            BufferedInputFile(text.encode("utf-8"), filename="catalogue.yaml"),
            caption=_(
                "📤 The services catalogue, hidden entries included. Edit it, keeping the keys, "
                "and send it back with 📥 Import a file."
            ),
        )


async def begin_import(query: CallbackQuery, person: PersonView, repos: Repositories, state: FSMContext) -> None:
    if await _manager_refused(query, repos, person):
        return
    await _leave(state)
    await state.set_state(ImportForm.file)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(
            _(
                "📥 Send the edited catalogue file (from 📤 Export as a file) as a document. "
                "The catalogue becomes what the file says; what the file no longer has is hidden from members, "
                "never deleted."
            ),
            reply_markup=_markup([_cancel_row()]),
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
    retry = _markup([_cancel_row()])
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
        await _leave(state)
        await message.answer(explain(refusal), reply_markup=main_menu(person))
        return
    await _leave(state)
    await message.answer(import_report(report), reply_markup=main_menu(person))


async def needs_document(message: Message) -> None:
    await message.answer(
        _("Please send the catalogue file as a document (📎, File), or Cancel."), reply_markup=_markup([_cancel_row()])
    )


# --- the router -------------------------------------------------------------------------------------------------------


def build_router() -> Router:
    router = Router(name=__name__)
    private = F.chat.type == "private"
    answer = F.text & ~F.text.startswith("/")
    router.message.register(services_command, Command("services", ignore_case=True), private)
    router.message.register(requests_command, Command("service_requests", ignore_case=True), private)
    router.message.register(got_words, SearchForm.words, answer)
    router.message.register(got_note, RequestForm.note, answer)
    router.message.register(got_reason, DeclineForm.reason, answer)
    router.message.register(got_text, EditForm.text, answer)
    router.message.register(confirm_with_buttons, EditForm.confirm, ~F.text.startswith("/"))
    router.message.register(got_file, ImportForm.file, F.document)
    router.message.register(needs_document, ImportForm.file, ~F.text.startswith("/"))
    router.message.register(
        needs_text, StateFilter(SearchForm.words, RequestForm.note, DeclineForm.reason, EditForm.text), ~F.text
    )

    router.callback_query.register(services_button, MenuCb.filter(F.action == MenuAction.SERVICES))
    router.callback_query.register(open_home, ServicesCb.filter(F.action == BrowseAction.HOME))
    router.callback_query.register(open_category, ServicesCb.filter(F.action == BrowseAction.CATEGORY))
    router.callback_query.register(open_card, ServicesCb.filter(F.action == BrowseAction.CARD))
    router.callback_query.register(open_results, ServicesCb.filter(F.action == BrowseAction.FIND))
    router.callback_query.register(ask_words, ServicesCb.filter(F.action == BrowseAction.SEARCH))
    router.callback_query.register(ask_note, ServicesCb.filter(F.action == BrowseAction.ASK))
    router.callback_query.register(requests_button, ServicesCb.filter(F.action == BrowseAction.REQUESTS))

    router.callback_query.register(
        act_on_request, ServiceRequestCb.filter(F.action.in_({RequestAction.TAKE, RequestAction.DONE}))
    )
    router.callback_query.register(ask_reason, ServiceRequestCb.filter(F.action == RequestAction.DECLINE))

    router.callback_query.register(cancel_form, CatalogueFormCb.filter(F.action == CatalogueFormAction.CANCEL))
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
    router.callback_query.register(export_file, CatalogueEditCb.filter(F.action == CatalogueEditAction.EXPORT))
    router.callback_query.register(begin_import, CatalogueEditCb.filter(F.action == CatalogueEditAction.IMPORT))
    router.callback_query.register(change_service, CatalogueEditCb.filter(F.action.in_(SERVICE_CHANGES)))
    router.callback_query.register(change_category, CatalogueEditCb.filter(F.action.in_(CATEGORY_CHANGES)))
    return router
