"""aiogram Routers, one module per feature, composed in one place.

Managers' handlers sit on routers made by `handlers.guards.managers_router`, which refuse anyone else.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import ExceptionTypeFilter

from bot.config import Settings
from bot.services.refusals import Refused
from handlers import (
    announcements,
    catalogue,
    common,
    groups,
    onboarding,
    privacy,
    projects,
    questions,
    refusals,
    tenders,
    texts_form,
)


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
        projects.build_router(),
        tenders.build_router(),
        questions.build_router(),
        texts_form.build_router(),
        privacy.build_router(),
        fallback,
    )
    # A refusal no handler answered itself is said in the person's language; anything else is a failure.
    root.errors.register(refusals.on_refusal, ExceptionTypeFilter(Refused))
    root.errors.register(common.on_error)
    return root
