"""A tender as the bot keeps it, whatever its source: every parser (TED, OCDS, RSS, CSV) gives these, and
matching and alerts read only these."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal


class TenderKind(enum.StrEnum):
    # A prior information notice: a purchase planned.
    PLANNING = "planning"
    # A call for competition: tenders are invited now (what members are alerted to by default).
    COMPETITION = "competition"
    # A contract award or modification: who won.
    RESULT = "result"


@dataclass(frozen=True)
class Tender:
    """One notice, normalised.

    - `source` names where it came from ("ted", or the configured name of an OCDS, RSS or CSV source) and
      `source_id` its id there (TED's publication number "599753-2026"); together they are unique.
    - `procedure_id` identifies the procedure across notices and sources where the source gives one (TED's
      procedure identifier, OCDS's ocid); `version` counts its notices (1 the first), `is_change` marks a change
      to an earlier notice of the same procedure.
    - Texts are keyed by ISO 639-1 language codes ("ro", "en", "de"): `title`, `description`, `links` (the
      notice's page per language).
    - `country` is ISO 3166-1 alpha-2 ("RO"); `places` NUTS codes ("RO113") or countries, as the source gives.
    - `cpv`: 8-digit codes, de-duplicated, the main one first.
    - `value` in `currency` (ISO 4217), `deadline` and `published_at` timezone-aware.
    """

    source: str
    source_id: str
    kind: TenderKind
    title: Mapping[str, str]
    procedure_id: str | None = None
    version: int = 1
    is_change: bool = False
    description: Mapping[str, str] = field(default_factory=dict)
    buyer: str | None = None
    country: str | None = None
    places: tuple[str, ...] = ()
    cpv: tuple[str, ...] = ()
    value: Decimal | None = None
    currency: str | None = None
    deadline: datetime | None = None
    links: Mapping[str, str] = field(default_factory=dict)
    published_at: datetime | None = None
