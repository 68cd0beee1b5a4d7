"""The wording of the `group.*` notice kinds (a group became active, fell below three organisations, ...),
registered by handlers.notices."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot.notices import NoticeKind
from bot.services.groups import GroupNotice
from handlers.groups.keyboards import GroupAction, GroupCb
from handlers.groups.texts import shown
from handlers.keyboards import NoticeMessage
from storage.models import GroupEventKind


def group_notice(kind: NoticeKind, params: Mapping[str, Any], locale: str) -> NoticeMessage:
    """The `group.*` notice kinds, in the current language (`GroupNotice.notice` gives their parameters)."""
    notice = GroupNotice.from_params(kind, params)
    title = f"<b>{shown(notice.title)}</b>"
    markup: InlineKeyboardMarkup | None = None

    def one_button(label: str, action: GroupAction) -> InlineKeyboardMarkup:
        pressed = GroupCb(action=action, group_id=notice.group_id).pack()
        return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=label, callback_data=pressed)]])

    if notice.kind is GroupEventKind.ACTIVATED:
        text = ngettext(
            "🎉 The working group {title} is now active: {count} member organisation takes part in it.",
            "🎉 The working group {title} is now active: {count} member organisations take part in it.",
            notice.organisations,
        ).format(title=title, count=notice.organisations)
    elif notice.kind is GroupEventKind.FLAGGED:
        text = ngettext(
            "⚠️ The working group {title} is below three member organisations: {count} is left. Open it with /groups.",
            "⚠️ The working group {title} is below three member organisations: {count} are left. Open it with /groups.",
            notice.organisations,
        ).format(title=title, count=notice.organisations)
    elif notice.kind is GroupEventKind.RECOVERED:
        text = ngettext(
            "✅ The working group {title} is back to {count} member organisation.",
            "✅ The working group {title} is back to {count} member organisations.",
            notice.organisations,
        ).format(title=title, count=notice.organisations)
    elif notice.kind is GroupEventKind.PROPOSED:
        text = _(
            "💡 {proposer} proposed a new working group: {title}. It becomes active when three member "
            "organisations take part."
        ).format(proposer=escape(notice.proposer or ""), title=title)
        markup = one_button(_("👥 Open the group"), GroupAction.CARD)
    elif notice.kind is GroupEventKind.DISSOLVED:
        text = _("The working group {title} has been dissolved.\nReason: {reason}").format(
            title=title, reason=escape(notice.reason or "")
        )
    elif notice.kind is GroupEventKind.TRANSFORMED:
        assert notice.objective is not None
        text = _(
            "🔁 The working group {title} has a new objective.\nReason: {reason}\n\nNew objective: {objective}"
        ).format(title=title, reason=escape(notice.reason or ""), objective=shown(notice.objective))
    elif notice.kind is GroupEventKind.CONFIDENTIAL:
        assert notice.terms is not None
        text = "\n\n".join(
            (
                _(
                    "🔒 The working group {title} is now confidential. To keep taking part, please accept its terms:"
                ).format(title=title),
                shown(notice.terms),
            )
        )
        markup = one_button(_("✅ I accept"), GroupAction.ACCEPT)
    else:
        raise ValueError(f"no wording for {kind}")
    return text, markup
