"""The wording of the `project.*` notice kinds (proposed, a new state, a new place, an outcome), registered by
handlers.notices; each carries a button that opens the project."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot.notices import NoticeKind
from bot.services.project_notices import OutcomeNews, ProjectNotice, ProposedTo
from handlers.keyboards import NoticeMessage
from handlers.projects.keyboards import open_card_keyboard
from handlers.projects.texts import STATE_ICONS, shown, state_name
from storage.models import ProjectState


def _proposed(notice: ProjectNotice, title: str) -> str:
    proposer = escape(notice.proposer or "")
    group = f"<b>{shown(notice.group)}</b>" if notice.group is not None else None
    if notice.to is ProposedTo.PROPOSER:
        text = _("💡 Your project {title} has been proposed.").format(title=title)
        if group is not None:
            text += " " + _("It is proposed for the working group {group}.").format(group=group)
        return "\n\n".join(
            (
                text,
                _(
                    "It is an idea for now: once it has an action plan and a budget, the managers can move it to "
                    "preparation, and member organisations can then commit resources to it."
                ),
            )
        )
    if notice.to is ProposedTo.GROUP and group is not None:
        return _("💡 {proposer} proposed a project for your working group {group}: {title}.").format(
            proposer=proposer, group=group, title=title
        )
    text = _("💡 {proposer} proposed a new project: {title}.").format(proposer=proposer, title=title)
    if group is not None:
        text += "\n" + _("For the working group {group}.").format(group=group)
    return text


def _state(notice: ProjectNotice, title: str) -> str:
    state = ProjectState(notice.state or "")
    text = _("{icon} The project {title} is now {state}.\nReason: {reason}").format(
        icon=STATE_ICONS[state], title=title, state=state_name(state), reason=escape(notice.reason or "")
    )
    if state is ProjectState.PREPARATION:
        text += "\n\n" + _("Member organisations can commit resources to it now.")
    return text


def _rank(notice: ProjectNotice, title: str) -> str:
    if notice.rank is None:
        return _(
            "↩️ Your organisation no longer has a place in the project {title}: none of its commitments stands. "
            "Committing again puts it at the end of the list."
        ).format(title=title)
    return _("📊 Your organisation is now in place {rank} of {count} in the project {title}.").format(
        rank=notice.rank, count=notice.count, title=title
    )


def _outcome(notice: ProjectNotice, title: str) -> str:
    place = {"rank": notice.rank, "count": notice.count, "title": title}
    if notice.outcome is OutcomeNews.MOVED_UP:
        return _(
            "🎉 A participant withdrew from the project {title}: your organisation moved up and now takes part "
            "(place {rank} of {count})."
        ).format(**place)
    if notice.outcome is OutcomeNews.PARTICIPANT:
        return _(
            "✅ The list of the project {title} is closed: your organisation takes part (place {rank} of {count})."
        ).format(**place)
    places = notice.places or 0
    return ngettext(
        "⏳ The list of the project {title} is closed: your organisation is waiting, in place {rank} of {count}, "
        "for the project's {places} place. It moves up, in order, when a participant withdraws.",
        "⏳ The list of the project {title} is closed: your organisation is waiting, in place {rank} of {count}, "
        "for one of the project's {places} places. It moves up, in order, when a participant withdraws.",
        places,
    ).format(places=places, **place)


def project_notice(kind: NoticeKind, params: Mapping[str, Any], locale: str) -> NoticeMessage:
    """The `project.*` notice kinds, in the current language (`ProjectNotice.notice` gives their parameters)."""
    notice = ProjectNotice.from_params(kind, params)
    title = f"<b>{shown(notice.title)}</b>"
    wording = {
        NoticeKind.PROJECT_PROPOSED: _proposed,
        NoticeKind.PROJECT_STATE: _state,
        NoticeKind.PROJECT_RANK: _rank,
        NoticeKind.PROJECT_OUTCOME: _outcome,
    }.get(kind)
    if wording is None:
        raise ValueError(f"no wording for {kind}")
    return wording(notice, title), open_card_keyboard(notice.project_id)
