"""Typed settings read from the environment and `.env`; never built at import time.

The settings are grouped in sections (`settings.database`, `settings.telegram`, `settings.delivery`) and a few
that concern the whole bot stay on `settings` itself; the environment variables keep their flat names
(`DATABASE_URL`, `DB_POOL_SIZE`, `BOT_TOKEN`, ...). Each field names its variable as its `validation_alias`,
which is where `variables()` (every variable, its section and field) comes from, and what a
validation error shows: `delivery.DELIVERY_RATE  Input should be greater than 0`.

Building one:

* `Settings()` reads the environment and `.env`; keyword values win over both, by the variable's name in
  lower case (`Settings(database_url=..., bot_token=None)`), as before the sections.
* `Settings.from_values(database_url=..., timezone=...)` takes the same flat names but reads neither the
  environment nor `.env`: what is not given has its default. Tests build settings this way.
* `settings.replace(bot_token=None)`: a copy with some values changed, validated again.

(`Settings.model_validate` reads the environment too: pydantic validates through the settings' `__init__`.)
An unknown name is an error everywhere. Values that depend on another section (the default database URL on
`DATA_DIR`, the default sender name on the database) are derived when the settings are validated: change
settings with `replace`, not `model_copy`, which validates nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo

from platformdirs import user_data_dir
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    InitSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources import DotenvType

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


def default_database_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{data_dir / 'clusterbot.sqlite3'}"


class Section(BaseModel):
    """A group of settings; each field's `validation_alias` is its environment variable."""

    # By name too, so a section can be built on its own (`DeliverySettings(rate=5)`) and from a dump.
    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, extra="forbid")


class DatabaseSettings(Section):
    """Where the data lives and how many connections a process keeps to it."""

    # Empty: the SQLite file `clusterbot.sqlite3` in DATA_DIR (`effective_url`).
    url: str = Field(default="", validation_alias="DATABASE_URL")
    # Database connections per process: a pool of `pool_size`, up to `max_overflow` more under load, and an
    # update that finds all of them taken waits up to `pool_timeout` seconds before it fails.
    pool_size: int = Field(default=10, ge=1, validation_alias="DB_POOL_SIZE")
    max_overflow: int = Field(default=20, ge=0, validation_alias="DB_MAX_OVERFLOW")
    pool_timeout: float = Field(default=30.0, gt=0, validation_alias="DB_POOL_TIMEOUT")

    # Set by `Settings` from DATA_DIR; on its own, a section has the default data directory.
    _data_dir: Path = PrivateAttr(default_factory=default_data_dir)

    @property
    def effective_url(self) -> str:
        """The URL the bot connects to: `url`, else the SQLite file in DATA_DIR."""
        return self.url or default_database_url(self._data_dir)


class TelegramSettings(Section):
    """How the bot reaches Telegram."""

    bot_token: SecretStr | None = Field(default=None, validation_alias="BOT_TOKEN")
    api_url: str | None = Field(default=None, validation_alias="TELEGRAM_API_URL")
    # Used for invite links printed by the CLI when no token is at hand to ask Telegram (getMe).
    bot_username: str | None = Field(default=None, validation_alias="BOT_USERNAME")

    @field_validator("bot_token", mode="before")
    @classmethod
    def _empty_token_is_none(cls, value: object) -> object:
        return None if value in ("", None) else value


class DeliverySettings(Section):
    """The delivery engine, which sends the outbox, and the progress it reports to managers."""

    # Messages per second the delivery engine sends; default 25 (Telegram allows about 30/s), or 1000 with
    # ALLOW_PAID_BROADCAST (Telegram's paid ceiling, 0.1 Star a message, charged to the bot).
    rate: float | None = Field(default=None, gt=0, le=1000, validation_alias="DELIVERY_RATE")
    allow_paid_broadcast: bool = Field(default=False, validation_alias="ALLOW_PAID_BROADCAST")
    # The delivery engine's name on the outbox rows it leases: a restart under the same name takes its rows
    # back at once instead of waiting out their lease. Default: this host and database (see
    # `effective_sender_name`); replicas sharing a host and a database must each set their own.
    sender_name: str | None = Field(default=None, min_length=1, max_length=64, validation_alias="SENDER_NAME")
    # How often a manager's announcement progress message is edited, in seconds.
    progress_interval: float = Field(default=3.0, gt=0, validation_alias="PROGRESS_INTERVAL")

    # Set by `Settings` (the database's effective URL): the default sender name is derived from it.
    _database_url: str = PrivateAttr(default_factory=lambda: default_database_url(default_data_dir()))

    @property
    def effective_rate(self) -> float:
        return self.rate or (1000.0 if self.allow_paid_broadcast else 25.0)

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
        url = make_url(normalise_url(self._database_url))._replace(password=None)
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            url = url.set(database=str(Path(url.database).resolve()))
        digest = hashlib.sha256(url.render_as_string(hide_password=False).encode()).hexdigest()[:12]
        return f"{socket.gethostname()[:40]}:{digest}"


class SchedulerSettings(Section):
    """The jobs this process runs on a timer (`bot.jobs`): today, queueing the announcements whose time has come."""

    # Seconds between two looks for due announcements: a scheduled one goes out at most this much late.
    interval: float = Field(default=20.0, ge=1, le=3600, validation_alias="SCHEDULER_INTERVAL")


# The EU member states, ISO 3166-1 alpha-2 (Greece as TED writes it: "GR").
EU_COUNTRIES: tuple[str, ...] = (
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
    "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
)  # fmt: skip


class TenderSourceSettings(BaseModel):
    """One place tenders come from (`TENDER_SOURCES` is a JSON list of these).

    `kind` is how it is read: "ted" (the TED Search API v3 at `url`), "ocds" (an OCDS release package at `url`
    or `path`), "rss" (an RSS or Atom feed), "csv" (a file in the documented header, README "Tender CSV
    files"). `every_minutes` is its schedule; `name` is unique and is what a stored tender's `source` says
    (TED's is always "ted").
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    kind: Literal["ted", "ocds", "rss", "csv"]
    url: str | None = None
    path: Path | None = None
    every_minutes: int = Field(default=360, ge=1, le=7 * 24 * 60)
    # The most requests per second this source is sent (a polite rate).
    rate: float = Field(default=1.0, gt=0, le=50)

    @model_validator(mode="after")
    def _one_place(self) -> Self:
        if (self.url is None) == (self.path is None):
            raise ValueError(f"tender source {self.name!r}: give either url or path")
        if self.kind == "ted" and self.url is None:
            raise ValueError("the TED source is read from a url")
        return self


def _default_tender_sources() -> list[TenderSourceSettings]:
    return [TenderSourceSettings(name="ted", kind="ted", url="https://api.ted.europa.eu")]


class TenderSettings(Section):
    """Tender alerts (bot.services.tenders): where tenders come from, how values compare, when alerts may go out."""

    sources: Annotated[list[TenderSourceSettings], NoDecode] = Field(
        default_factory=_default_tender_sources, validation_alias="TENDER_SOURCES"
    )
    # Countries (ISO 3166-1 alpha-2) asked of TED when no profile names its own: Romania and the EU.
    countries: Annotated[frozenset[str], NoDecode] = Field(
        default_factory=lambda: frozenset(EU_COUNTRIES), validation_alias="TENDER_COUNTRIES"
    )
    # Units of each currency per euro, to compare a tender's value with a profile's range.
    rates: Annotated[dict[str, Decimal], NoDecode] = Field(
        default_factory=lambda: {"EUR": Decimal(1), "RON": Decimal("4.97")}, validation_alias="TENDER_RATES"
    )
    # Hours (in TIMEZONE) when no alert, digest or reminder is sent: "22-8" is 22:00 to 08:00; "" none.
    quiet_hours: str = Field(default="22-8", validation_alias="TENDER_QUIET_HOURS")
    # The hour of a new profile's daily digest, until its member chooses another.
    digest_hour: int = Field(default=8, ge=0, le=23, validation_alias="TENDER_DIGEST_HOUR")
    # The largest response a source may send, in bytes.
    max_response_bytes: int = Field(default=50 * 1024 * 1024, ge=1024, validation_alias="TENDER_MAX_RESPONSE_BYTES")

    @field_validator("countries", mode="before")
    @classmethod
    def _split_countries(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(part.strip().upper() for part in re.split(r"[,;\s]+", value) if part.strip())
        return value

    @field_validator("sources", "rates", mode="before")
    @classmethod
    def _json_text(cls, value: object) -> object:
        # The variables are JSON: a list of sources, an object of rates.
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError as error:
                raise ValueError(f"not valid JSON: {error.msg} at character {error.pos}") from None
        return value

    @field_validator("rates")
    @classmethod
    def _positive_rates(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        rates = {currency.upper(): rate for currency, rate in value.items()}
        if any(rate <= 0 for rate in rates.values()):
            raise ValueError("every rate is a positive number of units per euro")
        rates.setdefault("EUR", Decimal(1))
        return rates

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, value: list[TenderSourceSettings]) -> list[TenderSourceSettings]:
        names = [source.name for source in value]
        if len(names) != len(set(names)):
            raise ValueError("two tender sources have the same name")
        return value

    @property
    def quiet(self) -> tuple[int, int] | None:
        """The quiet hours as (from, to), None when there are none."""
        return parse_quiet_hours(self.quiet_hours)

    @field_validator("quiet_hours")
    @classmethod
    def _readable_quiet_hours(cls, value: str) -> str:
        parse_quiet_hours(value)
        return value


def parse_quiet_hours(text: str) -> tuple[int, int] | None:
    """ "22-8" or "22:00-08:00" as (22, 8); "" as None."""
    text = text.strip()
    if not text:
        return None
    found = re.fullmatch(r"(\d{1,2})(?::00)?\s*-\s*(\d{1,2})(?::00)?", text)
    if found is None or not all(0 <= int(part) <= 23 for part in found.groups()):
        raise ValueError('quiet hours are written "22-8" (from 22:00 to 08:00), or left empty')
    start, end = int(found.group(1)), int(found.group(2))
    return None if start == end else (start, end)


# True while `Settings.from_values` builds: the environment and `.env` are not read.
_ONLY_GIVEN: ContextVar[bool] = ContextVar("settings_only_given", default=False)

_ENV = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True)


class Settings(BaseSettings):
    """Everything a deployment configures; see `.env.example` for each variable, and the module's docstring."""

    model_config = SettingsConfigDict(**_ENV, validate_by_name=True, validate_by_alias=True)

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    tenders: TenderSettings = Field(default_factory=TenderSettings)

    # The bot as a whole. Conversation state in Redis (shared by replicas) when set, else in memory.
    redis_url: str | None = Field(default=None, validation_alias="REDIS_URL")
    admin_ids: Annotated[frozenset[int], NoDecode] = Field(default=frozenset(), validation_alias="ADMIN_IDS")
    default_locale: Locale = Field(default="ro", validation_alias="DEFAULT_LOCALE")
    timezone: str = Field(default="Europe/Bucharest", validation_alias="TIMEZONE")
    data_dir: Path = Field(default_factory=default_data_dir, validation_alias="DATA_DIR")
    log_level: str = Field(default="INFO", validation_alias="LOG_LEVEL")
    max_text_length: int = Field(default=1000, ge=50, le=4096, validation_alias="MAX_TEXT_LENGTH")
    # How long a person seen recently is remembered between their updates (0: read every time). With
    # REDIS_URL set (several replicas) it is always 0.
    person_cache_seconds: float = Field(default=30.0, ge=0, validation_alias="PERSON_CACHE_SECONDS")
    # Delivered outbox rows and tender alerts older than this are deleted by the `purge` job (issue 12).
    retention_days: int = Field(default=365, ge=1, le=36_500, validation_alias="RETENTION_DAYS")

    @classmethod
    def from_values(cls, **values: Any) -> Self:
        """Settings from these values alone (flat names: `database_url=`, `bot_token=`), the rest at their
        defaults; neither the environment nor `.env` is read."""
        # Not `model_validate`: for a class with an `__init__` of its own, as settings have, pydantic validates
        # through it, and that reads the environment.
        reset = _ONLY_GIVEN.set(True)
        try:
            return cls(**values)
        finally:
            _ONLY_GIVEN.reset(reset)

    def to_values(self) -> dict[str, Any]:
        """Every setting by its flat name (`database_url`, ...), as `from_values` takes them."""
        return {v.key: getattr(getattr(self, v.section) if v.section else self, v.field) for v in variables()}

    def replace(self, **values: Any) -> Self:
        """A copy with these settings (flat names) changed, validated, and what derives from them derived again."""
        return self.from_values(**{**self.to_values(), **values})

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The built-in sources look up one variable per field of this class (`DATABASE`, `TELEGRAM`, ...): the
        # variables are read by their own names instead, and keyword values win over them.
        assert isinstance(init_settings, InitSettingsSource) and isinstance(dotenv_settings, DotEnvSettingsSource)
        return (
            _VariablesSource(
                settings_cls,
                init_settings.init_kwargs,
                env_file=dotenv_settings.env_file,
                env_file_encoding=dotenv_settings.env_file_encoding,
            ),
        )

    @model_validator(mode="before")
    @classmethod
    def _into_sections(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        nested: dict[str, Any] = {}
        for name, value in _by_variable(data).items():
            variable = _by_name()[name]
            if variable.section:
                nested.setdefault(variable.section, {})[name] = value
            else:
                nested[name] = value
        return nested

    @model_validator(mode="after")
    def _derive_across_sections(self) -> Self:
        self.database._data_dir = self.data_dir
        self.delivery._database_url = self.database.effective_url
        return self

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        # Operators write `ADMIN_IDS=1,2, 3` or a JSON list; both must work.
        if isinstance(value, str):
            listed = value.strip().removeprefix("[").removesuffix("]")
            parts = [p for p in listed.replace(";", ",").replace(" ", ",").split(",") if p]
            return frozenset(int(p) for p in parts)
        if isinstance(value, int):
            return frozenset({value})
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ValueError, KeyError) as error:  # `ZoneInfoNotFoundError` is a KeyError
            raise ValueError(f"no time zone {value!r}: an IANA name such as Europe/Bucharest") from error
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def settings_problems(error: ValidationError) -> str:
    """What is wrong with the settings, a line per variable (`DELIVERY_RATE: Input should be greater than 0`),
    for the operator; without the input values pydantic adds to its message (one could be a secret)."""
    lines = ["The settings (environment or .env, see .env.example) are not valid:"]
    for problem in error.errors(include_url=False, include_input=False):
        names = [part for part in problem["loc"] if isinstance(part, str) and part.isupper()]
        lines.append(f"  {names[-1] + ': ' if names else ''}{problem['msg']}")
    return "\n".join(lines)


@dataclass(frozen=True)
class Variable:
    """An environment variable: `name` (`DB_POOL_SIZE`), the `section` it lands in (None: `Settings` itself)
    and its `field` there (`pool_size`); `key` is its flat name for `Settings(...)` and `from_values`."""

    name: str
    section: str | None
    field: str

    @property
    def key(self) -> str:
        return self.name.lower()


@cache
def variables() -> tuple[Variable, ...]:
    """Every variable the settings read, in the order of the fields."""
    found: list[Variable] = []
    for name, info in Settings.model_fields.items():
        if isinstance(info.annotation, type) and issubclass(info.annotation, Section):
            for field, sub in info.annotation.model_fields.items():
                assert isinstance(sub.validation_alias, str), f"{name}.{field} names no variable"
                found.append(Variable(sub.validation_alias, name, field))
        else:
            assert info.validation_alias == name.upper(), f"{name} is read from {name.upper()}"
            found.append(Variable(name.upper(), None, name))
    return tuple(found)


@cache
def _by_name() -> dict[str, Variable]:
    return {v.name: v for v in variables()}


def _sections() -> dict[str, type[Section]]:
    return {
        name: info.annotation
        for name, info in Settings.model_fields.items()
        if isinstance(info.annotation, type) and issubclass(info.annotation, Section)
    }


def _by_variable(data: Mapping[str, Any]) -> dict[str, Any]:
    """Values given by flat name (`database_url`), variable (`DATABASE_URL`) or section (`database=` a section
    or a mapping of its fields), by variable; a section's own entries win over flat ones."""
    by_key = {v.key: v for v in variables()}
    sections = _sections()
    flat: dict[str, Any] = {}
    grouped: dict[str, Any] = {}
    unknown: list[str] = []
    for key, value in data.items():
        if key in sections:
            if isinstance(value, BaseModel):
                value = {field: getattr(value, field) for field in type(value).model_fields}
            if not isinstance(value, Mapping):
                raise ValueError(f"{key}: a {sections[key].__name__} or a mapping of its fields, not {value!r}")
            for field, item in value.items():
                match = [v for v in variables() if v.section == key and field in (v.field, v.name)]
                if not match:
                    unknown.append(f"{key}.{field}")
                else:
                    grouped[match[0].name] = item
        elif (variable := by_key.get(key.lower())) is not None:
            flat[variable.name] = value
        else:
            unknown.append(key)
    if unknown:
        known = ", ".join(v.key for v in variables())
        raise ValueError(f"unknown setting(s) {', '.join(unknown)}; the settings are: {known}")
    return {**flat, **grouped}


@cache
def _environment_class() -> type[BaseSettings]:
    """A settings class with one field per variable, named by it, taking its text as it is: it reads the
    environment and `.env` the way pydantic-settings does, and `Settings` validates what it found."""
    fields: Any = {v.key: (Any, None) for v in variables()}
    base = type("_EnvironmentBase", (BaseSettings,), {"model_config": _ENV})
    return create_model("Environment", __base__=base, **fields)


class _VariablesSource(PydanticBaseSettingsSource):
    """The variables by name from the environment and `.env` (the environment winning), then the keyword
    values given to `Settings(...)` over them."""

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        init_kwargs: Mapping[str, Any],
        *,
        env_file: DotenvType | None,
        env_file_encoding: str | None,
    ) -> None:
        super().__init__(settings_cls)
        self.init_kwargs = init_kwargs
        self.env_file = env_file
        self.env_file_encoding = env_file_encoding

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # not used: `__call__` reads every variable at once

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if not _ONLY_GIVEN.get():
            environment = _environment_class()(_env_file=self.env_file, _env_file_encoding=self.env_file_encoding)
            found = environment.model_dump(exclude_unset=True)
        try:
            given = _by_variable(self.init_kwargs)
        except ValueError:
            given = dict(self.init_kwargs)  # as they are, for the validation to report what is wrong
        return {**_by_variable(found), **given}
