"""Working groups, one module per sub-feature:

- browse: /groups, the list (All, Mine, Proposed) page by page, a group's card;
- membership: join, a confidential group's terms and their acceptance, leave;
- propose: a member proposes a group (title, objective, confirmation);
- manage: managers transform, dissolve, add the missing language, make confidential (guarded routers);
- notices: the wording of the `group.*` notice kinds (registered by handlers.notices);
- forms, keyboards, texts, replies: the conversations' states, the buttons, the wording, how taps are answered.

Names other modules import from `handlers.groups` are re-exported here.
"""

from __future__ import annotations

from aiogram import Router

from handlers.groups import browse, forms, manage, membership, propose
from handlers.groups.keyboards import (
    GroupAction,
    GroupCb,
    GroupFormAction,
    GroupFormCb,
    GroupListCb,
    card_keyboard,
    list_keyboard,
)
from handlers.groups.notices import group_notice
from handlers.groups.texts import card_text, label, list_text, localized, shown

__all__ = [
    "GroupAction",
    "GroupCb",
    "GroupFormAction",
    "GroupFormCb",
    "GroupListCb",
    "build_router",
    "card_keyboard",
    "card_text",
    "group_notice",
    "label",
    "list_keyboard",
    "list_text",
    "localized",
    "shown",
]


def build_router() -> Router:
    """The groups' routers for one Dispatcher (their filters do not overlap, so their order does not matter)."""
    router = Router(name=__name__)
    managers_begin, managers_steps = manage.build_routers()
    router.include_routers(
        browse.build_router(),
        membership.build_router(),
        propose.build_router(),
        managers_begin,
        managers_steps,
        forms.build_router(),
    )
    return router
