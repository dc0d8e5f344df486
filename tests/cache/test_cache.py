"""Contract tests for the hot cache, run against the in-process and the Redis backend alike.

The Redis variant works under a private key prefix and removes only its own keys.
"""

from __future__ import annotations

import asyncio
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date

import pytest
import redis.asyncio
import redis.exceptions
from hypothesis import given, settings
from hypothesis import strategies as st

from marketbrief.cache import Cache, CacheEntry, MemoryCache, from_url
from marketbrief.cache.keys import report_key, report_lock
from marketbrief.cache.memory import entry_size
from marketbrief.cache.redis import RedisCache
from marketbrief.errors import CacheError, CacheUnavailable, ConfigError

TTL = 60.0
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


class FakeClock:
    """A monotonic clock that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def redis_cache(redis_url: str, redis_prefix: str) -> AsyncIterator[RedisCache]:
    cache = RedisCache(redis_url, prefix=redis_prefix)
    try:
        yield cache
    finally:
        await cache.clear()
        await cache.close()


@pytest.fixture
async def raw_redis(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    """A plain client for planting malformed entries; tests use it only under their prefix."""
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture(params=["memory", "redis"])
def cache(request: pytest.FixtureRequest, clock: FakeClock) -> Cache:
    """Each contract test runs once per backend."""
    if request.param == "memory":
        return MemoryCache(max_bytes=1024 * 1024, clock=clock)
    backend: RedisCache = request.getfixturevalue("redis_cache")
    return backend


@pytest.fixture
def elapse(cache: Cache, clock: FakeClock) -> Callable[[float], Awaitable[None]]:
    """Let `seconds` pass for the cache under test: a clock step in memory, a sleep in Redis."""

    async def _elapse(seconds: float) -> None:
        if isinstance(cache, MemoryCache):
            clock.advance(seconds)
        else:
            await asyncio.sleep(seconds)

    return _elapse


# --- the contract, on both backends -------------------------------------------------------------


async def test_a_miss_is_none_never_a_truthy_object(cache: Cache) -> None:
    assert await cache.get("report:pre-market:2024-03-08") is None


@pytest.mark.parametrize(
    "value",
    [b"", b'{"data": 1}', bytes(range(256)), b"\xff\xfe\x00not utf-8\x80", b"x" * 100_000],
    ids=["empty", "json", "every-byte", "non-utf8", "100kB"],
)
async def test_set_then_get_round_trips_the_exact_bytes(cache: Cache, value: bytes) -> None:
    assert await cache.set("k", value, version=1, ttl=TTL) is True
    assert await cache.get("k") == CacheEntry(value=value, version=1)


async def test_an_empty_value_is_a_hit_not_a_miss(cache: Cache) -> None:
    await cache.set("k", b"", version=3, ttl=TTL)
    entry = await cache.get("k")
    assert entry is not None
    assert entry.value == b""


async def test_an_older_version_is_refused_and_the_newer_stays(cache: Cache) -> None:
    assert await cache.set("k", b"new", version=5, ttl=TTL) is True
    assert await cache.set("k", b"old", version=4, ttl=TTL) is False
    assert await cache.get("k") == CacheEntry(b"new", 5)
    assert (await cache.stats()).refused == 1


async def test_an_equal_version_replaces(cache: Cache) -> None:
    await cache.set("k", b"first", version=7, ttl=TTL)
    assert await cache.set("k", b"second", version=7, ttl=TTL) is True
    assert await cache.get("k") == CacheEntry(b"second", 7)


@pytest.mark.parametrize(
    ("newer", "older"),
    [(2**62 + 1, 2**62), (2**53 + 1, 2**53), (10, 9), (0, -1), (-5, -6), (100, 99)],
)
async def test_versions_compare_exactly_even_beyond_float_precision(
    cache: Cache, newer: int, older: int
) -> None:
    await cache.set("k", b"newer", version=newer, ttl=TTL)
    assert await cache.set("k", b"older", version=older, ttl=TTL) is False
    assert await cache.get("k") == CacheEntry(b"newer", newer)


async def test_an_entry_expires_after_its_ttl(
    cache: Cache, elapse: Callable[[float], Awaitable[None]]
) -> None:
    await cache.set("short", b"v", version=1, ttl=0.2)
    await cache.set("long", b"v", version=1, ttl=TTL)
    await elapse(0.35)
    assert await cache.get("short") is None
    assert await cache.get("long") == CacheEntry(b"v", 1)


async def test_an_expired_entry_no_longer_blocks_an_older_version(
    cache: Cache, elapse: Callable[[float], Awaitable[None]]
) -> None:
    await cache.set("k", b"new", version=9, ttl=0.2)
    await elapse(0.35)
    assert await cache.set("k", b"rewarm", version=3, ttl=TTL) is True
    assert await cache.get("k") == CacheEntry(b"rewarm", 3)


async def test_delete_removes_only_that_key(cache: Cache) -> None:
    await cache.set("a", b"1", version=1, ttl=TTL)
    await cache.set("b", b"2", version=1, ttl=TTL)
    await cache.delete("a")
    await cache.delete("never-there")
    assert await cache.get("a") is None
    assert await cache.get("b") == CacheEntry(b"2", 1)


async def test_after_delete_any_version_may_be_written(cache: Cache) -> None:
    await cache.set("k", b"v9", version=9, ttl=TTL)
    await cache.delete("k")
    assert await cache.set("k", b"v1", version=1, ttl=TTL) is True


async def test_clear_removes_every_key_of_this_cache(cache: Cache) -> None:
    for i in range(3):
        await cache.set(f"k{i}", b"v", version=1, ttl=TTL)
    assert await cache.clear() == 3
    assert [await cache.get(f"k{i}") for i in range(3)] == [None, None, None]
    assert await cache.clear() == 0


async def test_stats_count_hits_misses_sets_and_refusals(cache: Cache) -> None:
    await cache.set("k", b"v", version=2, ttl=TTL)
    await cache.set("k", b"v", version=1, ttl=TTL)
    await cache.get("k")
    await cache.get("k")
    await cache.get("absent")
    stats = await cache.stats()
    assert (stats.backend, stats.hits, stats.misses, stats.sets, stats.refused) == (
        cache.name,
        2,
        1,
        1,
        1,
    )


async def test_ping_answers(cache: Cache) -> None:
    await cache.ping()


async def test_a_lock_is_exclusive_until_unlocked(cache: Cache) -> None:
    token = await cache.try_lock("lock:x", ttl=TTL)
    assert token is not None
    assert await cache.try_lock("lock:x", ttl=TTL) is None
    assert await cache.try_lock("lock:y", ttl=TTL) is not None
    await cache.unlock("lock:x", token)
    assert await cache.try_lock("lock:x", ttl=TTL) is not None


async def test_unlock_with_a_wrong_token_does_nothing(cache: Cache) -> None:
    token = await cache.try_lock("lock:x", ttl=TTL)
    assert token is not None
    await cache.unlock("lock:x", "not-the-token")
    assert await cache.try_lock("lock:x", ttl=TTL) is None


async def test_a_lock_lapses_after_its_ttl(
    cache: Cache, elapse: Callable[[float], Awaitable[None]]
) -> None:
    first = await cache.try_lock("lock:x", ttl=0.2)
    await elapse(0.35)
    second = await cache.try_lock("lock:x", ttl=TTL)
    assert second is not None
    assert second != first
    # The first holder's late unlock must not release the second holder's lock.
    assert first is not None
    await cache.unlock("lock:x", first)
    assert await cache.try_lock("lock:x", ttl=TTL) is None


@pytest.mark.parametrize("ttl", [0, -1.0, float("inf"), float("nan")])
async def test_a_ttl_that_never_or_already_ended_is_rejected(cache: Cache, ttl: float) -> None:
    with pytest.raises(ValueError, match="ttl"):
        await cache.set("k", b"v", version=1, ttl=ttl)


# --- memory backend -----------------------------------------------------------------------------


async def test_memory_evicts_least_recently_used_first_and_stays_within_max_bytes(
    clock: FakeClock,
) -> None:
    one = entry_size("a", b"x" * 29)
    cache = MemoryCache(max_bytes=3 * one + one // 2, clock=clock)  # room for three entries
    for key in ("a", "b", "c"):
        assert await cache.set(key, b"x" * 29, version=1, ttl=TTL)
    await cache.get("a")  # now "b" is the least recently used
    await cache.set("d", b"x" * 29, version=1, ttl=TTL)
    assert await cache.get("b") is None
    assert [await cache.get(k) is not None for k in ("a", "c", "d")] == [True, True, True]
    stats = await cache.stats()
    assert stats.evictions == 1
    assert stats.entries == 3
    assert stats.bytes == 3 * one
    assert stats.bytes <= cache.max_bytes


async def test_memory_refuses_a_value_larger_than_the_whole_cache(clock: FakeClock) -> None:
    cache = MemoryCache(max_bytes=entry_size("k", b"x" * 100) - 1, clock=clock)
    assert await cache.set("k", b"small", version=1, ttl=TTL)
    assert await cache.set("k", b"x" * 100, version=2, ttl=TTL) is False
    # The outdated smaller entry is dropped too: readers go to the store, not to stale content.
    assert await cache.get("k") is None
    stats = await cache.stats()
    assert (stats.refused, stats.bytes, stats.entries) == (1, 0, 0)


async def test_memory_replacing_an_entry_accounts_its_bytes_once(clock: FakeClock) -> None:
    one = entry_size("k", b"x" * 50)
    cache = MemoryCache(max_bytes=2 * one, clock=clock)
    for version in range(10):
        await cache.set("k", b"x" * 50, version=version, ttl=TTL)
    stats = await cache.stats()
    assert (stats.bytes, stats.entries, stats.evictions) == (one, 1, 0)


_KEYS = ("a", "b", "c", "d")
_OPS = st.lists(
    st.one_of(
        st.tuples(
            st.just("set"),
            st.sampled_from(_KEYS),
            st.integers(-3, 6),
            st.binary(max_size=45),
            st.sampled_from([1.0, 5.0, TTL]),
        ),
        st.tuples(st.just("get"), st.sampled_from(_KEYS)),
        st.tuples(st.just("delete"), st.sampled_from(_KEYS)),
        st.tuples(st.just("tick"), st.sampled_from([0.5, 2.0, 10.0])),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(ops=_OPS)
async def test_memory_never_serves_a_version_older_than_one_it_accepted(
    ops: list[tuple[object, ...]],
) -> None:
    clock = FakeClock()
    cache = MemoryCache(max_bytes=3 * entry_size("a", b"x" * 45), clock=clock)
    # The last accepted (version, value) per key since the key was last seen gone.
    accepted: dict[str, tuple[int, bytes]] = {}
    for op in ops:
        match op:
            case ("set", str(key), int(version), bytes(value), float(ttl)):
                floor = accepted.get(key)
                stored = await cache.set(key, value, version=version, ttl=ttl)
                if floor is not None and version < floor[0]:
                    assert stored is False
                if stored:
                    accepted[key] = (version, value)
            case ("get", str(key)):
                entry = await cache.get(key)
                if key in accepted:
                    assert entry is not None
                    assert (entry.version, entry.value) == accepted[key]
                else:
                    assert entry is None
            case ("delete", str(key)):
                await cache.delete(key)
            case ("tick", float(seconds)):
                clock.advance(seconds)
        # Deletion, eviction and expiry each reset what the key may hold next.
        for key in [k for k in accepted if k not in cache]:
            del accepted[key]
        stats = await cache.stats()
        assert stats.bytes is not None
        assert stats.bytes <= cache.max_bytes


# --- redis backend ------------------------------------------------------------------------------


async def test_redis_clear_leaves_keys_of_another_prefix_alone(
    redis_cache: RedisCache, redis_url: str
) -> None:
    other = RedisCache(redis_url, prefix=f"mbtest:{uuid.uuid4().hex[:12]}:")
    try:
        await other.set("k", b"theirs", version=1, ttl=TTL)
        await redis_cache.set("k", b"ours", version=1, ttl=TTL)
        await redis_cache.try_lock("lock:k", ttl=TTL)
        assert await redis_cache.clear() == 2
        assert await redis_cache.get("k") is None
        assert await other.get("k") == CacheEntry(b"theirs", 1)
    finally:
        await other.clear()
        await other.close()


async def test_redis_clear_treats_glob_characters_in_the_prefix_literally(
    redis_url: str, redis_prefix: str
) -> None:
    starred = RedisCache(redis_url, prefix=redis_prefix + "*")
    neighbour = RedisCache(redis_url, prefix=redis_prefix + "x")
    try:
        await neighbour.set("k", b"keep", version=1, ttl=TTL)
        await starred.set("k", b"drop", version=1, ttl=TTL)
        assert await starred.clear() == 1
        assert await neighbour.get("k") == CacheEntry(b"keep", 1)
    finally:
        await neighbour.clear()
        await starred.close()
        await neighbour.close()


@pytest.mark.parametrize(
    "plant",
    ["string", "list", "hash-without-v", "hash-without-d", "non-integer-v", "float-v"],
)
async def test_lessons_6_a_malformed_redis_entry_is_a_miss_and_is_removed(
    redis_cache: RedisCache, raw_redis: redis.asyncio.Redis, plant: str
) -> None:
    key = redis_cache.prefix + "k"
    match plant:
        case "string":
            await raw_redis.set(key, b"{}", ex=60)
        case "list":
            await raw_redis.rpush(key, b"x")
        case "hash-without-v":
            await raw_redis.hset(key, mapping={"d": b"payload"})
        case "hash-without-d":
            await raw_redis.hset(key, mapping={"v": b"3"})
        case "non-integer-v":
            await raw_redis.hset(key, mapping={"v": b"three", "d": b"payload"})
        case "float-v":
            await raw_redis.hset(key, mapping={"v": b"3.5", "d": b"payload"})
    assert await redis_cache.get("k") is None
    assert await raw_redis.exists(key) == 0
    assert (await redis_cache.stats()).misses == 1


async def test_a_malformed_redis_entry_never_blocks_a_write(
    redis_cache: RedisCache, raw_redis: redis.asyncio.Redis
) -> None:
    key = redis_cache.prefix + "k"
    await raw_redis.hset(key, mapping={"v": b"not-a-number", "d": b"junk"})
    assert await redis_cache.set("k", b"good", version=1, ttl=TTL) is True
    assert await redis_cache.get("k") == CacheEntry(b"good", 1)
    assert await raw_redis.hgetall(key) == {b"v": b"1", b"d": b"good"}


async def test_redis_entries_carry_a_server_side_expiry(
    redis_cache: RedisCache, raw_redis: redis.asyncio.Redis
) -> None:
    await redis_cache.set("k", b"v", version=1, ttl=30)
    assert 29_000 < await raw_redis.pttl(redis_cache.prefix + "k") <= 30_000


async def test_a_redis_command_error_surfaces_as_cache_error_not_a_redis_exception(
    redis_cache: RedisCache,
) -> None:
    await redis_cache.set("k", b"v", version=1, ttl=TTL)
    # The lock script reads the key as a string; a hash there makes Redis answer WRONGTYPE.
    with pytest.raises(CacheError) as caught:
        await redis_cache.unlock("k", "token")
    assert not isinstance(caught.value, redis.exceptions.RedisError)
    assert not isinstance(caught.value, CacheUnavailable)


async def test_a_dropped_redis_connection_heals_on_the_next_call(
    redis_cache: RedisCache, raw_redis: redis.asyncio.Redis
) -> None:
    await redis_cache.set("k", b"v", version=1, ttl=TTL)
    client_id = await redis_cache._client.client_id()
    # What a Redis restart does to an idle pooled connection.
    assert await raw_redis.client_kill_filter(_id=str(client_id)) == 1
    assert await redis_cache.get("k") == CacheEntry(b"v", 1)


@pytest.mark.parametrize("operation", ["get", "set", "ping", "delete", "clear", "try_lock"])
async def test_an_unreachable_redis_raises_cache_unavailable_not_a_redis_exception(
    operation: str,
) -> None:
    cache = RedisCache(UNREACHABLE_REDIS, prefix="mbtest:unreachable:")
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "get": lambda: cache.get("k"),
        "set": lambda: cache.set("k", b"v", version=1, ttl=TTL),
        "ping": cache.ping,
        "delete": lambda: cache.delete("k"),
        "clear": cache.clear,
        "try_lock": lambda: cache.try_lock("lock:k", ttl=TTL),
    }
    try:
        with pytest.raises(CacheUnavailable) as caught:
            await calls[operation]()
        assert not isinstance(caught.value, redis.exceptions.RedisError)
    finally:
        await cache.close()


# --- from_url -----------------------------------------------------------------------------------


async def test_from_url_builds_a_memory_cache_with_its_byte_bound() -> None:
    cache = from_url("memory://?max_bytes=4096")
    assert isinstance(cache, MemoryCache)
    assert cache.max_bytes == 4096
    assert isinstance(from_url("memory://"), MemoryCache)


async def test_from_url_builds_a_redis_cache_under_the_given_prefix(
    redis_url: str, redis_prefix: str
) -> None:
    cache = from_url(redis_url, prefix=redis_prefix)
    try:
        assert isinstance(cache, RedisCache)
        assert cache.prefix == redis_prefix
        await cache.ping()
    finally:
        await cache.close()


async def test_from_url_accepts_rediss_without_connecting() -> None:
    cache = from_url("rediss://127.0.0.1:1/0")
    assert isinstance(cache, RedisCache)
    await cache.close()


@pytest.mark.parametrize(
    "url", ["", "memcached://localhost:11211", "ftp://x", "redis+sentinel://h", "cache.db"]
)
def test_from_url_rejects_unknown_schemes(url: str) -> None:
    with pytest.raises(ConfigError, match="scheme"):
        from_url(url)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("memory://?max_bytes=abc", "whole number"),
        ("memory://?max_bytes=", "whole number"),
        ("memory://?max_bytes=1.5", "whole number"),
        ("memory://?max_bytes=0", "positive"),
        ("memory://?max_bytes=-1", "positive"),
        ("memory://?maxbytes=10", "unknown memory cache option"),
        ("memory://somehost", "no host"),
    ],
)
def test_from_url_rejects_a_bad_memory_url_naming_the_problem(url: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        from_url(url)


def test_an_empty_redis_prefix_is_refused_because_clear_would_take_everything() -> None:
    with pytest.raises(ConfigError, match="prefix"):
        from_url("redis://127.0.0.1:1/0", prefix="")


# --- keys ---------------------------------------------------------------------------------------


def test_report_keys_have_one_spelling() -> None:
    day = date(2024, 3, 8)
    assert report_key("pre-market", day) == "report:pre-market:2024-03-08"
    assert report_lock("pre-market", day) == "lock:report:pre-market:2024-03-08"
    assert report_key("weekly", day) == "report:weekly:2024-03-08"


@pytest.mark.parametrize("bad", ["", "Pre-Market", "a:b", "pre market"])
def test_report_key_refuses_a_type_that_would_make_keys_ambiguous(bad: str) -> None:
    with pytest.raises(ValueError, match="report type"):
        report_key(bad, date(2024, 3, 8))


async def test_memory_real_footprint_stays_near_its_byte_bound_for_small_entries() -> None:
    """The bound counts objects and bookkeeping, not only key and value bytes."""
    bound = 1024 * 1024
    cache = MemoryCache(max_bytes=bound)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(40_000):  # far more than fit: the cache evicts to stay within its bound
            await cache.set(f"report:pre-market:{i:08d}", b"x" * 64, version=i, ttl=TTL)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    stats = await cache.stats()
    assert stats.evictions > 0
    assert held <= 1.25 * bound, f"{held} bytes held for a {bound}-byte bound"
