"""Storing normalised tenders: each notice once, a change updating the tender it changes, the same procedure in
two sources linked as one.

Within one source, the notices of one procedure and kind are one tender (TED gives a change notice its own
publication number, an OCDS source sends the releases of one ocid again): the first one seen gives the row's
(source, source_id); a newer version or a change notice updates it and marks the change (`changed_at`); an
older version never overwrites a newer one. Across sources, tenders of the same procedure (the same
procedure id, or an OCDS ocid whose local part is a TED procedure identifier) and kind point with
`same_as_id` at the first one stored, so that alerts can treat them as one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from bot.services.tenders.model import Tender
from storage.repositories import TENDER_CONTENT, Repositories

# An OCDS ocid is "ocds-" + a registered 6-character prefix + "-" + the publisher's own id of the procedure.
_OCID_PREFIX = re.compile(r"^ocds-[a-z0-9]{6}-")
_CPV8 = re.compile(r"^\d{8}$")
# Hundredths beyond this are no real tender's value (and would not fit the 64-bit column).
_MAX_HUNDREDTHS = 10**17
_SOURCE_LENGTH, _ID_LENGTH, _BUYER_LENGTH, _COUNTRY_LENGTH = 64, 255, 500, 8


@dataclass(frozen=True)
class StoreResult:
    """What one batch did: tenders stored for the first time, updated, seen again with nothing newer (an
    older version counts here: it is ignored), of the updated how many were changes (a change notice or a
    newer version, marked in `changed_at`), and notices that could not be stored (no source or id, an id
    too long, a naive datetime)."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    changes: int = 0
    skipped: int = 0


def procedure_key(procedure_id: str | None) -> str | None:
    """The procedure id as compared across sources: trimmed, case-folded, without an OCDS ocid's prefix (so
    "ocds-abc123-A8692D2E-..." and TED's "a8692d2e-..." are one procedure)."""
    if procedure_id is None:
        return None
    key = _OCID_PREFIX.sub("", procedure_id.strip().casefold())
    return key[:_ID_LENGTH] or None


async def find_procedure(repos: Repositories, procedure_id: str) -> list[Any]:
    """Every stored tender of a procedure, in every source, first stored first."""
    key = procedure_key(procedure_id)
    return [] if key is None else list(await repos.tenders.by_procedure_key(key))


def _hundredths(value: Decimal | None) -> int | None:
    if value is None or not value.is_finite() or abs(value) * 100 >= _MAX_HUNDREDTHS:
        return None
    return int((value * 100).to_integral_value(rounding=ROUND_HALF_UP))


def _texts(texts: Mapping[str, str]) -> dict[str, str]:
    return {str(language): str(text) for language, text in texts.items() if text}


def _row(tender: Tender) -> dict[str, Any] | None:
    """The tender's column values, or None when it cannot be stored."""
    if not tender.source or not tender.source_id:
        return None
    if len(tender.source) > _SOURCE_LENGTH or len(tender.source_id) > _ID_LENGTH:
        return None
    moments = (tender.deadline, tender.published_at)
    if any(moment is not None and moment.utcoffset() is None for moment in moments):
        return None
    currency = (tender.currency or "").strip().upper()
    procedure_id = tender.procedure_id.strip()[:_ID_LENGTH] if tender.procedure_id else None
    return {
        "source": tender.source,
        "source_id": tender.source_id,
        "procedure_id": procedure_id or None,
        "procedure_key": procedure_key(procedure_id),
        "version": tender.version,
        "is_change": tender.is_change,
        "kind": tender.kind.value,
        "title": _texts(tender.title),
        "description": _texts(tender.description),
        "buyer": tender.buyer[:_BUYER_LENGTH] if tender.buyer else None,
        "country": tender.country[:_COUNTRY_LENGTH].upper() if tender.country else None,
        "places": list(dict.fromkeys(tender.places)),
        "cpv": [code for code in dict.fromkeys(tender.cpv) if _CPV8.match(code)],
        "value_hundredths": _hundredths(tender.value),
        "currency": currency if len(currency) == 3 else None,
        "deadline": tender.deadline,
        "links": _texts(tender.links),
        "published_at": tender.published_at,
    }


def _same_content(row: Mapping[str, Any], stored: Mapping[str, Any]) -> bool:
    return all(row[name] == stored[name] for name in TENDER_CONTENT)


async def store_tenders(repos: Repositories, tenders: Iterable[Tender], *, now: datetime) -> StoreResult:
    """Store a batch of parsed tenders in the caller's transaction. Storing the same batch again changes
    nothing. The batch is written under a savepoint: a database error undoes this batch only (and is
    raised), never what was stored before."""
    rows: list[dict[str, Any]] = []
    skipped = 0
    for tender in tenders:
        row = _row(tender)
        if row is None:
            skipped += 1
        else:
            rows.append(row)
    if not rows:
        return StoreResult(skipped=skipped)

    async with repos.session.begin_nested():
        result = await _store(repos, rows, now)
    return StoreResult(result.new, result.updated, result.unchanged, result.changes, skipped)


async def _store(repos: Repositories, rows: list[dict[str, Any]], now: datetime) -> StoreResult:
    store = repos.tenders
    pairs = {(row["source"], row["source_id"]) for row in rows}
    stored_rows: list[Mapping[str, Any]] = [dict(stored) for stored in await store.rows_by_source_ids(pairs)]
    keys = {row["procedure_key"] for row in rows if row["procedure_key"]}
    by_procedure: dict[tuple[str, str, str], Mapping[str, Any]] = {}
    for by_id in await store.rows_by_procedure_keys(keys):  # by id: the first stored row of each wins
        stored = dict(by_id)
        stored_rows.append(stored)
        by_procedure.setdefault((stored["source"], stored["procedure_key"], stored["kind"]), stored)
    by_source_id = {(stored["source"], stored["source_id"]): stored for stored in stored_rows}

    # The batch's notices per tender: a stored row, or one procedure and kind of one source, or one notice.
    slots: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    found: dict[tuple[Any, ...], Mapping[str, Any]] = {}
    for row in rows:
        procedure = (row["source"], row["procedure_key"], row["kind"])
        hit = by_source_id.get((row["source"], row["source_id"]))
        if hit is None and row["procedure_key"]:
            hit = by_procedure.get(procedure)
        if hit is not None:
            slot: tuple[Any, ...] = ("row", hit["id"])
            found[slot] = hit
        elif row["procedure_key"]:
            slot = ("procedure", *procedure)
        else:
            slot = ("notice", row["source"], row["source_id"])
        slots.setdefault(slot, []).append(row)

    new = updated = unchanged = changes = 0
    writes: list[dict[str, Any]] = []
    outcome: dict[tuple[str, str], str] = {}
    for slot, notices in slots.items():
        # The newest notice (the last of equal versions); the row keeps the earliest notice's id.
        newest = max(enumerate(notices), key=lambda pair: (pair[1]["version"], pair[0]))[1]
        known = found.get(slot)
        unchanged += len(notices) - 1
        if known is None:
            first = min(notices, key=lambda row: row["version"])
            writes.append({**newest, "source_id": first["source_id"], "first_seen_at": now, "updated_at": now})
            outcome[(newest["source"], first["source_id"])] = "new"
            continue
        if newest["version"] < known["version"] or _same_content(newest, known):
            unchanged += 1
            continue
        change = newest["version"] > known["version"] or newest["is_change"]
        writes.append(
            {
                **newest,
                "source_id": known["source_id"],
                "first_seen_at": known["first_seen_at"],
                "updated_at": now,
                "changed_at": now if change else None,
            }
        )
        outcome[(known["source"], known["source_id"])] = "change" if change else "updated"

    # One write per row (two notices of one id in a batch, under different kinds, are one row: the last wins).
    by_key: dict[tuple[str, str], dict[str, Any]] = {}
    for write in writes:
        by_key[(write["source"], write["source_id"])] = {"changed_at": None, **write}
    unchanged += len(writes) - len(by_key)
    writes = list(by_key.values())
    ids = await store.upsert_many(writes)
    for key, what in outcome.items():
        if key not in ids:  # another transaction stored a newer version meanwhile
            unchanged += 1
        elif what == "new":
            new += 1
        else:
            updated += 1
            changes += what == "change"

    written = [(ids[key], write) for key, write in by_key.items() if key in ids]
    await store.replace_cpv({tender_id: write["cpv"] for tender_id, write in written})
    await store.link_same({write["procedure_key"] for _, write in written if write["procedure_key"]})
    return StoreResult(new=new, updated=updated, unchanged=unchanged, changes=changes)
