"""RSS and Atom feeds of notices (read with feedparser) as `Tender`s: title, link, date, and the CPV codes found
in an item's categories or text."""

from __future__ import annotations

import calendar
import io
import re
import time
from datetime import UTC, datetime

import feedparser

from bot.services.tenders.model import Tender, TenderKind
from bot.services.tenders.parsing import (
    ParsedTenders,
    ParseProblem,
    TenderParseError,
    TenderProblem,
    cpv_code,
    language,
    text_value,
    unique,
)

# A category is a code on its own or with its label ("09332000-5 Instalații solare", "CPV: 09332000").
_CODE = re.compile(r"(?<![\d.,])(\d{8})(?:-\d)?(?![\d.,]*\d)")
# In free text an 8-digit number could be a date or a phone number: a code there has its check digit or
# follows the word CPV ("CPV 09332000, 45261215").
_CODE_WITH_CHECK = re.compile(r"(?<!\d)(\d{8})-\d(?!\d)")
_CPV_LIST = re.compile(r"\bCPV\b[^\d\n]{0,20}((?:\d{8}(?:-\d)?(?:\s*[,;/]\s*|\s+))*\d{8}(?:-\d)?)", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")


def _moment(parsed: object) -> datetime | None:
    if not isinstance(parsed, time.struct_time):
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _codes_in_text(text: str) -> list[str | None]:
    codes: list[str | None] = [cpv_code(code) for code in _CODE_WITH_CHECK.findall(text)]
    for listed in _CPV_LIST.findall(text):
        codes.extend(cpv_code(code) for code in re.findall(r"\d{8}", listed))
    return codes


def parse_feed(
    text: str | bytes, source: str, *, default_language: str = "en", kind: TenderKind = TenderKind.COMPETITION
) -> ParsedTenders:
    """A tender for each item with a title and a link or id; a problem (the item's position from 1) for each
    other item. Items are in the feed's language, else in `default_language`. Raises `TenderParseError` when
    the text is not a feed at all."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    # A stream, never a string: feedparser fetches a string that looks like a URL and opens one that names a file.
    try:
        feed = feedparser.parse(io.BytesIO(data))
    except Exception as error:
        # feedparser's loose parser raises on some broken markup (a KeyError on "<category</item>>", found by
        # tests/test_tender_fuzz.py): that is not a feed either.
        raise TenderParseError(TenderProblem.NOT_A_FEED, f"{type(error).__name__}: {error}"[:200]) from error
    if feed.get("bozo") and not feed.get("entries") and not feed.get("feed"):
        raise TenderParseError(TenderProblem.NOT_A_FEED, str(feed.get("bozo_exception", ""))[:200])
    code = language(feed.get("feed", {}).get("language")) or default_language
    parsed = ParsedTenders()
    for position, entry in enumerate(feed.get("entries", []), start=1):
        title = text_value(entry.get("title"))
        link = text_value(entry.get("link"))
        identifier = text_value(entry.get("id")) or link
        if identifier is None:
            parsed.problems.append(ParseProblem(position, TenderProblem.NO_ID, title or ""))
            continue
        if title is None:
            parsed.problems.append(ParseProblem(position, TenderProblem.NO_TITLE, identifier))
            continue
        summary = _TAG.sub(" ", entry.get("summary") or "")
        description = text_value(summary)
        categories = [term for tag in entry.get("tags") or [] if isinstance(term := tag.get("term"), str)]
        cpv = unique(
            [cpv_code(found) for term in categories for found in _CODE.findall(term)]
            + _codes_in_text(f"{title}\n{summary}")
        )
        parsed.tenders.append(
            Tender(
                source=source,
                source_id=identifier,
                kind=kind,
                title={code: title},
                description={code: description} if description else {},
                cpv=cpv,
                links={code: link} if link else {},
                published_at=_moment(entry.get("published_parsed") or entry.get("updated_parsed")),
            )
        )
    return parsed
