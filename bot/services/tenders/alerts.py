"""Tender alerts: new tenders matched against members' profiles, the alerts they give (one per person and tender),
changes sent as updates, daily digests and deadline reminders, and the member's Follow / Not relevant verdicts.

Every step is a claim (a conditional UPDATE) and a notice recorded in the same transaction, so a crash or a
second process sends nothing twice:

- `match_new` claims up to `BATCH` tenders never matched (`matched_at`), matches each against the one
  `ProfileIndex` of the run, and writes the alerts with INSERT ... ON CONFLICT DO NOTHING on (person, tender):
  a tender seen through another source (`same_as_id`) alerts as its canonical tender, so a person hears of a
  procedure once whatever the number of profiles and sources. A profile matches only tenders first seen from
  its `starts_at` on. Instant alerts are queued at once (`sent_at`), except in quiet hours: then they wait for
  `send_waiting`, the first run after them. Digest alerts wait for `send_digests`.
- `send_changes` claims tenders a change reached since the last one was sent (`change_matched_at`) and tells, as
  an update, only the people whose alert of it was sent.
- `send_digests` runs at every hour: the people whose profile's digest hour (in TIMEZONE; an hour inside the
  quiet hours moves to their end) is this one get their waiting digest alerts in as few messages as Telegram's
  4,096 characters allow (`digest_parts`).
- `send_reminders`: followed alerts 7 and 2 days before the deadline, each once.

Only members and managers of an organisation, reachable, get anything. Services word nothing: the notices'
parameters are plain data (`tender_params`), worded at send time by handlers.tenders.alert_texts.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from bot.notices import Notice, NoticeKind, recipient, tell
from bot.services.members import PersonView
from bot.services.refusals import Refused
from bot.services.tenders.matching import ProfileIndex
from bot.services.tenders.model import Tender, TenderKind
from bot.services.tenders.profiles import to_matching
from bot.telegram_text import TEXT_LIMIT, utf16_len
from storage.models import AlertDelivery, AlertProfile
from storage.repositories import Repositories

# Tenders (or alerts) per transaction: a big fetch is matched in many short transactions, not one huge one.
BATCH = 500
# What a notice keeps of a tender's texts: a title or a buyer longer than this is cut (digests stay compact).
TITLE_MAX = 300
BUYER_MAX = 200
CPV_KEPT = 20
# A digest message: an item's text is at most its title, its buyer and this much more (its number, country,
# value, deadline and days left, the labels between them, in either language); the header and the footer of a
# part at most `DIGEST_FRAME`. tests/test_tender_alerts.py renders the worst case in both languages to prove it.
DIGEST_ITEM_EXTRA = 220
DIGEST_FRAME = 300
# At most this many alerts in one digest message: two buttons each, within Telegram's ~100 per keyboard.
DIGEST_ITEMS_MAX = 20
REMINDER_DAYS = (7, 2)


@dataclass(frozen=True)
class AlertPolicy:
    """What the alert job needs of the settings (`settings.tenders`, TIMEZONE, DEFAULT_LOCALE)."""

    rates: Mapping[str, Decimal]
    quiet: tuple[int, int] | None
    tz: tzinfo
    default_locale: str
    digest_hour: int = 8


def in_quiet_hours(now: datetime, quiet: tuple[int, int] | None, tz: tzinfo) -> bool:
    """Whether `now` falls in the quiet hours (from, to), in `tz`: "22-8" is 22:00 to 07:59."""
    return is_quiet_hour(now.astimezone(tz).hour, quiet)


def is_quiet_hour(hour: int, quiet: tuple[int, int] | None) -> bool:
    """Whether the hour (0-23) is one of the quiet hours (from, to): with "22-8", 22 to 7."""
    if quiet is None:
        return False
    start, end = quiet
    return start <= hour < end if start < end else hour >= start or hour < end


def digest_hour(chosen: int, quiet: tuple[int, int] | None) -> int:
    """The hour a digest goes out: the chosen one, or the end of the quiet hours when it falls inside them."""
    if quiet is None:
        return chosen
    start, end = quiet
    inside = start <= chosen < end if start < end else chosen >= start or chosen < end
    return end if inside else chosen


def tender_of(row: Mapping[str, Any]) -> Tender:
    """A stored tender (a plain row of `tenders`) as matching reads it."""
    hundredths = row["value_hundredths"]
    return Tender(
        source=row["source"],
        source_id=row["source_id"],
        kind=TenderKind(row["kind"]),
        title=dict(row["title"] or {}),
        procedure_id=row["procedure_id"],
        version=row["version"],
        is_change=row["is_change"],
        description=dict(row["description"] or {}),
        buyer=row["buyer"],
        country=row["country"],
        places=tuple(row["places"] or ()),
        cpv=tuple(row["cpv"] or ()),
        value=None if hundredths is None else Decimal(hundredths).scaleb(-2),
        currency=row["currency"],
        deadline=row["deadline"],
        links=dict(row["links"] or {}),
        published_at=row["published_at"],
    )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def tender_params(row: Mapping[str, Any], *, now: datetime, tz: tzinfo) -> dict[str, Any]:
    """A tender as a notice keeps it, plain data: texts per language (cut), its deadline in `tz` with the days
    left from `now` (calendar days in `tz`), its value as a decimal string."""
    hundredths = row["value_hundredths"]
    deadline: datetime | None = row["deadline"]
    local = None if deadline is None else deadline.astimezone(tz)
    return {
        "tender_id": row["id"],
        "title": {language: _clip(str(text), TITLE_MAX) for language, text in (row["title"] or {}).items() if text},
        "buyer": _clip(row["buyer"], BUYER_MAX) if row["buyer"] else None,
        "country": row["country"],
        "cpv": list(row["cpv"] or ())[:CPV_KEPT],
        "cpv_count": len(row["cpv"] or ()),
        "value": None if hundredths is None else str(Decimal(hundredths).scaleb(-2)),
        "currency": row["currency"],
        "deadline": None if local is None else local.isoformat(),
        "days_left": None if local is None else (local.date() - now.astimezone(tz).date()).days,
        "links": {language: str(link) for language, link in (row["links"] or {}).items() if link},
        "kind": row["kind"],
    }


# --- matching new tenders ---------------------------------------------------------------------------------------


@dataclass
class Matcher:
    """One run's view of the profiles: the index of the active profiles of people who may get alerts, each
    profile's member, start and delivery."""

    index: ProfileIndex
    profiles: dict[int, AlertProfile]
    people: dict[int, Any]

    @classmethod
    async def load(cls, repos: Repositories, policy: AlertPolicy) -> Matcher:
        active = list(await repos.alert_profiles.active())
        people = await repos.tender_alerts.members_among({profile.person_id for profile in active})
        profiles = {profile.id: profile for profile in active if profile.person_id in people}
        index = ProfileIndex([to_matching(profile) for profile in profiles.values()], policy.rates)
        return cls(index, profiles, people)


@dataclass
class MatchResult:
    """One batch: tenders claimed, alerts written (new ones only), of those queued at once."""

    claimed: int = 0
    alerts: int = 0
    sent: int = 0


async def match_new(
    repos: Repositories, matcher: Matcher, policy: AlertPolicy, *, now: datetime, limit: int = BATCH
) -> MatchResult:
    """Claim up to `limit` unmatched tenders and write their alerts, in the caller's transaction."""
    claimed = await repos.tender_alerts.claim_unmatched_tenders(now=now, limit=limit)
    if not claimed or not matcher.profiles:
        return MatchResult(claimed=len(claimed))
    canonical_ids = {row["same_as_id"] for row in claimed if row["same_as_id"] is not None}
    canonical = dict(await repos.tender_alerts.tender_rows(canonical_ids - {row["id"] for row in claimed}))
    canonical.update((row["id"], row) for row in claimed)
    quiet = in_quiet_hours(now, policy.quiet, policy.tz)

    # (person, canonical tender) -> the profile it is delivered by: an instant profile wins over a digest one.
    wanted: dict[tuple[int, int], AlertProfile] = {}
    for row in claimed:
        target = canonical.get(row["same_as_id"] or row["id"], row)
        first_seen = min(row["first_seen_at"], target["first_seen_at"])
        for profile_id in sorted(matcher.index.match(tender_of(row), now)):
            profile = matcher.profiles[profile_id]
            if first_seen < profile.starts_at:
                continue
            key = (profile.person_id, target["id"])
            held = wanted.get(key)
            if held is None or (held.delivery != AlertDelivery.INSTANT and profile.delivery == AlertDelivery.INSTANT):
                wanted[key] = profile
    rows = []
    for (person_id, tender_id), profile in wanted.items():
        instant = profile.delivery == AlertDelivery.INSTANT.value
        rows.append(
            {
                "person_id": person_id,
                "tender_id": tender_id,
                "profile_id": profile.id,
                "delivery": AlertDelivery.INSTANT.value if instant else AlertDelivery.DIGEST.value,
                "created_at": now,
                "sent_at": now if instant and not quiet else None,
            }
        )
    written = await repos.tender_alerts.add_new(rows)
    sent = 0
    for alert in written:
        if alert["sent_at"] is not None:
            person = matcher.people[alert["person_id"]]
            sent += await _tell_alert(repos, policy, alert, canonical[alert["tender_id"]], person, now)
    return MatchResult(claimed=len(claimed), alerts=len(written), sent=sent)


async def _tell_alert(
    repos: Repositories,
    policy: AlertPolicy,
    alert: Mapping[str, Any],
    tender: Mapping[str, Any],
    person: Any,
    now: datetime,
) -> int:
    params = {"alert_id": alert["id"], "tender": tender_params(tender, now=now, tz=policy.tz)}
    to = [recipient(person, policy.default_locale)]
    return await tell(repos, f"talert:{alert['id']}", to, Notice(NoticeKind.TENDER_ALERT, params))


async def send_waiting(repos: Repositories, policy: AlertPolicy, *, now: datetime, limit: int = BATCH) -> int:
    """Instant alerts held back by quiet hours go out (none while they last); how many were claimed."""
    if in_quiet_hours(now, policy.quiet, policy.tz):
        return 0
    claimed = await repos.tender_alerts.claim_waiting_instant(now=now, limit=limit)
    if not claimed:
        return 0
    people = await repos.tender_alerts.members_among({alert["person_id"] for alert in claimed})
    tenders = await repos.tender_alerts.tender_rows({alert["tender_id"] for alert in claimed})
    for alert in claimed:
        person = people.get(alert["person_id"])
        if person is not None and alert["tender_id"] in tenders:
            await _tell_alert(repos, policy, alert, tenders[alert["tender_id"]], person, now)
    return len(claimed)


async def send_changes(repos: Repositories, policy: AlertPolicy, *, now: datetime, limit: int = BATCH) -> int:
    """Changed tenders go, as updates, to those whose alert of them was sent (nothing in quiet hours: they
    wait); how many tenders were claimed."""
    if in_quiet_hours(now, policy.quiet, policy.tz):
        return 0
    claimed = await repos.tender_alerts.claim_changed_tenders(limit=limit)
    if not claimed:
        return 0
    by_canonical: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for changed in claimed:
        by_canonical[changed["same_as_id"] or changed["id"]].append(changed)
    alerts = await repos.tender_alerts.sent_of_tenders(by_canonical)
    people = await repos.tender_alerts.members_among({alert["person_id"] for alert in alerts})
    told: list[int] = []
    for alert in alerts:
        person = people.get(alert["person_id"])
        if person is None:
            continue
        for row in by_canonical[alert["tender_id"]]:
            params = {
                "alert_id": alert["id"],
                "followed": alert["followed_at"] is not None,
                "not_relevant": alert["not_relevant_at"] is not None,
                "tender": tender_params(row, now=now, tz=policy.tz),
            }
            stamp = int(row["changed_at"].timestamp())
            to = [recipient(person, policy.default_locale)]
            await tell(
                repos, f"tchange:{alert['id']}:{row['id']}:{stamp}", to, Notice(NoticeKind.TENDER_CHANGED, params)
            )
            told.append(alert["id"])
    await repos.tender_alerts.mark_change_sent(told, now)
    return len(claimed)


# --- digests ------------------------------------------------------------------------------------------------------


def digest_item_size(item: Mapping[str, Any]) -> int:
    """An upper bound of an item's share of a digest message, in UTF-16 units, whatever the reader's language."""
    tender = item["tender"]
    titles = [utf16_len(text) for text in (tender.get("title") or {}).values()] or [0]
    return max(titles) + utf16_len(tender.get("buyer") or "") + DIGEST_ITEM_EXTRA


def digest_parts(items: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """The items in order, in as few messages as fit Telegram's limit by `digest_item_size`."""
    parts: list[list[Mapping[str, Any]]] = []
    budget = TEXT_LIMIT - DIGEST_FRAME
    used = 0
    for item in items:
        size = digest_item_size(item)
        if not parts or used + size > budget or len(parts[-1]) >= DIGEST_ITEMS_MAX:
            parts.append([])
            used = 0
        parts[-1].append(item)
        used += size
    return parts


async def send_digests(repos: Repositories, policy: AlertPolicy, *, now: datetime) -> int:
    """The digests of this hour (in `policy.tz`); how many messages were queued. Running again in the same hour
    finds the alerts claimed and sends nothing."""
    if in_quiet_hours(now, policy.quiet, policy.tz):
        return 0
    local = now.astimezone(policy.tz)
    due = [
        row
        for row in await repos.tender_alerts.waiting_digest()
        if digest_hour(policy.digest_hour if row["digest_hour"] is None else row["digest_hour"], policy.quiet)
        == local.hour
    ]
    if not due:
        return 0
    people = await repos.tender_alerts.members_among({row["person_id"] for row in due})
    claimed = await repos.tender_alerts.claim_unsent([row["id"] for row in due if row["person_id"] in people], now)
    tenders = await repos.tender_alerts.tender_rows({alert["tender_id"] for alert in claimed})
    per_person: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for alert in claimed:
        tender = tenders.get(alert["tender_id"])
        if tender is not None:
            per_person[alert["person_id"]].append(
                {"alert_id": alert["id"], "tender": tender_params(tender, now=now, tz=policy.tz)}
            )
    queued = 0
    for person_id, items in per_person.items():
        parts = digest_parts(items)
        to = [recipient(people[person_id], policy.default_locale)]
        first = 1
        for number, part in enumerate(parts, start=1):
            params = {"items": list(part), "part": number, "parts": len(parts), "total": len(items), "first": first}
            first += len(part)
            # Named by its first alert, claimed once: a later run in the same hour, with alerts matched
            # meanwhile, makes parts of new names.
            batch = f"tdigest:{person_id}:{part[0]['alert_id']}"
            queued += await tell(repos, batch, to, Notice(NoticeKind.TENDER_DIGEST, params))
    return queued


# --- deadline reminders -------------------------------------------------------------------------------------------


async def send_reminders(repos: Repositories, policy: AlertPolicy, *, now: datetime) -> int:
    """Followed alerts whose deadline is 7 days away or less (then 2 days or less) are reminded, each once;
    never a past deadline, nothing in quiet hours (they wait). Days are calendar days in the cluster's time
    zone, as people count them: a deadline on the 29th is 7 days away all day on the 22nd. How many reminders
    were queued."""
    if in_quiet_hours(now, policy.quiet, policy.tz):
        return 0
    due = await repos.tender_alerts.followed_due(until=now + timedelta(days=max(REMINDER_DAYS) + 1), now=now)
    if not due:
        return 0
    people = await repos.tender_alerts.members_among({row["person_id"] for row in due})
    tenders = await repos.tender_alerts.tender_rows({row["tender_id"] for row in due})
    queued = 0
    for row in due:
        left = (row["deadline"].astimezone(policy.tz).date() - now.astimezone(policy.tz).date()).days
        if left > max(REMINDER_DAYS):
            continue
        if left <= min(REMINDER_DAYS):
            days = 2 if row["reminded_2_at"] is None else None
        else:
            days = 7 if row["reminded_7_at"] is None else None
        person = people.get(row["person_id"])
        if days is None or person is None or not await repos.tender_alerts.claim_reminder(row["id"], days, now):
            continue
        params = {
            "alert_id": row["id"],
            "days": days,
            "tender": tender_params(tenders[row["tender_id"]], now=now, tz=policy.tz),
        }
        to = [recipient(person, policy.default_locale)]
        queued += await tell(repos, f"tremind:{row['id']}:{days}", to, Notice(NoticeKind.TENDER_REMINDER, params))
    return queued


# --- the member's verdicts ----------------------------------------------------------------------------------------


class AlertRefusal(enum.StrEnum):
    # The alert does not exist, or is another person's (a forged button): the same answer for both.
    NOT_YOURS = "not_yours"


class AlertError(Refused):
    """A tender alert's button refused (`AlertRefusal`)."""

    reason: AlertRefusal


class Verdict(enum.StrEnum):
    FOLLOW = "follow"
    UNFOLLOW = "unfollow"
    NOT_RELEVANT = "not_relevant"
    RELEVANT = "relevant"


@dataclass(frozen=True)
class AlertState:
    """An alert's verdicts after a press, for its buttons."""

    alert_id: int
    followed: bool
    not_relevant: bool


async def decide(
    repos: Repositories, person: PersonView, alert_id: int, verdict: Verdict, *, now: datetime
) -> AlertState:
    """Follow or unfollow one of the person's alerts, mark it not relevant or take that back; another person's
    alert (or none) is refused. Pressing twice leaves it as it is."""
    store = repos.tender_alerts
    if verdict in (Verdict.FOLLOW, Verdict.UNFOLLOW):
        done = await store.set_followed(alert_id, person.id, now if verdict is Verdict.FOLLOW else None)
    else:
        done = await store.set_not_relevant(alert_id, person.id, now if verdict is Verdict.NOT_RELEVANT else None)
    if not done:
        raise AlertError(AlertRefusal.NOT_YOURS)
    state = await store.state_of(alert_id)
    assert state is not None
    return AlertState(alert_id, state["followed_at"] is not None, state["not_relevant_at"] is not None)


__all__ = [
    "BATCH",
    "AlertError",
    "AlertPolicy",
    "AlertRefusal",
    "AlertState",
    "MatchResult",
    "Matcher",
    "Verdict",
    "decide",
    "digest_hour",
    "digest_item_size",
    "digest_parts",
    "in_quiet_hours",
    "match_new",
    "send_changes",
    "send_digests",
    "send_reminders",
    "send_waiting",
    "tender_of",
    "tender_params",
]
