"""How the projects' handlers answer a tap: in place of the message tapped or below it, and a project's card."""

from __future__ import annotations

from typing import Any

from aiogram import Router
from aiogram.types import CallbackQuery, Message, TelegramObject

from bot.config import Settings
from bot.services.project_views import ProjectCard, ProjectFilter
from bot.services.projects import ProjectError, ProjectRefusal
from bot.services.refusals import Refused
from handlers.groups.keyboards import join_cluster_keyboard
from handlers.groups.replies import show
from handlers.guards import OnRefusal
from handlers.projects.keyboards import card_keyboard
from handlers.projects.texts import card_text
from handlers.refusals import explain

__all__ = ["show", "show_card", "shows_guests_the_way_in"]


async def show_card(
    query: CallbackQuery,
    card: ProjectCard,
    locale: str,
    settings: Settings,
    *,
    view: ProjectFilter = ProjectFilter.ALL,
    page: int = 0,
    edit: bool = True,
) -> None:
    """A project's card, its buttons leading back to the list page it was opened from."""
    await show(query, card_text(card, locale, settings.tz), card_keyboard(card, view, page), edit=edit)


async def _the_way_in(refusal: Refused, event: TelegramObject, data: dict[str, Any]) -> bool:
    """A guest refused (projects are for members): the reason with the way into the cluster, not only an
    alert. Every other refusal goes on to `handlers.refusals.on_refusal`."""
    if not (isinstance(refusal, ProjectError) and refusal.reason is ProjectRefusal.MEMBERS_ONLY):
        return False
    if isinstance(event, CallbackQuery):
        await event.answer()
        message = event.message if isinstance(event.message, Message) else None
    else:
        message = event if isinstance(event, Message) else None
    if message is None:
        return False
    await message.answer(explain(refusal), reply_markup=join_cluster_keyboard())
    return True


def shows_guests_the_way_in(router: Router) -> None:
    """On a router of members' commands and taps: a guest refused there is shown the way in."""
    hook = OnRefusal(_the_way_in)
    router.message.outer_middleware(hook)
    router.callback_query.outer_middleware(hook)
