"""The TED Search API v3 request the fetch sends: one expert query for the union of what every active profile
wants (CPV codes, keywords, countries, notice types) over a publication-date window.

The expert query only narrows what TED returns: matching a tender to a profile (CPV prefixes, exclusions,
values, deadlines) is done again on our side, so the query may be wider than any one profile but never
narrower. TED does not document whether a parent CPV code matches its children, so the codes are sent as
given and children must be filtered by prefix after the fetch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from bot.config import EU_COUNTRIES
from bot.services.tenders.parsing import COUNTRIES_2_TO_3

# ISO 3166-1 alpha-3 codes of the 27 EU member states (Romania among them), from the settings' alpha-2 list:
# the default countries.
EU_MEMBER_STATES: tuple[str, ...] = tuple(sorted(COUNTRIES_2_TO_3[code] for code in EU_COUNTRIES))
DEFAULT_COUNTRIES: frozenset[str] = frozenset(EU_MEMBER_STATES)

# Calls for competition: what a profile asks for unless it says otherwise.
DEFAULT_NOTICE_TYPES: frozenset[str] = frozenset({"cn-standard", "cn-social"})

# The fields every fetch asks for: everything the parsers read (TED returns `links` and the publication
# number in any case).
TED_FIELDS: tuple[str, ...] = (
    "publication-number",
    "notice-identifier",
    "procedure-identifier",
    "notice-version",
    "notice-type",
    "form-type",
    "publication-date",
    "notice-title",
    "title-proc",
    "buyer-name",
    "buyer-country",
    "place-of-performance",
    "classification-cpv",
    "main-classification-proc",
    "contract-nature",
    "procedure-type",
    "estimated-value-proc",
    "estimated-value-cur-proc",
    "estimated-value-lot",
    "estimated-value-cur-lot",
    "deadline-receipt-tender-date-lot",
    "deadline-receipt-tender-time-lot",
    "change-reason-code",
)

# TED's largest page.
TED_PAGE_LIMIT = 250
TED_SCOPES = frozenset({"ACTIVE", "LATEST", "ALL"})

_CPV_RE = re.compile(r"^(\d{8})(?:-\d)?$")
_COUNTRY_RE = re.compile(r"^[A-Z]{3}$")
_NOTICE_TYPE_RE = re.compile(r"^[a-z][a-z0-9-]*$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def _cpv8(code: str) -> str:
    match = _CPV_RE.match(code.strip())
    if match is None:
        raise ValueError(f"not a CPV code: {code!r}")
    return match.group(1)


def _keyword(text: str) -> str:
    return " ".join(_CONTROL_RE.sub(" ", text).split())


def quote_phrase(text: str) -> str:
    """A keyword as an expert-query string literal: in double quotes, backslashes and quotes escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class TedQuery:
    """What to ask TED for: notices with any of the CPV codes or keywords, from the countries, of the notice
    types, published on or after ``since``.

    Built from the union of every active profile's wishes; inputs are normalised (CPV codes to 8 digits
    without the check digit, countries upper-case, keywords trimmed of control characters and runs of
    spaces), so equal wishes give equal queries whatever their order.
    """

    cpv_codes: frozenset[str] = frozenset()
    keywords: frozenset[str] = frozenset()
    countries: frozenset[str] = DEFAULT_COUNTRIES
    notice_types: frozenset[str] = DEFAULT_NOTICE_TYPES
    since: date | None = None
    scope: str = "ACTIVE"
    limit: int = TED_PAGE_LIMIT
    fields: tuple[str, ...] = field(default=TED_FIELDS)

    @classmethod
    def build(
        cls,
        *,
        cpv_codes: Iterable[str] = (),
        keywords: Iterable[str] = (),
        countries: Iterable[str] | None = None,
        notice_types: Iterable[str] | None = None,
        since: date | None = None,
        scope: str = "ACTIVE",
        limit: int = TED_PAGE_LIMIT,
    ) -> TedQuery:
        """Normalise and check the wishes; ``ValueError`` on a malformed code, country or notice type."""
        codes = frozenset(_cpv8(code) for code in cpv_codes)
        words = frozenset(word for word in (_keyword(text) for text in keywords) if word)
        nations = DEFAULT_COUNTRIES if countries is None else frozenset(c.strip().upper() for c in countries)
        for country in nations:
            if not _COUNTRY_RE.match(country):
                raise ValueError(f"not an ISO 3166-1 alpha-3 country code: {country!r}")
        kinds = DEFAULT_NOTICE_TYPES if notice_types is None else frozenset(t.strip() for t in notice_types)
        for kind in kinds:
            if not _NOTICE_TYPE_RE.match(kind):
                raise ValueError(f"not a TED notice type: {kind!r}")
        if scope not in TED_SCOPES:
            raise ValueError(f"not a TED scope: {scope!r}")
        if not 1 <= limit <= TED_PAGE_LIMIT:
            raise ValueError(f"page limit out of 1..{TED_PAGE_LIMIT}: {limit}")
        return cls(
            cpv_codes=codes,
            keywords=words,
            countries=nations,
            notice_types=kinds,
            since=since,
            scope=scope,
            limit=limit,
        )

    @property
    def is_empty(self) -> bool:
        """Nobody wants anything: there is nothing to ask TED (the query would be every notice in Europe)."""
        return not self.cpv_codes and not self.keywords

    def expert_query(self) -> str:
        """The expert query, deterministic (every list sorted)."""
        if self.is_empty:
            raise ValueError("a TED query needs at least one CPV code or keyword")
        wanted: list[str] = []
        if self.cpv_codes:
            wanted.append(f"classification-cpv IN ({' '.join(sorted(self.cpv_codes))})")
        wanted.extend(f"FT ~ {quote_phrase(word)}" for word in sorted(self.keywords))
        clauses = [wanted[0] if len(wanted) == 1 else "(" + " OR ".join(wanted) + ")"]
        if self.countries:
            clauses.append(f"buyer-country IN ({' '.join(sorted(self.countries))})")
        if self.notice_types:
            clauses.append(f"notice-type IN ({' '.join(sorted(self.notice_types))})")
        if self.since is not None:
            clauses.append(f"publication-date>={self.since:%Y%m%d}")
        return " AND ".join(clauses)

    def request_body(self, iteration_token: str | None = None) -> dict[str, Any]:
        """The JSON body of ``POST /v3/notices/search`` for one ITERATION page (the first without a token)."""
        body: dict[str, Any] = {
            "query": self.expert_query(),
            "fields": list(self.fields),
            "limit": self.limit,
            "scope": self.scope,
            "paginationMode": "ITERATION",
            "onlyLatestVersions": False,
            "checkQuerySyntax": False,
        }
        if iteration_token is not None:
            body["iterationNextToken"] = iteration_token
        return body
