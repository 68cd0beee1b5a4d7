"""Amounts of money and percentages, read and written in the reader's language (Romanian or English).

Free of aiogram (services use it): it imports only the standard library and Babel, and holds no wording — a
refused amount raises :class:`AmountError` with an :class:`AmountProblem`, which the handlers put into words.

Writing, as Babel 2.19 (CLDR) gives it — pinned in ``tests/test_amounts.py``:

* ``format_amount(Decimal("12500"), "RON", "ro")`` → ``"12.500,00\\u00a0RON"`` (a no-break space before the
  code; Babel writes the ISO code, not "lei");
* ``format_amount(Decimal("12500"), "RON", "en")`` → ``"RON12,500.00"`` (the code right before the number,
  no space); ``"EUR"`` gives ``"12.500,00\\u00a0EUR"`` in Romanian and ``"€12,500.00"`` in English;
* ``format_amount(Decimal("12500.5"), None, "ro" / "en")`` → ``"12.500,50"`` / ``"12,500.50"``;
* ``format_percent(0.5, "ro" / "en")`` → ``"50\\u00a0%"`` / ``"50%"`` (whole percents, rounded half to even:
  0.125 gives 12).

Reading (:func:`parse_amount`) accepts a decimal comma or a decimal point with or without thousands separators
(``.``, ``,``, a space, a no-break space U+00A0 or U+202F, a thin space U+2009):

* both ``.`` and ``,`` present: the last one is the decimal separator (``12.500,50``, ``12,500.50``);
* one of them repeated: it groups thousands (``1.500.000``), so the groups must be well formed;
* one of them once, followed by exactly three digits after one to three digits (``1.500``, ``1,500``): ambiguous,
  read as the reader's locale means it — the locale's decimal symbol is decimal, the other groups thousands
  (Romanian: ``1.500`` = 1500, ``1,500`` = 1.5; English: ``1,500`` = 1500, ``1.500`` = 1.5);
* one of them once otherwise: decimal (``1,5``, ``12500.5``, ``0.500``, ``12500,500``);
* spaces only ever group thousands; a ``.`` or ``,`` next to them is decimal (``12 500,50``, ``12 500.50``).

A groups-of-thousands integer part is one to three digits not starting with 0, then groups of exactly three
digits, all with the same separator; anything else (``1.50.0``, ``1.5000``, ``12 50``, ``1.500 000,5``) is
not a number. A leading ``+`` is allowed; a leading ``-`` (or U+2212) makes it not positive. One currency word
or symbol (``lei``, ``leu``, ``RON``, ``EUR``, ``euro``, ``€``, any case) right before or after the number is
dropped, so ``12.500 lei``, ``RON 12,500.00`` and ``€12,500.00`` read (the currency itself is not returned:
the caller knows which one it asked for). Only ASCII digits count.

Problems are checked in this order: not a number, not positive (negative or zero), too large (more than
10^12), too precise (more than ``decimals`` places once trailing zeros are dropped, so ``1,500`` in Romanian
is 1.5, not too precise).
"""

from __future__ import annotations

import enum
import re
from decimal import Decimal, localcontext

from babel.numbers import format_currency, format_decimal, get_decimal_symbol
from babel.numbers import format_percent as babel_format_percent

CURRENCIES = ("RON", "EUR")
"""The currencies the bot offers, as ISO 4217 codes."""

LIMIT = Decimal(10) ** 12
"""The largest amount accepted: anything more is absurd for a cluster's business."""

_SPACES = " \u00a0\u202f\u2009"
_CURRENCY = r"(?:lei|leu|ron|eur|euro|€)"
_SHAPE = re.compile(
    rf"(?P<sign>[+\-\u2212]?)\s*(?P<before>{_CURRENCY}\s*)?(?P<number>[0-9.,{_SPACES}]*?)\s*(?P<after>{_CURRENCY})?",
    re.IGNORECASE,
)
_GROUPED = re.compile(r"[1-9][0-9]{0,2}(?:(?P<sep>[.,]|[" + _SPACES + r"])[0-9]{3})(?:(?P=sep)[0-9]{3})*")
_AMBIGUOUS = re.compile(r"[1-9][0-9]{0,2}[.,][0-9]{3}")
_DIGITS = re.compile(r"[0-9]*")


class AmountProblem(enum.Enum):
    """Why a typed amount was refused; the handlers word it in the reader's language."""

    NOT_A_NUMBER = "not_a_number"
    NOT_POSITIVE = "not_positive"
    TOO_LARGE = "too_large"
    TOO_PRECISE = "too_precise"


class AmountError(ValueError):
    """A typed amount that cannot be taken, and why (:attr:`reason`)."""

    def __init__(self, reason: AmountProblem) -> None:
        super().__init__(reason.value)
        self.reason = reason


def _integer_part(text: str) -> str:
    """The digits of an integer part, ungrouped or grouped by one kind of separator; else not a number."""
    if _DIGITS.fullmatch(text):
        return text
    if _GROUPED.fullmatch(text):
        return re.sub(r"[^0-9]", "", text)
    raise AmountError(AmountProblem.NOT_A_NUMBER)


def _split(number: str, locale: str) -> tuple[str, str]:
    """The integer and fractional digits of a number without sign or currency (see the module's rules)."""
    marks = [(i, c) for i, c in enumerate(number) if c in ".,"]
    kinds = {c for _, c in marks}
    if not marks:
        return _integer_part(number), ""
    if len(kinds) == 2 or len(marks) == 1:
        position, decimal = marks[-1]
        if len(marks) == 1 and _AMBIGUOUS.fullmatch(number) and decimal != get_decimal_symbol(locale):
            return _integer_part(number), ""
        whole, fraction = number[:position], number[position + 1 :]
        if decimal in whole or not fraction or not fraction.isascii() or not fraction.isdigit():
            raise AmountError(AmountProblem.NOT_A_NUMBER)
        if not whole:
            return "0", fraction
        return _integer_part(whole), fraction
    return _integer_part(number), ""  # one mark, repeated: it groups thousands


def parse_amount(text: str, locale: str, decimals: int = 2) -> Decimal:
    """The positive amount typed in ``text`` as the reader of ``locale`` means it, at ``decimals`` places.

    Raises :class:`AmountError` with the :class:`AmountProblem` when it cannot be taken.
    """
    shape = _SHAPE.fullmatch(text.strip())
    if shape is None or not shape["number"] or (shape["before"] and shape["after"]):
        raise AmountError(AmountProblem.NOT_A_NUMBER)
    whole, fraction = _split(shape["number"], locale)
    value = Decimal(f"{whole or '0'}.{fraction or '0'}")
    if shape["sign"] in ("-", "\u2212") or value == 0:
        raise AmountError(AmountProblem.NOT_POSITIVE)
    if value > LIMIT:
        raise AmountError(AmountProblem.TOO_LARGE)
    step = Decimal(1).scaleb(-decimals)
    with localcontext() as context:
        context.prec = len(whole) + len(fraction) + decimals + 2
        rounded = value.quantize(step)
        if rounded != value:
            raise AmountError(AmountProblem.TOO_PRECISE)
    return rounded


def format_amount(value: Decimal, currency: str | None, locale: str) -> str:
    """``value`` written for the reader of ``locale``: with the ISO ``currency`` (Babel's ``format_currency``,
    two decimals), or without one (grouped thousands, two decimals); the exact forms are in the module's
    docstring."""
    if currency is None:
        return format_decimal(value, format="#,##0.00", locale=locale)
    return format_currency(value, currency, locale=locale)


def format_percent(value: float, locale: str) -> str:
    """The fraction ``value`` (0.5 for half) as a whole percent for the reader of ``locale`` (Babel's
    ``format_percent``: ``50\u00a0%`` in Romanian, ``50%`` in English)."""
    return babel_format_percent(value, locale=locale)


def format_money(value: Decimal, currency: str, locale: str) -> str:
    """Money as people of the cluster write it: ``12.500,00 lei`` in Romanian (lei, not Babel's "RON"),
    ``RON 12,500.00`` in English (the code and a no-break space before the number); euros as Babel writes them
    (``12.500,00 EUR``, ``€12,500.00``)."""
    if currency == "RON" and locale == "ro":
        return format_decimal(value, format="#,##0.00", locale=locale) + "\u00a0lei"
    if currency == "RON":
        return format_currency(value, currency, format="¤\u00a0#,##0.00", locale=locale)
    return format_currency(value, currency, locale=locale)


def format_quantity(value: Decimal, locale: str) -> str:
    """A count of days, hours or pieces: grouped thousands, decimals only when there are any (``1.500``,
    ``12,5`` in Romanian; ``1,500``, ``12.5`` in English)."""
    return format_decimal(value, format="#,##0.##", locale=locale)


def from_hundredths(hundredths: int) -> Decimal:
    """An amount kept in whole hundredths, as a Decimal."""
    return Decimal(hundredths).scaleb(-2)


def to_hundredths(value: Decimal) -> int:
    """A Decimal amount with at most two places, in whole hundredths."""
    return int(value.scaleb(2))
