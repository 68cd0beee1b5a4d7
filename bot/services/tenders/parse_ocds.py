"""OCDS 1.1 release packages as `Tender`s: the releases of one `ocid` merged in date order (a later release's
fields win, field by field), one tender per procedure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bot.services.tenders.model import Tender, TenderKind
from bot.services.tenders.parsing import (
    ParsedTenders,
    ParseProblem,
    TenderParseError,
    TenderProblem,
    amount,
    cpv_code,
    currency,
    instant,
    language,
    place,
    text_value,
    unique,
)

# OCDS 1.1's schema: a release's texts are in English unless its `language` says otherwise.
DEFAULT_LANGUAGE = "en"
_RESULT_TAGS = frozenset(
    {
        "award",
        "awardUpdate",
        "awardCancellation",
        "contract",
        "contractUpdate",
        "contractAmendment",
        "implementation",
        "implementationUpdate",
        "contractTermination",
    }
)
_PLANNING_STATUSES = frozenset({"planning", "planned"})
_RESULT_STATUSES = frozenset({"complete", "unsuccessful", "cancelled", "withdrawn"})
_EARLIEST = datetime.min.replace(tzinfo=UTC)


def _merge(earlier: Mapping[str, Any], later: Mapping[str, Any]) -> dict[str, Any]:
    """OCDS's merge as far as the bot reads it: objects merged field by field, any other value replaced."""
    merged = dict(earlier)
    for key, value in later.items():
        if value is None:
            continue
        previous = merged.get(key)
        if isinstance(previous, Mapping) and isinstance(value, Mapping):
            merged[key] = _merge(previous, value)
        else:
            merged[key] = value
    return merged


def _date(raw: object) -> datetime | None:
    try:
        return instant(raw)
    except (ValueError, OverflowError):
        return None


def _tags(raw: object) -> set[str]:
    return {tag for tag in raw if isinstance(tag, str)} if isinstance(raw, list) else set()


def _kind(tags: set[str], raw_status: object) -> TenderKind:
    # A status that is not a string (a list, an object: seen in fuzzed packages) says nothing.
    status = raw_status if isinstance(raw_status, str) else None
    if "planning" in tags or "planningUpdate" in tags or status in _PLANNING_STATUSES:
        return TenderKind.PLANNING
    if tags & _RESULT_TAGS or status in _RESULT_STATUSES:
        return TenderKind.RESULT
    return TenderKind.COMPETITION


def _mapping(raw: object) -> Mapping[str, Any]:
    return raw if isinstance(raw, Mapping) else {}


def _items(raw: object) -> list[Mapping[str, Any]]:
    return [item for item in raw if isinstance(item, Mapping)] if isinstance(raw, list) else []


def _cpv(tender: Mapping[str, Any]) -> tuple[str, ...]:
    classifications = []
    for item in _items(tender.get("items")):
        classifications.append(_mapping(item.get("classification")))
        classifications.extend(_items(item.get("additionalClassifications")))
    return unique(
        cpv_code(entry.get("id"))
        for entry in classifications
        if isinstance(entry.get("scheme"), str) and entry["scheme"].strip().upper() == "CPV"
    )


def _buyer_party(release: Mapping[str, Any]) -> Mapping[str, Any]:
    for party in _items(release.get("parties")):
        roles = party.get("roles")
        if isinstance(roles, list) and "buyer" in roles:
            return party
    return {}


def _tender(
    ocid: str, release: Mapping[str, Any], latest: set[str], every: set[str], count: int, source: str
) -> Tender:
    """`latest`: the latest release's tags; `every`: all its releases' tags."""
    tender = _mapping(release.get("tender"))
    code = language(release.get("language")) or DEFAULT_LANGUAGE
    title = text_value(tender.get("title")) or text_value(release.get("title"))
    if title is None:
        raise TenderParseError(TenderProblem.NO_TITLE, ocid)
    description = text_value(tender.get("description"))
    party = _buyer_party(release)
    buyer = (
        text_value(_mapping(release.get("buyer")).get("name"))
        or text_value(party.get("name"))
        or text_value(_mapping(tender.get("procuringEntity")).get("name"))
    )
    value = _mapping(tender.get("value"))
    price = amount(value.get("amount"))
    region = place(_mapping(party.get("address")).get("region"))
    return Tender(
        source=source,
        source_id=ocid,
        kind=_kind(latest, tender.get("status")),
        title={code: title},
        procedure_id=ocid,
        version=count,
        is_change="tenderAmendment" in every,
        description={code: description} if description else {},
        buyer=buyer,
        country=region[:2] if region else None,
        places=(region,) if region else (),
        cpv=_cpv(tender),
        value=price,
        currency=currency(value.get("currency")) if price is not None else None,
        deadline=_date(_mapping(tender.get("tenderPeriod")).get("endDate")),
        published_at=_date(release.get("date")),
    )


def parse_package(package: object, source: str) -> ParsedTenders:
    """One tender per `ocid` of a release package; a problem (the release's position from 1) for each release
    without an ocid and each procedure without a title. Raises `TenderParseError` when `package` has no list
    of releases."""
    releases = package.get("releases") if isinstance(package, Mapping) else None
    if not isinstance(releases, list):
        raise TenderParseError(TenderProblem.NO_RELEASES, type(package).__name__)
    parsed = ParsedTenders()
    groups: dict[str, list[tuple[datetime, int, Mapping[str, Any]]]] = {}
    for position, release in enumerate(releases, start=1):
        ocid = text_value(release.get("ocid")) if isinstance(release, Mapping) else None
        if ocid is None or not isinstance(release, Mapping):
            parsed.problems.append(ParseProblem(position, TenderProblem.NO_ID, "ocid"))
            continue
        groups.setdefault(ocid, []).append((_date(release.get("date")) or _EARLIEST, position, release))
    for ocid, group in groups.items():
        group.sort(key=lambda entry: (entry[0], entry[1]))
        merged: dict[str, Any] = {}
        tags: set[str] = set()
        for _, _, release in group:
            merged = _merge(merged, release)
            tags |= _tags(release.get("tag"))
        # The kind is what the latest release says the procedure has become.
        latest_tags = _tags(group[-1][2].get("tag")) or tags
        try:
            tender = _tender(ocid, merged, latest_tags, tags, len(group), source)
        except TenderParseError as error:
            parsed.problems.append(ParseProblem(group[0][1], error.reason, error.detail))
            continue
        parsed.tenders.append(tender)
    return parsed
