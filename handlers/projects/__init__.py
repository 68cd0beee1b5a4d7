"""Projects and resource commitments, one module per sub-feature:

- browse: /projects, the list (all, mine, in preparation, in competition) page by page, a project's card;
- propose: a member proposes a project (title, description, the working group if any, confirmation);
- edit: the proposer or a manager edits it (texts, action plan, budget, needs, places, deadline);
- commit: a member declares, changes or withdraws their organisation's commitment;
- manage: managers move projects on with a reason and close a competition's list (guarded); the organisations
  standing in a competition record their rule;
- reports [managers]: a project's commitments as CSV, this year's totals per organisation;
- forms, keyboards, texts, replies: what the conversations share, the buttons, the wording, how taps are
  answered.
"""

from __future__ import annotations

from aiogram import Router

from handlers.projects import browse, commit, edit, forms, manage, propose, reports


def build_router() -> Router:
    """The projects' routers for one Dispatcher."""
    router = Router(name=__name__)
    managers, members = manage.build_routers()
    router.include_routers(
        browse.build_router(),
        propose.build_router(),
        edit.build_router(),
        commit.build_router(),
        managers,
        members,
        reports.build_router(),
        forms.build_router(),
    )
    return router
