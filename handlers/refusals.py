"""Refusals in the reader's words, and the one error handler that answers them.

Services raise `bot.services.refusals.Refused` (each through its own subclass and enum of reasons) and word
nothing; `explain` words any of them in the current language. A handler that has nothing to add to a refusal
lets it through: `on_refusal` answers it (an alert on a button, a message otherwise), after the update's
transaction was rolled back. Handlers catch a refusal only to do something more than saying it (keep a form
open, refresh a stale card). Adding a refusal: a member of the service's enum, its wording here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from html import escape
from typing import Any

from aiogram import Bot
from aiogram.types import ErrorEvent, InlineKeyboardMarkup
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.dates import DateProblem
from bot.i18n import resolve_locale
from bot.services.announcements import AnnouncementError, AnnouncementRefusal
from bot.services.catalogue import CatalogueError
from bot.services.catalogue import Refusal as CatalogueRefusal
from bot.services.groups import GroupError, GroupRefusal
from bot.services.members import MembershipError
from bot.services.members import Refusal as MemberRefusal
from bot.services.privacy import PrivacyError
from bot.services.projects import STEP_MAX, PlanProblem, ProjectError, ProjectRefusal
from bot.services.questions import QuestionError
from bot.services.refusals import Refused
from bot.services.tenders.alerts import AlertError
from bot.services.tenders.profiles import ProfileError
from storage.models import ServiceRequestStatus

log = logging.getLogger(__name__)


def explain(error: Refused) -> str:
    """The refusal in the reader's words (the current language)."""
    for kind, wording in _WORDINGS:
        if isinstance(error, kind):
            return wording(error)
    raise TypeError(f"no wording for {type(error).__name__}")


def _membership(error: MembershipError) -> str:
    messages = {
        MemberRefusal.NOT_ALLOWED: _("Sorry, only the cluster's managers can do that."),
        MemberRefusal.ALREADY_MEMBER: _("You already represent {organisation} in the cluster.").format(
            organisation=f"<b>{escape(str(error.context.get('organisation', '')))}</b>"
        ),
        MemberRefusal.REQUEST_PENDING: _(
            "Your request to join is already with the managers. You will hear from me here."
        ),
        MemberRefusal.INVALID_CUI: _(
            "That fiscal code (CUI) is not valid: its check digit does not match. "
            "Please check it and send it again, for example RO 14399840."
        ),
        MemberRefusal.TEXT_TOO_LONG: _("That is too long: at most {limit} characters, please.").format(
            limit=error.context.get("limit", "")
        ),
        MemberRefusal.TEXT_EMPTY: _("Please send it as text."),
        MemberRefusal.REQUEST_NOT_FOUND: _("This request no longer exists."),
        MemberRefusal.REQUEST_DECIDED: _("This request has already been decided."),
        MemberRefusal.INVITE_INVALID: _(
            "This invite code is not valid any more: it may have been used up or withdrawn. "
            "Ask the cluster team for a new one, or ask to join."
        ),
        MemberRefusal.INVITE_OTHER_ORGANISATION: _(
            "You already represent {organisation}. To move to another organisation, please write to the cluster team."
        ).format(organisation=f"<b>{escape(str(error.context.get('organisation', '')))}</b>"),
        MemberRefusal.ORGANISATION_NOT_FOUND: _("I do not know that organisation."),
        MemberRefusal.PERSON_NOT_FOUND: _("I do not know that person."),
    }
    return messages[error.reason]


def _catalogue(error: CatalogueError) -> str:
    if error.reason is CatalogueRefusal.REQUEST_HANDLED:
        manager = escape(str(error.context.get("by") or "")) or "—"
        return {
            ServiceRequestStatus.TAKEN: _("This request was already taken by {manager}."),
            ServiceRequestStatus.DONE: _("This request was already marked done by {manager}."),
            ServiceRequestStatus.DECLINED: _("This request was already declined by {manager}."),
        }.get(
            ServiceRequestStatus(str(error.context.get("status"))), _("This request has already been decided.")
        ).format(manager=manager)
    messages = {
        CatalogueRefusal.NOT_ALLOWED: _("Sorry, only the cluster's managers can do that."),
        CatalogueRefusal.MEMBERS_ONLY: _(
            "Services are for the cluster's members. Join the cluster for your organisation, then ask again."
        ),
        CatalogueRefusal.SERVICE_NOT_FOUND: _("This service is not available any more."),
        CatalogueRefusal.CATEGORY_NOT_FOUND: _("This category is not available any more."),
        CatalogueRefusal.REQUEST_NOT_FOUND: _("This request no longer exists."),
        CatalogueRefusal.TEXT_EMPTY: _("Please send it as text."),
        CatalogueRefusal.TEXT_TOO_LONG: _("That is too long: at most {limit} characters, please.").format(
            limit=error.context.get("limit", "")
        ),
        CatalogueRefusal.AT_THE_EDGE: _("It is already at that end of the list."),
    }
    return messages[error.reason]


def _group(error: GroupError) -> str:
    return {
        GroupRefusal.NOT_FOUND: _("This working group does not exist."),
        GroupRefusal.DISSOLVED: _("This working group has been dissolved: it cannot be joined or changed any more."),
        GroupRefusal.NOT_MEMBER: _(
            "Working groups are for the cluster's member organisations. "
            "Join the cluster for your organisation first; then you can join groups and propose new ones."
        ),
        GroupRefusal.NO_ORGANISATION: _(
            "Only member organisations take part in working groups, and you do not represent one. "
            "You can still open every group and follow it."
        ),
        GroupRefusal.ALREADY_IN: _("You already take part in this group."),
        GroupRefusal.NOT_IN: _("You do not take part in this group."),
        GroupRefusal.TERMS_NOT_ACCEPTED: _(
            "This group is confidential: please read and accept its terms before joining."
        ),
        GroupRefusal.NOT_CONFIDENTIAL: _("This group is not confidential: there are no terms to accept."),
        GroupRefusal.ALREADY_CONFIDENTIAL: _("This group is already confidential."),
        GroupRefusal.NOTHING_MISSING: _("This group already has its title and objective in both languages."),
        GroupRefusal.BAD_CHAT_LINK: _(
            "This is not a link to a Telegram chat. Please send the group chat's link as Telegram gives it: "
            "https://t.me/+…, https://t.me/joinchat/… or https://t.me/name."
        ),
        GroupRefusal.NO_CHAT_LINK: _("This group has no chat link to remove."),
    }[error.reason]


def _announcement(error: AnnouncementError) -> str:
    return {
        AnnouncementRefusal.NO_TEXT: _("Please send it as text."),
        AnnouncementRefusal.GROUP_NOT_FOUND: _("This working group does not exist."),
        AnnouncementRefusal.GROUP_DISSOLVED: _(
            "This working group has been dissolved: it cannot be joined or changed any more."
        ),
        AnnouncementRefusal.PROJECT_NOT_FOUND: _("This project does not exist."),
        AnnouncementRefusal.PROJECT_NOT_OPEN: _(
            "This project is neither in preparation nor running: it has no participants to write to."
        ),
        AnnouncementRefusal.NOT_FOUND: _("This announcement no longer exists."),
        AnnouncementRefusal.ALREADY_CANCELLED: _("This announcement was already stopped."),
        AnnouncementRefusal.NOT_SCHEDULED: _("This announcement is no longer scheduled: it has started going out."),
    }[error.reason]


def explain_date(problem: DateProblem) -> str:
    """Why a typed date was not taken, in the reader's words."""
    return {
        DateProblem.NOT_A_DATE: _(
            "I could not read that as a date. Please write it as 15.03.2027, 15 martie 2027 or 15 March 2027."
        ),
        DateProblem.IN_THE_PAST: _("That date has passed: please give today or a later date."),
        DateProblem.TOO_FAR: _("That date is decades away: please check the year."),
    }[problem]


def _plan_problem(problem: dict[str, Any], limit: object) -> str:
    kind = PlanProblem(str(problem.get("problem")))
    if kind is PlanProblem.EMPTY:
        return _("The plan has no step: write one step a line.")
    if kind is PlanProblem.TOO_MANY:
        return _("A plan has at most {limit} steps.").format(limit=limit)
    if kind is PlanProblem.SHAPE:
        said = _('it is not "what; owner organisation; date".')
    elif kind is PlanProblem.TEXT_TOO_LONG:
        said = _("what the step is takes at most {limit} characters.").format(limit=STEP_MAX)
    elif kind is PlanProblem.UNKNOWN_OWNER:
        said = _('no member organisation is called "{name}" (write - for no owner yet).').format(
            name=escape(str(problem.get("owner") or ""))
        )
    else:
        said = explain_date(DateProblem(str(problem.get("date"))))
    return _("Line {number}: {problem}").format(number=problem.get("line"), problem=said)


def _project(error: ProjectError) -> str:
    if error.reason is ProjectRefusal.BAD_PLAN:
        given = error.context.get("problems")
        problems = [p for p in (given if isinstance(given, list) else []) if isinstance(p, dict)]
        lines = [_plan_problem(problem, error.context.get("limit", "")) for problem in problems]
        return "\n".join([_("The plan was not taken:"), *lines])
    if error.reason is ProjectRefusal.NOT_READY:
        needs = {"action_plan": _("an action plan"), "budget": _("a budget")}
        given = error.context.get("missing")
        missing = ", ".join(needs[name] for name in (given if isinstance(given, list) else []) if name in needs)
        return _("This project cannot move to preparation yet. It still needs: {missing}.").format(missing=missing)
    return {
        ProjectRefusal.NOT_FOUND: _("This project does not exist any more."),
        ProjectRefusal.MEMBERS_ONLY: _(
            "Projects are for the cluster's members. Join the cluster for your organisation first."
        ),
        ProjectRefusal.NO_ORGANISATION: _(
            "Only member organisations commit resources to projects, and you do not represent one."
        ),
        ProjectRefusal.NOT_IN_GROUP: _("You can propose a project for a working group only if you take part in it."),
        ProjectRefusal.NOT_TAKING_COMMITMENTS: _(
            "This project takes commitments only while it is in preparation, once it has an action plan and a budget."
        ),
        ProjectRefusal.DEADLINE_PASSED: _("The deadline for commitments to this project has passed."),
        ProjectRefusal.BAD_AMOUNT: _("Please give an amount greater than zero and not above one thousand billion."),
        ProjectRefusal.BAD_KIND: _("That is not a kind of resource I know."),
        ProjectRefusal.BAD_UNIT: _(
            "That unit does not fit this resource: money is counted in RON or EUR, work in person-days, "
            "equipment in hours or days, other resources in pieces, hours or days."
        ),
        ProjectRefusal.BAD_CURRENCY: _("The budget is in RON or EUR."),
        ProjectRefusal.NOTHING_TO_WITHDRAW: _("Your organisation has no such commitment to withdraw."),
        ProjectRefusal.STATE_CHANGED: _(
            "This project's state has changed meanwhile; open it again to see where it stands."
        ),
        ProjectRefusal.NOT_IN_COMPETITION: _(
            "This project is not in competition: there are places for every organisation that committed."
        ),
        ProjectRefusal.NOT_STANDING: _(
            "Only organisations with a commitment to this project take part in agreeing its rule."
        ),
        ProjectRefusal.LIST_CLOSED: _("The list of this project is already closed."),
        ProjectRefusal.NOT_YOUR_COMMITMENT: _(
            "This button is not for one of your organisation's commitments, or the commitment has changed "
            "meanwhile; open the project again."
        ),
        ProjectRefusal.ABSURD_AMOUNT: _(
            "That is more than a hundred times what the project needs of this resource. Please check the amount."
        ),
        ProjectRefusal.NOT_YOURS: _("Only the member who proposed this project and the cluster's managers edit it."),
        ProjectRefusal.NOT_EDITABLE: _(
            "This project can no longer be edited: only ideas and projects in preparation can."
        ),
        ProjectRefusal.OTHER_LANGUAGE: _("The cluster's managers add a project's text in the other language."),
        ProjectRefusal.BAD_PLACES: _("Please give a whole number of places from 1 to {limit}.").format(
            limit=error.context.get("limit", "")
        ),
        ProjectRefusal.BAD_DEADLINE: _("The deadline for commitments must be in the future."),
    }[error.reason]


def _tender_alert(error: AlertError) -> str:
    # One reason (AlertRefusal.NOT_YOURS): another person's alert, or none, looks the same to the presser.
    return _("This alert is not yours, or it no longer exists.")


def _question(error: QuestionError) -> str:
    from handlers.questions import refusal_text

    return refusal_text(error)


def _tender_profile(error: ProfileError) -> str:
    from handlers.tenders.profile_texts import explain_profile

    return explain_profile(error)


def _privacy(error: PrivacyError) -> str:
    from handlers.privacy import explain_privacy

    return explain_privacy(error)


_WORDINGS: tuple[tuple[type[Any], Callable[[Any], str]], ...] = (
    (MembershipError, _membership),
    (CatalogueError, _catalogue),
    (GroupError, _group),
    (AnnouncementError, _announcement),
    (ProjectError, _project),
    (AlertError, _tender_alert),
    (ProfileError, _tender_profile),
    (QuestionError, _question),
    (PrivacyError, _privacy),
)

# Refusals whose wording sends the person to the cluster team: said with the button that writes to it.
TO_THE_TEAM = frozenset({MemberRefusal.INVITE_INVALID, MemberRefusal.INVITE_OTHER_ORGANISATION})


def _to_the_team(refusal: Refused) -> InlineKeyboardMarkup | None:
    if refusal.reason not in TO_THE_TEAM:
        return None
    from handlers.questions import write_keyboard

    return write_keyboard()


async def tell_about_update(
    event: ErrorEvent,
    bot: Bot,
    i18n: I18n,
    settings: Settings,
    data: dict[str, Any],
    word: Callable[[], str],
    buttons: Callable[[], InlineKeyboardMarkup | None] | None = None,
) -> None:
    """Say `word()` (worded in the person's language) to whoever sent the update an error handler got: an
    alert on a press not answered yet, else a message in the chat, with `buttons()` if given. Never raises."""
    update = event.update
    user = chat_id = None
    if update.message is not None:
        user, chat_id = update.message.from_user, update.message.chat.id
    elif update.callback_query is not None:
        user = update.callback_query.from_user
        if update.callback_query.message is not None:
            chat_id = update.callback_query.message.chat.id
    locale = data.get("locale")
    if not isinstance(locale, str):
        locale = resolve_locale(None, user.language_code if user else None, settings.default_locale)
    with i18n.context(), i18n.use_locale(locale):
        text = word()
        markup = buttons() if buttons is not None else None
    # A press already answered (before the failure) cannot show an alert any more: then say it in the chat.
    answered = bool(getattr(data.get("work"), "callback_answered", False))
    try:
        if update.callback_query is not None and not answered:
            await update.callback_query.answer(text, show_alert=True)
        elif chat_id is not None:
            await bot.send_message(chat_id, text, reply_markup=markup)
    except Exception as exc:
        log.warning("could not tell the person what happened to their update: %s", type(exc).__name__)


async def on_refusal(event: ErrorEvent, bot: Bot, i18n: I18n, settings: Settings, **data: Any) -> bool:
    """Answer a refusal no handler answered itself: an alert on a button press, a message in the chat."""
    refusal = event.exception
    assert isinstance(refusal, Refused)
    # The reason only: the context may hold names.
    log.info("update %s refused: %s", event.update.update_id, refusal.reason.value)
    await tell_about_update(event, bot, i18n, settings, data, lambda: explain(refusal), lambda: _to_the_team(refusal))
    return True
