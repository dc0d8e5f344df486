"""Who may write: the API key check (fail closed, constant time) and a small rate limiter."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_BODY_BYTES = 16 * 1024
"""The largest request body a write endpoint reads."""


class Unauthorized(Exception):
    """No key, or the wrong key (401)."""


class WritesDisabled(Exception):
    """No API key is configured, so every write is refused (403, fail closed)."""


class RateLimited(Exception):
    """Too many requests; `retry_after` seconds until the next one is allowed (429)."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited; retry after {retry_after:.0f} s")
        self.retry_after = retry_after


class PayloadTooLarge(Exception):
    """A request body over the limit (413)."""


def check_api_key(configured: str | None, presented: str | None) -> None:
    """Allow a write only with the configured key, compared in constant time; no key, no writes."""
    if not configured:
        raise WritesDisabled("writes are disabled: no MARKETBRIEF_API_KEY is configured")
    if not presented:
        raise Unauthorized("missing X-API-Key header")
    if not hmac.compare_digest(configured.encode(), presented.encode()):
        raise Unauthorized("wrong API key")


@dataclass(slots=True)
class TokenBucket:
    """`rate` requests per second on average, bursts of up to `burst`."""

    rate: float
    burst: float
    clock: Callable[[], float] = time.monotonic
    _tokens: float = field(init=False)
    _at: float = field(init=False)

    def __post_init__(self) -> None:
        self._tokens = self.burst
        self._at = self.clock()

    def take(self) -> None:
        """Spend one token or raise RateLimited."""
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1:
            raise RateLimited((1 - self._tokens) / self.rate)
        self._tokens -= 1
