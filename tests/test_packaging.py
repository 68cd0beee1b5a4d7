"""What `pip install .` installs is enough to run the bot from any folder: every file read at run time is in
the wheel (catalogues, migrations, seed data, the Bot API specification)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_carries_every_file_the_bot_reads_at_run_time(tmp_path: Path) -> None:
    # Built from a copy, so that the build leaves nothing in the working tree.
    source = tmp_path / "source"
    skipped = shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__")

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
    wheel = next(tmp_path.glob("clusterbot-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    needed = {
        "locales/ro/LC_MESSAGES/messages.po",
        "locales/en/LC_MESSAGES/messages.po",
        "bot/data/catalogue.yaml",
        "bot/data/working_groups.yaml",
        "bot/sandbox/bot_api.json",
        "bot/sandbox/bot_api.LICENSE",
        "storage/migrations/env.py",
        "storage/migrations/script.py.mako",
    }
    needed |= {
        f"storage/migrations/versions/{p.name}" for p in (ROOT / "storage" / "migrations" / "versions").glob("*.py")
    }
    assert needed <= names, sorted(needed - names)
