"""The one refusal type: a rule of the cluster said no.

Every service raises `Refused` (through its own subclass, whose `reason` is that service's enum of refusals:
`members.MembershipError`, `catalogue.CatalogueError`, `groups.GroupError`, `announcements.AnnouncementError`)
with the plain values its wording needs in `context`. Services never word it: `handlers.refusals.explain`
does, in the reader's language, and one error handler (`handlers.refusals.on_refusal`) answers any refusal a
handler lets through. A refusal raised while handling an update rolls the update's transaction back, so
nothing of a refused action is kept.
"""

from __future__ import annotations

import enum


class Refused(Exception):
    """A rule refused the action; `reason` names which, `context` holds what its wording needs."""

    reason: enum.Enum

    def __init__(self, reason: enum.Enum, **context: object) -> None:
        super().__init__(str(reason.value))
        self.reason = reason
        self.context = context
