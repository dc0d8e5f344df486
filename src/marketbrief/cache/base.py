"""The cache port: bytes in, bytes out, each entry with a TTL and a version.

The hot cache may be evicted, flushed or lost at any moment, so it is never the source of truth:
a miss is always `None` (never a truthy placeholder served as a hit), and an entry is replaced
only by a version at least as new as the stored one, so a late older write cannot undo a newer
one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One cached value and the version it was written with."""

    value: bytes
    version: int


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Counters of one cache; `entries` and `bytes` are None where counting would be costly."""

    backend: str
    hits: int
    misses: int
    sets: int
    refused: int
    evictions: int
    entries: int | None
    bytes: int | None


class Cache(Protocol):
    """What every cache backend offers; see `marketbrief.cache.from_url` to get one."""

    name: str

    async def get(self, key: str) -> CacheEntry | None:
        """Return the live entry at `key`, or None; a malformed entry is deleted and is a miss."""
        ...

    async def set(self, key: str, value: bytes, *, version: int, ttl: float) -> bool:
        """Store `value` unless a newer version is there; True when stored, False when refused."""
        ...

    async def delete(self, key: str) -> None:
        """Remove `key` if present."""
        ...

    async def clear(self) -> int:
        """Remove every key of this cache, and only those; return how many were removed."""
        ...

    async def stats(self) -> CacheStats:
        """Return this cache's counters."""
        ...

    async def ping(self) -> None:
        """Return when the cache answers; raise CacheUnavailable when it does not."""
        ...

    async def try_lock(self, name: str, ttl: float) -> str | None:
        """Take the short lock `name` for `ttl` seconds: a token if acquired, None if held."""
        ...

    async def unlock(self, name: str, token: str) -> None:
        """Release the lock `name` only if it is still held with `token`."""
        ...

    async def close(self) -> None:
        """Release connections; the cache is not used afterwards."""
        ...


@runtime_checkable
class LocalCache(Protocol):
    """A cache living in this process, which can also be read without awaiting anything.

    The read path answers a clean, already validated hit this way below the ASGI app
    (`Reader.answer_now`), so it must look before it counts: `peek` touches neither recency
    nor counters, and `note_hit` then counts the hit exactly as `get` would have.
    """

    def peek(self, key: str) -> CacheEntry | None:
        """The live entry at `key`, or None; no recency, no counters."""
        ...

    def note_hit(self, key: str) -> None:
        """Count a hit on `key` and mark it most recently used, as `get` does."""
        ...


def check_ttl(ttl: float) -> float:
    """Return `ttl` if it is a positive, finite number of seconds, else raise ValueError."""
    # An entry or lock that never expires would outlive every purge: refuse it loudly.
    if not (math.isfinite(ttl) and ttl > 0):
        raise ValueError(f"ttl must be a positive, finite number of seconds, not {ttl!r}")
    return ttl
