"""The catalogue's buttons: their callback data (prefixes and packed formats are what buttons already sent in
chats carry: never change them) and the helpers that lay buttons out."""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from typing import Annotated, Any, Self

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from pydantic import AfterValidator, model_validator

from bot.services.catalogue import Page, RequestAction
from handlers.keyboards import MAX_ROW_ID, PageNumber, RowId, RowIdOrZero, check_row_id, page_moves

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


# --- laying buttons out -----------------------------------------------------------------------------------------------


def button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def cancel_row() -> list[InlineKeyboardButton]:
    return [button(_("✖️ Cancel"), CatalogueFormCb(action=CatalogueFormAction.CANCEL))]


def nav_row(page: Page[Any], make: Callable[[int], CallbackData]) -> list[InlineKeyboardButton]:
    return page_moves(page.number, page.pages, make)


def keyboard(rows: list[list[InlineKeyboardButton]]) -> InlineKeyboardMarkup:
    """The rows that have buttons."""
    return InlineKeyboardMarkup(inline_keyboard=[row for row in rows if row])


def back_to(page: int, back: str) -> ServicesCb:
    """Where a card's Back goes: the category page or the search results page it was opened from."""
    found = _ORIGIN.fullmatch(back)
    if found is not None and found["category"]:
        return ServicesCb(action=BrowseAction.CATEGORY, id=int(found["category"]), page=page)
    if back[:1] in ("s", "t"):
        return ServicesCb(action=BrowseAction.FIND, page=page, back=back)
    return ServicesCb(action=BrowseAction.HOME)
