"""A TED Search API v3 notice (one item of a search response's `notices`) as a `Tender`, tolerant of every shape
TED returns (docs/TENDERS.md in the shared docs; samples in tests/data/tenders/)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

from bot.services.tenders.model import Tender, TenderKind
from bot.services.tenders.parsing import (
    END_OF_DAY,
    ParsedTenders,
    ParseProblem,
    TenderParseError,
    TenderProblem,
    amount,
    country,
    cpv_code,
    currency,
    instant,
    language,
    place,
    text_value,
    unique,
)

SOURCE = "ted"
# TED's page of a notice, for notices whose answer carries no `links.html` (only the XML, as some do).
NOTICE_PAGE = "https://ted.europa.eu/{language}/notice/-/detail/{number}"
# Link kinds in the order a member would rather open them.
_PAGE_LINKS = ("html", "htmlDirect", "pdf")
# Buyers' names in the order the bot's readers would rather read them.
_BUYER_LANGUAGES = ("ro", "en")


def _texts(raw: object) -> dict[str, str]:
    """A per-language map ({"ron": "...", "ENG": ["..."]}) keyed by ISO 639-1, empty texts left out."""
    if not isinstance(raw, Mapping):
        return {}
    texts: dict[str, str] = {}
    for key, value in raw.items():
        code = language(key)
        text = text_value(value)
        if code and text and code not in texts:
            texts[code] = text
    return texts


def _list(raw: object) -> list[object]:
    if isinstance(raw, list):
        return raw
    return [] if raw is None else [raw]


def _kind(notice: Mapping[object, object]) -> TenderKind:
    notice_type = notice.get("notice-type")
    form_type = notice.get("form-type")
    kind = notice_type.strip().lower() if isinstance(notice_type, str) else ""
    if kind.startswith("pin"):
        return TenderKind.PLANNING
    if kind.startswith("can") or kind == "veat":
        return TenderKind.RESULT
    if kind.startswith("cn"):
        return TenderKind.COMPETITION
    form = form_type.strip().lower() if isinstance(form_type, str) else ""
    if form == "planning":
        return TenderKind.PLANNING
    if form == "result":
        return TenderKind.RESULT
    # The bot's queries ask for calls for competition unless a profile asks for more: a notice that says
    # nothing of its kind came from such a query.
    return TenderKind.COMPETITION


def _version(raw: object) -> int:
    if isinstance(raw, bool):
        return 1
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw.strip())
    return raw if isinstance(raw, int) and 1 <= raw <= 10_000 else 1


def _deadline(notice: Mapping[object, object]) -> datetime | None:
    """The earliest of the lots' deadlines, each with its lot's time when TED gives it."""
    days = _list(notice.get("deadline-receipt-tender-date-lot"))
    times = _list(notice.get("deadline-receipt-tender-time-lot"))
    moments = []
    for index, day in enumerate(days):
        clock = times[index] if index < len(times) else (times[0] if len(times) == 1 else None)
        try:
            moments.append(instant(day, clock, day_time=END_OF_DAY))
        except (ValueError, OverflowError):
            continue
    return min(moments, default=None)


def _value(notice: Mapping[object, object]) -> tuple[Decimal | None, str | None]:
    """The procedure's estimated value, else the sum of its lots', with its currency."""
    procedure = amount(text_value(notice.get("estimated-value-proc")) or notice.get("estimated-value-proc"))
    if procedure is not None:
        return procedure, currency(text_value(notice.get("estimated-value-cur-proc")))
    lots = [found for raw in _list(notice.get("estimated-value-lot")) if (found := amount(raw)) is not None]
    if not lots:
        return None, None
    return sum(lots, Decimal(0)), currency(text_value(notice.get("estimated-value-cur-lot")))


def _links(notice: Mapping[object, object], number: str) -> dict[str, str]:
    links = notice.get("links")
    found: dict[str, str] = {}
    if isinstance(links, Mapping):
        for kind in _PAGE_LINKS:
            for code, url in _texts(links.get(kind)).items():
                if url.startswith(("https://", "http://")):
                    found.setdefault(code, url)
    return found or {"en": NOTICE_PAGE.format(language="en", number=number)}


def _buyer(notice: Mapping[object, object]) -> str | None:
    names = _texts(notice.get("buyer-name"))
    for code in _BUYER_LANGUAGES:
        if code in names:
            return names[code]
    return next(iter(names.values()), None)


def _published(raw: object) -> datetime | None:
    try:
        return instant(text_value(raw))
    except (ValueError, OverflowError):
        return None


def parse_notice(notice: object) -> Tender:
    """The tender a notice describes; raises `TenderParseError` (and nothing else) when it has no publication
    number or no title in any language."""
    if not isinstance(notice, Mapping):
        raise TenderParseError(TenderProblem.NOT_AN_OBJECT, type(notice).__name__)
    number = text_value(notice.get("publication-number"))
    if number is None:
        raise TenderParseError(TenderProblem.NO_ID, "publication-number")
    title = _texts(notice.get("notice-title")) or _texts(notice.get("title-proc"))
    if not title:
        raise TenderParseError(TenderProblem.NO_TITLE, number)
    version = _version(notice.get("notice-version"))
    value, value_currency = _value(notice)
    cpv = unique(
        cpv_code(code)
        for key in ("main-classification-proc", "main-classification-lot", "classification-cpv")
        for code in _list(notice.get(key))
    )
    return Tender(
        source=SOURCE,
        source_id=number,
        kind=_kind(notice),
        title=title,
        procedure_id=text_value(notice.get("procedure-identifier")),
        version=version,
        is_change=version > 1 or text_value(notice.get("change-reason-code")) is not None,
        description=_texts(notice.get("description-proc")),
        buyer=_buyer(notice),
        country=next((c for raw in _list(notice.get("buyer-country")) if (c := country(raw))), None),
        places=unique(place(raw) for raw in _list(notice.get("place-of-performance"))),
        cpv=cpv,
        value=value,
        currency=value_currency if value is not None else None,
        deadline=_deadline(notice),
        links=_links(notice, number),
        published_at=_published(notice.get("publication-date")),
    )


def parse_response(response: object) -> ParsedTenders:
    """Every notice of a search response that makes a tender, and a problem (its position from 1) for each that
    does not; raises `TenderParseError` when the answer has no list of notices at all."""
    notices = response.get("notices") if isinstance(response, Mapping) else None
    if not isinstance(notices, list):
        raise TenderParseError(TenderProblem.NOT_AN_OBJECT, "notices")
    parsed = ParsedTenders()
    for position, notice in enumerate(notices, start=1):
        try:
            parsed.tenders.append(parse_notice(notice))
        except TenderParseError as error:
            parsed.problems.append(ParseProblem(position, error.reason, error.detail))
    return parsed
