"""Projects and resource commitments, one module per sub-feature:

- browse: /projects, the list (all, mine, in preparation, in competition) page by page, a project's card;
- commit: a member declares, changes or withdraws their organisation's commitment;
- reports [managers]: a project's commitments as CSV, this year's totals per organisation;
- keyboards, texts, replies: the buttons, the wording, how taps are answered.
"""

from __future__ import annotations

from aiogram import Router

from handlers.projects import browse, forms, reports


def build_router() -> Router:
    """The projects' routers for one Dispatcher."""
    router = Router(name=__name__)
    router.include_routers(browse.build_router(), forms.build_router(), reports.build_router())
    return router
