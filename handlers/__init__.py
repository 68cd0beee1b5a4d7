"""aiogram Routers, one module per feature, composed in one place."""

from __future__ import annotations

from aiogram import Router

from bot.config import Settings
from handlers import common, onboarding


def setup_routers(settings: Settings) -> Router:
    """The bot's whole routing tree; order matters: features first, the catch-all fallback last."""
    root = Router(name="root")
    root.include_routers(onboarding.deep_links, common.router, onboarding.router, common.fallback)
    root.errors.register(common.on_error)
    return root
