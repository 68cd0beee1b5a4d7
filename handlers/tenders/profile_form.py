"""The alert profile form: a new profile step by step (name, CPV codes, keywords, exclusions, countries, value,
days left, notice kinds, delivery), then a summary with how many current tenders it would match, and Save.
Editing a profile opens the same summary; each field is changed through its own step and comes back to it.
Cancel is on every step. The rules are bot.services.tenders.profiles'; this module only talks."""

from __future__ import annotations

import contextlib
from decimal import Decimal
from html import escape
from typing import Any

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message, TelegramObject
from aiogram.utils.i18n import gettext as _

from bot.amounts import CURRENCIES, AmountError, parse_amount
from bot.config import EU_COUNTRIES, Settings
from bot.services.members import PersonView
from bot.services.tenders import profiles
from bot.services.tenders.profiles import Draft, ProfileError, ProfileRefusal
from handlers.groups.keyboards import join_cluster_keyboard
from handlers.guards import OnRefusal
from handlers.keyboards import main_menu
from handlers.refusals import explain
from handlers.tenders import profile_keyboards as kb
from handlers.tenders import profile_texts as texts
from handlers.tenders.profile_keyboards import CpvAction, CpvCb, Field_, FormAction, FormCb
from handlers.zones import zone_name
from storage.models import AlertDelivery, utcnow
from storage.repositories import Repositories

ANSWER = F.text & ~F.text.startswith("/")
Event = Message | CallbackQuery


class ProfileForm(StatesGroup):
    name = State()
    cpv = State()
    include = State()
    exclude = State()
    countries = State()
    currency = State()
    value_min = State()
    value_max = State()
    days = State()
    kinds = State()
    delivery = State()
    hour = State()
    review = State()


_STATE_OF = {
    Field_.NAME: ProfileForm.name,
    Field_.CPV: ProfileForm.cpv,
    Field_.INCLUDE: ProfileForm.include,
    Field_.EXCLUDE: ProfileForm.exclude,
    Field_.COUNTRIES: ProfileForm.countries,
    Field_.VALUE: ProfileForm.currency,
    Field_.DAYS: ProfileForm.days,
    Field_.KINDS: ProfileForm.kinds,
    Field_.DELIVERY: ProfileForm.delivery,
}
# The refusals that end the form (the person may no longer act, or the profile is gone, or there is no room).
_ENDS_THE_FORM = {
    ProfileRefusal.MEMBERS_ONLY,
    ProfileRefusal.NO_ORGANISATION,
    ProfileRefusal.NOT_FOUND,
    ProfileRefusal.TOO_MANY,
}


# --- answering --------------------------------------------------------------------------------------------------


def _message(event: Event) -> Message | None:
    if isinstance(event, Message):
        return event
    return event.message if isinstance(event.message, Message) else None


async def say(event: Event, text: str, markup: InlineKeyboardMarkup | None = None, *, edit: bool = False) -> None:
    """Answer below (or, with `edit`, in place of the message tapped)."""
    message = _message(event)
    if message is None:
        return
    if edit and isinstance(event, CallbackQuery):
        with contextlib.suppress(TelegramBadRequest):
            await message.edit_text(text, reply_markup=markup, disable_web_page_preview=True)
            return
    await message.answer(text, reply_markup=markup, disable_web_page_preview=True)


async def remove_buttons(query: CallbackQuery) -> None:
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=None)


async def _draft(state: FSMContext) -> Draft:
    return Draft.from_data((await state.get_data()).get("draft") or {})


async def _keep(state: FSMContext, draft: Draft) -> None:
    await state.update_data(draft=draft.as_data())


async def _reviewing(state: FSMContext) -> bool:
    return bool((await state.get_data()).get("reviewing"))


# --- the steps --------------------------------------------------------------------------------------------------


def _numbered(step: Field_, text: str, reviewing: bool) -> str:
    if reviewing:
        return text
    return f"{kb.STEPS.index(step) + 1}/{len(kb.STEPS)}. {text}"


async def ask(event: Event, state: FSMContext, step: Field_, settings: Settings, *, edit: bool = False) -> None:
    """Put the question of `step`."""
    reviewing = await _reviewing(state)
    draft = await _draft(state)
    language = texts.locale_now()
    await state.set_state(_STATE_OF[step])
    if step is Field_.NAME:
        now = _("\n\nNow: <b>{name}</b>").format(name=escape(draft.name)) if reviewing and draft.name else ""
        text = _('What shall I call this profile? For example "Biomass in Romania".') + now
        await say(event, _numbered(step, text, reviewing), kb.step_keyboard(skip=_("⏭ Skip"), reviewing=reviewing))
    elif step is Field_.CPV:
        await state.update_data(cpv_at="", cpv_page=0)
        await show_browse(event, state, "", 0, edit=edit)
    elif step in (Field_.INCLUDE, Field_.EXCLUDE):
        include = step is Field_.INCLUDE
        question = (
            _(
                "Keywords to look for in the titles and descriptions, in Romanian or English, separated by commas; "
                'phrases in quotes: biomasă, peleți, "energie regenerabilă". Word endings, capitals and diacritics '
                "do not matter."
            )
            if include
            else _("Words that rule a tender out, the same way (for example: transport, catering).")
        )
        current = draft.include if include else draft.exclude
        if current:
            question += "\n\n" + _("Now: {words}").format(words=texts.keywords_text(current))
        skip = _("⏭ No keywords") if include else _("⏭ Exclude nothing")
        await say(event, _numbered(step, question, reviewing), kb.step_keyboard(skip=skip, reviewing=reviewing))
    elif step is Field_.COUNTRIES:
        question = _(
            "Tenders of which countries? Romania, every EU member state, or type a list of codes or names "
            "(RO, BG, Ungaria)."
        )
        if reviewing:
            question += "\n\n" + _("Now: {countries}").format(
                countries=escape(texts.countries_text(draft.countries, language))
            )
        await say(event, _numbered(step, question, reviewing), kb.countries_keyboard(reviewing))
    elif step is Field_.VALUE:
        question = _(
            "A range of values? Choose the currency you will write the amounts in (tenders in other currencies are "
            "converted; those without a value always pass)."
        )
        if reviewing:
            question += "\n\n" + _("Now: {value}").format(value=texts.value_text(draft, language))
        await say(event, _numbered(step, question, reviewing), kb.currency_keyboard(reviewing))
    elif step is Field_.DAYS:
        question = _(
            "At least how many days must be left before the deadline for a tender to interest you? "
            "A whole number from 0 to {limit}."
        ).format(limit=profiles.DAYS_MAX)
        if reviewing:
            question += "\n\n" + _("Now: {days}").format(days=draft.min_days_left)
        await say(event, _numbered(step, question, reviewing), kb.step_keyboard(skip=_("⏭ Any"), reviewing=reviewing))
    elif step is Field_.KINDS:
        question = _("Which notices? Tap to choose or leave out, then Continue.")
        await say(event, _numbered(step, question, reviewing), kb.kinds_keyboard(draft, reviewing), edit=edit)
    else:
        question = _("How shall the alerts come?")
        quiet = texts.quiet_text(settings.tenders.quiet)
        if quiet:
            question += "\n\n" + quiet
        await say(event, _numbered(step, question, reviewing), kb.delivery_keyboard(reviewing))


async def advance(
    event: Event,
    state: FSMContext,
    done: Field_,
    repos: Repositories,
    person: PersonView,
    settings: Settings,
) -> None:
    """After step `done`: back to the summary when reviewing (or after the last step), else the next step."""
    position = kb.STEPS.index(done)
    if await _reviewing(state) or position + 1 == len(kb.STEPS):
        await show_review(event, state, repos, person, settings)
        return
    await ask(event, state, kb.STEPS[position + 1], settings)


async def show_review(
    event: Event, state: FSMContext, repos: Repositories, person: PersonView, settings: Settings
) -> None:
    draft = await _draft(state)
    data = await state.update_data(reviewing=True)
    await state.set_state(ProfileForm.review)
    matches = await profiles.preview_count(repos, person, draft, now=utcnow(), rates=settings.tenders.rates)
    editing = data.get("profile_id") is not None
    text = texts.review_text(draft, texts.locale_now(), settings.tenders.quiet, matches, editing)
    await say(event, text, kb.review_keyboard(editing=editing))


async def show_browse(event: Event, state: FSMContext, code: str, page: int, *, edit: bool = False) -> None:
    screen = profiles.browse(code, page)
    await state.update_data(cpv_at=code, cpv_page=page)
    draft = await _draft(state)
    language = texts.locale_now()
    reviewing = await _reviewing(state)
    text = texts.cpv_browse_text(draft, screen, language)
    await say(
        event,
        _numbered(Field_.CPV, text, reviewing),
        kb.cpv_browse_keyboard(draft, screen, language, reviewing),
        edit=edit,
    )


# --- beginning ----------------------------------------------------------------------------------------------------


async def begin_new(
    event: Event, state: FSMContext, person: PersonView, repos: Repositories, settings: Settings
) -> None:
    await profiles.may_add(repos, person)
    await state.clear()
    await state.set_data({"draft": Draft().as_data(), "profile_id": None, "reviewing": False})
    message = _(
        "🔔 <b>A new alert profile</b>\n\nI will tell you of new public tenders that fit it. Every step can be "
        "skipped where it makes sense; ✖️ Cancel stops without saving."
    )
    await say(event, message)
    await ask(event, state, Field_.NAME, settings)


async def begin_edit(
    event: Event, state: FSMContext, person: PersonView, repos: Repositories, settings: Settings, profile_id: int
) -> None:
    profile = await profiles.own(repos, person, profile_id)
    await state.clear()
    await state.set_data({"draft": profiles.draft_of(profile).as_data(), "profile_id": profile.id, "reviewing": True})
    await show_review(event, state, repos, person, settings)


# --- typed answers ----------------------------------------------------------------------------------------------


async def _refused_here(message: Message, refusal: ProfileError) -> None:
    """A typed answer not taken: why, and the question stays open."""
    if refusal.reason in _ENDS_THE_FORM:
        raise refusal
    await message.answer(explain(refusal), reply_markup=kb.step_keyboard(skip=None, reviewing=False))


async def got_name(
    message: Message, state: FSMContext, repos: Repositories, person: PersonView, settings: Settings
) -> None:
    try:
        draft = profiles.with_name(await _draft(state), message.text or "")
    except ProfileError as refusal:
        await _refused_here(message, refusal)
        return
    await _keep(state, draft)
    await advance(message, state, Field_.NAME, repos, person, settings)


async def got_cpv_words(message: Message, state: FSMContext) -> None:
    typed = " ".join((message.text or "").split())[:200]
    language = texts.locale_now()
    found = profiles.search_codes(typed, language)
    draft = await _draft(state)
    await message.answer(
        texts.cpv_search_text(draft, found, typed, language),
        reply_markup=kb.cpv_found_keyboard(draft, found, language, await _reviewing(state)),
    )


async def got_keywords(
    message: Message, state: FSMContext, repos: Repositories, person: PersonView, settings: Settings
) -> None:
    include = await state.get_state() == ProfileForm.include.state
    try:
        found = profiles.keywords(message.text or "")
    except ProfileError as refusal:
        await _refused_here(message, refusal)
        return
    draft = await _draft(state)
    draft = Draft.from_data({**draft.as_data(), ("include" if include else "exclude"): list(found)})
    await _keep(state, draft)
    await advance(message, state, Field_.INCLUDE if include else Field_.EXCLUDE, repos, person, settings)


async def got_countries(
    message: Message, state: FSMContext, repos: Repositories, person: PersonView, settings: Settings
) -> None:
    try:
        found = profiles.parse_countries(message.text or "")
    except ProfileError as refusal:
        await _refused_here(message, refusal)
        return
    await _set_countries(message, state, found, repos, person, settings)


async def _set_countries(
    event: Event, state: FSMContext, found: tuple[str, ...], repos: Repositories, person: PersonView, settings: Settings
) -> None:
    draft = Draft.from_data({**(await _draft(state)).as_data(), "countries": list(found)})
    await _keep(state, draft)
    await advance(event, state, Field_.COUNTRIES, repos, person, settings)


def _read_amount(text: str) -> Decimal | str:
    try:
        return parse_amount(text, texts.locale_now())
    except AmountError as problem:
        return texts.explain_amount(problem.reason)


async def got_minimum(message: Message, state: FSMContext) -> None:
    amount = _read_amount(message.text or "")
    if isinstance(amount, str):
        await message.answer(amount, reply_markup=kb.step_keyboard(skip=None, reviewing=False))
        return
    await state.update_data(value_low=str(amount))
    await _ask_maximum(message, state)


async def _ask_maximum(event: Event, state: FSMContext) -> None:
    data = await state.get_data()
    await state.set_state(ProfileForm.value_max)
    await say(
        event,
        _("And the maximum, in {currency}? Type it, or skip.").format(currency=data.get("value_currency", "RON")),
        kb.step_keyboard(skip=_("⏭ No maximum"), reviewing=False),
    )


async def got_maximum(
    message: Message, state: FSMContext, repos: Repositories, person: PersonView, settings: Settings
) -> None:
    amount = _read_amount(message.text or "")
    if isinstance(amount, str):
        await message.answer(amount, reply_markup=kb.step_keyboard(skip=None, reviewing=False))
        return
    try:
        await _set_value(message, state, amount, repos, person, settings)
    except ProfileError as refusal:
        await _refused_here(message, refusal)


async def _set_value(
    event: Event, state: FSMContext, high: Decimal | None, repos: Repositories, person: PersonView, settings: Settings
) -> None:
    data = await state.get_data()
    low = data.get("value_low")
    draft = profiles.with_value(
        await _draft(state), str(data.get("value_currency", "RON")), None if low is None else Decimal(low), high
    )
    await _keep(state, draft)
    await advance(event, state, Field_.VALUE, repos, person, settings)


async def got_days(
    message: Message, state: FSMContext, repos: Repositories, person: PersonView, settings: Settings
) -> None:
    try:
        days = profiles.days(message.text or "")
    except ProfileError as refusal:
        await _refused_here(message, refusal)
        return
    await _keep(state, Draft.from_data({**(await _draft(state)).as_data(), "min_days_left": days}))
    await advance(message, state, Field_.DAYS, repos, person, settings)


async def use_the_buttons(message: Message) -> None:
    await message.answer(_("Please use the buttons above, or cancel."))


# --- buttons ------------------------------------------------------------------------------------------------------


async def cancel(query: CallbackQuery, state: FSMContext, person: PersonView) -> None:
    await state.clear()
    await query.answer()
    await remove_buttons(query)
    await say(query, _("Stopped. Nothing was changed."), main_menu(person))


async def skip(
    query: CallbackQuery, state: FSMContext, repos: Repositories, person: PersonView, settings: Settings
) -> None:
    await query.answer()
    await remove_buttons(query)
    current = await state.get_state()
    draft = await _draft(state)
    data = draft.as_data()
    if current == ProfileForm.name.state:
        data["name"] = ""
        done = Field_.NAME
    elif current == ProfileForm.include.state:
        data["include"] = []
        done = Field_.INCLUDE
    elif current == ProfileForm.exclude.state:
        data["exclude"] = []
        done = Field_.EXCLUDE
    elif current == ProfileForm.countries.state:
        data["countries"] = []
        done = Field_.COUNTRIES
    elif current == ProfileForm.currency.state:
        data.update(value_min=None, value_max=None)
        done = Field_.VALUE
    elif current == ProfileForm.value_min.state:
        await state.update_data(value_low=None)
        await _ask_maximum(query, state)
        return
    elif current == ProfileForm.value_max.state:
        await _set_value(query, state, None, repos, person, settings)
        return
    elif current == ProfileForm.days.state:
        data["min_days_left"] = 0
        done = Field_.DAYS
    else:
        await say(query, _("Please use the buttons above, or cancel."))
        return
    await _keep(state, Draft.from_data(data))
    await advance(query, state, done, repos, person, settings)


async def back(
    query: CallbackQuery, state: FSMContext, repos: Repositories, person: PersonView, settings: Settings
) -> None:
    await query.answer()
    await remove_buttons(query)
    await show_review(query, state, repos, person, settings)


async def change_field(query: CallbackQuery, callback_data: FormCb, state: FSMContext, settings: Settings) -> None:
    if callback_data.field is None:
        await query.answer(_("Please use the buttons above, or cancel."), show_alert=True)
        return
    await query.answer()
    await remove_buttons(query)
    await ask(query, state, callback_data.field, settings)


async def pick_countries(
    query: CallbackQuery,
    callback_data: FormCb,
    state: FSMContext,
    repos: Repositories,
    person: PersonView,
    settings: Settings,
) -> None:
    await query.answer()
    await remove_buttons(query)
    found = ("RO",) if callback_data.action is FormAction.ROMANIA else tuple(sorted(EU_COUNTRIES))
    await _set_countries(query, state, found, repos, person, settings)


async def pick_currency(query: CallbackQuery, callback_data: FormCb, state: FSMContext) -> None:
    if callback_data.currency not in CURRENCIES:
        raise ProfileError(ProfileRefusal.BAD_CURRENCY)
    await query.answer()
    await remove_buttons(query)
    await state.update_data(value_currency=callback_data.currency, value_low=None)
    await state.set_state(ProfileForm.value_min)
    await say(
        query,
        _("The minimum value, in {currency}? Type it (for example 100.000), or skip.").format(
            currency=callback_data.currency
        ),
        kb.step_keyboard(skip=_("⏭ No minimum"), reviewing=False),
    )


async def toggle_kind(query: CallbackQuery, callback_data: FormCb, state: FSMContext, settings: Settings) -> None:
    if callback_data.kind is None:
        await query.answer(_("Please use the buttons above, or cancel."), show_alert=True)
        return
    draft = profiles.toggled_kind(await _draft(state), callback_data.kind.value)
    await _keep(state, draft)
    await query.answer()
    await ask(query, state, Field_.KINDS, settings, edit=True)


async def kinds_done(
    query: CallbackQuery, state: FSMContext, repos: Repositories, person: PersonView, settings: Settings
) -> None:
    if not (await _draft(state)).kinds:
        raise ProfileError(ProfileRefusal.NO_KINDS)
    await query.answer()
    await remove_buttons(query)
    await advance(query, state, Field_.KINDS, repos, person, settings)


async def pick_instant(
    query: CallbackQuery, state: FSMContext, repos: Repositories, person: PersonView, settings: Settings
) -> None:
    await query.answer()
    await remove_buttons(query)
    await _keep(state, profiles.with_delivery(await _draft(state), AlertDelivery.INSTANT.value))
    await advance(query, state, Field_.DELIVERY, repos, person, settings)


async def pick_digest(query: CallbackQuery, state: FSMContext, settings: Settings) -> None:
    await query.answer()
    await remove_buttons(query)
    await state.set_state(ProfileForm.hour)
    text = _("At what hour shall the digest come ({zone})?").format(zone=zone_name(settings.tz))
    quiet = texts.quiet_text(settings.tenders.quiet)
    await say(
        query,
        text + ("\n\n" + quiet if quiet else ""),
        kb.hours_keyboard(await _reviewing(state), settings.tenders.quiet),
    )


async def pick_hour(
    query: CallbackQuery,
    callback_data: FormCb,
    state: FSMContext,
    repos: Repositories,
    person: PersonView,
    settings: Settings,
) -> None:
    draft = profiles.with_delivery(await _draft(state), AlertDelivery.DIGEST.value, callback_data.hour)
    await query.answer()
    await remove_buttons(query)
    await _keep(state, draft)
    await advance(query, state, Field_.DELIVERY, repos, person, settings)


async def save(
    query: CallbackQuery, state: FSMContext, repos: Repositories, person: PersonView, settings: Settings, locale: str
) -> None:
    from handlers.tenders.profile_cards import show_card  # it shows cards with this module's `say`

    data = await state.get_data()
    draft = await _draft(state)
    profile_id = data.get("profile_id")
    if profile_id is None:
        saved = await profiles.create(repos, person, draft, now=utcnow(), language=locale)
        answer = _("💾 Saved. You will be told of new tenders that fit it from now on.")
    else:
        saved = await profiles.update(repos, person, int(profile_id), draft, language=locale)
        answer = _("💾 Changes saved.")
    await state.clear()
    await query.answer(answer)
    await remove_buttons(query)
    await show_card(query, profiles.Owned(saved, mine=True), settings, locale, edit=False)


# --- the CPV step's buttons ---------------------------------------------------------------------------------------


async def cpv_open(query: CallbackQuery, callback_data: CpvCb, state: FSMContext) -> None:
    await show_browse(query, state, callback_data.code, callback_data.page, edit=True)
    await query.answer()


async def cpv_add(query: CallbackQuery, callback_data: CpvCb, state: FSMContext) -> None:
    draft = profiles.with_code(await _draft(state), callback_data.code)
    await _keep(state, draft)
    entry = profiles.cpv_entry(callback_data.code)
    await query.answer(_("Added: {code}").format(code=texts.code_line(entry.code, texts.locale_now(), 150)))
    data = await state.get_data()
    await show_browse(query, state, str(data.get("cpv_at", "")), int(data.get("cpv_page", 0)), edit=True)


async def cpv_removing(query: CallbackQuery, callback_data: CpvCb, state: FSMContext) -> None:
    draft = await _draft(state)
    await query.answer()
    if not draft.cpv:
        await show_browse(query, state, callback_data.code if callback_data.code else "", 0, edit=True)
        return
    await say(
        query,
        _("Tap a code to remove it:"),
        kb.cpv_remove_keyboard(draft, texts.locale_now(), str((await state.get_data()).get("cpv_at", ""))),
        edit=True,
    )


async def cpv_remove(query: CallbackQuery, callback_data: CpvCb, state: FSMContext) -> None:
    draft = profiles.without_code(await _draft(state), callback_data.code)
    await _keep(state, draft)
    await query.answer(_("Removed."))
    at = str((await state.get_data()).get("cpv_at", ""))
    if draft.cpv:
        await say(
            query, _("Tap a code to remove it:"), kb.cpv_remove_keyboard(draft, texts.locale_now(), at), edit=True
        )
    else:
        await show_browse(query, state, at, 0, edit=True)


async def cpv_done(
    query: CallbackQuery, state: FSMContext, repos: Repositories, person: PersonView, settings: Settings
) -> None:
    await query.answer()
    await remove_buttons(query)
    await advance(query, state, Field_.CPV, repos, person, settings)


# --- refusals -----------------------------------------------------------------------------------------------------


async def on_profile_refusal(refusal: Exception, event: TelegramObject, data: dict[str, Any]) -> bool:
    """A guest or someone without an organisation: the reason with the way into the cluster; a refusal that
    ends the form (the profile is gone, no room left): the reason with the menu. Other refusals are alerts
    (`handlers.refusals.on_refusal`) and the form stays where it was."""
    if not isinstance(refusal, ProfileError):
        return False
    state: FSMContext | None = data.get("state")
    if refusal.reason in (ProfileRefusal.MEMBERS_ONLY, ProfileRefusal.NO_ORGANISATION):
        markup = join_cluster_keyboard()
    elif (
        refusal.reason in _ENDS_THE_FORM
        and state is not None
        and (await state.get_state() or "").startswith("ProfileForm:")
    ):
        markup = main_menu(data["person"])
    else:
        return False
    if state is not None:
        await state.clear()
    if isinstance(event, CallbackQuery):
        await event.answer()
    message = _message(event) if isinstance(event, Message | CallbackQuery) else None
    if message is None:
        return False
    await message.answer(explain(refusal), reply_markup=markup)
    return True


def handles_refusals(router: Router) -> None:
    hook = OnRefusal(on_profile_refusal)
    router.message.outer_middleware(hook)
    router.callback_query.outer_middleware(hook)


def build_router() -> Router:
    router = Router(name=__name__)
    handles_refusals(router)
    form = ProfileForm
    router.callback_query.register(cancel, FormCb.filter(F.action == FormAction.CANCEL))
    router.message.register(got_name, form.name, ANSWER)
    router.message.register(got_cpv_words, form.cpv, ANSWER)
    router.message.register(got_keywords, form.include, ANSWER)
    router.message.register(got_keywords, form.exclude, ANSWER)
    router.message.register(got_countries, form.countries, ANSWER)
    router.message.register(got_minimum, form.value_min, ANSWER)
    router.message.register(got_maximum, form.value_max, ANSWER)
    router.message.register(got_days, form.days, ANSWER)
    for waiting in (form.currency, form.kinds, form.delivery, form.hour, form.review):
        router.message.register(use_the_buttons, waiting, ANSWER)
    skippable = (
        form.name,
        form.include,
        form.exclude,
        form.countries,
        form.currency,
        form.value_min,
        form.value_max,
        form.days,
    )
    router.callback_query.register(skip, StateFilter(*skippable), FormCb.filter(F.action == FormAction.SKIP))
    in_a_step = StateFilter(*_STATE_OF.values(), form.value_min, form.value_max, form.hour)
    router.callback_query.register(back, in_a_step, FormCb.filter(F.action == FormAction.BACK))
    router.callback_query.register(change_field, form.review, FormCb.filter(F.action == FormAction.FIELD))
    router.callback_query.register(save, form.review, FormCb.filter(F.action == FormAction.SAVE))
    router.callback_query.register(
        pick_countries, form.countries, FormCb.filter(F.action.in_({FormAction.ROMANIA, FormAction.EU}))
    )
    router.callback_query.register(pick_currency, form.currency, FormCb.filter(F.action == FormAction.CURRENCY))
    router.callback_query.register(toggle_kind, form.kinds, FormCb.filter(F.action == FormAction.KIND))
    router.callback_query.register(kinds_done, form.kinds, FormCb.filter(F.action == FormAction.KINDS_DONE))
    router.callback_query.register(pick_instant, form.delivery, FormCb.filter(F.action == FormAction.INSTANT))
    router.callback_query.register(pick_digest, form.delivery, FormCb.filter(F.action == FormAction.DIGEST))
    router.callback_query.register(pick_hour, form.hour, FormCb.filter(F.action == FormAction.HOUR))
    router.callback_query.register(cpv_open, form.cpv, CpvCb.filter(F.action == CpvAction.OPEN))
    router.callback_query.register(cpv_add, form.cpv, CpvCb.filter(F.action == CpvAction.ADD))
    router.callback_query.register(cpv_removing, form.cpv, CpvCb.filter(F.action == CpvAction.REMOVING))
    router.callback_query.register(cpv_remove, form.cpv, CpvCb.filter(F.action == CpvAction.REMOVE))
    router.callback_query.register(cpv_done, form.cpv, CpvCb.filter(F.action == CpvAction.DONE))
    return router
