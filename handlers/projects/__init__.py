"""Projects and resource commitments, one module per sub-feature:

- browse: /projects, the list (all, mine, in preparation, in competition) page by page, a project's card;
- commit: a member declares, changes or withdraws their organisation's commitment;
- propose: a member proposes a project (title, description, the working group if any, confirmation);
- edit: the proposer or a manager edits it (texts, action plan, budget, needs, places, deadline);
- keyboards, texts, replies: the buttons, the wording, how taps are answered.
"""

from __future__ import annotations

from aiogram import Router

from handlers.projects import browse, edit, forms, propose


def build_router() -> Router:
    """The projects' routers for one Dispatcher."""
    router = Router(name=__name__)
    router.include_routers(browse.build_router(), propose.build_router(), edit.build_router(), forms.build_router())
    return router
