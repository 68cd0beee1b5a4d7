"""Languages: compiling the gettext catalogues, the choice of a person's language, Babel formatting.

No aiogram here: services use these rules; `bot.app.build_i18n` makes aiogram's I18n from the catalogues.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import string
import tempfile
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.config import PROJECT_ROOT

LOCALES_DIR = PROJECT_ROOT / "locales"
DOMAIN = "messages"
SUPPORTED_LOCALES = ("ro", "en")

log = logging.getLogger(__name__)

T = TypeVar("T")


def compile_catalogues(path: Path = LOCALES_DIR) -> list[Path]:
    """Compile every `.po` whose `.mo` is missing or older, so a fresh clone starts without a build step.

    Only a source tree (`pyproject.toml` beside `locales/`) is checked for older `.mo` files. An installed
    package has its `.mo` compiled by the build (setup.py) from the very `.po` shipped with them, but pip gives
    every file the time it was unpacked, the `.po` often a moment after its `.mo`.
    """
    source_tree = (path.parent / "pyproject.toml").is_file()
    compiled = []
    for po_path in sorted(path.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and (not source_tree or mo_path.stat().st_mtime >= po_path.stat().st_mtime):
            continue
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=po_path.parent.parent.name)
        # Written beside it and renamed over it: several processes starting at once (pytest's workers, replicas)
        # each compile, and none may read another's half-written file.
        partial: Path | None = None
        try:
            with tempfile.NamedTemporaryFile("wb", dir=mo_path.parent, suffix=".partial", delete=False) as mo_file:
                partial = Path(mo_file.name)
                write_mo(mo_file, catalog)
            os.replace(partial, mo_path)
        except OSError as error:
            if partial is not None:
                with contextlib.suppress(OSError):
                    partial.unlink()
            # A read-only install (a container running as another user) keeps the catalogue built with it.
            log.warning("could not compile %s: %s", mo_path.name, error.strerror)
            continue
        compiled.append(mo_path)
        log.info("compiled catalogue %s", mo_path.relative_to(path))
    return compiled


def resolve_locale(chosen: str | None, telegram_language: str | None, default: str = "ro") -> str:
    """The person's saved choice; else Telegram's `ro*` means Romanian and any other language English.

    Only when Telegram tells nothing at all does the deployment's default apply.
    """
    if chosen in SUPPORTED_LOCALES:
        return chosen
    if not telegram_language:
        return default
    return "ro" if telegram_language.lower().startswith("ro") else "en"


def format_when(moment: datetime, locale: str, tz: ZoneInfo) -> str:
    """A date and time the way the reader's language writes it, in the cluster's time zone."""
    # Day, month name and 24-hour time in every language: "23 nov. 2026, 21:06", "23 Nov 2026, 21:06".
    return format_datetime(moment.astimezone(tz), format="d MMM y, HH:mm", locale=locale, tzinfo=tz)


# A value that ends a sentence's period itself ("Bioenergie Mureș S.R.L.", "<b>EcoTech S.A.</b>", a link
# around one), and the template's period that would follow it, after any closing tags ("{name}.", "</b>.").
_ENDS_WITH_PERIOD = re.compile(r"\.(?:</[a-z]+>)*\Z")
_TEMPLATE_PERIOD = re.compile(r"\A((?:</[a-z]+>)*)\.(?!\.)")


class _Typography(string.Formatter):
    def vformat(self, format_string: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
        pieces: list[str] = []
        ended_with_period = False
        for literal, field, spec, conversion in self.parse(format_string):
            if ended_with_period:
                # "… S.R.L.." reads as a typo: the name's own period ends the sentence.
                literal = _TEMPLATE_PERIOD.sub(r"\1", literal, count=1)
            pieces.append(literal)
            ended_with_period = False
            if field is None:
                continue
            value, _ = self.get_field(field, args, kwargs)
            value = self.convert_field(value, conversion)
            rendered = self.format_field(value, self.vformat(spec or "", args, kwargs))
            pieces.append(rendered)
            ended_with_period = bool(_ENDS_WITH_PERIOD.search(rendered))
        return "".join(pieces)


_TYPOGRAPHY = _Typography()


def typeset(template: str, /, *args: Any, **kwargs: Any) -> str:
    """``template.format(...)`` where a value ending with a period is not followed by the template's own:
    "Cererea organizației {name}." with "Bioenergie Mureș S.R.L." gives "… S.R.L.", not "… S.R.L..".
    Everything else is ``str.format`` (fields, conversions, format specs)."""
    return _TYPOGRAPHY.vformat(template, args, kwargs)


class Translated(str):
    """A translated text (what the catalogue's gettext gives) whose ``format`` applies ``typeset``."""

    __slots__ = ()

    def format(self, /, *args: Any, **kwargs: Any) -> str:
        return typeset(str(self), *args, **kwargs)


class Translator(Protocol):
    """What `in_every_language` needs of aiogram's I18n, named here so that this module imports no aiogram."""

    def context(self) -> AbstractContextManager[Any]: ...

    def use_locale(self, locale: str) -> AbstractContextManager[Any]: ...


def in_every_language(i18n: Translator, render: Callable[[], T]) -> dict[str, T]:
    """`render()` once per supported language, with that language current: an outbox message for everyone."""
    rendered = {}
    for locale in SUPPORTED_LOCALES:
        with i18n.context(), i18n.use_locale(locale):
            rendered[locale] = render()
    return rendered


def fill_source_language(po_path: Path) -> int:
    """English is the source language: an entry of its catalogue that is empty or fuzzy becomes its msgid
    (plurals too), which also undoes `pybabel update`'s fuzzy guesses (they borrow a neighbour's text).

    Any other entry is kept: the English catalogue may reword what the code says (the catalogue reread of
    issue 12: "I'm the cluster's assistant" for the code's "I am the assistant of the cluster").
    """
    from babel.messages.pofile import write_po

    with po_path.open("rb") as po_file:
        catalog = read_po(po_file, locale="en")
    changed = 0
    for message in catalog:
        if not message.id:
            continue
        wanted = (message.id[0], message.id[1]) if isinstance(message.id, tuple | list) else message.id
        empty = not any(message.string) if isinstance(message.string, tuple | list) else not message.string
        if (empty or message.fuzzy) and (message.string != wanted or message.fuzzy):
            message.string = wanted
            message.flags.discard("fuzzy")
            changed += 1
    with po_path.open("wb") as po_file:
        write_po(po_file, catalog, width=0)
    return changed


def apply_rewordings(changes: dict[str, dict[str, Any]], path: Path = LOCALES_DIR) -> dict[str, list[str]]:
    """Set the msgstr of existing entries from ``{"ro": {msgid: text or [plural forms]}, "en": {...}}`` (a
    reread's list of changes); returns, per language, the msgids no longer in its catalogue (left alone)."""
    from babel.messages.pofile import write_po

    missing: dict[str, list[str]] = {}
    for locale, wanted in changes.items():
        po_path = path / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=locale)
        by_id = {(m.id[0] if isinstance(m.id, tuple | list) else m.id): m for m in catalog if m.id}
        missing[locale] = []
        for msgid, text in wanted.items():
            message = by_id.get(msgid)
            plural = isinstance(text, list)
            if message is None or plural != isinstance(message.id, tuple | list):
                missing[locale].append(msgid)
                continue
            message.string = tuple(text) if plural else text
            message.flags.discard("fuzzy")
        with po_path.open("wb") as po_file:
            write_po(po_file, catalog, width=0)
    return missing


if __name__ == "__main__":
    import json
    import sys

    if sys.argv[1:2] == ["apply"]:
        # python -m bot.i18n apply CHANGES.json: a reread's wording put back after a merge.
        left = apply_rewordings(json.loads(Path(sys.argv[2]).read_text(encoding="utf-8")))
        for locale, msgids in left.items():
            for msgid in msgids:
                print(f"{locale}: not in the catalogue any more: {msgid!r}")
    count = fill_source_language(LOCALES_DIR / "en" / "LC_MESSAGES" / f"{DOMAIN}.po")
    print(f"set {count} English entries to their source text")
