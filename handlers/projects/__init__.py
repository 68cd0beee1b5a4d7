"""Projects and resource commitments, one module per sub-feature:

- browse: /projects, the list (all, mine, in preparation, in competition) page by page, a project's card;
- commit: a member declares, changes or withdraws their organisation's commitment;
- manage: managers move projects on with a reason and close a competition's list (guarded); the organisations
  standing in a competition record their rule;
- forms, keyboards, texts, replies: what the conversations share, the buttons, the wording, how taps are
  answered.
"""

from __future__ import annotations

from aiogram import Router

from handlers.projects import browse, commit, forms, manage


def build_router() -> Router:
    """The projects' routers for one Dispatcher."""
    router = Router(name=__name__)
    managers, members = manage.build_routers()
    router.include_routers(browse.build_router(), commit.build_router(), managers, members, forms.build_router())
    return router
