"""Routes for managers only, guarded once on their router.

`managers_router(name)` gives a Router whose every message and button handler first checks that the person
is a manager now: PersonMiddleware reads managers from the database on every update (the person cache serves
only people below manager), so a role taken away by the command line or another replica is refused on the
next update. Anyone else is refused with `MembershipError(NOT_ALLOWED)`, which `handlers.refusals.on_refusal`
words in their language. Services check the role again before they change anything (`members.require_manager`).
"""

from __future__ import annotations

from typing import Any

from aiogram import BaseMiddleware, Router
from aiogram.types import TelegramObject

from bot.middlewares import FRESH_PERSON, Handler
from bot.services import members
from bot.services.members import MembershipError, PersonView, Refusal


class ManagersOnly(BaseMiddleware):
    """Runs a handler of its router only for a manager (an inner middleware: after the filters matched)."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        person: PersonView | None = data.get("person")
        if person is None or not person.is_manager:
            raise MembershipError(Refusal.NOT_ALLOWED)
        if data.get(FRESH_PERSON) is not person:
            # Not read afresh by this update (the cache never holds managers, so this is a safeguard).
            await members.require_manager(data["repos"], person)
        return await handler(event, data)


def managers_router(name: str) -> Router:
    """A Router for managers' handlers: messages and button presses of anyone else are refused."""
    router = Router(name=name)
    guard = ManagersOnly()
    router.message.middleware(guard)
    router.callback_query.middleware(guard)
    return router
