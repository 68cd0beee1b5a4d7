"""Both catalogues are complete: every message translated, none fuzzy, placeholders and HTML kept."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.app import build_i18n
from bot.i18n import LOCALES_DIR

PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
TAG = re.compile(r"</?[a-z]+>")
ROOT = Path(__file__).resolve().parent.parent


def catalog(locale: str):
    with (LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=locale)


def source_messages() -> set[str]:
    found = set()
    for folder in ("bot", "handlers"):
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / folder, keywords={"_": None, "ngettext": (1, 2)}, method_map=[("**.py", "python")]
        ):
            found.add(message[0] if isinstance(message, tuple) else message)
    return found


@pytest.mark.parametrize("locale", ["ro", "en"])
def test_every_message_is_translated_and_keeps_its_placeholders(locale: str) -> None:
    problems = []
    for message in catalog(locale):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy:
            problems.append(f"fuzzy: {ids[0]!r}")
        if not all(strings):
            problems.append(f"untranslated: {ids[0]!r}")
            continue
        expected = set(PLACEHOLDER.findall(ids[0]))
        for text in strings:
            if set(PLACEHOLDER.findall(text)) != expected:
                problems.append(f"placeholders differ: {ids[0]!r} -> {text!r}")
            if sorted(TAG.findall(text)) != sorted(TAG.findall(ids[0])):
                problems.append(f"HTML tags differ: {ids[0]!r} -> {text!r}")
    assert problems == []


@pytest.mark.parametrize("locale", ["ro", "en"])
def test_catalogue_holds_every_message_in_the_code(locale: str) -> None:
    in_catalogue = {m.id[0] if isinstance(m.id, tuple) else m.id for m in catalog(locale) if m.id}
    missing = source_messages() - in_catalogue
    assert missing == set(), "run the pybabel extract/update workflow from the README"


def test_romanian_has_three_plural_forms() -> None:
    ro = catalog("ro")
    assert ro.num_plurals == 3
    i18n = build_i18n()
    forms = [
        i18n.gettext("{count} join request is waiting:", "{count} join requests are waiting:", n, locale="ro")
        for n in (1, 2, 20)
    ]
    assert len(set(forms)) == 3, forms


def test_english_rewordings_are_deliberate() -> None:
    """English is the source language: its catalogue says what the code says, except where the catalogue
    reread it (never a fuzzy guess of pybabel update, which `python -m bot.i18n` resets to the code's text)."""
    reworded = [
        m.id for m in catalog("en") if m.id and m.string != ((m.id[0], m.id[1]) if isinstance(m.id, tuple) else m.id)
    ]
    assert [m.id for m in catalog("en") if m.id and m.fuzzy] == [], "run: python -m bot.i18n"
    # The reread of issue 12 changed a few dozen; a catalogue mostly unlike its code would be a mistake.
    assert len(reworded) < 100, reworded


def test_processes_compiling_the_catalogues_at_once_never_read_a_half_written_one(tmp_path: Path) -> None:
    # pytest's workers and a deployment's replicas start together on a fresh checkout: each compiles, and each
    # must then read a whole catalogue (a half-written .mo made gettext fail at import time in CI).
    import shutil
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    locales = tmp_path / "locales"
    shutil.copytree(root / "locales", locales, ignore=shutil.ignore_patterns("*.mo"))
    (tmp_path / "pyproject.toml").write_text("", encoding="utf-8")
    code = (
        "import gettext, sys\n"
        "from pathlib import Path\n"
        "from bot.i18n import compile_catalogues\n"
        "path = Path(sys.argv[1])\n"
        "for _ in range(15):\n"
        "    for mo in path.glob('*/LC_MESSAGES/*.mo'):\n"
        "        mo.unlink(missing_ok=True)\n"
        "    compile_catalogues(path)\n"
        "    for mo in path.glob('*/LC_MESSAGES/*.mo'):\n"
        "        with mo.open('rb') as fp:\n"
        "            gettext.GNUTranslations(fp)\n"
    )
    runs = [subprocess.Popen([sys.executable, "-c", code, str(locales)], cwd=root) for _ in range(4)]
    assert [run.wait(timeout=120) for run in runs] == [0, 0, 0, 0]
    assert sorted(p.name for p in locales.glob("*/LC_MESSAGES/*")) == [
        "messages.mo",
        "messages.mo",
        "messages.po",
        "messages.po",
    ]
