"""The projects' buttons: their callback data and the keyboards, labelled in the current language.

Every number a button carries is checked by its field type (handlers.keyboards); what it points to is checked
again by the service when pressed: a forged button for another organisation's commitment is refused there.
"""

from __future__ import annotations

import enum
from typing import Self

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from pydantic import model_validator

from bot.services.project_views import ProjectCard, ProjectFilter, ProjectPage
from handlers.keyboards import MenuAction, MenuCb, PageNumber, RowIdOrZero, check_row_id, page_moves
from handlers.projects.texts import LABEL_MAX, STATE_ICONS, filter_name, kind_name, line_label, localized
from storage.models import ProjectState, ResourceKind


class ProjectListCb(CallbackData, prefix="pl"):
    """A page of the list."""

    view: ProjectFilter
    page: PageNumber


class ProjectAction(enum.StrEnum):
    CARD = "card"
    # Declare a commitment (then the resource is chosen), or change / withdraw the line `item`.
    COMMIT = "commit"
    CHANGE = "change"
    WITHDRAW = "withdraw"
    # Organisations standing in a competition record the rule they agreed.
    RULE = "rule"
    # Proposer and managers: edit what the project is (handlers.projects.edit).
    EDIT = "edit"
    # Managers: move to the state `item` names (ProjectCb.target), close a competition's list, the CSV.
    MOVE = "move"
    CLOSE_LIST = "close"
    EXPORT = "export"
    # About no project (`project_id` 0): propose one; managers: the totals per organisation this year.
    PROPOSE = "propose"
    TOTALS = "totals"


_ABOUT_NO_PROJECT = {ProjectAction.PROPOSE, ProjectAction.TOTALS}
_TARGETS = {state.value: state for state in ProjectState}


class ProjectCb(CallbackData, prefix="p"):
    """An action on project `project_id`; `item` is the commitment (CHANGE, WITHDRAW) or the index of the target
    state in `ProjectState` (MOVE), 0 otherwise; `view` and `page` are the list page the card came from."""

    action: ProjectAction
    project_id: RowIdOrZero
    item: RowIdOrZero = 0
    view: ProjectFilter = ProjectFilter.ALL
    page: PageNumber = 0

    @model_validator(mode="after")
    def _project_when_about_one(self) -> Self:
        check_row_id(self.project_id, self.action, _ABOUT_NO_PROJECT)
        needs_item = {ProjectAction.CHANGE, ProjectAction.WITHDRAW, ProjectAction.MOVE}
        if self.action in needs_item:
            check_row_id(self.item, "item", {})
        if self.action is ProjectAction.MOVE and self.item > len(ProjectState):
            raise ValueError("no such state")
        return self

    @property
    def target(self) -> ProjectState:
        """The state a MOVE button leads to."""
        return list(ProjectState)[self.item - 1]

    @classmethod
    def move(cls, project_id: int, target: ProjectState, view: ProjectFilter, page: int) -> ProjectCb:
        return cls(
            action=ProjectAction.MOVE,
            project_id=project_id,
            item=list(ProjectState).index(target) + 1,
            view=view,
            page=page,
        )


class CommitPickCb(CallbackData, prefix="pk"):
    """In a commitment's conversation: the resource (kind and the index of its unit in `UNITS[kind]`)."""

    kind: ResourceKind
    unit: int


class ProjectFormAction(enum.StrEnum):
    CONFIRM = "confirm"
    SKIP = "skip"
    CANCEL = "cancel"


class ProjectFormCb(CallbackData, prefix="pf"):
    """Buttons of the projects' conversations."""

    action: ProjectFormAction


# Managers' moves offered on a card, by the state the project is in.
MOVES: dict[ProjectState, tuple[ProjectState, ...]] = {
    ProjectState.IDEA: (ProjectState.PREPARATION, ProjectState.CANCELLED),
    ProjectState.PREPARATION: (ProjectState.RUNNING, ProjectState.CANCELLED),
    ProjectState.RUNNING: (ProjectState.CLOSED, ProjectState.CANCELLED),
}


def move_label(target: ProjectState) -> str:
    return {
        ProjectState.PREPARATION: _("▶️ To preparation"),
        ProjectState.RUNNING: _("🚀 Start it"),
        ProjectState.CLOSED: _("🏁 Close it"),
        ProjectState.CANCELLED: _("🗑 Cancel the project"),
        ProjectState.IDEA: "",
    }[target]


def list_keyboard(page: ProjectPage, *, manages: bool) -> InlineKeyboardMarkup:
    filters = [
        InlineKeyboardButton(
            text=("▸ " if view is page.filter else "") + filter_name(view),
            callback_data=ProjectListCb(view=view, page=0).pack(),
        )
        for view in ProjectFilter
    ]
    rows = [filters[:2], filters[2:]]
    for project in page.projects:
        mark = " ⚔️" if project.in_competition and project.state is ProjectState.PREPARATION else ""
        rows.append(
            [
                InlineKeyboardButton(
                    text=f"{STATE_ICONS[project.state]} {localized(project.title, LABEL_MAX)}{mark}",
                    callback_data=ProjectCb(
                        action=ProjectAction.CARD, project_id=project.id, view=page.filter, page=page.page
                    ).pack(),
                )
            ]
        )
    moves = page_moves(page.page, page.pages, lambda number: ProjectListCb(view=page.filter, page=number))
    if moves:
        rows.append(moves)
    rows.append(
        [
            InlineKeyboardButton(
                text=_("💡 Propose a project"),
                callback_data=ProjectCb(action=ProjectAction.PROPOSE, project_id=0).pack(),
            )
        ]
    )
    if manages:
        rows.append(
            [
                InlineKeyboardButton(
                    text=_("📊 Totals per organisation"),
                    callback_data=ProjectCb(action=ProjectAction.TOTALS, project_id=0).pack(),
                )
            ]
        )
    rows.append([InlineKeyboardButton(text=_("⬅️ Menu"), callback_data=MenuCb(action=MenuAction.HOME).pack())])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def card_keyboard(card: ProjectCard, view: ProjectFilter = ProjectFilter.ALL, page: int = 0) -> InlineKeyboardMarkup:
    def button(text: str, action: ProjectAction, item: int = 0) -> InlineKeyboardButton:
        return InlineKeyboardButton(
            text=text,
            callback_data=ProjectCb(action=action, project_id=card.id, item=item, view=view, page=page).pack(),
        )

    rows: list[list[InlineKeyboardButton]] = []
    if card.viewer_commits:
        rows.append([button(_("➕ Commit resources"), ProjectAction.COMMIT)])
        for line in card.viewer_lines:
            rows.append(
                [
                    button(_("✏️ {line}").format(line=line_label(line)), ProjectAction.CHANGE, line.commitment_id),
                    button(_("↩️ Withdraw"), ProjectAction.WITHDRAW, line.commitment_id),
                ]
            )
    elif card.state is ProjectState.PREPARATION:
        # After the deadline a commitment can still be withdrawn (the next one waiting moves up).
        for line in card.viewer_lines:
            rows.append(
                [
                    button(
                        _("↩️ Withdraw {kind}").format(kind=kind_name(line.kind)),
                        ProjectAction.WITHDRAW,
                        line.commitment_id,
                    )
                ]
            )
    if card.viewer_records_rule:
        rows.append([button(_("📜 Record the agreed rule"), ProjectAction.RULE)])
    if card.viewer_edits:
        rows.append([button(_("✏️ Edit the project"), ProjectAction.EDIT)])
    if card.viewer_manages:
        moves = [
            InlineKeyboardButton(
                text=move_label(target),
                callback_data=ProjectCb.move(card.id, target, view, page).pack(),
            )
            for target in MOVES.get(card.state, ())
        ]
        if moves:
            rows.append(moves)
        extra = []
        if card.in_competition and card.list_closed_at is None and card.state is ProjectState.PREPARATION:
            extra.append(button(_("🔒 Close the list"), ProjectAction.CLOSE_LIST))
        extra.append(button(_("📄 Commitments (CSV)"), ProjectAction.EXPORT))
        rows.append(extra)
    rows.append([InlineKeyboardButton(text=_("⬅️ Projects"), callback_data=ProjectListCb(view=view, page=page).pack())])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def open_card_keyboard(project_id: int) -> InlineKeyboardMarkup:
    """Under a notice: one button that opens the project."""
    pressed = ProjectCb(action=ProjectAction.CARD, project_id=project_id).pack()
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=_("📁 Open the project"), callback_data=pressed)]]
    )


def cancel_keyboard(*extra: InlineKeyboardButton) -> InlineKeyboardMarkup:
    rows = [[button] for button in extra]
    cancel = ProjectFormCb(action=ProjectFormAction.CANCEL).pack()
    rows.append([InlineKeyboardButton(text=_("✖️ Cancel"), callback_data=cancel)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def skip_button(label: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=label, callback_data=ProjectFormCb(action=ProjectFormAction.SKIP).pack())


def confirm_keyboard(label: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text=label, callback_data=ProjectFormCb(action=ProjectFormAction.CONFIRM).pack()),
                InlineKeyboardButton(
                    text=_("✖️ Cancel"), callback_data=ProjectFormCb(action=ProjectFormAction.CANCEL).pack()
                ),
            ]
        ]
    )
