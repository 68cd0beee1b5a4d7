"""Dates as people type them in Romanian and English, read into a `date`.

Free of aiogram (services use it): a refused date raises :class:`DateError` with a :class:`DateProblem`, which
the handlers put into words, as ``bot.amounts`` does for amounts.

Read by dateparser (its Romanian and English data only, the reader's language tried first), always day first:

* numbers: ``15.03.2027``, ``15/03/2027``, ``15-03-2027``, ``15.03.27``, ``2027-03-15``; ``3/4/2027`` is the
  3rd of April, whatever the reader's language;
* month names, full or short, with or without diacritics or a weekday: ``15 martie 2027``, ``15 mar. 2027``,
  ``marți, 15 martie 2027``, ``15 March 2027``, ``March 15, 2027``, ``Monday, 15 March 2027`` (so every date the
  bot itself writes, ``15 mar. 2027`` or ``15 Mar 2027``, reads back);
* without a year (``15 martie``, ``15.03``, ``15/03``): the next such date, today included, never a guess
  beyond it (typed on 16 March 2027, ``15 martie`` is 15 March 2028);
* a few words: ``azi``/``today``, ``mâine``/``maine``/``tomorrow``, ``peste 3 zile``/``in 3 days``.

Anything else is not a date: a month without a day (``martie 2027``), a weekday alone, a timestamp, digits run
together (``20270315``), an impossible day (``31.02.2027``), or text longer than ``TEXT_MAX``. A time of day
typed with the date is ignored. Problems, in this order: not a date, in the past (before ``today``, unless
``allow_past``), too far (more than ``YEARS_AROUND`` years from ``today`` either way: a slip of the keyboard).

:func:`parse_moment` reads a date and an hour (``10.12.2026 09:00``, ``10/12 9:00``, ``2026-12-10 09:00``,
``mâine 10:00``, ``tomorrow at 10:00``, ``azi 18:30``, ``10 decembrie, 9.30``) into an aware datetime in the
reader's time zone: the date by :func:`parse_date`'s rules, then the hour, last, as ``H:MM`` or ``H.MM`` (after
``la``, ``ora``, ``la ora`` or ``at`` if wished). Problems, in this order: not a date, no hour (a date alone, or
an hour that is none such as ``25:00``), in the past (at or before ``now``), too far (beyond ``horizon``).
"""

from __future__ import annotations

import enum
import re
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import dateparser

LANGUAGES = ("ro", "en")
TEXT_MAX = 64
YEARS_AROUND = 30

# A day and a month by numbers with dots and no year ("15.03", "15.03."), which dateparser does not read, while it
# reads "15/03": the same with slashes.
_DAY_MONTH_DOTS = re.compile(r"(\d{1,2})\.(\d{1,2})\.?")
# Timestamps and digits run together are not dates people type; neither is a month without a day.
_PARSERS = ["relative-time", "custom-formats", "absolute-time"]


class DateProblem(enum.Enum):
    """Why a typed date was refused; the handlers word it in the reader's language."""

    NOT_A_DATE = "not_a_date"
    IN_THE_PAST = "in_the_past"
    TOO_FAR = "too_far"
    # A date without an hour where both are needed (or an hour past 23:59).
    NO_HOUR = "no_hour"


class DateError(ValueError):
    """A typed date that cannot be taken, and why (:attr:`reason`)."""

    def __init__(self, reason: DateProblem) -> None:
        super().__init__(reason.value)
        self.reason = reason


def _read(text: str, languages: list[str], today: date, prefer: str) -> date | None:
    settings: dict[str, Any] = {
        "DATE_ORDER": "DMY",
        "PREFER_DATES_FROM": prefer,
        "RELATIVE_BASE": datetime(today.year, today.month, today.day),
        "REQUIRE_PARTS": ["day", "month"],
        "PARSERS": _PARSERS,
        "RETURN_AS_TIMEZONE_AWARE": False,
    }
    try:
        found = dateparser.parse(text, languages=languages, settings=settings)
    except (ValueError, OverflowError):
        return None
    return found.date() if found is not None else None


def parse_date(text: str, locale: str, *, today: date, allow_past: bool = False) -> date:
    """The date typed in ``text`` by a reader of ``locale`` (see the module's rules), ``today`` being the day it
    is where the reader is.

    Raises :class:`DateError` with the :class:`DateProblem` when it cannot be taken.
    """
    cleaned = " ".join(text.split())
    if not cleaned or len(cleaned) > TEXT_MAX or not any(c.isalnum() for c in cleaned):
        raise DateError(DateProblem.NOT_A_DATE)
    dots = _DAY_MONTH_DOTS.fullmatch(cleaned)
    if dots:
        cleaned = f"{dots[1]}/{dots[2]}"
    languages = [locale, *(code for code in LANGUAGES if code != locale)] if locale in LANGUAGES else list(LANGUAGES)
    # dateparser's "future" never gives today for a date without its year, so both readings are asked for: they
    # agree when the year was typed (or the date is relative), and otherwise straddle today.
    earlier = _read(cleaned, languages, today, "past")
    later = _read(cleaned, languages, today, "future")
    if earlier is None or later is None:
        raise DateError(DateProblem.NOT_A_DATE)
    found = earlier if earlier == later or earlier == today else later
    if found < today and not allow_past:
        raise DateError(DateProblem.IN_THE_PAST)
    if abs(found.year - today.year) > YEARS_AROUND:
        raise DateError(DateProblem.TOO_FAR)
    return found


# The hour at the end of a date and hour: "9:00", "09.30", "la 10:00", "ora 10:00", "at 10:00", after a space or
# a comma (so "10.12.26" stays a date, never 10 December at 12:26).
_HOUR = re.compile(r"(?P<date>.*?\S)[\s,]+(?:(?:la\s+ora|la|ora|at)\s+)?(?P<hour>\d{1,2})[:.](?P<minute>\d{2})", re.I)
# How far ahead a moment may be, by default: a year (an announcement scheduled further is a slip).
HORIZON = timedelta(days=366)


def parse_moment(text: str, locale: str, *, now: datetime, tz: ZoneInfo, horizon: timedelta = HORIZON) -> datetime:
    """The date and hour typed in ``text`` by a reader of ``locale``, as an aware datetime in ``tz`` (the
    module's rules); ``now`` is an aware datetime.

    Raises :class:`DateError` with the :class:`DateProblem` when it cannot be taken.
    """
    cleaned = " ".join(text.split())
    here = now.astimezone(tz)
    found = _HOUR.fullmatch(cleaned) if len(cleaned) <= TEXT_MAX else None
    if found is None:
        # A date alone is short of its hour; anything else is not a date at all.
        parse_date(cleaned, locale, today=here.date(), allow_past=True)
        raise DateError(DateProblem.NO_HOUR)
    day = parse_date(found["date"], locale, today=here.date(), allow_past=True)
    hour, minute = int(found["hour"]), int(found["minute"])
    if hour > 23 or minute > 59:
        raise DateError(DateProblem.NO_HOUR)
    moment = datetime.combine(day, time(hour, minute), tzinfo=tz)
    if moment <= now:
        raise DateError(DateProblem.IN_THE_PAST)
    if moment - now > horizon:
        raise DateError(DateProblem.TOO_FAR)
    return moment
