"""Where the bot keeps its files when DATA_DIR is not set: `./data` if the current directory has one, else the
user's data directory; never inside the installed package."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT, Settings


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A current directory that is not the project, with no DATA_DIR and a private home."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("DATA_DIR", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return work


def test_data_in_the_current_directory_is_used_when_it_exists(elsewhere: Path) -> None:
    (elsewhere / "data").mkdir()
    settings = Settings()
    assert settings.data_dir == elsewhere / "data"
    assert settings.database.effective_url == f"sqlite+aiosqlite:///{elsewhere / 'data' / 'clusterbot.sqlite3'}"


def test_without_it_the_users_data_directory(elsewhere: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().data_dir == tmp_path / "home" / ".local" / "share" / "clusterbot"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    settings = Settings()
    assert settings.data_dir == tmp_path / "xdg" / "clusterbot"
    assert not settings.data_dir.exists(), "created only when something is written there"
    assert not settings.data_dir.is_relative_to(PROJECT_ROOT)


def test_data_dir_set_wins(elsewhere: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (elsewhere / "data").mkdir()
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "chosen"))
    assert Settings().data_dir == tmp_path / "chosen"
    monkeypatch.setenv("DATA_DIR", "relative")
    assert Settings().data_dir == Path("relative")


def test_a_file_named_data_is_not_a_data_directory(elsewhere: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (elsewhere / "data").write_text("not a folder")
    monkeypatch.setenv("XDG_DATA_HOME", str(elsewhere / "xdg"))
    assert Settings().data_dir == elsewhere / "xdg" / "clusterbot"
