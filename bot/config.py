"""Typed settings read from the environment and `.env`; never built at import time."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from platformdirs import user_data_dir
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

Locale = Literal["ro", "en"]


def default_data_dir() -> Path:
    """`data/` in the current directory when there is one, else the user's data directory.

    Never a folder of the package: installed, that is site-packages, which an upgrade replaces (and which may
    be read-only); a source checkout run from its root still finds its own `data/`.
    """
    here = Path.cwd() / "data"
    if here.is_dir():
        return here
    return Path(user_data_dir("clusterbot", appauthor=False))


class Settings(BaseSettings):
    """Everything a deployment configures; see `.env.example` for each variable."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True)

    bot_token: SecretStr | None = None
    database_url: str = ""
    redis_url: str | None = None
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    default_locale: Locale = "ro"
    timezone: str = "Europe/Bucharest"
    telegram_api_url: str | None = None
    # Used for invite links printed by the CLI when no token is at hand to ask Telegram (getMe).
    bot_username: str | None = None
    data_dir: Path = Field(default_factory=default_data_dir)
    log_level: str = "INFO"
    max_text_length: int = Field(default=1000, ge=50, le=4096)
    # How long a person seen recently is remembered between their updates (0: read every time). With
    # REDIS_URL set (several replicas) it is always 0.
    person_cache_seconds: float = Field(default=30.0, ge=0)
    # Messages per second the delivery engine sends; default 25 (Telegram allows about 30/s), or 1000 with
    # ALLOW_PAID_BROADCAST (Telegram's paid ceiling, 0.1 Star a message, charged to the bot).
    delivery_rate: float | None = Field(default=None, gt=0, le=1000)
    allow_paid_broadcast: bool = False
    # How often a manager's announcement progress message is edited, in seconds.
    progress_interval: float = Field(default=3.0, gt=0)
    # The delivery engine's name on the outbox rows it leases: a restart under the same name takes its rows
    # back at once instead of waiting out their lease. Default: this host and database (see
    # `effective_sender_name`); replicas sharing a host and a database must each set their own.
    sender_name: str | None = Field(default=None, min_length=1, max_length=64)
    # Database connections per process: a pool of `db_pool_size`, up to `db_max_overflow` more under load, and
    # an update that finds all of them taken waits up to `db_pool_timeout` seconds before it fails.
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=20, ge=0)
    db_pool_timeout: float = Field(default=30.0, gt=0)

    @property
    def effective_delivery_rate(self) -> float:
        return self.delivery_rate or (1000.0 if self.allow_paid_broadcast else 25.0)

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        # Operators write `ADMIN_IDS=1,2, 3` or a JSON list; both must work.
        if isinstance(value, str):
            parts = [p for p in value.replace(";", ",").replace(" ", ",").split(",") if p]
            return frozenset(int(p) for p in parts)
        if isinstance(value, int):
            return frozenset({value})
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        ZoneInfo(value)
        return value

    @field_validator("bot_token", mode="before")
    @classmethod
    def _empty_token_is_none(cls, value: object) -> object:
        return None if value in ("", None) else value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'clusterbot.sqlite3'}"

    @property
    def effective_sender_name(self) -> str:
        """`sender_name`, else `host:hash`, the same for every start on this host against this database.

        The hash is of the database URL without its password (a password change keeps the name) and says
        nothing about it; the URL is normalised first, so `postgresql://` and `postgresql+asyncpg://` agree.
        """
        if self.sender_name:
            return self.sender_name
        from sqlalchemy.engine import make_url

        from storage.db import normalise_url

        # `URL.set(password=None)` keeps the password; `_replace` is how SQLAlchemy itself drops it.
        url = make_url(normalise_url(self.effective_database_url))._replace(password=None)
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            url = url.set(database=str(Path(url.database).resolve()))
        digest = hashlib.sha256(url.render_as_string(hide_password=False).encode()).hexdigest()[:12]
        return f"{socket.gethostname()[:40]}:{digest}"
