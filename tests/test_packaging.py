"""What `pip install .` installs is enough to run the bot from any folder: every file read at run time is in
the wheel (catalogues compiled by the build, migrations, seed data, the Bot API specification)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.app import build_i18n
from bot.i18n import compile_catalogues

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ("ro", "en")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of the tree without its `.mo` files: the build must make them itself."""
    tmp_path = tmp_path_factory.mktemp("wheel")
    # A copy, too, so that the build leaves nothing in the working tree.
    source = tmp_path / "source"
    skipped = shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__", "*.mo")

    def ignore(folder: str, names: list[str]) -> set[str]:
        # The top-level data/ holds a developer's databases, not the package's data.
        return set(skipped(folder, names)) | ({"data"} if Path(folder) == ROOT else set())

    shutil.copytree(ROOT, source, ignore=ignore)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "--disable-pip-version-check",
            "-w",
            str(tmp_path),
            str(source),
        ],
        check=True,
        timeout=600,
    )
    return next(tmp_path.glob("clusterbot-*.whl"))


def test_the_wheel_carries_every_file_the_bot_reads_at_run_time(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    needed = {f"locales/{lang}/LC_MESSAGES/messages.{ext}" for lang in LANGUAGES for ext in ("po", "mo")}
    needed |= {
        "bot/data/catalogue.yaml",
        "bot/data/working_groups.yaml",
        "bot/data/cpv/ro.json",
        "bot/data/cpv/en.json",
        "bot/data/cpv/LICENSE-openprocurement-standards.txt",
        "bot/data/cpv/README.md",
        "bot/sandbox/bot_api.json",
        "bot/sandbox/bot_api.LICENSE",
        "storage/migrations/env.py",
        "storage/migrations/script.py.mako",
    }
    needed |= {
        f"storage/migrations/versions/{p.name}" for p in (ROOT / "storage" / "migrations" / "versions").glob("*.py")
    }
    assert needed <= names, sorted(needed - names)


def test_the_build_compiles_each_catalogue_as_the_bot_would(wheel: Path) -> None:
    shipped = zipfile.ZipFile(wheel)
    for lang in LANGUAGES:
        with (ROOT / "locales" / lang / "LC_MESSAGES" / "messages.po").open("rb") as po_file:
            catalog = read_po(po_file, locale=lang)
        expected = io.BytesIO()
        write_mo(expected, catalog)
        assert shipped.read(f"locales/{lang}/LC_MESSAGES/messages.mo") == expected.getvalue(), lang


def test_an_installed_bot_speaks_romanian_from_the_shipped_catalogues_without_compiling(
    wheel: Path, tmp_path: Path
) -> None:
    site_packages = tmp_path / "site-packages"
    zipfile.ZipFile(wheel).extractall(site_packages)
    locales = site_packages / "locales"
    for lang in LANGUAGES:
        # As pip unpacks it: every file gets the time it was written, the .po a moment after its .mo.
        folder = locales / lang / "LC_MESSAGES"
        mo_time = (folder / "messages.mo").stat().st_mtime
        os.utime(folder / "messages.po", (mo_time + 5, mo_time + 5))
    shipped = {p: p.read_bytes() for p in locales.glob("*/LC_MESSAGES/messages.mo")}

    assert compile_catalogues(locales) == []
    i18n = build_i18n("ro", path=locales)
    assert {p: p.read_bytes() for p in locales.glob("*/LC_MESSAGES/messages.mo")} == shipped
    with i18n.context(), i18n.use_locale("ro"):
        assert i18n.gettext("Main menu") == "Meniul principal"


def test_a_source_tree_recompiles_a_catalogue_older_than_its_po(tmp_path: Path) -> None:
    # The fallback for a checkout and an editable install: no build step, the bot compiles at start.
    (tmp_path / "pyproject.toml").write_text("")
    locales = tmp_path / "locales"
    folder = locales / "ro" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "locales" / "ro" / "LC_MESSAGES" / "messages.po", folder / "messages.po")

    assert compile_catalogues(locales) == [folder / "messages.mo"]
    assert compile_catalogues(locales) == []
    mo_time = (folder / "messages.mo").stat().st_mtime
    os.utime(folder / "messages.po", (mo_time + 5, mo_time + 5))
    assert compile_catalogues(locales) == [folder / "messages.mo"]
