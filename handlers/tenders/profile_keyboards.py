"""The alert profiles' buttons: their callback data and the keyboards, labelled in the current language.

Numbers are checked by their field types (handlers.keyboards); a CPV code and a page are carried as digits and
checked by the service when pressed (a code the vocabulary does not have, a page past the end: a clear
refusal); which profile a button may touch is checked by the service against the person pressing it.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Annotated, Self

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from pydantic import Field, model_validator

from bot.amounts import CURRENCIES
from bot.services.tenders import profiles
from bot.services.tenders.alerts import is_quiet_hour
from bot.services.tenders.cpv import CpvCode, significant, vocabulary
from bot.services.tenders.model import TenderKind
from bot.services.tenders.profiles import CpvBrowse, Draft, MatchesPage
from handlers.keyboards import MenuAction, MenuCb, PageNumber, RowIdOrZero, check_row_id, clip, page_moves
from handlers.tenders.profile_texts import LABEL_MAX, kind_name, state_mark
from storage.models import AlertProfile, Person

# A CPV code as a button carries it: digits only (empty: the top of the tree); the service checks the rest.
CodeDigits = Annotated[str, Field(pattern=r"^[0-9]{0,8}$")]
Hour = Annotated[int, Field(ge=0, le=23)]
Currency = Annotated[str, Field(pattern=r"^(RON|EUR)?$")]


class TpAction(enum.StrEnum):
    LIST = "list"
    NEW = "new"
    COLLEAGUES = "coll"
    CARD = "card"
    EDIT = "edit"
    PAUSE = "pause"
    RESUME = "resume"
    DELETE = "del"
    DELETE_YES = "delyes"
    COPY = "copy"
    MATCHES = "match"


_ABOUT_NO_PROFILE = {TpAction.LIST, TpAction.NEW, TpAction.COLLEAGUES}


class TpCb(CallbackData, prefix="tp"):
    """An action on alert profile `profile_id` (0 for the list, a new one, the organisation's); `page` pages the
    current matches."""

    action: TpAction
    profile_id: RowIdOrZero = 0
    page: PageNumber = 0

    @model_validator(mode="after")
    def _profile_when_about_one(self) -> Self:
        check_row_id(self.profile_id, self.action, _ABOUT_NO_PROFILE)
        return self


class Field_(enum.StrEnum):
    """The steps of the profile form, in order."""

    NAME = "name"
    CPV = "cpv"
    INCLUDE = "incl"
    EXCLUDE = "excl"
    COUNTRIES = "ctry"
    VALUE = "value"
    DAYS = "days"
    KINDS = "kinds"
    DELIVERY = "deliv"


STEPS = list(Field_)


class FormAction(enum.StrEnum):
    CANCEL = "cancel"
    # Leave the field empty (or as it is by default) and go on.
    SKIP = "skip"
    # While reviewing: back to the summary, the field unchanged.
    BACK = "back"
    SAVE = "save"
    # While reviewing: change `field`.
    FIELD = "field"
    # Countries: Romania, every EU member state.
    ROMANIA = "ro"
    EU = "eu"
    # Value: in `currency`.
    CURRENCY = "cur"
    KIND = "kind"
    KINDS_DONE = "kdone"
    INSTANT = "inst"
    DIGEST = "dig"
    HOUR = "hour"


class FormCb(CallbackData, prefix="tpf"):
    action: FormAction
    field: Field_ | None = None
    currency: Currency = ""
    kind: TenderKind | None = None
    hour: Hour = 0


class CpvAction(enum.StrEnum):
    OPEN = "open"
    ADD = "add"
    REMOVE = "rm"
    REMOVING = "rms"
    DONE = "done"


class CpvCb(CallbackData, prefix="tpc"):
    """The CPV step: open `code` (empty: the divisions) at `page`, add or remove `code`."""

    action: CpvAction
    code: CodeDigits = ""
    page: PageNumber = 0


def _button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def cancel_button() -> InlineKeyboardButton:
    return _button(_("✖️ Cancel"), FormCb(action=FormAction.CANCEL))


def step_keyboard(
    *, skip: str | None, reviewing: bool, extra: Sequence[Sequence[InlineKeyboardButton]] = ()
) -> InlineKeyboardMarkup:
    rows = [list(row) for row in extra]
    last = []
    if skip:
        last.append(_button(skip, FormCb(action=FormAction.SKIP)))
    if reviewing:
        last.append(_button(_("⬅️ Keep as it is"), FormCb(action=FormAction.BACK)))
    if last:
        rows.append(last)
    rows.append([cancel_button()])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def countries_keyboard(reviewing: bool) -> InlineKeyboardMarkup:
    return step_keyboard(
        skip=_("🌍 Any country"),
        reviewing=reviewing,
        extra=[
            [
                _button(_("🇷🇴 Romania"), FormCb(action=FormAction.ROMANIA)),
                _button(_("🇪🇺 All EU"), FormCb(action=FormAction.EU)),
            ]
        ],
    )


def currency_keyboard(reviewing: bool) -> InlineKeyboardMarkup:
    return step_keyboard(
        skip=_("Any value"),
        reviewing=reviewing,
        extra=[[_button(currency, FormCb(action=FormAction.CURRENCY, currency=currency)) for currency in CURRENCIES]],
    )


def kinds_keyboard(draft: Draft, reviewing: bool) -> InlineKeyboardMarkup:
    rows = [
        [
            _button(
                ("✅ " if kind.value in draft.kinds else "▫️ ") + kind_name(kind.value),
                FormCb(action=FormAction.KIND, kind=kind),
            )
        ]
        for kind in TenderKind
    ]
    rows.append([_button(_("Continue ➡️"), FormCb(action=FormAction.KINDS_DONE))])
    return step_keyboard(skip=None, reviewing=reviewing, extra=rows)


def delivery_keyboard(reviewing: bool) -> InlineKeyboardMarkup:
    return step_keyboard(
        skip=None,
        reviewing=reviewing,
        extra=[
            [_button(_("⚡ Each alert at once"), FormCb(action=FormAction.INSTANT))],
            [_button(_("🗞 A daily digest"), FormCb(action=FormAction.DIGEST))],
        ],
    )


def hours_keyboard(reviewing: bool, quiet: tuple[int, int] | None) -> InlineKeyboardMarkup:
    """The hours a digest may come at: none inside the quiet hours (nothing is sent then)."""
    buttons = [
        _button(f"{hour:02d}:00", FormCb(action=FormAction.HOUR, hour=hour))
        for hour in range(24)
        if not is_quiet_hour(hour, quiet)
    ]
    rows = [buttons[start : start + 6] for start in range(0, len(buttons), 6)]
    return step_keyboard(skip=None, reviewing=reviewing, extra=rows)


def review_keyboard(*, editing: bool) -> InlineKeyboardMarkup:
    names = {
        Field_.NAME: _("Name"),
        Field_.CPV: _("CPV codes"),
        Field_.INCLUDE: _("Keywords"),
        Field_.EXCLUDE: _("Exclusions"),
        Field_.COUNTRIES: _("Countries"),
        Field_.VALUE: _("Value"),
        Field_.DAYS: _("Days left"),
        Field_.KINDS: _("Notices"),
        Field_.DELIVERY: _("Delivery"),
    }
    fields = [_button("✏️ " + names[step], FormCb(action=FormAction.FIELD, field=step)) for step in STEPS]
    rows = [
        [_button(_("💾 Save the changes") if editing else _("💾 Save the profile"), FormCb(action=FormAction.SAVE))]
    ]
    rows += [fields[start : start + 3] for start in range(0, len(fields), 3)]
    rows.append([cancel_button()])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def cpv_browse_keyboard(draft: Draft, screen: CpvBrowse, language: str, reviewing: bool) -> InlineKeyboardMarkup:
    rows: list[list[InlineKeyboardButton]] = []
    here = screen.node.code if screen.node else ""
    if screen.node is not None and screen.node.code not in draft.cpv:
        rows.append(
            [
                _button(
                    "➕ " + clip(_("Add all of {label}").format(label=screen.node.label(language)), 60),
                    CpvCb(action=CpvAction.ADD, code=here),
                )
            ]
        )
    for entry in screen.items:
        label = clip(f"{significant(entry.code)} {entry.label(language)}", LABEL_MAX)
        if profiles.opens(entry):
            rows.append([_button("📂 " + label, CpvCb(action=CpvAction.OPEN, code=entry.code))])
        else:
            chosen = entry.code in draft.cpv
            rows.append([_button(("✅ " if chosen else "➕ ") + label, CpvCb(action=CpvAction.ADD, code=entry.code))])
    moves = page_moves(screen.page, screen.pages, lambda page: CpvCb(action=CpvAction.OPEN, code=here, page=page))
    if moves:
        rows.append(moves)
    nav = []
    if screen.node is not None:
        parent = screen.path[-2].code if len(screen.path) > 1 else ""
        nav.append(_button(_("⬆️ Up"), CpvCb(action=CpvAction.OPEN, code=parent)))
    if draft.cpv:
        nav.append(_button(_("🗑 Remove a code"), CpvCb(action=CpvAction.REMOVING, code=here)))
    if nav:
        rows.append(nav)
    rows.append([_button(_("Continue ➡️") if not reviewing else _("✅ Done"), CpvCb(action=CpvAction.DONE))])
    rows.append([cancel_button()])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def cpv_found_keyboard(draft: Draft, found: Sequence[CpvCode], language: str, reviewing: bool) -> InlineKeyboardMarkup:
    rows = [
        [
            _button(
                ("✅ " if entry.code in draft.cpv else "➕ ")
                + clip(f"{entry.code} {entry.label(language)}", LABEL_MAX),
                CpvCb(action=CpvAction.ADD, code=entry.code),
            )
        ]
        for entry in found
    ]
    rows.append([_button(_("📂 Browse the codes"), CpvCb(action=CpvAction.OPEN, code=""))])
    rows.append([_button(_("Continue ➡️") if not reviewing else _("✅ Done"), CpvCb(action=CpvAction.DONE))])
    rows.append([cancel_button()])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def cpv_remove_keyboard(draft: Draft, language: str, back_to: str) -> InlineKeyboardMarkup:
    rows = [
        [
            _button(
                "❌ " + clip(f"{code} {label_of(code, language)}", LABEL_MAX), CpvCb(action=CpvAction.REMOVE, code=code)
            )
        ]
        for code in draft.cpv
    ]
    rows.append([_button(_("⬅️ Back"), CpvCb(action=CpvAction.OPEN, code=back_to))])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def label_of(code: str, language: str) -> str:
    entry = vocabulary().get(code)
    return entry.label(language) if entry else "?"


def list_keyboard(mine: Sequence[AlertProfile]) -> InlineKeyboardMarkup:
    rows = [
        [
            _button(
                f"{state_mark(profile)} " + clip(profile.name, LABEL_MAX),
                TpCb(action=TpAction.CARD, profile_id=profile.id),
            )
        ]
        for profile in mine
    ]
    rows.append([_button(_("➕ New profile"), TpCb(action=TpAction.NEW))])
    rows.append([_button(_("👥 Profiles of my organisation"), TpCb(action=TpAction.COLLEAGUES))])
    rows.append([_button(_("⬅️ Menu"), MenuCb(action=MenuAction.HOME))])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def colleagues_keyboard(found: Sequence[tuple[AlertProfile, Person]]) -> InlineKeyboardMarkup:
    rows = [
        [
            _button(
                "👁 " + clip(f"{profile.name} — {owner.first_name}", LABEL_MAX),
                TpCb(action=TpAction.CARD, profile_id=profile.id),
            )
        ]
        for profile, owner in found
    ]
    rows.append([_button(_("⬅️ My profiles"), TpCb(action=TpAction.LIST))])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def card_keyboard(seen: profiles.Owned) -> InlineKeyboardMarkup:
    pid = seen.profile.id
    matches = _button(_("🔎 Current matches"), TpCb(action=TpAction.MATCHES, profile_id=pid))
    if not seen.mine:
        return InlineKeyboardMarkup(
            inline_keyboard=[
                [_button(_("📋 Copy to me"), TpCb(action=TpAction.COPY, profile_id=pid))],
                [matches],
                [_button(_("⬅️ Profiles of my organisation"), TpCb(action=TpAction.COLLEAGUES))],
            ]
        )
    pause = (
        _button(_("▶️ Resume"), TpCb(action=TpAction.RESUME, profile_id=pid))
        if seen.profile.paused
        else _button(_("⏸ Pause"), TpCb(action=TpAction.PAUSE, profile_id=pid))
    )
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_button(_("✏️ Edit"), TpCb(action=TpAction.EDIT, profile_id=pid)), pause],
            [matches, _button(_("🗑 Delete"), TpCb(action=TpAction.DELETE, profile_id=pid))],
            [_button(_("⬅️ My profiles"), TpCb(action=TpAction.LIST))],
        ]
    )


def delete_keyboard(profile_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_button(_("🗑 Yes, delete it"), TpCb(action=TpAction.DELETE_YES, profile_id=profile_id))],
            [_button(_("⬅️ No, keep it"), TpCb(action=TpAction.CARD, profile_id=profile_id))],
        ]
    )


def matches_keyboard(seen: profiles.Owned, page: MatchesPage) -> InlineKeyboardMarkup:
    pid = seen.profile.id
    rows = []
    moves = page_moves(page.page, page.pages, lambda number: TpCb(action=TpAction.MATCHES, profile_id=pid, page=number))
    if moves:
        rows.append(moves)
    rows.append([_button(_("⬅️ Back to the profile"), TpCb(action=TpAction.CARD, profile_id=pid))])
    return InlineKeyboardMarkup(inline_keyboard=rows)
