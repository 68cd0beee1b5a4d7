"""The registry of notice kinds: how each `bot.notices.NoticeKind` is worded, text and buttons.

Services record notices as plain data (`bot.notices.tell`); the sender asks `renderer(i18n)` to word each row
in its recipient's language as it sends it. Each entry takes the notice's parameters and the language (which is
also current for `_`) and gives the text in HTML and its inline keyboard, if any. The wordings live with their
feature's keyboards; this table is the one place that says which wording a kind has.

Adding a kind (README, "Adding a notice kind"): a `NoticeKind` member, an entry here, its texts in the
catalogues. `tests/test_notices.py` words every kind in every language and checks it as Telegram would.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from aiogram.utils.i18n import I18n

from bot.notices import NoticeKind, Render, UnknownNotice, render_messages
from handlers.catalogue import service_request_changed_notice, service_requested_notice
from handlers.groups import group_notice
from handlers.keyboards import NoticeMessage
from handlers.onboarding import join_decided_notice, join_requested_notice
from handlers.projects.notices import project_notice
from handlers.questions import (
    attachment,
    question_answered_notice,
    question_asked_notice,
    question_replied_notice,
    question_resolved_notice,
)
from handlers.tenders.admin import source_failed_notice, source_recovered_notice
from handlers.tenders.alert_texts import WORDINGS as TENDER_ALERT_WORDINGS

Wording = Callable[[Mapping[str, Any], str], NoticeMessage]

NOTICES: dict[NoticeKind, Wording] = {
    NoticeKind.JOIN_REQUESTED: join_requested_notice,
    NoticeKind.JOIN_DECIDED: join_decided_notice,
    NoticeKind.SERVICE_REQUESTED: service_requested_notice,
    NoticeKind.SERVICE_REQUEST_CHANGED: service_request_changed_notice,
    NoticeKind.GROUP_ACTIVATED: partial(group_notice, NoticeKind.GROUP_ACTIVATED),
    NoticeKind.GROUP_FLAGGED: partial(group_notice, NoticeKind.GROUP_FLAGGED),
    NoticeKind.GROUP_RECOVERED: partial(group_notice, NoticeKind.GROUP_RECOVERED),
    NoticeKind.GROUP_PROPOSED: partial(group_notice, NoticeKind.GROUP_PROPOSED),
    NoticeKind.GROUP_DISSOLVED: partial(group_notice, NoticeKind.GROUP_DISSOLVED),
    NoticeKind.GROUP_TRANSFORMED: partial(group_notice, NoticeKind.GROUP_TRANSFORMED),
    NoticeKind.GROUP_CONFIDENTIAL: partial(group_notice, NoticeKind.GROUP_CONFIDENTIAL),
    NoticeKind.PROJECT_PROPOSED: partial(project_notice, NoticeKind.PROJECT_PROPOSED),
    NoticeKind.PROJECT_STATE: partial(project_notice, NoticeKind.PROJECT_STATE),
    NoticeKind.PROJECT_RANK: partial(project_notice, NoticeKind.PROJECT_RANK),
    NoticeKind.PROJECT_OUTCOME: partial(project_notice, NoticeKind.PROJECT_OUTCOME),
    NoticeKind.TENDER_SOURCE_FAILED: source_failed_notice,
    NoticeKind.TENDER_SOURCE_RECOVERED: source_recovered_notice,
    **TENDER_ALERT_WORDINGS,
    NoticeKind.QUESTION_ASKED: question_asked_notice,
    NoticeKind.QUESTION_ANSWERED: question_answered_notice,
    NoticeKind.QUESTION_REPLIED: question_replied_notice,
    NoticeKind.QUESTION_RESOLVED: question_resolved_notice,
}

# Kinds whose notice may carry a photo or a document (its file_id): the wording is then its caption.
ATTACHMENTS: dict[NoticeKind, Callable[[Mapping[str, Any]], tuple[str, str] | None]] = {
    NoticeKind.QUESTION_ASKED: attachment,
    NoticeKind.QUESTION_ANSWERED: attachment,
    NoticeKind.QUESTION_REPLIED: attachment,
}


def word(kind: str, params: Mapping[str, Any], locale: str) -> dict[str, Any]:
    """A notice in `locale` (already current), as the outbox keeps a message."""
    if kind == NoticeKind.MESSAGE.value:
        return dict(render_messages(kind, params, locale))
    try:
        wording = NOTICES[NoticeKind(kind)]
    except (ValueError, KeyError):
        raise UnknownNotice(kind) from None
    text, markup = wording(params, locale)
    message: dict[str, Any] = {"text": text, "parse_mode": "HTML"}
    attached = ATTACHMENTS[NoticeKind(kind)](params) if NoticeKind(kind) in ATTACHMENTS else None
    if attached is not None:
        field, file_id = attached
        message = {field: file_id, "caption": text, "parse_mode": "HTML"}
    if markup is not None:
        message["reply_markup"] = markup.model_dump(mode="json", exclude_none=True)
    return message


def renderer(i18n: I18n) -> Render:
    """The sender's wording of notices, with `i18n`'s catalogues."""

    def render(kind: str, params: Mapping[str, Any], locale: str) -> Mapping[str, Any]:
        with i18n.context(), i18n.use_locale(locale):
            return word(kind, params, locale)

    return render
