"""Routes for managers only, guarded once on their router.

`managers_router(name)` gives a Router whose every message and button handler first checks that the person
is a manager now: PersonMiddleware reads managers from the database on every update (the person cache serves
only people below manager), so a role taken away by the command line or another replica is refused on the
next update. Anyone else is refused with `MembershipError(NOT_ALLOWED)`, which `handlers.refusals.on_refusal`
words in their language. Services check the role again before they change anything (`members.require_manager`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Router
from aiogram.types import TelegramObject

from bot.middlewares import FRESH_PERSON, Handler
from bot.services import members
from bot.services.members import MembershipError, PersonView, Refusal
from bot.services.refusals import Refused

# What a refusal at a managers' router does to the person's conversation (end a form, say it with the menu):
# True when it answered the person itself, False to leave the answer to `handlers.refusals.on_refusal`.
RefusalHook = Callable[[Refused, TelegramObject, dict[str, Any]], Awaitable[bool]]


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


class OnRefusal(BaseMiddleware):
    """Outer on a managers' router, so that it also sees the guard's refusal (raised before any handler)."""

    def __init__(self, hook: RefusalHook) -> None:
        self.hook = hook

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        try:
            return await handler(event, data)
        except Refused as refusal:
            if await self.hook(refusal, event, data):
                return None
            raise


def managers_router(name: str, *, on_refusal: RefusalHook | None = None) -> Router:
    """A Router for managers' handlers: messages and button presses of anyone else are refused. `on_refusal`
    says what a refusal there (the guard's or a service's) does to the conversation the person is in."""
    router = Router(name=name)
    guard = ManagersOnly()
    router.message.middleware(guard)
    router.callback_query.middleware(guard)
    if on_refusal is not None:
        hook = OnRefusal(on_refusal)
        router.message.outer_middleware(hook)
        router.callback_query.outer_middleware(hook)
    return router
