"""How the projects' handlers answer a tap: in place of the message tapped or below it, and a project's card."""

from __future__ import annotations

from aiogram.types import CallbackQuery

from bot.config import Settings
from bot.services.project_views import ProjectCard, ProjectFilter
from handlers.groups.replies import show
from handlers.projects.keyboards import card_keyboard
from handlers.projects.texts import card_text

__all__ = ["show", "show_card"]


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
