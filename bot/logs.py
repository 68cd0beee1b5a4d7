"""Logging set-up that keeps the bot token and personal data out of every log line."""

from __future__ import annotations

import logging
import re
import traceback

from bot.config import Settings

# Anything shaped like a Telegram token (digits, colon, 30+ token characters), wherever it appears,
# e.g. inside a request URL in aiohttp's or aiogram's messages.
TOKEN_SHAPE = re.compile(r"\d{5,}:[A-Za-z0-9_-]{30,}")


# Exceptions of these packages quote the values they were given ("invalid input for query argument $1: 'text'"),
# and those values are what people wrote: their messages are replaced by what is safe to keep.
_QUOTING_MODULES = ("asyncpg", "sqlite3", "aiosqlite", "psycopg", "pydantic", "pydantic_core", "sqlalchemy")
_STATEMENT_SHAPE_LIMIT = 300


def _quotes_values(error: BaseException) -> bool:
    module = type(error).__module__.split(".", 1)[0]
    return module in _QUOTING_MODULES or module.startswith("_sqlite3") or isinstance(error, UnicodeError)


def safe_description(error: BaseException) -> str:
    """What may be logged of `error`: the statement's shape and the driver's error type for a database error,
    the fields and error kinds of a validation error, nothing of the values either was given."""
    from sqlalchemy.exc import StatementError

    if isinstance(error, StatementError):
        shape = " ".join(str(error.statement or "").split())
        if len(shape) > _STATEMENT_SHAPE_LIMIT:
            shape = shape[:_STATEMENT_SHAPE_LIMIT] + "…"
        orig = error.orig
        cause = f"{type(orig).__module__}.{type(orig).__qualname__}" if orig is not None else "?"
        return f"{cause} in statement: {shape}"
    errors = getattr(error, "errors", None)
    if type(error).__name__ == "ValidationError" and callable(errors):
        try:
            found = [f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('type')}" for e in errors()]
        except Exception:
            found = []
        return f"{len(found)} invalid field(s): {'; '.join(found)}"
    if isinstance(error, UnicodeError):
        return f"{getattr(error, 'encoding', '?')} at position {getattr(error, 'start', '?')}"
    return "(message withheld: it may quote personal data)"


_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"


def format_exception(error: BaseException) -> str:
    """The traceback of `error` and its chain as Python prints it, with the messages of errors that quote
    values replaced by `safe_description`."""
    # From the logged exception inwards, each with how it led to the one before it.
    chain: list[tuple[BaseException, str]] = []
    current: BaseException | None = error
    link = ""
    while current is not None and all(current is not seen for seen, _ in chain):
        chain.append((current, link))
        if current.__cause__ is not None:
            current, link = current.__cause__, _CAUSE
        elif current.__context__ is not None and not current.__suppress_context__:
            current, link = current.__context__, _CONTEXT
        else:
            current = None
    parts: list[str] = []
    for exc, led_on in reversed(chain):
        if exc.__traceback__ is not None:
            parts.append("Traceback (most recent call last):\n")
            parts.extend(traceback.format_tb(exc.__traceback__))
        name = f"{type(exc).__module__}.{type(exc).__qualname__}"
        message = safe_description(exc) if _quotes_values(exc) else str(exc)
        parts.append(f"{name}: {message}\n" if message else f"{name}\n")
        parts.append(led_on)
    return "".join(parts).rstrip("\n")


class RedactTokens(logging.Filter):
    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "<token>")
        return TOKEN_SHAPE.sub("<token>", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self.redact(message)
        if record.exc_info and record.exc_info[1] is not None:
            # Format the traceback now, so that the redacted text is what handlers print.
            cleaned += "\n" + self.redact(format_exception(record.exc_info[1]))
            record.exc_info = None
            record.exc_text = None
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def setup_logging(settings: Settings) -> None:
    token = settings.telegram.bot_token.get_secret_value() if settings.telegram.bot_token else ""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactTokens((token,)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    # Alembic says which plugins it loaded at INFO on every command: noise for an operator.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
