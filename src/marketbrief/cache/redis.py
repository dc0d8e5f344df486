"""The Redis cache, shared by every process of a scaled-out deployment.

Each entry is a hash {"v": version, "d": bytes} at prefix + key. Writes go through one Lua script
so the version compare and the write are atomic. Every redis exception is mapped at this edge by
`_mapped`: no answer in time -> CacheTimeout, unreachable -> CacheUnavailable, anything else ->
CacheError. A Redis that stops answering (SIGSTOP, a stalled host) opens the breaker: every
call fails at once and readers go to the store, while a task of the cache's own pings Redis
after each cool-down, so no reader ever waits on a probe.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis.asyncio
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from marketbrief.breaker import DEFAULT_COOLDOWN_SECONDS, Breaker
from marketbrief.cache.base import CacheEntry, CacheStats, check_ttl
from marketbrief.calendar import utc_now
from marketbrief.errors import CacheError, CacheTimeout, CacheUnavailable, ConfigError

DEFAULT_TIMEOUT_SECONDS = 1.0
_PROBE_POLL_SECONDS = 0.05
_CLEAR_BATCH = 500
_VERSION = re.compile(rb"-?(0|[1-9][0-9]*)")

# Versions may exceed 2**53 (e.g. nanosecond clocks), beyond what Lua's doubles hold exactly,
# so they are compared as canonical decimal strings. A stored entry that is not a well-formed
# hash counts as absent: it must never block a good write.
_LUA_HELPERS = """
local function canonical(s)
  return s ~= false and (s == '0' or string.match(s, '^%-?[1-9]%d*$') ~= nil)
end
local function older(a, b)
  local na, nb = string.sub(a, 1, 1) == '-', string.sub(b, 1, 1) == '-'
  if na ~= nb then return na end
  if na then a, b = string.sub(b, 2), string.sub(a, 2) end
  if #a ~= #b then return #a < #b end
  return a < b
end
local function stored_version(key)
  local kind = redis.call('TYPE', key)['ok']
  if kind ~= 'hash' then return false end
  local v = redis.call('HGET', key, 'v')
  if not canonical(v) or redis.call('HEXISTS', key, 'd') == 0 then return false end
  return v
end
"""

_SET_SCRIPT = (
    _LUA_HELPERS
    + """
local current = stored_version(KEYS[1])
if current and older(ARGV[1], current) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'd', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""
)

# Re-checked inside Redis so a valid entry written since our read is never deleted.
_PURGE_MALFORMED_SCRIPT = (
    _LUA_HELPERS
    + """
if redis.call('EXISTS', KEYS[1]) == 0 or stored_version(KEYS[1]) then return 0 end
redis.call('DEL', KEYS[1])
return 1
"""
)

_UNLOCK_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@contextmanager
def _mapped(operation: str) -> Iterator[None]:
    """Turn redis (and socket) exceptions raised inside the block into our own."""
    try:
        yield
    except (redis.exceptions.TimeoutError, TimeoutError) as exc:
        raise CacheTimeout(f"redis {operation} got no answer: {exc or 'timed out'}") from exc
    except (redis.exceptions.ConnectionError, OSError) as exc:
        # BusyLoadingError is a ConnectionError: a restarting server is unavailable, not broken.
        raise CacheUnavailable(f"redis {operation} failed: {exc}") from exc
    except redis.exceptions.RedisError as exc:
        raise CacheError(f"redis {operation} failed: {exc}") from exc


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def _entry(fields: list[Any]) -> CacheEntry | None:
    """Return the entry held by HMGET's [v, d] answer, or None when it is malformed."""
    if len(fields) != 2:
        return None
    version, data = fields
    if not isinstance(version, bytes) or not isinstance(data, bytes):
        return None
    if not _VERSION.fullmatch(version):
        return None
    return CacheEntry(data, int(version))


def _milliseconds(seconds: float) -> int:
    return max(1, math.ceil(check_ttl(seconds) * 1000))


class RedisCache:
    """A cache in Redis where every key this cache touches starts with `prefix`."""

    name = "redis"

    def __init__(
        self,
        url: str,
        prefix: str = "marketbrief:",
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        breaker_cooldown: float = DEFAULT_COOLDOWN_SECONDS,
    ) -> None:
        if not prefix:
            # An empty prefix would make clear() remove every key in the database.
            raise ConfigError("the Redis cache prefix must not be empty")
        self.prefix = prefix
        try:
            self._client: redis.asyncio.Redis = redis.asyncio.Redis.from_url(
                url,
                socket_connect_timeout=timeout,
                socket_timeout=timeout,
                # One immediate retry heals a connection Redis dropped (restart, idle kill);
                # more would keep callers waiting on a server that is really gone, and a
                # timeout is never retried: a server that did not answer is asked again only
                # by the breaker's probe.
                retry=Retry(NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,)),
                decode_responses=False,
            )
        except ValueError as exc:
            raise ConfigError(f"bad Redis cache URL: {exc}") from None
        self._set_script = self._client.register_script(_SET_SCRIPT)
        self._purge_script = self._client.register_script(_PURGE_MALFORMED_SCRIPT)
        self._unlock_script = self._client.register_script(_UNLOCK_SCRIPT)
        self._hits = self._misses = self._sets = self._refused = 0
        self.health = Breaker(cooldown=breaker_cooldown, background_probes=True)
        self._prober: asyncio.Task[None] | None = None

    @contextmanager
    def _guarded(self, operation: str, *, prober: bool = False) -> Iterator[None]:
        """One call through the breaker, its redis errors mapped (see `_mapped`)."""
        health = self.health
        if not health.admit(prober=prober):
            raise CacheUnavailable(f"redis {operation} refused: " + health.refusal("redis"))
        try:
            with _mapped(operation):
                yield
        except CacheTimeout as error:
            health.timed_out(error, utc_now())
            self._start_prober()
            raise
        except CacheUnavailable as error:
            health.failed(error, utc_now())
            raise
        except CacheError:
            health.answered()  # an error reply is an answer
            raise
        except BaseException:
            health.abandoned()
            raise
        health.answered()

    def _start_prober(self) -> None:
        if self._prober is None or self._prober.done():
            self._prober = asyncio.get_running_loop().create_task(self._probe_until_back())

    async def _probe_until_back(self) -> None:
        """After each cool-down, one PING, until Redis answers and the breaker closes."""
        while self.health.is_open:
            await asyncio.sleep(max(self.health.retry_in(), _PROBE_POLL_SECONDS))
            with contextlib.suppress(CacheError), self._guarded("ping", prober=True):
                await self._client.ping()

    async def get(self, key: str) -> CacheEntry | None:
        """Return the entry at `key`, or None; a malformed entry is deleted and is a miss."""
        full_key = self.prefix + key
        with self._guarded("get"):
            try:
                fields: list[Any] = await self._client.hmget(full_key, ["v", "d"])
            except redis.exceptions.ResponseError as exc:
                if not str(exc).startswith("WRONGTYPE"):
                    raise
                fields = []  # some other type sits at the key: malformed
            if fields == [None, None]:
                self._misses += 1
                return None
            entry = _entry(fields)
            if entry is None:
                await self._purge_script(keys=[full_key])
                self._misses += 1
                return None
        self._hits += 1
        return entry

    async def set(self, key: str, value: bytes, *, version: int, ttl: float) -> bool:
        """Store `value` unless a newer version is there; True when stored, False when refused."""
        ttl_ms = _milliseconds(ttl)
        with self._guarded("set"):
            stored = await self._set_script(
                keys=[self.prefix + key], args=[str(int(version)), bytes(value), ttl_ms]
            )
        if stored == 1:
            self._sets += 1
            return True
        self._refused += 1
        return False

    async def delete(self, key: str) -> None:
        """Remove `key` if present."""
        with self._guarded("delete"):
            await self._client.unlink(self.prefix + key)

    async def clear(self) -> int:
        """Remove every key under this cache's prefix, and only those; return how many."""
        removed = 0
        batch: list[bytes] = []
        with self._guarded("clear"):
            # SCAN + UNLINK in batches: never FLUSHDB, the database may be shared.
            async for found in self._client.scan_iter(
                match=_glob_escape(self.prefix) + "*", count=_CLEAR_BATCH
            ):
                batch.append(found)
                if len(batch) >= _CLEAR_BATCH:
                    removed += await self._client.unlink(*batch)
                    batch.clear()
            if batch:
                removed += await self._client.unlink(*batch)
        return removed

    async def stats(self) -> CacheStats:
        """Return this process's counters; entries and bytes are not counted (no scan)."""
        return CacheStats(
            backend=self.name,
            hits=self._hits,
            misses=self._misses,
            sets=self._sets,
            refused=self._refused,
            # Redis evicts server-wide and does not say whose keys it took.
            evictions=0,
            entries=None,
            bytes=None,
        )

    async def ping(self) -> None:
        """Return when Redis answers; raise CacheUnavailable when it does not."""
        with self._guarded("ping"):
            await self._client.ping()

    async def try_lock(self, name: str, ttl: float) -> str | None:
        """Take the lock `name` for `ttl` seconds: a token if acquired, None if held."""
        ttl_ms = _milliseconds(ttl)
        token = secrets.token_hex(16)
        with self._guarded("try_lock"):
            acquired = await self._client.set(self.prefix + name, token, nx=True, px=ttl_ms)
        return token if acquired else None

    async def unlock(self, name: str, token: str) -> None:
        """Release the lock `name` only if it is still held with `token`."""
        with self._guarded("unlock"):
            await self._unlock_script(keys=[self.prefix + name], args=[token])

    async def close(self) -> None:
        """Stop probing, close the client and its connection pool."""
        if self._prober is not None:
            self._prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._prober
        with _mapped("close"):
            await self._client.aclose()
