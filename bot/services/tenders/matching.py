"""Which members' alert profiles a tender matches: the definition (`naive_match`) and the indexes that give the
same answer at a cost that grows with a tender's candidates, not with the number of profiles (`ProfileIndex`).

A profile matches a tender when it is **about** the tender, **nothing vetoes** it, and it **passes every filter**:

- About (CPV OR keywords): one of the profile's CPV codes covers one of the tender's codes, or one of its include
  keywords or phrases appears in one of the tender's titles or descriptions, in any language. A CPV code covers
  the codes that begin with its significant digits, the code without its trailing zeros and never fewer than the
  division's two: "09000000" (a division) covers every "09......", "09300000" (a group) every "093.....",
  "09331200" covers itself and "0933120." A profile with neither CPV codes nor include keywords is about nothing
  and matches nothing (a profile that asked for "everything" would flood its member).
- Veto: one of its exclude keywords or phrases appears in one of the tender's titles or descriptions.
- Kind: the tender's kind is one of the profile's kinds (calls for competition by default; none: nothing).
- Country: the profile names no country, or the tender's country (ISO 3166-1 alpha-2) is one of them; a tender
  whose country is unknown passes only profiles that name none.
- Value: a tender without a value, or in a currency without a rate, passes; otherwise its value, converted to
  euro with the rates given (units of the currency per euro, e.g. {"EUR": 1, "RON": 4.97}), lies between the
  profile's minimum and maximum (each optional, inclusive, converted from the profile's currency the same way).
- Deadline: a tender without a deadline passes; otherwise at least `min_days_left` whole days (24 hours each)
  remain from `now` until its deadline, so with 0 a deadline already past fails.

Words are compared as the catalogue search reads them (`bot.text`): case, diacritics, cedilla and comma below do
not count, and a keyword's word matches a text's word when one of the keyword word's forms (its Romanian and
English stems and its start, `bot.text.query_forms`) begins one of the text word's terms (its folded spelling
and its stems), as the catalogue search finds a word ("biomasă", "biomasei", "biomasa" and "Biomasa" all match
one another; "ş" and "ș" are the same letter). A phrase (several words, typed in quotes) matches those words in
that order, next to each other, inside one text (one title or one description in one language).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache

from bot.services.tenders.model import Tender, TenderKind
from bot.text import fold, query_forms, stems, words

CPV_DIGITS = 8
# A division's two digits: "90000000" covers "90......", not everything in "9".
_CPV_MIN_PREFIX = 2
_CPV_CODE = re.compile(r"^(\d{8})(?:-\d)?$")
_QUOTED = re.compile(r'"([^"]*)"|“([^”]*)”|„([^”“]*)[”“]|([^\s",;]+)')

# A word's forms, per word as written; tenders repeat their vocabulary, so nearly every word is a cache hit.
_FORM_CACHE = 1 << 18

WordForms = frozenset[str]
Keyword = tuple[WordForms, ...]


def parse_keywords(text: str) -> tuple[str, ...]:
    """A member's keywords as typed: words separated by spaces or commas, phrases in quotes ("", “”, „”).

    `parse_keywords('biomasă, "energie regenerabilă" pellets')` is ("biomasă", "energie regenerabilă", "pellets").
    """
    found: dict[str, None] = {}
    for match in _QUOTED.finditer(text):
        entry = " ".join(words(next(group for group in match.groups() if group is not None)))
        if entry:
            found[entry] = None
    return tuple(found)


def cpv_prefix(code: str) -> str:
    """A profile's CPV code as the start it covers: "09300000-2" gives "093", "90000000" gives "90"."""
    found = _CPV_CODE.match(code.strip())
    if found is None:
        raise ValueError(f"not a CPV code: {code!r}")
    digits = found.group(1).rstrip("0")
    return digits.ljust(_CPV_MIN_PREFIX, "0")


@dataclass(frozen=True)
class Profile:
    """A member's alert profile, as matching reads it (see the module's docstring for what each field means).

    `include` and `exclude` hold keywords and phrases (`parse_keywords`); an entry of several words is a phrase.
    `value_min` and `value_max` are in `currency`.
    """

    id: int
    member_id: int
    cpv: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    countries: frozenset[str] = frozenset()
    value_min: Decimal | None = None
    value_max: Decimal | None = None
    currency: str = "EUR"
    min_days_left: int = 0
    kinds: frozenset[TenderKind] = field(default_factory=lambda: frozenset({TenderKind.COMPETITION}))


@lru_cache(maxsize=_FORM_CACHE)
def text_prefixes(word: str) -> WordForms:
    """Every start of a text word's terms (its folded spelling and its stems): the keyword forms it matches."""
    if word.isdecimal():
        # Reference numbers are in nearly every notice and new each time: no stemmer changes digits.
        return frozenset(word[:end] for end in range(1, len(word) + 1))
    return frozenset(term[:end] for term in stems(word) | {fold(word)} for end in range(1, len(term) + 1))


def _keyword(entry: str) -> Keyword:
    return tuple(query_forms(word) for word in words(entry))


def to_euro(value: Decimal, currency: str, rates: Mapping[str, Decimal]) -> Decimal | None:
    """`value` in euro, or None when there is no rate for `currency`."""
    rate = rates.get(currency.upper())
    if rate is None or rate <= 0:
        return None
    return value / rate


@dataclass(frozen=True)
class _Compiled:
    """A profile made ready to compare: prefixes, keyword forms, bounds in euro."""

    id: int
    prefixes: tuple[str, ...]
    include: tuple[Keyword, ...]
    exclude: tuple[Keyword, ...]
    countries: frozenset[str]
    kinds: frozenset[TenderKind]
    low: Decimal | None
    high: Decimal | None
    min_days_left: int


def _compile(profile: Profile, rates: Mapping[str, Decimal]) -> _Compiled:
    def bound(value: Decimal | None) -> Decimal | None:
        if value is None:
            return None
        converted = to_euro(value, profile.currency, rates)
        if converted is None:
            raise ValueError(f"no rate for {profile.currency!r} (profile {profile.id})")
        return converted

    return _Compiled(
        id=profile.id,
        prefixes=tuple(dict.fromkeys(cpv_prefix(code) for code in profile.cpv)),
        include=tuple(keyword for keyword in map(_keyword, profile.include) if keyword),
        exclude=tuple(keyword for keyword in map(_keyword, profile.exclude) if keyword),
        countries=frozenset(country.upper() for country in profile.countries),
        kinds=frozenset(profile.kinds),
        low=bound(profile.value_min),
        high=bound(profile.value_max),
        min_days_left=profile.min_days_left,
    )


class _TenderText:
    """A tender's titles and descriptions as their words' `text_prefixes`: per text in order (for phrases), and all
    together."""

    __slots__ = ("forms", "texts")

    def __init__(self, tender: Tender) -> None:
        self.texts = [
            [text_prefixes(word) for word in words(text)]
            for text in (*tender.title.values(), *tender.description.values())
            if text
        ]
        everything: set[str] = set()
        for text in self.texts:
            everything.update(*text)
        self.forms = everything

    def has(self, keyword: Keyword) -> bool:
        if len(keyword) == 1:
            return not keyword[0].isdisjoint(self.forms)
        if any(forms.isdisjoint(self.forms) for forms in keyword):
            return False
        size = len(keyword)
        for text in self.texts:
            for start in range(len(text) - size + 1):
                if all(not wanted.isdisjoint(text[start + n]) for n, wanted in enumerate(keyword)):
                    return True
        return False


def _tender_codes(tender: Tender) -> list[str]:
    return [code.strip()[:CPV_DIGITS] for code in tender.cpv]


def _passes_filters(profile: _Compiled, tender: Tender, euro: Decimal | None, now: datetime) -> bool:
    if tender.kind not in profile.kinds:
        return False
    if profile.countries and (tender.country is None or tender.country.upper() not in profile.countries):
        return False
    if euro is not None and (
        (profile.low is not None and euro < profile.low) or (profile.high is not None and euro > profile.high)
    ):
        return False
    return tender.deadline is None or tender.deadline - now >= timedelta(days=profile.min_days_left)


def _tender_euro(tender: Tender, rates: Mapping[str, Decimal]) -> Decimal | None:
    if tender.value is None or tender.currency is None:
        return None
    return to_euro(tender.value, tender.currency, rates)


@lru_cache(maxsize=65536)
def _compiled_once(profile: Profile, rates: tuple[tuple[str, Decimal], ...]) -> _Compiled:
    return _compile(profile, dict(rates))


def naive_match(profiles: Iterable[Profile], tender: Tender, now: datetime, rates: Mapping[str, Decimal]) -> set[int]:
    """The ids of the profiles that match `tender` at `now`, by the definition: every profile checked in turn."""
    text = _TenderText(tender)
    codes = _tender_codes(tender)
    euro = _tender_euro(tender, rates)
    frozen_rates = tuple(sorted((currency.upper(), rate) for currency, rate in rates.items()))
    found = set()
    for profile in profiles:
        compiled = _compiled_once(profile, frozen_rates)
        about = any(code.startswith(prefix) for prefix in compiled.prefixes for code in codes) or any(
            text.has(keyword) for keyword in compiled.include
        )
        if not about or any(text.has(keyword) for keyword in compiled.exclude):
            continue
        if _passes_filters(compiled, tender, euro, now):
            found.add(profile.id)
    return found


# Runs of bytes of a mask with a bit set.
_NONZERO = re.compile(rb"[^\x00]+")


class ProfileIndex:
    """All profiles, indexed once, so that a tender is compared only with the profiles it can match.

    CPV codes are looked up by their 2..8-digit starts, keywords by their words' forms (a phrase by its first
    word's, then checked in place), the kind and the country by the sets of profiles they admit; only the
    candidates these give are checked for value and deadline. Build a new index when profiles change.
    """

    def __init__(self, profiles: Collection[Profile], rates: Mapping[str, Decimal]) -> None:
        self.rates = {currency.upper(): rate for currency, rate in rates.items()}
        self._cpv: dict[str, set[int]] = defaultdict(set)
        self._include_words: dict[str, set[int]] = defaultdict(set)
        # A phrase is checked once per tender however many profiles ask for it: the profiles per phrase, the
        # phrases per form of their first word.
        self._include_phrases: dict[Keyword, set[int]] = defaultdict(set)
        self._include_starts: dict[str, set[Keyword]] = defaultdict(set)
        self._exclude_words: dict[str, set[int]] = defaultdict(set)
        self._exclude_phrases: dict[Keyword, set[int]] = defaultdict(set)
        self._exclude_starts: dict[str, set[Keyword]] = defaultdict(set)
        by_kind: dict[TenderKind, set[int]] = defaultdict(set)
        by_country: dict[str, set[int]] = defaultdict(set)
        any_country: set[int] = set()
        self._bounds: dict[int, tuple[Decimal | None, Decimal | None]] = {}
        self._min_days: dict[int, int] = {}
        for profile in profiles:
            compiled = _compile(profile, self.rates)
            pid = compiled.id
            for prefix in compiled.prefixes:
                self._cpv[prefix].add(pid)
            self._add_keywords(pid, compiled.include, self._include_words, self._include_phrases, self._include_starts)
            self._add_keywords(pid, compiled.exclude, self._exclude_words, self._exclude_phrases, self._exclude_starts)
            for kind in compiled.kinds:
                by_kind[kind].add(pid)
            if compiled.countries:
                for country in compiled.countries:
                    by_country[country].add(pid)
            else:
                any_country.add(pid)
            if compiled.low is not None or compiled.high is not None:
                self._bounds[pid] = (compiled.low, compiled.high)
            if compiled.min_days_left > 0:
                self._min_days[pid] = compiled.min_days_left
        self._include_word_keys = frozenset(self._include_words)
        self._include_phrase_keys = frozenset(self._include_starts)
        self._exclude_word_keys = frozenset(self._exclude_words)
        self._exclude_phrase_keys = frozenset(self._exclude_starts)
        # Sets of profiles are kept as bit masks over the profiles' positions: a union, an intersection or a
        # difference of thousands of profiles is then a few hundred machine words, not a hash table walked.
        self._ids = sorted({compiled_id for compiled_id in (p.id for p in profiles)})
        position = {pid: number for number, pid in enumerate(self._ids)}
        self._bytes = len(self._ids) // 8 + 1

        def mask(pids: Collection[int]) -> int:
            bits = bytearray(self._bytes)
            for pid in pids:
                number = position[pid]
                bits[number >> 3] |= 1 << (number & 7)
            return int.from_bytes(bits, "little")

        self._cpv_masks = {prefix: mask(pids) for prefix, pids in self._cpv.items()}
        self._include_word_masks = {form: mask(pids) for form, pids in self._include_words.items()}
        self._include_phrase_masks = {phrase: mask(pids) for phrase, pids in self._include_phrases.items()}
        self._exclude_word_masks = {form: mask(pids) for form, pids in self._exclude_words.items()}
        self._exclude_phrase_masks = {phrase: mask(pids) for phrase, pids in self._exclude_phrases.items()}
        self._kind_masks = {kind: mask(pids) for kind, pids in by_kind.items()}
        self._any_country_mask = mask(any_country)
        self._country_masks = {country: mask(pids | any_country) for country, pids in by_country.items()}
        # Profiles by the days they want left, the strictest last: those that a deadline `left` away refuses are
        # the ones from the first level above it on (a union of every level from there: one mask per level).
        levels = sorted(set(self._min_days.values()))
        self._deadline_levels = [timedelta(days=days) for days in levels]
        self._deadline_refused = [
            mask([pid for pid, days in self._min_days.items() if days >= level]) for level in levels
        ]
        # Value ranges the same way: the profiles whose lowest value is above a tender's value (from the first
        # low above it on), and those whose highest is below it (up to the last high below it).
        lows = sorted({low for low, _high in self._bounds.values() if low is not None})
        highs = sorted({high for _low, high in self._bounds.values() if high is not None})
        self._lows = lows
        self._highs = highs
        self._low_refused = [
            mask([pid for pid, (low, _h) in self._bounds.items() if low is not None and low >= floor]) for floor in lows
        ] + [0]
        self._high_refused = [0] + [
            mask([pid for pid, (_l, high) in self._bounds.items() if high is not None and high <= ceiling])
            for ceiling in highs
        ]
        # The positions of the bits of each byte value, for reading a mask back as profile ids.
        self._bits_of = [tuple(bit for bit in range(8) if value >> bit & 1) for value in range(256)]

    @staticmethod
    def _add_keywords(
        pid: int,
        keywords: tuple[Keyword, ...],
        single: dict[str, set[int]],
        phrases: dict[Keyword, set[int]],
        starts: dict[str, set[Keyword]],
    ) -> None:
        for keyword in keywords:
            if len(keyword) == 1:
                for form in keyword[0]:
                    single[form].add(pid)
            else:
                phrases[keyword].add(pid)
                for form in keyword[0]:
                    starts[form].add(keyword)

    @staticmethod
    def _phrases_in(text: _TenderText, keys: frozenset[str], starts: dict[str, set[Keyword]]) -> list[Keyword]:
        tried: set[Keyword] = set()
        for form in text.forms & keys:
            tried |= starts[form]
        return [phrase for phrase in tried if text.has(phrase)]

    def match(self, tender: Tender, now: datetime) -> set[int]:
        """The ids of the profiles that match `tender` at `now` (the same as `naive_match`)."""
        kind_admits = self._kind_masks.get(tender.kind, 0)
        if not kind_admits:
            return set()
        left = None if tender.deadline is None else tender.deadline - now
        if left is not None and left < timedelta(0):
            return set()
        found = 0
        cpv = self._cpv_masks
        for code in _tender_codes(tender):
            for size in range(_CPV_MIN_PREFIX, CPV_DIGITS + 1):
                bits = cpv.get(code[:size])
                if bits:
                    found |= bits
        text = _TenderText(tender)
        forms = text.forms
        for form in forms & self._include_word_keys:
            found |= self._include_word_masks[form]
        for phrase in self._phrases_in(text, self._include_phrase_keys, self._include_starts):
            found |= self._include_phrase_masks[phrase]
        if not found:
            return set()
        found &= kind_admits
        found &= (
            self._any_country_mask
            if tender.country is None
            else self._country_masks.get(tender.country.upper(), self._any_country_mask)
        )
        for form in forms & self._exclude_word_keys:
            found &= ~self._exclude_word_masks[form]
        for phrase in self._phrases_in(text, self._exclude_phrase_keys, self._exclude_starts):
            found &= ~self._exclude_phrase_masks[phrase]
        euro = _tender_euro(tender, self.rates)
        if euro is not None and (self._lows or self._highs):
            found &= ~self._low_refused[bisect_right(self._lows, euro)]
            found &= ~self._high_refused[bisect_left(self._highs, euro)]
        if left is not None:
            level = bisect_right(self._deadline_levels, left)
            if level < len(self._deadline_levels):
                found &= ~self._deadline_refused[level]
        return self._ids_of(found)

    def _ids_of(self, found: int) -> set[int]:
        """The profile ids whose bits are set in `found` (runs of non-zero bytes found by the regular expression
        engine, then each byte's bits from a table)."""
        ids = self._ids
        bits_of = self._bits_of
        data = found.to_bytes(self._bytes, "little")
        result: set[int] = set()
        for hit in _NONZERO.finditer(data):
            for index in range(hit.start(), hit.end()):
                base = index << 3
                for bit in bits_of[data[index]]:
                    result.add(ids[base + bit])
        return result
