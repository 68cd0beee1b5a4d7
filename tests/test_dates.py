"""Dates as members type them, in Romanian and in English: every common form read to the same day, a missing
year completed to the next such date and no further, and whatever is not a date refused with its reason."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date, format_datetime
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot.dates import HORIZON, DateError, DateProblem, parse_date, parse_moment

TODAY = date(2026, 12, 1)
IDES = date(2027, 3, 15)


@pytest.mark.parametrize("locale", ["ro", "en"])
@pytest.mark.parametrize(
    "typed",
    [
        "15.03.2027",
        "15/03/2027",
        "15-03-2027",
        "15.03.27",
        "2027-03-15",
        "15 martie 2027",
        "15 Martie 2027",
        "15 MARTIE 2027",
        "15 mar 2027",
        "15 mar. 2027",
        "marți, 15 martie 2027",
        "marti, 15 martie 2027",
        "15 March 2027",
        "15 Mar 2027",
        "March 15, 2027",
        "Mar 15 2027",
        "15th March 2027",
        "Monday, 15 March 2027",
        "  15   martie   2027 ",
    ],
)
def test_the_forms_people_write_read_as_one_day(typed: str, locale: str) -> None:
    assert parse_date(typed, locale, today=TODAY) == IDES


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        # Day first, whatever the language: the 3rd of April.
        ("3/4/2027", date(2027, 4, 3)),
        ("03.04.2027", date(2027, 4, 3)),
        ("1 ianuarie 2027", date(2027, 1, 1)),
        ("1 februarie 2027", date(2027, 2, 1)),
        ("1 aprilie 2027", date(2027, 4, 1)),
        ("1 mai 2027", date(2027, 5, 1)),
        ("1 iunie 2027", date(2027, 6, 1)),
        ("1 iul 2027", date(2027, 7, 1)),
        ("1 august 2027", date(2027, 8, 1)),
        ("1 septembrie 2027", date(2027, 9, 1)),
        ("1 sept. 2027", date(2027, 9, 1)),
        ("1 octombrie 2027", date(2027, 10, 1)),
        ("1 noiembrie 2027", date(2027, 11, 1)),
        ("1 decembrie 2027", date(2027, 12, 1)),
        ("29 februarie 2028", date(2028, 2, 29)),
        ("mâine", date(2026, 12, 2)),
        ("maine", date(2026, 12, 2)),
        ("tomorrow", date(2026, 12, 2)),
        ("azi", TODAY),
        ("today", TODAY),
        ("peste 3 zile", date(2026, 12, 4)),
        ("in 3 days", date(2026, 12, 4)),
    ],
)
def test_month_names_numbers_and_a_few_words(typed: str, meant: date) -> None:
    assert parse_date(typed, "ro", today=TODAY) == meant
    assert parse_date(typed, "en", today=TODAY) == meant


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        # Today is still this year's; yesterday's day is next year's.
        ("1 decembrie", date(2026, 12, 1)),
        ("30 noiembrie", date(2027, 11, 30)),
        ("15 martie", IDES),
        ("15.03", IDES),
        ("15.03.", IDES),
        ("15/03", IDES),
        ("15 March", IDES),
        ("March 15", IDES),
        # The next 29 February is in 2028, not a guess of 1 March.
        ("29 februarie", date(2028, 2, 29)),
    ],
)
def test_a_missing_year_is_the_next_such_date_today_included(typed: str, meant: date) -> None:
    assert parse_date(typed, "ro", today=TODAY) == meant


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "   ",
        "...",
        "hello",
        "Studiu de fezabilitate",
        "12",
        "2027",
        "martie 2027",
        "March 2027",
        "luni",
        "1700000000",
        "20270315",
        "31.02.2027",
        "31 aprilie 2027",
        "15.13.2027",
        "0.0.2027",
        "15 martie 2027 " + "x" * 60,
    ],
)
def test_what_is_not_a_date_is_refused(typed: str) -> None:
    with pytest.raises(DateError) as refused:
        parse_date(typed, "ro", today=TODAY)
    assert refused.value.reason is DateProblem.NOT_A_DATE


def test_a_date_in_the_past_is_refused_where_a_future_one_is_needed() -> None:
    for typed in ("30.11.2026", "ieri", "yesterday", "15 martie 2026", "01.01.0001"):
        with pytest.raises(DateError) as refused:
            parse_date(typed, "ro", today=TODAY)
        assert refused.value.reason is DateProblem.IN_THE_PAST
    assert parse_date("30.11.2026", "ro", today=TODAY, allow_past=True) == date(2026, 11, 30)


def test_a_year_decades_away_is_a_slip_of_the_keyboard() -> None:
    for typed, allow_past in (("15.03.2207", False), ("15 martie 2099", False), ("15.03.1907", True)):
        with pytest.raises(DateError) as refused:
            parse_date(typed, "ro", today=TODAY, allow_past=allow_past)
        assert refused.value.reason is DateProblem.TOO_FAR


# What the bot writes (a card's "d MMM y"), and what people copy from calendars, reads back to the same day.
FORMS = ["d MMM y", "d MMMM y", "dd.MM.y", "d.M.y", "dd/MM/y", "y-MM-dd", "EEEE, d MMMM y", "medium", "long", "full"]


@settings(max_examples=150, deadline=None)
@given(
    day=st.dates(min_value=TODAY, max_value=date(2040, 12, 31)),
    locale=st.sampled_from(["ro", "en"]),
    written_in=st.sampled_from(["ro", "en"]),
    form=st.sampled_from(FORMS),
)
def test_any_date_written_in_either_language_reads_back(day: date, locale: str, written_in: str, form: str) -> None:
    typed = format_date(day, form, locale=written_in)
    assert parse_date(typed, locale, today=TODAY) == day


@settings(max_examples=100, deadline=None)
@given(offset=st.integers(0, 3 * 365), form=st.sampled_from(["d MMMM", "d MMM", "dd.MM", "dd/MM"]))
def test_without_the_year_it_is_the_first_such_day_from_today(offset: int, form: str) -> None:
    day = TODAY + timedelta(days=offset)
    typed = format_date(day, form, locale="ro")
    read = parse_date(typed, "ro", today=TODAY)
    assert (read.month, read.day) == (day.month, day.day)
    assert TODAY <= read <= day
    # No earlier such day from today on: the year is never guessed beyond the next one.
    assert read.year == TODAY.year or date(TODAY.year, read.month, min(read.day, 28)) < TODAY


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_any_text_is_a_date_or_a_reason(text: str) -> None:
    try:
        read = parse_date(text, "ro", today=TODAY)
    except DateError as refused:
        assert isinstance(refused.reason, DateProblem)
    else:
        assert TODAY <= read


# --- a date and an hour, for scheduling --------------------------------------------------------------------------

BUCHAREST = ZoneInfo("Europe/Bucharest")
# 1 December 2026, 18:00 in Bucharest: the manager's evening.
NOW = datetime(2026, 12, 1, 18, 0, tzinfo=BUCHAREST)


@pytest.mark.parametrize("locale", ["ro", "en"])
@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("10.12.2026 09:00", datetime(2026, 12, 10, 9, 0)),
        ("10/12 9:00", datetime(2026, 12, 10, 9, 0)),
        ("10.12 9:00", datetime(2026, 12, 10, 9, 0)),
        ("2026-12-10 09:00", datetime(2026, 12, 10, 9, 0)),
        ("10 decembrie 9:00", datetime(2026, 12, 10, 9, 0)),
        ("10 decembrie 2026, 9.30", datetime(2026, 12, 10, 9, 30)),
        ("10 December 2026 at 9:00", datetime(2026, 12, 10, 9, 0)),
        ("mâine 10:00", datetime(2026, 12, 2, 10, 0)),
        ("maine la ora 10:00", datetime(2026, 12, 2, 10, 0)),
        ("Mâine la 10:00", datetime(2026, 12, 2, 10, 0)),
        ("tomorrow 10:00", datetime(2026, 12, 2, 10, 0)),
        ("tomorrow at 10:00", datetime(2026, 12, 2, 10, 0)),
        ("azi 18:30", datetime(2026, 12, 1, 18, 30)),
        ("today 23:59", datetime(2026, 12, 1, 23, 59)),
        ("  1 decembrie   18:01 ", datetime(2026, 12, 1, 18, 1)),
        # A date without its year is the next such one: 30 November is next year's.
        ("30/11 8:00", datetime(2027, 11, 30, 8, 0)),
    ],
)
def test_a_date_and_an_hour_as_people_type_them(typed: str, meant: datetime, locale: str) -> None:
    moment = parse_moment(typed, locale, now=NOW, tz=BUCHAREST)
    assert moment == meant.replace(tzinfo=BUCHAREST)
    assert moment.tzinfo is BUCHAREST


def test_the_hour_is_the_readers_time_zone_hour() -> None:
    london = ZoneInfo("Europe/London")
    moment = parse_moment("mâine 10:00", "ro", now=NOW, tz=london)
    assert moment.utcoffset() == timedelta(0)
    # 18:00 in Bucharest is 16:00 in London: 17:00 there is still to come today.
    assert parse_moment("azi 17:00", "en", now=NOW, tz=london).astimezone(BUCHAREST).hour == 19


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("", DateProblem.NOT_A_DATE),
        ("hello", DateProblem.NOT_A_DATE),
        ("hello 10:00", DateProblem.NOT_A_DATE),
        ("10:00", DateProblem.NOT_A_DATE),
        ("31.02.2027 10:00", DateProblem.NOT_A_DATE),
        ("mâine dimineață", DateProblem.NOT_A_DATE),
        # A date alone, or an hour that is none, is short of its hour.
        ("mâine", DateProblem.NO_HOUR),
        ("10.12.2026", DateProblem.NO_HOUR),
        ("10.12.26", DateProblem.NO_HOUR),
        ("mâine 25:00", DateProblem.NO_HOUR),
        ("mâine 10:60", DateProblem.NO_HOUR),
        ("azi 18:00", DateProblem.IN_THE_PAST),
        ("azi 9:00", DateProblem.IN_THE_PAST),
        ("01.01.2001 10:00", DateProblem.IN_THE_PAST),
        ("ieri 20:00", DateProblem.IN_THE_PAST),
        ("10.12.2099 10:00", DateProblem.TOO_FAR),
        ("2028-01-05 09:00", DateProblem.TOO_FAR),
    ],
)
def test_what_is_not_a_date_and_an_hour_to_come_is_refused_with_its_reason(typed: str, problem: DateProblem) -> None:
    with pytest.raises(DateError) as refused:
        parse_moment(typed, "ro", now=NOW, tz=BUCHAREST)
    assert refused.value.reason is problem


@settings(max_examples=150, deadline=None)
@given(
    minutes=st.integers(1, int(HORIZON.total_seconds() // 60) - 1),
    form=st.sampled_from(["dd.MM.y HH:mm", "d/M H:mm", "y-MM-dd HH:mm", "d MMMM y, H:mm", "d MMM H.mm"]),
    written_in=st.sampled_from(["ro", "en"]),
)
def test_any_moment_to_come_written_in_either_language_reads_back(minutes: int, form: str, written_in: str) -> None:
    moment = (NOW + timedelta(minutes=minutes)).replace(second=0)
    # Without the year, the same day next year reads as today's (the next such date, today included).
    assume("y" in form or moment.date() < NOW.date().replace(year=NOW.year + 1))
    typed = format_datetime(moment, form, tzinfo=BUCHAREST, locale=written_in)
    assert parse_moment(typed, written_in, now=NOW, tz=BUCHAREST) == moment


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_any_text_is_a_moment_to_come_or_a_reason(text: str) -> None:
    try:
        moment = parse_moment(text, "en", now=NOW, tz=BUCHAREST)
    except DateError as refused:
        assert isinstance(refused.reason, DateProblem)
    else:
        assert NOW < moment <= NOW + HORIZON
