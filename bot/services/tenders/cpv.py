"""The CPV 2008 vocabulary (Common Procurement Vocabulary) shipped with the bot: 9,454 codes, labels in Romanian
and English, the tree division -> group -> class -> category -> deeper codes, and a search of the labels.

Codes are kept by their 8 digits ("09331200"), as TED writes them; the check digit is known for each one and
shown with it ("09331200-0"). The Romanian labels come with cedilla letters (ş ţ Ş Ţ); they are given here with
the comma below (ș ț Ș Ț), as Romanian is written. The files are read once, on first use (`vocabulary()`), and
the search index is built on the first search. No aiogram here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache, cached_property
from importlib import resources

from bot.text import comma_below, fold, matches, query_forms, search_text, words

_DIGITS = 8
# "09331200", "09331200-0"; spaces around are forgiven.
_CODE = re.compile(r"\s*(\d{8})(?:-(\d))?\s*")
_CODE_START = re.compile(r"\s*(\d{2,8})\s*")
SEARCH_LIMIT = 20
SEARCH_WORDS_MAX = 8

# Words the clusters' members search by that CPV 2008 has in no label: the vocabulary predates "biomass".
# Searched like the labels' own words, never shown.
_ALSO_KNOWN_AS: dict[str, tuple[str, ...]] = {
    "09111400": ("biomasă", "biomass", "peleți", "pellets"),
    "03413000": ("biomasă", "biomass"),
    "03416000": ("biomasă", "biomass"),
    "03417100": ("biomasă", "biomass", "peleți", "pellets"),
}


class Level(StrEnum):
    """How deep a code sits, by its significant digits (the rest are zeros)."""

    DIVISION = "division"  # 2 digits: 09000000
    GROUP = "group"  # 3: 09300000
    CLASS = "class"  # 4: 09330000
    CATEGORY = "category"  # 5: 09332000
    DEEPER = "deeper"  # 6 to 8: 09331200


_LEVELS = {2: Level.DIVISION, 3: Level.GROUP, 4: Level.CLASS, 5: Level.CATEGORY}


def significant(code: str) -> str:
    """The digits that say what a code is, without the zeros that fill it to 8: "09330000" -> "0933".

    A division keeps its two digits even when the second is a zero ("30000000" -> "30").
    """
    stripped = code.rstrip("0")
    return code[: max(len(stripped), 2)]


def level_of(code: str) -> Level:
    return _LEVELS.get(len(significant(code)), Level.DEEPER)


def code8(text: str) -> str | None:
    """The 8 digits of a code written "09331200" or "09331200-0", or None when it is neither.

    The check digit is not verified here (the code need not be in the vocabulary): `Vocabulary.get` does.
    """
    found = _CODE.fullmatch(text)
    return found.group(1) if found else None


def covers(prefix_code: str, code: str) -> bool:
    """Whether `prefix_code` stands for `code`: itself, or a broader code that `code` sits below.

    A division or group (or any code) covers every code that begins with its significant digits: "09000000"
    covers "09331200", "09300000" covers "09332000", "09330000" does not cover "09310000". Either may carry its
    check digit; anything that is not a code covers nothing and is covered by nothing.
    """
    prefix, target = code8(prefix_code), code8(code)
    if prefix is None or target is None:
        return False
    return target.startswith(significant(prefix))


@dataclass(frozen=True, slots=True)
class CpvCode:
    code: str  # 8 digits
    check_digit: str
    label_ro: str  # with ș ț, never ş ţ
    label_en: str

    @property
    def full(self) -> str:
        """As the vocabulary writes it: "09331200-0"."""
        return f"{self.code}-{self.check_digit}"

    @property
    def level(self) -> Level:
        return level_of(self.code)

    def label(self, language: str) -> str:
        """The label in "ro" or "en" (anything else gets English)."""
        return self.label_ro if language == "ro" else self.label_en


class Vocabulary:
    """Every code of CPV 2008 by its 8 digits, with its place in the tree."""

    def __init__(self, ro: dict[str, str], en: dict[str, str]) -> None:
        if ro.keys() != en.keys():
            missing = sorted(ro.keys() ^ en.keys())[:5]
            raise ValueError(f"the CPV files do not have the same codes: {missing}")
        self.codes: dict[str, CpvCode] = {}
        for full in sorted(ro):
            digits, check = full.split("-")
            self.codes[digits] = CpvCode(digits, check, comma_below(ro[full]), en[full])
        self._parents: dict[str, str | None] = {code: self._nearest_ancestor(code) for code in self.codes}
        self._children: dict[str, list[str]] = {}
        for code, parent in self._parents.items():
            if parent is not None:
                self._children.setdefault(parent, []).append(code)

    def _nearest_ancestor(self, code: str) -> str | None:
        # Not every level exists under every code: a deeper code may sit right under a class.
        for length in range(len(significant(code)) - 1, 1, -1):
            candidate = code[:length].ljust(_DIGITS, "0")
            if candidate in self.codes:
                return candidate
        return None

    def __len__(self) -> int:
        return len(self.codes)

    def get(self, text: str) -> CpvCode | None:
        """The code written "09331200" or "09331200-0"; None when unknown, malformed, or its check digit is not
        the vocabulary's (a mistyped code is refused rather than taken for another)."""
        found = _CODE.fullmatch(text)
        if found is None:
            return None
        entry = self.codes.get(found.group(1))
        if entry is None or (found.group(2) is not None and found.group(2) != entry.check_digit):
            return None
        return entry

    def parent(self, code: str) -> CpvCode | None:
        """The nearest broader code in the vocabulary; None for a division (or a code it does not have)."""
        digits = code8(code)
        parent = self._parents.get(digits) if digits else None
        return self.codes[parent] if parent else None

    def ancestors(self, code: str) -> list[CpvCode]:
        """From the division down to the code's parent."""
        chain: list[CpvCode] = []
        current = self.parent(code)
        while current is not None:
            chain.append(current)
            current = self.parent(current.code)
        return chain[::-1]

    def children(self, code: str) -> list[CpvCode]:
        """The codes right under `code`, in code order (the next level down that exists under it)."""
        digits = code8(code)
        return [self.codes[child] for child in self._children.get(digits or "", [])]

    def divisions(self) -> list[CpvCode]:
        return [entry for entry in self.codes.values() if entry.level is Level.DIVISION]

    # --- search ---------------------------------------------------------------------------------------------

    def prepare_search(self) -> None:
        """Builds the search index now rather than on the first search (2.5 s on this machine: the labels'
        14,000 words stemmed in Romanian and English)."""
        _ = self._search_texts

    @cached_property
    def _search_texts(self) -> list[tuple[CpvCode, str, str, str]]:
        """Per code: its search text (both labels and its other names) and each label folded, for ranking."""
        return [
            (
                entry,
                search_text(entry.label_ro, entry.label_en, *_ALSO_KNOWN_AS.get(entry.code, ())),
                " " + " ".join(fold(word) for word in words(entry.label_ro)) + " ",
                " " + " ".join(fold(word) for word in words(entry.label_en)) + " ",
            )
            for entry in self.codes.values()
        ]

    def search(self, text: str, language: str = "ro", limit: int = SEARCH_LIMIT) -> list[CpvCode]:
        """At most `limit` codes whose labels, in either language, have every word of `text`, best first.

        Words are matched as the catalogue search matches them (`bot.text`): case, diacritics, cedilla or comma
        below do not matter, and a word finds its other forms ("licitatie" finds "licitație", "laboratory" finds
        "laboratories"). A code (with or without its check digit) or its first digits find that code and what
        sits below it. Best first: a label that is the words typed, then labels in `language` that have them
        together, then as whole words, then broader codes, then shorter labels.
        """
        if limit <= 0:
            return []
        if _CODE_START.fullmatch(text) or code8(text):
            return self._by_digits(text, limit)
        typed: dict[str, str] = {}
        for word in words(text.lower()):
            typed.setdefault(fold(word), word)
        wanted = [query_forms(word) for word in list(typed.values())[:SEARCH_WORDS_MAX]]
        if not wanted:
            return []
        phrase = " " + " ".join(list(typed)[:SEARCH_WORDS_MAX]) + " "
        ranked: list[tuple[tuple[int, int, int, int, int, str], CpvCode]] = []
        for entry, terms_text, folded_ro, folded_en in self._search_texts:
            if not all(matches(forms, terms_text) for forms in wanted):
                continue
            own, other = (folded_ro, folded_en) if language == "ro" else (folded_en, folded_ro)
            exact = 0 if phrase in (own, other) else 1
            together = 0 if phrase in own else 1 if phrase in other else 2
            whole = sum(1 for word in typed if f" {word} " not in own and f" {word} " not in other)
            label = entry.label(language)
            ranked.append(((exact, together, whole, len(significant(entry.code)), len(label), entry.code), entry))
        ranked.sort(key=lambda item: item[0])
        return [entry for _, entry in ranked[:limit]]

    def _by_digits(self, text: str, limit: int) -> list[CpvCode]:
        exact = self.get(text)
        if exact is not None:
            return [exact, *self.children(exact.code)][:limit]
        if code8(text):  # 8 digits the vocabulary does not have, or a wrong check digit
            return []
        start = text.strip()
        found = [entry for code, entry in self.codes.items() if code.startswith(start)]
        found.sort(key=lambda entry: (len(significant(entry.code)), entry.code))
        return found[:limit]


@cache
def vocabulary() -> Vocabulary:
    """The shipped vocabulary, read from the package on first use and kept."""
    folder = resources.files("bot").joinpath("data/cpv")
    ro = json.loads(folder.joinpath("ro.json").read_text(encoding="utf-8"))
    en = json.loads(folder.joinpath("en.json").read_text(encoding="utf-8"))
    return Vocabulary(ro, en)
