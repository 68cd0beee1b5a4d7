"""The trouble tests inject into the sandbox: latency, 5xx answers, dropped connections, flood limits, held updates.

:class:`FaultControls` keeps the switches and decides, call by call, what goes wrong; the HTTP layer
(``transport.py``) and the Bot API methods (``methods.py``) ask it. Random faults come from one seeded RNG, so
a run is reproducible.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.sandbox.spec import ApiError
from bot.sandbox.state import SandboxState

# Spared from injected faults so that a bot under a fault storm can still start up and
# receive updates; the faults are meant for the delivery engine's outgoing calls.
_FAULT_EXEMPT = frozenset({"getUpdates", "getMe", "setWebhook", "deleteWebhook", "getWebhookInfo"})

Fault = Literal["drop", 500, 502]


@dataclass
class _Bucket:
    rate: float
    capacity: float
    tokens: float
    stamp: float

    def refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now

    def wait_time(self, now: float) -> float:
        self.refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


@dataclass
class _RateLimits:
    global_per_second: float | None
    per_chat_per_second: float | None
    per_chat_burst: int
    group_per_minute: int | None
    global_bucket: _Bucket | None = None
    chat_buckets: dict[int, _Bucket] = field(default_factory=dict)
    group_buckets: dict[int, _Bucket] = field(default_factory=dict)


def _bucket(rate: float, capacity: float) -> _Bucket:
    return _Bucket(rate, capacity, capacity, time.monotonic())


def _is_flood_limited(method: str) -> bool:
    # Chat actions do not count as messages towards Telegram's flood limits.
    return method.startswith(("send", "copy", "forward")) and method != "sendChatAction"


class FaultControls:
    """The fault switches of one sandbox; the counters of what they caused go to ``state.stats``."""

    def __init__(self, state: SandboxState, *, seed: int) -> None:
        self._state = state
        self._rng = random.Random(seed)
        self._latency = 0.0
        self._error_5xx_rate = 0.0
        self._drop_before_rate = 0.0
        self._drop_after_rate = 0.0
        self._limits: _RateLimits | None = None
        self._held = 0

    # ------------------------------------------------------------------ switches

    def set_rate_limits(
        self,
        global_per_second: float | None = 30,
        per_chat_per_second: float | None = 1,
        per_chat_burst: int = 1,
        group_per_minute: int | None = 20,
    ) -> None:
        """Enable Telegram-like flood limits on send*/copy*/forward* (None disables one)."""
        limits = _RateLimits(global_per_second, per_chat_per_second, max(1, per_chat_burst), group_per_minute)
        if global_per_second:
            limits.global_bucket = _bucket(global_per_second, max(1.0, global_per_second))
        self._limits = limits

    def clear_rate_limits(self) -> None:
        self._limits = None

    def set_latency(self, seconds: float) -> None:
        """Delay every bot call by ``seconds`` before it is processed."""
        self._latency = max(0.0, seconds)

    def set_faults(
        self,
        error_5xx_rate: float = 0.0,
        drop_before_rate: float = 0.0,
        drop_after_rate: float = 0.0,
    ) -> None:
        """Inject transport faults into bot calls, drawn from the seeded RNG."""
        for rate in (error_5xx_rate, drop_before_rate, drop_after_rate):
            if not 0.0 <= rate <= 1.0:
                raise ValueError("fault rates must be between 0 and 1")
        if error_5xx_rate + drop_before_rate > 1.0:
            raise ValueError("error_5xx_rate + drop_before_rate must not exceed 1")
        self._error_5xx_rate = error_5xx_rate
        self._drop_before_rate = drop_before_rate
        self._drop_after_rate = drop_after_rate

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Updates queued inside the block reach the bot together, in one getUpdates batch, when it ends."""
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
            self._state.notify()

    @property
    def holding(self) -> bool:
        """Whether getUpdates must answer with nothing for now (a :meth:`held` block is open)."""
        return bool(self._held)

    # ------------------------------------------------------------------ call by call

    async def delay(self) -> None:
        """The configured latency, before a bot call is processed."""
        if self._latency:
            await asyncio.sleep(self._latency)

    def fault_before(self, method: str) -> Fault | None:
        """What goes wrong before ``method`` is carried out: a dropped connection, a 5xx answer, or nothing."""
        if method in _FAULT_EXEMPT or not (self._drop_before_rate or self._error_5xx_rate):
            return None
        draw = self._rng.random()
        if draw < self._drop_before_rate:
            self._state.stats.dropped_before += 1
            return "drop"
        if draw < self._drop_before_rate + self._error_5xx_rate:
            self._state.stats.errors_5xx += 1
            return 502 if self._rng.random() < 0.5 else 500
        return None

    def drop_after(self, method: str) -> bool:
        """Whether the connection is dropped after ``method`` was carried out, its answer lost."""
        if method in _FAULT_EXEMPT or not self._drop_after_rate or self._rng.random() >= self._drop_after_rate:
            return False
        self._state.stats.dropped_after += 1
        return True

    def check_rate(self, method: str, args: Mapping[str, Any]) -> None:
        """Raise Telegram's 429 when a flood limit forbids this call now; otherwise count it."""
        limits = self._limits
        if limits is None or not _is_flood_limited(method):
            return
        chat_id = args.get("chat_id")
        buckets: list[_Bucket] = []
        if limits.global_bucket is not None and not args.get("allow_paid_broadcast"):
            buckets.append(limits.global_bucket)
        if isinstance(chat_id, int):
            if limits.per_chat_per_second:
                buckets.append(
                    limits.chat_buckets.setdefault(chat_id, _bucket(limits.per_chat_per_second, limits.per_chat_burst))
                )
            if chat_id < 0 and limits.group_per_minute:
                buckets.append(
                    limits.group_buckets.setdefault(
                        chat_id, _bucket(limits.group_per_minute / 60, limits.group_per_minute)
                    )
                )
        now = time.monotonic()
        wait = max((b.wait_time(now) for b in buckets), default=0.0)
        if wait > 0:
            self._state.stats.rate_limited += 1
            retry_after = max(1, math.ceil(wait))
            raise ApiError(
                429,
                f"Too Many Requests: retry after {retry_after}",
                {"retry_after": retry_after},
            )
        for bucket in buckets:
            bucket.tokens -= 1
