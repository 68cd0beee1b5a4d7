"""What every tender parser shares: its error, the problems it reports, and the codes it normalises (languages,
countries, CPV codes, dates and amounts as sources write them)."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation

from bot.services.tenders.model import Tender


class TenderProblem(enum.StrEnum):
    NOT_AN_OBJECT = "not_an_object"
    NO_ID = "no_id"
    NO_TITLE = "no_title"
    NO_RELEASES = "no_releases"
    NOT_A_FEED = "not_a_feed"
    NOT_UTF8 = "not_utf8"
    NO_HEADER = "no_header"
    BAD_ROW = "bad_row"
    BAD_VALUE = "bad_value"
    BAD_DATE = "bad_date"
    BAD_CPV = "bad_cpv"
    BAD_COUNTRY = "bad_country"
    BAD_KIND = "bad_kind"


class TenderParseError(ValueError):
    """A notice, package, feed or file that cannot give a tender: `reason` says why, `detail` what was seen."""

    def __init__(self, reason: TenderProblem, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class ParseProblem:
    """One entry skipped: where (`line` of a CSV file, else its position from 1), why, and the offending text."""

    position: int
    reason: TenderProblem
    detail: str = ""


@dataclass(frozen=True)
class ParsedTenders:
    tenders: list[Tender] = field(default_factory=list)
    problems: list[ParseProblem] = field(default_factory=list)


# The EU's official languages and their neighbours' as ISO 639-2 (terminology and bibliographic forms) -> 639-1.
_LANGUAGES_3_TO_2 = {
    "bul": "bg", "ces": "cs", "cze": "cs", "dan": "da", "deu": "de", "ger": "de", "ell": "el", "gre": "el",
    "eng": "en", "spa": "es", "est": "et", "fin": "fi", "fra": "fr", "fre": "fr", "gle": "ga", "hrv": "hr",
    "hun": "hu", "ita": "it", "lit": "lt", "lav": "lv", "mlt": "mt", "nld": "nl", "dut": "nl", "pol": "pl",
    "por": "pt", "ron": "ro", "rum": "ro", "slk": "sk", "slo": "sk", "slv": "sl", "swe": "sv", "nor": "no",
    "nob": "nb", "nno": "nn", "isl": "is", "ice": "is", "ukr": "uk", "srp": "sr", "mkd": "mk", "sqi": "sq",
    "tur": "tr",
}  # fmt: skip

# The EU, the EEA, and the candidate and neighbouring countries TED publishes for, ISO 3166-1 alpha-3 -> alpha-2.
_COUNTRIES_3_TO_2 = {
    "AUT": "AT", "BEL": "BE", "BGR": "BG", "HRV": "HR", "CYP": "CY", "CZE": "CZ", "DNK": "DK", "EST": "EE",
    "FIN": "FI", "FRA": "FR", "DEU": "DE", "GRC": "GR", "HUN": "HU", "IRL": "IE", "ITA": "IT", "LVA": "LV",
    "LTU": "LT", "LUX": "LU", "MLT": "MT", "NLD": "NL", "POL": "PL", "PRT": "PT", "ROU": "RO", "SVK": "SK",
    "SVN": "SI", "ESP": "ES", "SWE": "SE", "NOR": "NO", "ISL": "IS", "LIE": "LI", "CHE": "CH", "GBR": "GB",
    "MDA": "MD", "UKR": "UA", "SRB": "RS", "MKD": "MK", "MNE": "ME", "ALB": "AL", "BIH": "BA", "TUR": "TR",
    "GEO": "GE", "XKX": "XK",
}  # fmt: skip
_COUNTRIES_2 = frozenset(_COUNTRIES_3_TO_2.values()) | {"EL"}
# The other way, for TED's expert query (settings and profiles write alpha-2; Greece is "GR" or TED's "EL").
COUNTRIES_2_TO_3 = {two: three for three, two in _COUNTRIES_3_TO_2.items()} | {"EL": "GRC"}


def alpha3(code: str) -> str | None:
    """A country as TED's query writes it: "RO" (or "ROU") is "ROU"; None for a code it does not know."""
    code = code.strip().upper()
    if len(code) == 3 and code.isalpha():
        return code
    return COUNTRIES_2_TO_3.get(code)


_CPV = re.compile(r"\s*(\d{7,8})(?:\s*[-.]\s*\d)?\s*")
_NUTS = re.compile(r"[A-Z]{2}[0-9A-Z]{1,3}")


def language(code: object) -> str | None:
    """An ISO 639-1 code from a source's language key ("ron", "RON", "ro", "ro-RO"); None when it names none."""
    if not isinstance(code, str):
        return None
    key = code.strip().lower().replace("_", "-").split("-")[0]
    if len(key) == 2 and key.isascii() and key.isalpha():
        return key
    return _LANGUAGES_3_TO_2.get(key)


def country(code: object) -> str | None:
    """An ISO 3166-1 alpha-2 code from alpha-3 ("ROU") or alpha-2 ("ro"); None for anything else."""
    if not isinstance(code, str):
        return None
    key = code.strip().upper()
    if key in _COUNTRIES_3_TO_2:
        return _COUNTRIES_3_TO_2[key]
    # Greece is "EL" in EU documents and "GR" in ISO 3166.
    if key == "EL":
        return "GR"
    if len(key) == 2 and key.isascii() and key.isalpha():
        return key
    return None


def place(code: object) -> str | None:
    """A place of performance as the bot keeps it: a NUTS code as given, a country as alpha-2."""
    if not isinstance(code, str):
        return None
    key = code.strip().upper()
    if key in _COUNTRIES_3_TO_2:
        return _COUNTRIES_3_TO_2[key]
    return key if _NUTS.fullmatch(key) else None


def cpv_code(raw: object) -> str | None:
    """An 8-digit CPV code from "45233162-2", "45233130.0", "09331200" or 9331200 (a spreadsheet's number, its
    leading zero lost); None when it is none of these."""
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        return None
    match = _CPV.fullmatch(str(raw))
    if match is None:
        return None
    return match.group(1).zfill(8)


def unique(codes: Iterable[str | None]) -> tuple[str, ...]:
    """The codes in their first order, each once, without the missing ones."""
    return tuple(dict.fromkeys(code for code in codes if code))


def amount(raw: object) -> Decimal | None:
    """A non-negative finite amount from a number or a string ("185000", "498857.88", "2.450.000,50",
    "2 450 000"); None otherwise."""
    if isinstance(raw, bool) or not isinstance(raw, str | int | float | Decimal):
        return None
    text = str(raw).strip().replace("\u00a0", "").replace(" ", "")
    if "," in text and "." in text:
        # The separator that comes last is the decimal one.
        decimal_mark = "," if text.rfind(",") > text.rfind(".") else "."
        thousands = "." if decimal_mark == "," else ","
        text = text.replace(thousands, "").replace(decimal_mark, ".")
    elif "," in text:
        text = text.replace(",", ".") if text.count(",") == 1 else text.replace(",", "")
    elif text.count(".") > 1:
        text = text.replace(".", "")
    if not re.fullmatch(r"\d+(\.\d+)?", text):
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def currency(raw: object) -> str | None:
    if not isinstance(raw, str):
        return None
    code = raw.strip().upper()
    return code if len(code) == 3 and code.isascii() and code.isalpha() else None


_DATE_WITH_OFFSET = re.compile(r"(\d{4}-\d{2}-\d{2})(Z|[+-]\d{2}:\d{2})?")
_TIME_WITH_OFFSET = re.compile(r"(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(Z|[+-]\d{2}:\d{2})?")
# A deadline given as a day only runs to that day's end.
END_OF_DAY = time(23, 59, 59)


def _offset(text: str | None) -> tzinfo | None:
    if not text:
        return None
    if text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    hours, minutes = int(text[1:3]), int(text[4:6])
    if hours > 23 or minutes > 59:
        raise ValueError(text)
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def instant(raw: object, clock: object = None, *, day_time: time = time(0), default_zone: tzinfo = UTC) -> datetime:
    """An aware datetime from what sources write: "2026-09-28+02:00", "2026-10-14Z", "2026-11-20T15:00:00+02:00",
    with an optional separate time ("15:00:00+02:00"), whose offset wins. A day alone is taken at `day_time`,
    a date without any offset in `default_zone`. Raises ValueError when it is none of these."""
    if not isinstance(raw, str):
        raise ValueError(repr(raw))
    text = raw.strip()
    day_match = _DATE_WITH_OFFSET.fullmatch(text)
    if day_match is None:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=default_zone)
    day = date.fromisoformat(day_match.group(1))
    zone = _offset(day_match.group(2))
    at = day_time
    if isinstance(clock, str) and (time_match := _TIME_WITH_OFFSET.fullmatch(clock.strip())):
        at = time.fromisoformat(time_match.group(1))
        zone = _offset(time_match.group(2)) or zone
    return datetime.combine(day, at, tzinfo=zone or default_zone)


def text_value(raw: object) -> str | None:
    """A source's text tidied to one line; a list gives its first non-empty text; None when there is none."""
    if isinstance(raw, list):
        for item in raw:
            if (found := text_value(item)) is not None:
                return found
        return None
    if not isinstance(raw, str):
        return None
    tidy = " ".join(raw.split())
    return tidy or None
