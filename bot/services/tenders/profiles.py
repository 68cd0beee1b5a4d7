"""Members' alert profiles: the rules (at most 10 a person, what a profile may hold) and how the alert job and
the preview read a stored profile (`to_matching`)."""

from __future__ import annotations

from decimal import Decimal

from bot.services.tenders.matching import Profile
from bot.services.tenders.model import TenderKind
from storage.models import AlertProfile

MAX_PROFILES = 10


def _amount(hundredths: int | None) -> Decimal | None:
    return None if hundredths is None else Decimal(hundredths) / 100


def to_matching(row: AlertProfile) -> Profile:
    """A stored profile as matching reads it."""
    return Profile(
        id=row.id,
        member_id=row.person_id,
        cpv=tuple(row.cpv or ()),
        include=tuple(row.include or ()),
        exclude=tuple(row.exclude or ()),
        countries=frozenset(row.countries or ()),
        value_min=_amount(row.value_min_hundredths),
        value_max=_amount(row.value_max_hundredths),
        currency=row.currency,
        min_days_left=row.min_days_left,
        kinds=frozenset(TenderKind(kind) for kind in row.kinds or ()),
    )
