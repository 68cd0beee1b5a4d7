"""Fetching notices from the TED Search API v3 over aiohttp: ITERATION pagination to the end, retries, limits.

:class:`TedFetcher` posts one :class:`~bot.services.tenders.ted_query.TedQuery` page after page and yields
the raw notice dicts of each page (parsing them is the parsers' business). It retries what is worth
retrying (429, honouring ``Retry-After``; 5xx; timeouts, TED's own ``timedOut`` flag included; dropped
connections and truncated bodies) with exponential backoff and jitter, waits a polite delay between pages,
refuses a body larger than a cap, restarts the window once when TED says the iteration token expired
(skipping what was already yielded), and gives up on a page count that never ends. Whatever breaks the
source ends as one :class:`SourceError` with a reason.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import aiohttp

from bot.services.tenders.ted_query import TedQuery

log = logging.getLogger(__name__)

SEARCH_PATH = "/v3/notices/search"

# The `type` of TED's 400 answer to an iteration token that expired or that it does not know. TED's error
# body is `{"type": ..., "message": ...}` (as for `QUERY_SYNTAX_ERROR`); the local stand-in uses this type.
EXPIRED_TOKEN_TYPES: frozenset[str] = frozenset({"ITERATION_TOKEN_EXPIRED", "INVALID_ITERATION_TOKEN"})


class SourceFailure(StrEnum):
    """Why a source gave nothing usable."""

    UNREACHABLE = "unreachable"  # connection refused or dropped, timeouts, 429 or 5xx after every retry
    REFUSED = "refused"  # a 4xx other than 429: the request itself is wrong (a query TED does not accept)
    BAD_JSON = "bad_json"
    WRONG_SHAPE = "wrong_shape"
    TOO_BIG = "too_big"
    ENDLESS = "endless"  # more pages than any real window has
    TOKEN_EXPIRED = "token_expired"  # the iteration token expired again after the window was restarted


class SourceError(Exception):
    """A source failed; ``reason`` says how, ``detail`` is for the log (never shown to members)."""

    def __init__(self, reason: SourceFailure, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class FetchPolicy:
    """Timeouts, retries and limits of one source (seconds and bytes)."""

    timeout: float = 60.0
    connect_timeout: float = 10.0
    max_attempts: int = 5  # per page, the first try included
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    max_retry_after: float = 300.0  # a longer Retry-After is waited for this long at most
    page_delay: float = 1.0  # between two pages of one source
    max_body_bytes: int = 32 * 1024 * 1024
    max_pages: int = 400  # 100,000 notices at 250 a page


class _Retry(Exception):
    """One attempt failed in a way worth another try; ``wait`` is the server's Retry-After, if any."""

    def __init__(self, detail: str, wait: float | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.wait = wait


class _TokenExpired(Exception):
    pass


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """A ``Retry-After`` header as seconds to wait: delay-seconds or an HTTP date; ``None`` if absent or bad."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class TedFetcher:
    """Fetches every notice of a query from one TED endpoint (``base_url``, e.g. ``https://api.ted.europa.eu``).

    ``sleep`` and ``rng`` are there for tests (waits recorded instead of slept, jitter fixed).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        policy: FetchPolicy | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._session = session
        self._url = base_url.rstrip("/") + SEARCH_PATH
        self._policy = policy or FetchPolicy()
        self._sleep = sleep
        self._rng = rng or random.Random()

    async def pages(self, query: TedQuery) -> AsyncIterator[list[dict[str, Any]]]:
        """Yield the notices page by page, each notice once (by publication number) even across a restart."""
        seen: set[str] = set()
        restarted = False
        token: str | None = None
        pages = 0
        while True:
            if pages >= self._policy.max_pages:
                raise SourceError(SourceFailure.ENDLESS, f"more than {self._policy.max_pages} pages")
            if pages:
                await self._sleep(self._policy.page_delay)
            try:
                answer = await self._page(query.request_body(token), with_token=token is not None)
            except _TokenExpired:
                if restarted:
                    raise SourceError(SourceFailure.TOKEN_EXPIRED, "the iteration token expired twice") from None
                log.warning("TED iteration token expired after %d pages: restarting the window", pages)
                restarted = True
                token = None
                pages += 1
                continue
            pages += 1
            notices, token = answer
            if not notices:
                return
            fresh: list[dict[str, Any]] = []
            for notice in notices:
                number = notice.get("publication-number")
                if isinstance(number, str):
                    if number in seen:
                        continue
                    seen.add(number)
                fresh.append(notice)
            if fresh:
                yield fresh
            if token is None:
                return

    async def _page(self, body: Mapping[str, Any], *, with_token: bool) -> tuple[list[dict[str, Any]], str | None]:
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._attempt(body, with_token=with_token)
            except _Retry as failure:
                if attempt >= self._policy.max_attempts:
                    raise SourceError(
                        SourceFailure.UNREACHABLE, f"{failure.detail} (after {attempt} attempts)"
                    ) from None
                wait = (
                    self._backoff(attempt) if failure.wait is None else min(failure.wait, self._policy.max_retry_after)
                )
                log.info("TED: %s; retrying in %.1f s", failure.detail, wait)
                await self._sleep(wait)

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self._policy.backoff_cap, self._policy.backoff_base * 2 ** (attempt - 1))
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    async def _attempt(self, body: Mapping[str, Any], *, with_token: bool) -> tuple[list[dict[str, Any]], str | None]:
        timeout = aiohttp.ClientTimeout(total=self._policy.timeout, sock_connect=self._policy.connect_timeout)
        try:
            async with self._session.post(self._url, json=body, timeout=timeout) as response:
                raw = await self._read_capped(response)
                status = response.status
                retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        except TimeoutError:
            raise _Retry("timed out") from None
        except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as error:
            raise _Retry(f"connection dropped ({type(error).__name__})") from None
        except aiohttp.ClientError as error:
            raise _Retry(f"unreachable ({type(error).__name__}: {error})") from None
        if status == 429:
            raise _Retry("429 Too Many Requests", retry_after)
        if status >= 500:
            raise _Retry(f"HTTP {status}", retry_after)
        if status == 400 and with_token and _error_type(raw) in EXPIRED_TOKEN_TYPES:
            raise _TokenExpired
        if status != 200:
            raise SourceError(SourceFailure.REFUSED, f"HTTP {status}: {raw[:500].decode('utf-8', 'replace')}")
        notices, token, timed_out = _notices_and_token(raw)
        if timed_out:
            raise _Retry("TED timed out on its side (the page may be incomplete)")
        return notices, token

    async def _read_capped(self, response: aiohttp.ClientResponse) -> bytes:
        cap = self._policy.max_body_bytes
        if response.content_length is not None and response.content_length > cap:
            raise SourceError(SourceFailure.TOO_BIG, f"{response.content_length} bytes declared, cap {cap}")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > cap:
                raise SourceError(SourceFailure.TOO_BIG, f"more than {cap} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


def _error_type(raw: bytes) -> str | None:
    try:
        payload = json.loads(raw)
    except ValueError:
        return None
    kind = payload.get("type") if isinstance(payload, dict) else None
    return kind if isinstance(kind, str) else None


def _notices_and_token(raw: bytes) -> tuple[list[dict[str, Any]], str | None, bool]:
    try:
        payload = json.loads(raw)
    except ValueError as error:
        raise SourceError(SourceFailure.BAD_JSON, str(error)) from None
    if not isinstance(payload, dict):
        raise SourceError(SourceFailure.WRONG_SHAPE, f"a {type(payload).__name__}, not an object")
    notices = payload.get("notices")
    if not isinstance(notices, list) or not all(isinstance(notice, dict) for notice in notices):
        raise SourceError(SourceFailure.WRONG_SHAPE, "`notices` is not a list of objects")
    token = payload.get("iterationNextToken")
    if token is not None and not (isinstance(token, str) and token):
        raise SourceError(SourceFailure.WRONG_SHAPE, "`iterationNextToken` is neither a string nor null")
    return notices, token, payload.get("timedOut") is True
