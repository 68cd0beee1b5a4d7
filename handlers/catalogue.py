"""The services catalogue: browse, search, service cards, requests for a service, managers' editing."""

from __future__ import annotations

from aiogram import Router


def build_router() -> Router:
    router = Router(name=__name__)
    return router
