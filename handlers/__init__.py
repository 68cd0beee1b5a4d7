"""aiogram Routers, one module per feature, composed in one place."""

from __future__ import annotations

from aiogram import Router

from bot.config import Settings
from handlers import announcements, catalogue, common, groups, onboarding


def setup_routers(settings: Settings) -> Router:
    """A fresh routing tree for one Dispatcher; order matters: deep links, features, the catch-all last."""
    root = Router(name="root")
    deep_links, joining = onboarding.build_routers()
    features, fallback = common.build_routers()
    root.include_routers(
        deep_links,
        features,
        joining,
        announcements.build_router(),
        catalogue.build_router(),
        groups.build_router(),
        fallback,
    )
    root.errors.register(common.on_error)
    return root
