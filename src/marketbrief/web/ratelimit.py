"""The trigger rate limit: one token bucket per deployment, not one per process.

Embedded (one process, the memory cache) the bucket is in-process. Scaled out (a Redis cache)
every worker and every server takes from one bucket in Redis (`cache/buckets.py`), so the
documented burst holds however many processes serve. If Redis cannot be reached, each process
falls back to its own in-process bucket of the same rate and burst, and logs it (throttled):
triggers keep working through a cache outage, and the burst is then at most one per process,
never unlimited.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

from marketbrief.config import Settings
from marketbrief.errors import CacheError
from marketbrief.web.security import RateLimited

log = logging.getLogger(__name__)

TRIGGER_BUCKET = "trigger"


@dataclass(slots=True)
class TokenBucket:
    """`rate` takes per second on average, bursts of up to `burst`, in this process."""

    rate: float
    burst: float
    clock: Callable[[], float] = time.monotonic
    _tokens: float = field(init=False)
    _at: float = field(init=False)

    def __post_init__(self) -> None:
        self._tokens = self.burst
        self._at = self.clock()

    def take(self) -> float:
        """Spend one token: 0.0 when spent, otherwise the seconds until one will be there."""
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1:
            return (1 - self._tokens) / self.rate
        self._tokens -= 1
        return 0.0


class SharedBucket(Protocol):
    """What a bucket shared between processes offers (cache/buckets.RedisTokenBucket)."""

    async def take(self) -> float:
        """Spend one token, or say how long until one is there."""
        ...

    async def close(self) -> None:
        """Let go of the connection."""
        ...


class TriggerLimit:
    """Spend a token per trigger from the deployment's bucket, or raise RateLimited."""

    def __init__(
        self,
        local: TokenBucket,
        shared: SharedBucket | None = None,
        *,
        on_fallback: Callable[[], object] | None = None,
    ) -> None:
        self.local = local
        self.shared = shared
        self.fallbacks = 0
        self._on_fallback = on_fallback

    @classmethod
    def from_settings(
        cls, settings: Settings, *, on_fallback: Callable[[], object] | None = None
    ) -> TriggerLimit:
        """Shared through Redis when the cache is Redis, in-process otherwise."""
        rate, burst = settings.trigger_rate_per_second, float(settings.trigger_burst)
        local = TokenBucket(rate, burst)
        scheme = urlsplit(settings.cache_url).scheme
        if not settings.cache_enabled or scheme not in ("redis", "rediss"):
            return cls(local, on_fallback=on_fallback)
        from marketbrief.cache.buckets import RedisTokenBucket

        shared = RedisTokenBucket(
            settings.cache_url,
            prefix=settings.cache_prefix,
            name=TRIGGER_BUCKET,
            rate=rate,
            burst=burst,
        )
        return cls(local, shared, on_fallback=on_fallback)

    async def take(self) -> None:
        """One trigger's token; RateLimited with the seconds to wait when there is none."""
        wait = await self._wait()
        if wait > 0:
            raise RateLimited(wait)

    async def _wait(self) -> float:
        if self.shared is None:
            return self.local.take()
        try:
            return await self.shared.take()
        except CacheError as error:
            self.fallbacks += 1
            if self._on_fallback is not None:
                self._on_fallback()
            log.warning("trigger rate limit is per process while Redis fails: %s", error)
            return self.local.take()

    async def close(self) -> None:
        """Close the shared bucket's connection, if any."""
        if self.shared is not None:
            await self.shared.close()
