"""Working groups: list, card, join, leave, propose; managers dissolve and transform."""

from __future__ import annotations

from aiogram import Router


def build_router() -> Router:
    router = Router(name=__name__)
    return router
