"""Build step for the wheel: the gettext catalogues are compiled (`.po` -> `.mo`) into the build.

Everything else about the package is in pyproject.toml. An installed bot loads its catalogues as shipped and
never writes next to them (site-packages may be read-only); a source checkout, editable installs included,
compiles them at start instead (`bot.i18n.compile_catalogues`), as `.mo` files are not committed.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithCatalogues(build_py):
    """`build_py`, then each `locales/<lang>/LC_MESSAGES/messages.po` compiled next to its copy in the build."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            # The editable package is the source tree itself, where the bot compiles at start.
            return
        for po_path in sorted(Path("locales").glob("*/LC_MESSAGES/messages.po")):
            mo_path = Path(self.build_lib) / po_path.with_suffix(".mo")
            mo_path.parent.mkdir(parents=True, exist_ok=True)
            with po_path.open("rb") as po_file:
                catalog = read_po(po_file, locale=po_path.parent.parent.name)
            with mo_path.open("wb") as mo_file:
                write_mo(mo_file, catalog)
            self.announce(f"compiled catalogue {mo_path}", level=2)


setup(cmdclass={"build_py": BuildPyWithCatalogues})
