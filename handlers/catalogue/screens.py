"""The catalogue's screens (a text and its buttons): categories, a category's services, a service's card;
the pieces they are made of, and showing one."""

from __future__ import annotations

from html import escape
from typing import Any

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot.services import catalogue
from bot.services.catalogue import CategoryView, Page, ServiceView
from bot.services.members import PersonView
from bot.telegram_text import TEXT_LIMIT, utf16_len
from handlers.catalogue.keyboards import (
    BrowseAction,
    CatalogueEditAction,
    CatalogueEditCb,
    ServicesCb,
    back_to,
    button,
    keyboard,
    nav_row,
)
from handlers.keyboards import MenuAction, MenuCb, clip_words
from storage.repositories import Repositories

# A screen of the catalogue: its text and its buttons.
Screen = tuple[str, InlineKeyboardMarkup]
# Labels longer than this are cut on buttons: Telegram shows about this much on a phone anyway.
BUTTON_TITLE = 56


def short(text: str, limit: int = BUTTON_TITLE) -> str:
    """A label: at most `limit` characters, never cut inside a word."""
    return clip_words(text, limit)


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


def page_line(page: Page[Any]) -> str:
    if page.pages <= 1:
        return ""
    return "\n" + _("Page {page} of {pages}").format(page=page.number + 1, pages=page.pages)


def hidden_mark(hidden: bool) -> str:
    return "🙈 " if hidden else ""


async def send_screen(message: Message, screen: Screen) -> None:
    text, markup = screen
    await message.answer(text, reply_markup=markup)


async def replace_screen(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Show a screen in place of the message the button is on, so that Back finds the place the person left."""
    if not isinstance(query.message, Message):
        return
    try:
        await query.message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest as error:
        if "not modified" not in str(error):
            await query.message.answer(text, reply_markup=markup)


# --- screens ----------------------------------------------------------------------------------------------------------


def home_screen(page: Page[CategoryView], locale: str, manager: bool) -> Screen:
    lines = [_("🧰 <b>The cluster's services</b>"), ""]
    lines.append(_("Choose a category, or search by words.") if page.total else _("No services are listed yet."))
    rows = [
        [
            button(
                f"{hidden_mark(item.hidden)}{short(item.title(locale), BUTTON_TITLE - 6)} ({item.services})",
                ServicesCb(action=BrowseAction.CATEGORY, id=item.id),
            )
        ]
        for item in page.items
    ]
    rows.append(nav_row(page, lambda number: ServicesCb(action=BrowseAction.HOME, page=number)))
    rows.append([button(_("🔎 Search"), ServicesCb(action=BrowseAction.SEARCH))])
    if manager:
        rows.append(
            [
                button(_("➕ Add a category"), CatalogueEditCb(action=CatalogueEditAction.NEW)),
                button(_("📋 Service requests"), ServicesCb(action=BrowseAction.REQUESTS)),
            ]
        )
        rows.append(
            [
                button(_("📤 Export as a file"), CatalogueEditCb(action=CatalogueEditAction.EXPORT)),
                button(_("📥 Import a file"), CatalogueEditCb(action=CatalogueEditAction.IMPORT)),
            ]
        )
    rows.append([InlineKeyboardButton(text=_("⬅️ Menu"), callback_data=MenuCb(action=MenuAction.HOME).pack())])
    return "\n".join(lines) + page_line(page), keyboard(rows)


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
            button(
                f"{hidden_mark(item.hidden)}{short(item.short_title(locale))}",
                ServicesCb(action=BrowseAction.CARD, id=item.id, page=page.number, back=f"c{category.id}"),
            )
        ]
        for item in page.items
    ]
    rows.append(nav_row(page, lambda number: ServicesCb(action=BrowseAction.CATEGORY, id=category.id, page=number)))
    if manager:

        def on_category(action: CatalogueEditAction) -> CatalogueEditCb:
            return CatalogueEditCb(action=action, id=category.id, page=page.number)

        rows.append(
            [
                button(_("➕ Add a service"), on_category(CatalogueEditAction.ADD)),
                button(_("✏️ Rename"), on_category(CatalogueEditAction.RENAME)),
            ]
        )
        rows.append(
            [
                button(
                    _("👁 Show") if category.hidden else _("🙈 Hide"),
                    on_category(
                        CatalogueEditAction.CATEGORY_SHOW if category.hidden else CatalogueEditAction.CATEGORY_HIDE
                    ),
                ),
                button(_("⬆️ Move up"), on_category(CatalogueEditAction.CATEGORY_UP)),
                button(_("⬇️ Move down"), on_category(CatalogueEditAction.CATEGORY_DOWN)),
            ]
        )
    rows.append([button(_("⬅️ Categories"), ServicesCb(action=BrowseAction.HOME))])
    return "\n".join(lines) + page_line(page), keyboard(rows)


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
        rows.append([button(_("📨 Request this service"), ServicesCb(action=BrowseAction.ASK, id=service.id))])
    if manager:

        def on_service(action: CatalogueEditAction) -> CatalogueEditCb:
            return CatalogueEditCb(action=action, id=service.id, page=page, back=back)

        rows.append(
            [
                button(_("✏️ Edit"), on_service(CatalogueEditAction.EDIT)),
                button(
                    _("👁 Show") if service.hidden else _("🙈 Hide"),
                    on_service(CatalogueEditAction.SHOW if service.hidden else CatalogueEditAction.HIDE),
                ),
            ]
        )
        rows.append(
            [
                button(_("⬆️ Move up"), on_service(CatalogueEditAction.UP)),
                button(_("⬇️ Move down"), on_service(CatalogueEditAction.DOWN)),
            ]
        )
    rows.append([button(_("⬅️ Back"), back_to(page, back))])
    return text, keyboard(rows)


async def home_of(repos: Repositories, person: PersonView, locale: str, page: int = 0) -> Screen:
    """The categories screen as `person` sees it."""
    return home_screen(await catalogue.categories(repos, person, page), locale, person.is_manager)


async def category_of(repos: Repositories, person: PersonView, locale: str, category_id: int, page: int) -> Screen:
    """A category's screen as `person` sees it (CatalogueError when it is not there for them)."""
    category, services = await catalogue.category(repos, person, category_id, page)
    return category_screen(category, services, locale, person.is_manager)
