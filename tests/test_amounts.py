"""Amounts read and written in the reader's language: every reading rule in Romanian and English, refusals, a
round trip through Babel's own formatting, and the exact forms Babel writes."""

from __future__ import annotations

from decimal import Decimal

import pytest
from babel.numbers import format_decimal
from hypothesis import example, given
from hypothesis import strategies as st

from bot.amounts import CURRENCIES, LIMIT, AmountError, AmountProblem, format_amount, format_percent, parse_amount

LOCALES = ("ro", "en")

# Read the same in both locales.
BOTH = [
    ("12500", "12500"),
    ("12 500", "12500"),
    ("12\u00a0500", "12500"),
    ("12\u202f500", "12500"),
    ("12 500,50", "12500.50"),
    ("12\u00a0500,50", "12500.50"),
    ("12\u202f500,50", "12500.50"),
    ("12 500.50", "12500.50"),
    ("12.500,50", "12500.50"),
    ("12,500.50", "12500.50"),
    ("1.234.567,89", "1234567.89"),
    ("1,234,567.89", "1234567.89"),
    ("1.500.000", "1500000"),
    ("1,500,000", "1500000"),
    ("1 500 000", "1500000"),
    ("12500,5", "12500.5"),
    ("12500.5", "12500.5"),
    ("12500,500", "12500.5"),
    ("1,5", "1.5"),
    ("1.5", "1.5"),
    ("1.5000", "1.5"),
    ("0,50", "0.5"),
    ("0.500", "0.5"),
    (",5", "0.5"),
    ("+12500", "12500"),
    ("+ 12,5", "12.5"),
    ("  12500  ", "12500"),
    ("0012500", "12500"),
    ("1000000000000", "1000000000000"),
    ("12.500,00 lei", "12500"),
    ("12500 LEI", "12500"),
    ("1 leu", "1"),
    ("RON 12,500.00", "12500"),
    ("RON12,500.00", "12500"),
    ("12.500,00\u00a0RON", "12500"),
    ("12500 EUR", "12500"),
    ("12500 euro", "12500"),
    ("€12,500.00", "12500"),
    ("12.500,00 €", "12500"),
    ("+€12,5", "12.5"),
]

# The ambiguous single separator before exactly three digits, as each locale means it.
AMBIGUOUS = [
    ("1.500", "ro", "1500"),
    ("1,500", "ro", "1.5"),
    ("1.500", "en", "1.5"),
    ("1,500", "en", "1500"),
    ("12.500", "ro", "12500"),
    ("12.500", "en", "12.5"),
    ("999,999", "en", "999999"),
]

REFUSED = [
    ("", AmountProblem.NOT_A_NUMBER),
    ("   ", AmountProblem.NOT_A_NUMBER),
    ("abc", AmountProblem.NOT_A_NUMBER),
    ("lei", AmountProblem.NOT_A_NUMBER),
    ("+", AmountProblem.NOT_A_NUMBER),
    ("-", AmountProblem.NOT_A_NUMBER),
    ("12a", AmountProblem.NOT_A_NUMBER),
    ("1e5", AmountProblem.NOT_A_NUMBER),
    ("1.50.0", AmountProblem.NOT_A_NUMBER),
    ("1,50,0", AmountProblem.NOT_A_NUMBER),
    ("1.5000.000", AmountProblem.NOT_A_NUMBER),
    ("12 50", AmountProblem.NOT_A_NUMBER),
    ("12  500", AmountProblem.NOT_A_NUMBER),
    ("1.500 000,5", AmountProblem.NOT_A_NUMBER),
    ("01.500.000", AmountProblem.NOT_A_NUMBER),
    ("1,234.567,89", AmountProblem.NOT_A_NUMBER),
    ("1.234,56 7", AmountProblem.NOT_A_NUMBER),
    ("12.", AmountProblem.NOT_A_NUMBER),
    ("12,", AmountProblem.NOT_A_NUMBER),
    ("1..5", AmountProblem.NOT_A_NUMBER),
    ("lei 12 lei", AmountProblem.NOT_A_NUMBER),
    ("12 $", AmountProblem.NOT_A_NUMBER),
    ("€-12", AmountProblem.NOT_A_NUMBER),
    ("+-12", AmountProblem.NOT_A_NUMBER),
    ("١٢", AmountProblem.NOT_A_NUMBER),
    ("²", AmountProblem.NOT_A_NUMBER),
    ("12leiX", AmountProblem.NOT_A_NUMBER),
    ("-12500", AmountProblem.NOT_POSITIVE),
    ("-1,5", AmountProblem.NOT_POSITIVE),
    ("\u221212", AmountProblem.NOT_POSITIVE),
    ("-€12", AmountProblem.NOT_POSITIVE),
    ("0", AmountProblem.NOT_POSITIVE),
    ("0,00", AmountProblem.NOT_POSITIVE),
    ("0.0", AmountProblem.NOT_POSITIVE),
    ("-0", AmountProblem.NOT_POSITIVE),
    ("1000000000000,01", AmountProblem.TOO_LARGE),
    ("1000000000001", AmountProblem.TOO_LARGE),
    ("1.000.000.000.000,01", AmountProblem.TOO_LARGE),
    ("9" * 400, AmountProblem.TOO_LARGE),
    ("12500,505", AmountProblem.TOO_PRECISE),
    ("0,001", AmountProblem.TOO_PRECISE),
    ("1.5001", AmountProblem.TOO_PRECISE),
    ("1,5001", AmountProblem.TOO_PRECISE),
]


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(("text", "expected"), BOTH)
def test_read_the_same_in_both_locales(text: str, expected: str, locale: str) -> None:
    assert parse_amount(text, locale) == Decimal(expected)


@pytest.mark.parametrize(("text", "locale", "expected"), AMBIGUOUS)
def test_ambiguous_separator_is_read_as_the_locale_means_it(text: str, locale: str, expected: str) -> None:
    assert parse_amount(text, locale) == Decimal(expected)


def test_ambiguous_decimal_reading_can_be_too_precise() -> None:
    with pytest.raises(AmountError) as refused:
        parse_amount("999,999", "ro")
    assert refused.value.reason is AmountProblem.TOO_PRECISE
    assert parse_amount("999,999", "ro", decimals=3) == Decimal("999.999")


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(("text", "problem"), REFUSED)
def test_refused_with_the_reason(text: str, problem: AmountProblem, locale: str) -> None:
    with pytest.raises(AmountError) as refused:
        parse_amount(text, locale)
    assert refused.value.reason is problem
    assert isinstance(refused.value, ValueError)


@pytest.mark.parametrize("locale", LOCALES)
def test_the_limit_itself_is_accepted(locale: str) -> None:
    assert parse_amount("1 000 000 000 000,00" if locale == "ro" else "1,000,000,000,000.00", locale) == LIMIT


@pytest.mark.parametrize("locale", LOCALES)
def test_decimals_allowed_is_a_parameter(locale: str) -> None:
    assert parse_amount("12500", locale, decimals=0) == Decimal(12500)
    with pytest.raises(AmountError) as refused:
        parse_amount("12500,5", locale, decimals=0)
    assert refused.value.reason is AmountProblem.TOO_PRECISE
    assert parse_amount("0,125", locale, decimals=3) == Decimal("0.125")


@pytest.mark.parametrize("locale", LOCALES)
def test_the_result_carries_the_decimals_allowed(locale: str) -> None:
    assert str(parse_amount("12500", locale)) == "12500.00"
    assert str(parse_amount("1,5", locale)) == "1.50"
    assert str(parse_amount("7", locale, decimals=0)) == "7"


amounts = st.decimals(min_value=Decimal("0.01"), max_value=LIMIT - Decimal("0.01"), places=2)


@given(value=amounts, locale=st.sampled_from(LOCALES), pattern=st.sampled_from([None, "#,##0.00", "#,##0.##"]))
@example(value=Decimal("1500.00"), locale="ro", pattern=None)  # "1.500"
@example(value=Decimal("1500.00"), locale="en", pattern=None)  # "1,500"
@example(value=Decimal("1.50"), locale="ro", pattern=None)  # "1,5"
def test_what_babel_writes_reads_back(value: Decimal, locale: str, pattern: str | None) -> None:
    written = format_decimal(value, format=pattern, locale=locale, group_separator=True)
    assert parse_amount(written, locale) == value


@given(value=amounts, locale=st.sampled_from(LOCALES), currency=st.sampled_from(CURRENCIES))
def test_what_format_amount_writes_reads_back(value: Decimal, locale: str, currency: str) -> None:
    assert parse_amount(format_amount(value, currency, locale), locale) == value
    assert parse_amount(format_amount(value, None, locale), locale) == value


FORMATTED = [
    (Decimal("12500"), "RON", "ro", "12.500,00\u00a0RON"),
    (Decimal("12500"), "RON", "en", "RON12,500.00"),
    (Decimal("12500"), "EUR", "ro", "12.500,00\u00a0EUR"),
    (Decimal("12500"), "EUR", "en", "€12,500.00"),
    (Decimal("1234567.5"), "RON", "ro", "1.234.567,50\u00a0RON"),
    (Decimal("0.5"), "EUR", "en", "€0.50"),
    (Decimal("12500.5"), None, "ro", "12.500,50"),
    (Decimal("12500.5"), None, "en", "12,500.50"),
    (Decimal("7"), None, "ro", "7,00"),
    (Decimal("1000000000000"), None, "en", "1,000,000,000,000.00"),
]


@pytest.mark.parametrize(("value", "currency", "locale", "expected"), FORMATTED)
def test_format_amount(value: Decimal, currency: str | None, locale: str, expected: str) -> None:
    assert format_amount(value, currency, locale) == expected


@pytest.mark.parametrize(
    ("value", "locale", "expected"),
    [
        (0.5, "ro", "50\u00a0%"),
        (0.5, "en", "50%"),
        (0.125, "ro", "12\u00a0%"),
        (1.0, "en", "100%"),
        (12.5, "ro", "1.250\u00a0%"),
        (12.5, "en", "1,250%"),
        (0.0, "ro", "0\u00a0%"),
    ],
)
def test_format_percent(value: float, locale: str, expected: str) -> None:
    assert format_percent(value, locale) == expected


def test_currencies() -> None:
    assert CURRENCIES == ("RON", "EUR")
