"""The hot cache: one port (`Cache`), an in-process and a Redis backend, and `from_url`.

The cache may be evicted, flushed or lost at any moment; the SQL store is the source of truth.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from marketbrief.cache.base import Cache, CacheEntry, CacheStats
from marketbrief.cache.memory import MemoryCache
from marketbrief.errors import ConfigError

__all__ = ["Cache", "CacheEntry", "CacheStats", "MemoryCache", "from_url"]


def from_url(
    url: str,
    *,
    prefix: str = "marketbrief:",
    timeout: float | None = None,
    breaker_cooldown: float | None = None,
) -> Cache:
    """Return the cache named by `url`: `memory://?max_bytes=N`, `redis://` or `rediss://`.

    `timeout` (seconds per call) and `breaker_cooldown` apply to Redis; None keeps the defaults.
    """
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        return MemoryCache.from_url(url)
    if scheme in ("redis", "rediss"):
        # Imported here so the embedded mode never loads the redis client.
        from marketbrief.cache.redis import RedisCache

        options: dict[str, float] = {}
        if timeout is not None:
            options["timeout"] = timeout
        if breaker_cooldown is not None:
            options["breaker_cooldown"] = breaker_cooldown
        return RedisCache(url, prefix=prefix, **options)
    # The URL is not echoed: it may carry a password.
    raise ConfigError(
        f"unknown cache URL scheme {scheme!r}; "
        "expected memory://?max_bytes=N, redis://HOST:PORT/DB or rediss://HOST:PORT/DB"
    )
