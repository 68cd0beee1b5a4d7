"""Tender CSV files (the national system's open-data exports reshaped, or a cluster's own list) as `Tender`s.

The file is UTF-8, with or without a byte-order mark, comma-separated, fields quoted as RFC 4180 says (a field
with a comma, a quote or a line break in double quotes, a quote doubled). The first line names the columns, in
any order; `id` and at least one of `title_ro`, `title_en` are required, the others may be left out:

    id,procedure_id,title_ro,title_en,buyer,country,cpv,value,currency,deadline,kind,link,published

- `id`: the tender's id in this source (unique in it); `procedure_id`: the procedure's id where known (a TED
  procedure identifier or an OCDS ocid lets the same procedure be recognised across sources).
- `title_ro`, `title_en`: the title in Romanian and in English (at least one per row).
- `buyer`: the contracting authority's name; `country`: ISO 3166-1 alpha-2 or alpha-3 (`RO`, `ROU`).
- `cpv`: CPV codes separated by `;`, with or without the check digit (`09332000-5;45261215`), the main first.
- `value`: a number (`2450000`, `2450000.50`, `2.450.000,50`); `currency`: ISO 4217 (`RON`, `EUR`).
- `deadline`, `published`: ISO 8601 (`2026-11-20`, `2026-11-20T15:00`, `2026-11-20T15:00:00+02:00`) or
  `dd.mm.yyyy` with an optional `HH:MM`; without an offset, Bucharest time; a day alone: a deadline runs to its
  end, a publication from its start.
- `kind`: `planning`, `competition` (when empty) or `result`; `link`: the notice's page (in the title's
  language: Romanian when there is a Romanian title).

A row with a bad field is skipped and reported with its line number and column; it never stops the file.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from datetime import datetime, time
from zoneinfo import ZoneInfo

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
    text_value,
    unique,
)

COLUMNS = (
    "id",
    "procedure_id",
    "title_ro",
    "title_en",
    "buyer",
    "country",
    "cpv",
    "value",
    "currency",
    "deadline",
    "kind",
    "link",
    "published",
)
ZONE = ZoneInfo("Europe/Bucharest")
_DOTTED = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})(?:[ T]+(\d{1,2}):(\d{2}))?")


class _BadField(Exception):
    def __init__(self, reason: TenderProblem, column: str, value: str) -> None:
        super().__init__(column)
        self.reason = reason
        self.detail = f"{column}={value[:80]}"


def _moment(raw: str, column: str, day_time: time) -> datetime | None:
    if not raw:
        return None
    dotted = _DOTTED.fullmatch(raw)
    try:
        if dotted:
            day, month, year, hour, minute = dotted.groups()
            at = time(int(hour), int(minute)) if hour else day_time
            return datetime(int(year), int(month), int(day), at.hour, at.minute, at.second, tzinfo=ZONE)
        return instant(raw, day_time=day_time, default_zone=ZONE)
    except (ValueError, OverflowError) as error:
        raise _BadField(TenderProblem.BAD_DATE, column, raw) from error


def _tender(row: Mapping[str, str], source: str) -> Tender:
    def get(column: str) -> str:
        return text_value(row.get(column)) or ""

    identifier = get("id")
    if not identifier:
        raise _BadField(TenderProblem.NO_ID, "id", "")
    title = {code: text for code in ("ro", "en") if (text := get(f"title_{code}"))}
    if not title:
        raise _BadField(TenderProblem.NO_TITLE, "title_ro", "")
    codes = [part.strip() for part in get("cpv").split(";") if part.strip()]
    cpv = [cpv_code(code) for code in codes]
    if None in cpv:
        raise _BadField(TenderProblem.BAD_CPV, "cpv", get("cpv"))
    place = get("country")
    country_code = country(place) if place else None
    if place and country_code is None:
        raise _BadField(TenderProblem.BAD_COUNTRY, "country", place)
    value = amount(get("value")) if get("value") else None
    if get("value") and value is None:
        raise _BadField(TenderProblem.BAD_VALUE, "value", get("value"))
    money = currency(get("currency")) if get("currency") else None
    if get("currency") and money is None:
        raise _BadField(TenderProblem.BAD_VALUE, "currency", get("currency"))
    try:
        kind = TenderKind(get("kind").lower() or TenderKind.COMPETITION)
    except ValueError as error:
        raise _BadField(TenderProblem.BAD_KIND, "kind", get("kind")) from error
    link = get("link")
    return Tender(
        source=source,
        source_id=identifier,
        kind=kind,
        title=title,
        procedure_id=get("procedure_id") or None,
        buyer=get("buyer") or None,
        country=country_code,
        cpv=unique(cpv),
        value=value,
        currency=money if value is not None else None,
        deadline=_moment(get("deadline"), "deadline", END_OF_DAY),
        links={next(iter(title)): link} if link else {},
        published_at=_moment(get("published"), "published", time(0)),
    )


def parse_csv(text: str | bytes, source: str) -> ParsedTenders:
    """A tender for each good row, a problem (its first line's number) for each bad one. Raises
    `TenderParseError` when the file is not UTF-8 or its header lacks `id` or both titles."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise TenderParseError(TenderProblem.NOT_UTF8, f"byte {error.start}") from error
    text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as error:
        raise TenderParseError(TenderProblem.NO_HEADER, str(error)) from error
    names = [name.strip().lower() for name in header or []]
    if "id" not in names or not {"title_ro", "title_en"} & set(names):
        raise TenderParseError(TenderProblem.NO_HEADER, ",".join(names)[:200])
    parsed = ParsedTenders()
    seen: set[str] = set()
    start = reader.line_num + 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            parsed.problems.append(ParseProblem(start, TenderProblem.BAD_ROW, str(error)))
            start = reader.line_num + 1
            continue
        line, start = start, reader.line_num + 1
        if not any(field.strip() for field in fields):
            continue
        if len(fields) > len(names):
            parsed.problems.append(ParseProblem(line, TenderProblem.BAD_ROW, f"{len(fields)} fields"))
            continue
        row = dict(zip(names, fields, strict=False))
        try:
            tender = _tender(row, source)
        except _BadField as bad:
            parsed.problems.append(ParseProblem(line, bad.reason, bad.detail))
            continue
        if tender.source_id in seen:
            parsed.problems.append(ParseProblem(line, TenderProblem.BAD_ROW, f"id={tender.source_id} repeated"))
            continue
        seen.add(tender.source_id)
        parsed.tenders.append(tender)
    return parsed
