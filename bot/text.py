"""Text as search reads it: words, diacritics folded, Romanian and English stems; shared by every keyword search."""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from itertools import pairwise

import snowballstemmer

_WORD = re.compile(r"\w+")
# Romanian Snowball knows ș and ț with a comma below; older keyboards and many documents type a cedilla.
_COMMA_BELOW = str.maketrans("şŞţŢ", "șȘțȚ")
_ROMANIAN = snowballstemmer.stemmer("romanian")
_ENGLISH = snowballstemmer.stemmer("english")
# "european" and "mediteranean", not "ocean" or the English "clean" (English words meet the Romanian stemmer too).
_EAN_STEM_MIN = 7


def words(text: str) -> list[str]:
    """The words of a text as written: letters, digits and underscores; everything else separates them."""
    return _WORD.findall(text)


def fold(text: str) -> str:
    """Lower case without diacritics: ş (cedilla) and ș (comma below) both become s."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def comma_below(text: str) -> str:
    """Romanian letters as Romanian Snowball expects them: composed, with ș and ț in place of ş and ţ."""
    return unicodedata.normalize("NFC", text).translate(_COMMA_BELOW)


# Words repeat across a catalogue and across searches: the shipped catalogue's search texts take 0.5 s to stem
# the first time, 0.02 s after.
@lru_cache(maxsize=16384)
def stems(word: str) -> frozenset[str]:
    """A word's stems in Romanian and in English, folded.

    Romanian stems the word as written and without its diacritics, since people type "licitatiei" as often as
    "licitației" and the two stem differently ("licitat", "licit"); English stems it without diacritics.
    """
    plain = fold(word)
    romanian = {fold(_ROMANIAN.stemWord(comma_below(word).lower())), _ROMANIAN.stemWord(plain)}
    # Adjectives in -ean write "ea" before a and "e" before e and i (europeană, europene), which Snowball
    # leaves as two stems ("european", "europen"): a long stem in -ean stands for its -en form too.
    romanian |= {stem[:-3] + "en" for stem in romanian if len(stem) >= _EAN_STEM_MIN and stem.endswith("ean")}
    return frozenset((romanian | {_ENGLISH.stemWord(plain)}) - {""})


def word_start(word: str) -> str:
    """How search found other forms of a folded word before it had stems, kept so that it finds no less.

    A word of five letters or more loses an English plural ending, then its last vowel: "legislatie" finds
    "legislația", "laboratories" finds "laboratory".
    """
    if len(word) < 5:
        return word
    if word.endswith("ies"):
        word = word[:-3]
    elif word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    if len(word) > 4 and word[-1] in "aeiouy":
        word = word[:-1]
    return word


def query_forms(word: str) -> frozenset[str]:
    """What may begin one of a text's terms for `word` to be found there: its stems and its start."""
    return stems(word) | {word_start(fold(word))}


def terms(texts: Iterable[str]) -> list[str]:
    """What a text is searched by: its words folded and their stems, in the order they first appear.

    A term that begins another is left out, since whatever begins it begins the longer one too.
    """
    found: dict[str, None] = {}
    for word in words(" ".join(texts)):
        plain = fold(word)
        found[plain] = None
        found.update(dict.fromkeys(sorted(stems(word))))
    ordered = sorted(found)
    redundant = {term for term, after in pairwise(ordered) if after.startswith(term)}
    return [term for term in found if term not in redundant]


def matches(forms: Iterable[str], terms_text: str) -> bool:
    """Whether one of a search word's forms begins a term of `terms_text` (terms each after one space)."""
    return any(" " + form in terms_text for form in forms)


def common_start(forms: Iterable[str]) -> str:
    """The longest start that all of a search word's forms share: every text that one of them finds has it."""
    # Character by character is what is wanted here: these are words, not paths.
    return os.path.commonprefix(list(forms))  # noqa: RUF071


# The column's size (storage.models.Service.search_text).
SEARCH_TEXT_MAX = 4500


def search_text(*texts: str) -> str:
    """What a catalogue search matches: the terms of both languages' texts (`terms`), each after one space."""
    text = "".join(" " + term for term in terms(texts))
    if len(text) > SEARCH_TEXT_MAX:
        text = text[: text.rindex(" ", 0, SEARCH_TEXT_MAX + 1)]
    return text
