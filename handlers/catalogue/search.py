"""Searching the catalogue by words: `/services WORDS`, 🔎 Search, the results' pages."""

from __future__ import annotations

from html import escape

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot.services import catalogue
from bot.services.catalogue import Page, ServiceView
from bot.services.members import PersonView
from handlers.catalogue.forms import SEARCH_COUNT, SEARCHES, SearchForm, leave_form
from handlers.catalogue.keyboards import BrowseAction, ServicesCb, button, cancel_row, keyboard, nav_row
from handlers.catalogue.screens import (
    Screen,
    hidden_mark,
    home_of,
    page_line,
    replace_screen,
    send_screen,
    short,
)
from storage.repositories import Repositories

# A search travels in the buttons of its results while it fits in this many bytes of their 64; longer ones are
# remembered in the conversation's data and travel as a number.
QUERY_IN_BUTTON = 40
_SEARCHES_KEPT = 10


def results_screen(words: str, ref: str, page: Page[ServiceView], locale: str) -> Screen:
    if page.total:
        text = ngettext(
            '🔎 {count} service matches "{words}".', '🔎 {count} services match "{words}".', page.total
        ).format(count=page.total, words=escape(words))
    else:
        text = _('🔎 Nothing matches "{words}". Try fewer words or other ones.').format(words=escape(words))
    rows = [
        [
            button(
                f"{hidden_mark(not item.shown)}{short(item.short_title(locale))}",
                ServicesCb(action=BrowseAction.CARD, id=item.id, page=page.number, back=ref),
            )
        ]
        for item in page.items
    ]
    rows.append(nav_row(page, lambda number: ServicesCb(action=BrowseAction.FIND, page=number, back=ref)))
    rows.append(
        [
            button(_("🔎 New search"), ServicesCb(action=BrowseAction.SEARCH)),
            button(_("⬅️ Categories"), ServicesCb(action=BrowseAction.HOME)),
        ]
    )
    return text + page_line(page), keyboard(rows)


async def _search_ref(state: FSMContext, words: str) -> str:
    """What the results' buttons carry to find the search again."""
    if len(f"s{words}".encode()) <= QUERY_IN_BUTTON:
        return f"s{words}"
    data = await state.get_data()
    number = int(data.get(SEARCH_COUNT, 0)) + 1
    searches = {**data.get(SEARCHES, {}), str(number): words}
    # A few are enough: Back on the results of an older long search shows the categories instead.
    kept = dict(list(searches.items())[-_SEARCHES_KEPT:])
    await state.update_data({SEARCHES: kept, SEARCH_COUNT: number})
    return f"t{number}"


async def _words_of(state: FSMContext, ref: str) -> str | None:
    if ref.startswith("s"):
        return ref[1:]
    if ref.startswith("t"):
        found = (await state.get_data()).get(SEARCHES, {}).get(ref[1:])
        return str(found) if found else None
    return None


async def send_results(
    message: Message, text: str, person: PersonView, repos: Repositories, locale: str, state: FSMContext
) -> None:
    """The first page of what matches the words of `text` (`/services WORDS`, or the words asked for)."""
    words = " ".join(catalogue.search_words(text))
    if not words:
        await message.answer(
            _("Please send one or more words to look for."),
            reply_markup=keyboard([[button(_("⬅️ Categories"), ServicesCb(action=BrowseAction.HOME))]]),
        )
        return
    page = await catalogue.search(repos, person, words)
    await send_screen(message, results_screen(words, await _search_ref(state, words), page, locale))


async def ask_words(query: CallbackQuery, state: FSMContext) -> None:
    await query.answer()
    await state.set_state(SearchForm.words)
    if isinstance(query.message, Message):
        await query.message.answer(
            _("🔎 Which words should I look for? For example: funding, eco-innovation, tenders."),
            reply_markup=keyboard([cancel_row()]),
        )


async def got_words(message: Message, person: PersonView, repos: Repositories, locale: str, state: FSMContext) -> None:
    await leave_form(state)
    await send_results(message, message.text or "", person, repos, locale, state)


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
        await replace_screen(query, *await home_of(repos, person, locale))
        return
    page = await catalogue.search(repos, person, words, callback_data.page)
    await replace_screen(query, *results_screen(words, callback_data.back, page, locale))


def build_router() -> Router:
    router = Router(name=__name__)
    router.message.register(got_words, SearchForm.words, F.text & ~F.text.startswith("/"))
    router.callback_query.register(open_results, ServicesCb.filter(F.action == BrowseAction.FIND))
    router.callback_query.register(ask_words, ServicesCb.filter(F.action == BrowseAction.SEARCH))
    return router
