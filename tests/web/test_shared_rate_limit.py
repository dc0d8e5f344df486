"""The trigger rate limit is one bucket per deployment: three real servers, one Redis prefix.

Before, each process had its own bucket: 37 of 60 burst triggers passed with 3 workers against
a documented burst of 10.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
from harness.probes import free_port

from marketbrief.cache.buckets import RedisTokenBucket
from marketbrief.web.ratelimit import TokenBucket, TriggerLimit
from marketbrief.web.security import RateLimited
from tests.support.session_files import SESSION, session_news, session_prices

BIN = Path(sys.executable).parent
KEY = "shared-limit-test-key-0123456789"
SERVERS = 3
TRIGGERS = 60
BURST = 10
RATE = 0.2  # tokens per second: the refill over the burst's few seconds is small and measured
WAIT = 60.0


@pytest.fixture
def servers(
    tmp_path: Path, sqlite_url: str, redis_url: str, redis_prefix: str
) -> Iterator[list[str]]:
    """Three `marketbrief serve` processes on one SQLite store and one Redis key prefix."""
    env = {
        **os.environ,
        "MARKETBRIEF_DATABASE_URL": sqlite_url,
        "MARKETBRIEF_CACHE_URL": redis_url,
        "MARKETBRIEF_CACHE_PREFIX": redis_prefix,
        "MARKETBRIEF_OUTBOX_DIR": str(tmp_path / "outbox"),
        "MARKETBRIEF_API_KEY": KEY,
        "MARKETBRIEF_SCHEDULER": "off",
        "MARKETBRIEF_SYMBOLS": "AAPL",
        "MARKETBRIEF_NEWS": f"dir:{session_news(tmp_path / 'news')}",
        "MARKETBRIEF_PRICES": f"dir:{session_prices(tmp_path / 'prices')}",
        "MARKETBRIEF_TRIGGER_BURST": str(BURST),
        "MARKETBRIEF_TRIGGER_RATE": str(RATE),
    }
    subprocess.run([BIN / "marketbrief", "migrate"], env=env, check=True, capture_output=True)
    processes, bases = [], []
    try:
        for n in range(SERVERS):
            port = free_port()
            with (tmp_path / f"serve-{n}.log").open("wb") as log:
                processes.append(
                    subprocess.Popen(
                        [BIN / "marketbrief", "serve", "--port", str(port)],
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
            bases.append(f"http://127.0.0.1:{port}")
        for base, process in zip(bases, processes, strict=True):
            _wait_until_up(base, process)
        yield bases
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(match=f"{redis_prefix}*"):
            client.delete(key)
        client.close()


def _wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + WAIT
    while True:
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{base}/healthz", timeout=2),  # noqa: S310 (loopback)
        ):
            return
        assert process.poll() is None, "serve exited"
        assert time.monotonic() < deadline, "serve did not answer"
        time.sleep(0.05)


def _trigger(base: str) -> int:
    body = json.dumps({"type": "pre-market", "date": SESSION}).encode()
    headers = {"X-API-Key": KEY, "Content-Type": "application/json"}
    request = urllib.request.Request(f"{base}/api/v1/jobs/trigger", body, headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=WAIT) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_a_burst_across_three_servers_passes_the_documented_burst_once(
    servers: list[str],
) -> None:
    targets = [servers[n % SERVERS] for n in range(TRIGGERS)]
    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(_trigger, targets))
    elapsed = time.monotonic() - began
    passed = statuses.count(202)
    # Beyond the burst, only what the bucket refilled while the burst was being sent.
    allowance = math.floor(elapsed * RATE) + 1
    assert set(statuses) <= {202, 429}, statuses
    assert BURST <= passed <= BURST + allowance, (passed, elapsed)
    # Every server took part, and each refused some: the bucket is one, not three.
    for base in servers:
        mine = [s for s, t in zip(statuses, targets, strict=True) if t == base]
        assert 429 in mine


async def test_a_shared_bucket_is_shared_between_limits(redis_url: str, redis_prefix: str) -> None:
    limits = [
        TriggerLimit(
            TokenBucket(0.001, 3.0),
            RedisTokenBucket(redis_url, prefix=redis_prefix, name="trigger", rate=0.001, burst=3),
        )
        for _ in range(3)
    ]
    outcomes, waits = [], []
    try:
        for _ in range(3):
            for limit in limits:
                try:
                    await limit.take()
                    outcomes.append("passed")
                except RateLimited as refused:
                    outcomes.append("limited")
                    waits.append(refused.retry_after)
    finally:
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(match=f"{redis_prefix}*"):
            client.delete(key)
        client.close()
        for limit in limits:
            await limit.close()
    assert outcomes.count("passed") == 3
    assert len(waits) == 6
    assert all(wait > 0 for wait in waits)
    assert all(limit.fallbacks == 0 for limit in limits)


async def test_with_redis_unreachable_each_process_keeps_its_own_limit() -> None:
    # Nothing listens on this port: every Redis call fails at once with a refused connection.
    shared = RedisTokenBucket(
        f"redis://127.0.0.1:{free_port()}/0",
        prefix="mbtest:nowhere:",
        name="trigger",
        rate=0.001,
        burst=2,
    )
    noticed: list[int] = []
    limit = TriggerLimit(TokenBucket(0.001, 2.0), shared, on_fallback=lambda: noticed.append(1))
    outcomes = []
    try:
        for _ in range(4):
            try:
                await limit.take()
                outcomes.append("passed")
            except RateLimited:
                outcomes.append("limited")
    finally:
        await limit.close()
    assert outcomes == ["passed", "passed", "limited", "limited"]
    assert limit.fallbacks == 4
    assert len(noticed) == 4  # the app counts these in marketbrief_trigger_limit_fallbacks
