"""A token bucket every process of a scaled-out deployment shares, kept in Redis.

One Lua script refills and spends atomically, on Redis's own clock (`TIME`), so processes on
hosts whose clocks disagree still share one rate. The bucket lives at prefix + its key name
and expires once it would be full again, so an idle bucket costs nothing.
"""

from __future__ import annotations

import math

import redis.asyncio
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from marketbrief.cache import keys
from marketbrief.errors import CacheError, CacheUnavailable, ConfigError

CONNECT_TIMEOUT = 1.0
OPERATION_TIMEOUT = 2.0

# Returns the seconds to wait as a string ("0" when a token was spent): Redis would truncate
# a Lua number to an integer.
_TAKE_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]), tonumber(state[2])
if tokens == nil or at == nil then tokens, at = burst, now end
if now > at then
  tokens = math.min(burst, tokens + (now - at) * rate)
  at = now
end
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
local function text(x) return string.format('%.17g', x) end
redis.call('HSET', KEYS[1], 'tokens', text(tokens), 'at', text(at))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return text(wait)
"""


class RedisTokenBucket:
    """`rate` takes per second on average, bursts of up to `burst`, across every process."""

    def __init__(self, url: str, *, prefix: str, name: str, rate: float, burst: float) -> None:
        if not prefix:
            raise ConfigError("the Redis cache prefix must not be empty")
        self.key = prefix + keys.rate_bucket_key(name)
        self.rate = rate
        self.burst = burst
        # Full again after burst / rate seconds: then the key may as well not exist.
        self._expire_ms = math.ceil(burst / rate * 1000) + 1000
        try:
            self._client: redis.asyncio.Redis = redis.asyncio.Redis.from_url(
                url,
                socket_connect_timeout=CONNECT_TIMEOUT,
                socket_timeout=OPERATION_TIMEOUT,
                retry=Retry(NoBackoff(), 1),
            )
        except ValueError as exc:
            raise ConfigError(f"bad Redis cache URL: {exc}") from None
        self._take = self._client.register_script(_TAKE_SCRIPT)

    async def take(self) -> float:
        """Spend one token: 0.0 when spent, otherwise the seconds until one will be there."""
        try:
            wait = await self._take(
                keys=[self.key], args=[repr(self.rate), repr(self.burst), self._expire_ms]
            )
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
            raise CacheUnavailable(f"redis rate limit failed: {exc}") from exc
        except redis.exceptions.RedisError as exc:
            raise CacheError(f"redis rate limit failed: {exc}") from exc
        return float(wait)

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()
