"""Settings in sections under the variables' old names: each documented variable lands in its section, from
the environment, from `.env` and as a keyword; a wrong value is an error naming its variable; the token never
shows; `from_values` reads nothing from the environment."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from bot.cli import main
from bot.config import (
    DatabaseSettings,
    DeliverySettings,
    Settings,
    TenderSourceSettings,
    settings_problems,
    variables,
)

ROOT = Path(__file__).resolve().parent.parent

# Each variable: a value to set it to, where it lands, and what it reads there.
LANDS: dict[str, tuple[str, str, Any]] = {
    "DATABASE_URL": ("postgresql+asyncpg://u:p@db/cluster", "database.url", "postgresql+asyncpg://u:p@db/cluster"),
    "DB_POOL_SIZE": ("3", "database.pool_size", 3),
    "DB_MAX_OVERFLOW": ("4", "database.max_overflow", 4),
    "DB_POOL_TIMEOUT": ("7.5", "database.pool_timeout", 7.5),
    "BOT_TOKEN": ("123456:secret-part", "telegram.bot_token", SecretStr("123456:secret-part")),
    "TELEGRAM_API_URL": ("http://127.0.0.1:8081", "telegram.api_url", "http://127.0.0.1:8081"),
    "BOT_USERNAME": ("my_cluster_bot", "telegram.bot_username", "my_cluster_bot"),
    "DELIVERY_RATE": ("12.5", "delivery.rate", 12.5),
    "ALLOW_PAID_BROADCAST": ("true", "delivery.allow_paid_broadcast", True),
    "SENDER_NAME": ("replica-1", "delivery.sender_name", "replica-1"),
    "PROGRESS_INTERVAL": ("0.5", "delivery.progress_interval", 0.5),
    "SCHEDULER_INTERVAL": ("5", "scheduler.interval", 5.0),
    "REDIS_URL": ("redis://127.0.0.1:6379/3", "redis_url", "redis://127.0.0.1:6379/3"),
    "ADMIN_IDS": ("11, 22;33", "admin_ids", frozenset({11, 22, 33})),
    "DEFAULT_LOCALE": ("en", "default_locale", "en"),
    "TIMEZONE": ("Asia/Tokyo", "timezone", "Asia/Tokyo"),
    "DATA_DIR": ("/srv/clusterbot", "data_dir", Path("/srv/clusterbot")),
    "LOG_LEVEL": ("DEBUG", "log_level", "DEBUG"),
    "MAX_TEXT_LENGTH": ("2000", "max_text_length", 2000),
    "PERSON_CACHE_SECONDS": ("0", "person_cache_seconds", 0.0),
    "RETENTION_DAYS": ("30", "retention_days", 30),
    "TENDER_SOURCES": (
        '[{"name": "sicap", "kind": "csv", "path": "/srv/sicap.csv", "every_minutes": 60}]',
        "tenders.sources",
        [TenderSourceSettings(name="sicap", kind="csv", path=Path("/srv/sicap.csv"), every_minutes=60)],
    ),
    "TENDER_COUNTRIES": ("ro, bg;HU", "tenders.countries", frozenset({"RO", "BG", "HU"})),
    "TENDER_RATES": ('{"RON": "5.01"}', "tenders.rates", {"RON": Decimal("5.01"), "EUR": Decimal(1)}),
    "TENDER_QUIET_HOURS": ("23:00-07:00", "tenders.quiet_hours", "23:00-07:00"),
    "TENDER_DIGEST_HOUR": ("18", "tenders.digest_hour", 18),
    "TENDER_MAX_RESPONSE_BYTES": ("2048", "tenders.max_response_bytes", 2048),
}


def documented(text: str, pattern: str) -> set[str]:
    return set(re.findall(pattern, text, flags=re.MULTILINE))


def readme_variables() -> set[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return documented(section, r"^\| `([A-Z][A-Z_]+)` \|")


def at(settings: Settings, path: str) -> Any:
    value: Any = settings
    for part in path.split("."):
        value = getattr(value, part)
    return value


@pytest.fixture
def clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No setting in the environment and a current directory without `.env`, whatever the developer has."""
    for variable in variables():
        monkeypatch.delenv(variable.name, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def test_every_variable_is_documented_and_every_documented_one_is_read() -> None:
    read = {v.name for v in variables()}
    assert readme_variables() == read == set(LANDS)
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    assert documented(example, r"^(?:# )?([A-Z][A-Z_]+)=") == read
    # The README's line per section names the same variables as the sections hold.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for section in ("database", "telegram", "delivery", "scheduler", "tenders", None):
        marker = f"- `settings.{section}`:" if section else "- `settings` itself"
        line = readme.split(marker, 1)[1].split("\n- ", 1)[0].split("\n\n", 1)[0]
        # The database's line says that its default lives in DATA_DIR.
        named = documented(line, r"`([A-Z][A-Z_]+)`") - ({"DATA_DIR"} if section == "database" else set())
        assert named == {v.name for v in variables() if v.section == section}, section


@pytest.mark.parametrize("name", sorted(LANDS))
@pytest.mark.parametrize("source", ["environment", ".env", "keyword", "from_values"])
def test_each_variable_lands_in_its_section(
    name: str, source: str, clean: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text, path, expected = LANDS[name]
    before = Settings().to_values()
    if source == "environment":
        monkeypatch.setenv(name, text)
        settings = Settings()
    elif source == ".env":
        (clean / ".env").write_text(f"# a deployment\n{name}={text}\nUNRELATED_TO_THE_BOT=1\n", encoding="utf-8")
        settings = Settings()
    elif source == "keyword":
        settings = Settings(**{name.lower(): text})
    else:
        settings = Settings.from_values(**{name.lower(): text})
    assert at(settings, path) == expected
    after = settings.to_values()
    assert {key for key in after if after[key] != before[key]} == {name.lower()}, "that one setting, no other"


def test_the_environment_wins_over_env_and_keywords_over_both(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean / ".env").write_text("DELIVERY_RATE=9\nDB_POOL_SIZE=5\nTIMEZONE=Asia/Tokyo\nBOT_TOKEN=\n", encoding="utf-8")
    monkeypatch.setenv("DELIVERY_RATE", "4")
    settings = Settings(db_pool_size=6)
    assert (settings.delivery.rate, settings.database.pool_size, settings.timezone) == (4.0, 6, "Asia/Tokyo")
    assert settings.telegram.bot_token is None, "an empty variable keeps the default"
    assert Settings(_env_file=None).timezone == "Europe/Bucharest"


def test_from_values_and_make_settings_read_neither_the_environment_nor_env(
    clean: Path, monkeypatch: pytest.MonkeyPatch, make_settings: Callable[..., Settings]
) -> None:
    (clean / ".env").write_text("DEFAULT_LOCALE=en\nDELIVERY_RATE=9\n", encoding="utf-8")
    monkeypatch.setenv("TIMEZONE", "Asia/Tokyo")
    monkeypatch.setenv("BOT_TOKEN", "123456:from-the-shell")
    monkeypatch.setenv("DB_POOL_SIZE", "2")
    assert Settings().timezone == "Asia/Tokyo" and Settings().default_locale == "en"
    for settings in (Settings.from_values(), make_settings()):
        assert (settings.timezone, settings.default_locale, settings.telegram.bot_token) == (
            "Europe/Bucharest",
            "ro",
            None,
        )
        assert (settings.delivery.rate, settings.database.pool_size) == (None, 10)
    pinned = make_settings("sqlite+aiosqlite:///x.sqlite3", sender_name="replica-3", db_pool_size=4)
    assert (pinned.database.url, pinned.delivery.sender_name, pinned.database.pool_size) == (
        "sqlite+aiosqlite:///x.sqlite3",
        "replica-3",
        4,
    )


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("DB_POOL_SIZE", "0"),
        ("DB_POOL_SIZE", "many"),
        ("DB_MAX_OVERFLOW", "-1"),
        ("DB_POOL_TIMEOUT", "0"),
        ("DELIVERY_RATE", "0"),
        ("DELIVERY_RATE", "1001"),
        ("ALLOW_PAID_BROADCAST", "perhaps"),
        ("SENDER_NAME", "x" * 65),
        ("PROGRESS_INTERVAL", "0"),
        ("SCHEDULER_INTERVAL", "0.5"),
        ("ADMIN_IDS", "ana,maria"),
        ("DEFAULT_LOCALE", "fr"),
        ("TIMEZONE", "Mars/Olympus_Mons"),
        ("MAX_TEXT_LENGTH", "10"),
        ("PERSON_CACHE_SECONDS", "-1"),
    ],
)
def test_a_wrong_value_is_an_error_naming_its_variable(
    name: str, text: str, clean: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, text)
    with pytest.raises(ValidationError) as raised:
        Settings()
    assert name in str(raised.value)
    problems = settings_problems(raised.value).splitlines()
    assert len(problems) == 2 and problems[1].startswith(f"  {name}: "), problems
    # The same from a keyword value.
    with pytest.raises(ValidationError, match=name):
        Settings.from_values(**{name.lower(): text})


def test_the_command_line_says_which_setting_is_wrong(
    clean: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DELIVERY_RATE", "0")
    monkeypatch.setenv("DB_POOL_SIZE", "none")
    assert main(["db", "current"]) == 2
    err = capsys.readouterr().err
    assert "DELIVERY_RATE: Input should be greater than 0" in err and "DB_POOL_SIZE: " in err
    assert "Traceback" not in err


def test_an_unknown_name_is_an_error(clean: Path) -> None:
    with pytest.raises(ValidationError, match=r"unknown setting.*databse_url"):
        Settings.from_values(databse_url="sqlite+aiosqlite:///x")
    with pytest.raises(ValidationError, match="databse_url"):
        Settings(databse_url="sqlite+aiosqlite:///x")
    with pytest.raises(ValidationError, match=r"database\.pool"):
        Settings.from_values(database={"pool": 3})


def test_the_token_never_shows(clean: Path) -> None:
    token = "7123456789:AAHk3v9mQ_xYzA1b2C3d4E5f6G7h8I9j0KL"
    settings = Settings.from_values(bot_token=token, database_url="postgresql://clusterbot:s3cret@db/cluster")
    assert isinstance(settings.telegram.bot_token, SecretStr)
    assert settings.telegram.bot_token.get_secret_value() == token
    for shown in (repr(settings), str(settings), repr(settings.telegram), settings.model_dump_json()):
        assert token not in shown and token.split(":", 1)[1] not in shown
    assert token not in repr(settings.to_values()) and token not in repr(settings.replace(log_level="DEBUG"))
    assert "s3cret" not in settings.delivery.effective_sender_name


def test_defaults_that_depend_on_another_section(clean: Path, tmp_path: Path) -> None:
    settings = Settings.from_values(data_dir=tmp_path)
    assert settings.database.url == ""
    assert settings.database.effective_url == f"sqlite+aiosqlite:///{tmp_path / 'clusterbot.sqlite3'}"
    moved = settings.replace(data_dir=tmp_path / "elsewhere")
    assert moved.database.effective_url == f"sqlite+aiosqlite:///{tmp_path / 'elsewhere' / 'clusterbot.sqlite3'}"
    # The default sender name follows the database, as `replace` derives it again.
    other = settings.replace(database_url="postgresql://u@db/other")
    assert other.delivery.effective_sender_name != settings.delivery.effective_sender_name
    assert (
        other.delivery.effective_sender_name
        == Settings.from_values(database_url="postgresql://u@db/other").delivery.effective_sender_name
    )
    assert settings.to_values()["database_url"] == "" and Settings.from_values(**settings.to_values()) == settings


def test_the_delivery_rate_defaults_with_paid_broadcast() -> None:
    assert Settings.from_values().delivery.effective_rate == 25.0
    assert Settings.from_values(allow_paid_broadcast=True).delivery.effective_rate == 1000.0
    assert Settings.from_values(allow_paid_broadcast=True, delivery_rate=50).delivery.effective_rate == 50.0
    assert DeliverySettings(rate=5).effective_rate == 5.0


def test_sections_are_given_whole_or_by_their_fields(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_MAX_OVERFLOW", "7")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db/from-env")
    whole = Settings(database=DatabaseSettings(pool_size=4))
    assert (whole.database.url, whole.database.pool_size, whole.database.max_overflow) == ("", 4, 20)
    by_fields = Settings(database={"pool_size": 4})
    assert (by_fields.database.url, by_fields.database.pool_size, by_fields.database.max_overflow) == (
        "postgresql://u@db/from-env",
        4,
        7,
    )
    assert Settings.model_validate(by_fields.model_dump()) == by_fields


def test_the_scheduler_looks_for_due_announcements_as_often_as_configured(make_settings: Any) -> None:
    from datetime import timedelta

    from bot.jobs import Jobs

    for interval, expected in ((None, 20), (5, 5)):
        extra = {} if interval is None else {"scheduler_interval": interval}
        scheduler = Jobs(make_settings(**extra), None, None).scheduler()  # type: ignore[arg-type]
        job = scheduler.get_job("announcements")
        assert job is not None and job.trigger.interval == timedelta(seconds=expected)
