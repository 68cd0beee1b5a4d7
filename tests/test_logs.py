"""The bot token and personal data stay out of the logs, at DEBUG and when a handler fails."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from bot.config import Settings
from bot.logs import RedactTokens, setup_logging
from bot.sandbox.harness import SANDBOX_TOKEN, SandboxBot
from bot.services import members


async def test_a_session_at_debug_level_logs_no_token_names_or_answers(
    tmp_path: Path, captured_logs: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings.from_values(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'logs.sqlite3'}",
        data_dir=tmp_path,
        bot_token=SANDBOX_TOKEN,
        log_level="DEBUG",
        redis_url=None,
        admin_ids=frozenset(),
    )
    setup_logging(settings)
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(captured_logs)

    async with SandboxBot(settings) as sandbox:
        ana = await sandbox.person("ana", 1001, "Anastasia", language_code="ro")
        await ana.send("/start")
        await ana.send("/join")
        await ana.send("Firma Secretă SRL")
        await ana.send("RO 14399840")

        async def failing(*args: object, **kwargs: object) -> None:
            # What a failed insert says; SQLAlchemy is told to hide the parameters (names, fiscal codes).
            raise IntegrityError("INSERT INTO join_requests ...", {"cui": "14399840"}, Exception("UNIQUE failed"))

        monkeypatch.setattr(members, "submit_join_request", failing)
        await ana.send("Directoare")
        await ana.tap("Trimiteți")
        assert "A apărut o eroare" in (ana.last_callback_answer or ("", False))[0]

    text = captured_logs.getvalue()
    assert "update" in text.lower() and "IntegrityError" in text  # the failure is logged...
    for secret in (SANDBOX_TOKEN, SANDBOX_TOKEN.split(":", 1)[1], "Anastasia", "Firma Secretă", "Directoare"):
        assert secret not in text  # ...without the token or what the person wrote


def test_token_shapes_are_redacted_wherever_they_appear() -> None:
    real_looking = "7123456789:AAHk3v9mQ_xYzA1b2C3d4E5f6G7h8I9j0KL"
    record = logging.LogRecord(
        "aiohttp",
        logging.ERROR,
        __file__,
        1,
        "POST https://api.telegram.org/bot%s/sendMessage failed",
        (real_looking,),
        None,
    )
    RedactTokens(("short:secret",)).filter(record)
    assert real_looking not in record.getMessage()
    assert "<token>" in record.getMessage()
    other = logging.LogRecord("x", logging.INFO, __file__, 1, "configured short:secret", (), None)
    RedactTokens(("short:secret",)).filter(other)
    assert other.getMessage() == "configured <token>"
