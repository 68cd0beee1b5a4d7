"""Logging set-up that keeps the bot token out of every log line."""

from __future__ import annotations

import logging
import re

from bot.config import Settings

# Anything shaped like a Telegram token (digits, colon, 30+ token characters), wherever it appears,
# e.g. inside a request URL in aiohttp's or aiogram's messages.
TOKEN_SHAPE = re.compile(r"\d{5,}:[A-Za-z0-9_-]{30,}")


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
            cleaned += "\n" + self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
            record.exc_text = None
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def setup_logging(settings: Settings) -> None:
    token = settings.bot_token.get_secret_value() if settings.bot_token else ""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactTokens((token,)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    # Alembic says which plugins it loaded at INFO on every command: noise for an operator.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
