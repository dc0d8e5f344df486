"""Redis flushed, killed and restarted under a read load: every read stays fresh, with the exact
bytes (our own redis-server, on a free loopback port: nobody else's keys are touched).

The promises each test keeps are listed in tests/support/faults.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from harness.store import migrate

from marketbrief.cache.redis import RedisCache
from marketbrief.config import Settings
from marketbrief.errors import CacheUnavailable
from marketbrief.models import ReportType
from marketbrief.results.envelope import ReportState, Source
from tests.support.clock import DAY
from tests.support.faults import nth_completion, opened, same_content
from tests.support.faults_proxy import free_port


class RedisServer:
    """Our own redis-server on a free loopback port: nobody else's keys are ever touched."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            if os.environ.get("CI"):
                pytest.fail("redis-server is not installed, and CI requires it", pytrace=False)
            pytest.skip("redis-server is not installed")
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.stopped = False

    def start(self) -> None:
        """Start the server and return once it answers PING (within 10 s)."""
        assert self.process is None
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.starts += 1
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "redis-server exited at start"
            try:
                with self.client() as client:
                    if client.ping():
                        return
            except redis.exceptions.RedisError:
                time.sleep(0.02)
        raise AssertionError("redis-server did not answer within 10 s")

    def pause(self) -> None:
        """SIGSTOP the server: its sockets stay open (connections are even accepted by the
        kernel), and nothing answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)
        self.stopped = True

    def resume(self) -> None:
        """SIGCONT the server: it answers again, with every key it held."""
        if self.process is not None and self.stopped:
            self.process.send_signal(signal.SIGCONT)
        self.stopped = False

    def kill(self) -> None:
        """SIGKILL the server (an abrupt crash: every connection drops, every key is lost)."""
        self.resume()
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def flushall(self) -> None:
        """FLUSHALL on OUR server only."""
        with self.client() as client:
            client.flushall()

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    workdir = tmp_path / "redis"
    workdir.mkdir()
    server = RedisServer(workdir)
    try:
        server.start()
        yield server
    finally:
        server.kill()


def _settings(
    pg_url: str, own_redis: RedisServer, prefix: str, tmp_path: Path, **extra: Any
) -> Settings:
    """Our migrated database and our own redis-server under our key prefix, with `extra`.

    The near cache is off unless `extra` turns it on: these tests watch the read path meet
    Redis's faults, which the near cache would answer from memory instead.
    """
    migrate(pg_url)
    return Settings(
        database_url=pg_url,
        cache_url=own_redis.url,
        cache_prefix=prefix,
        outbox_dir=tmp_path / "outbox",
        **{"near_cache_entries": 0, **extra},
    )


@pytest.mark.slow
async def test_reads_stay_fresh_with_exact_bytes_while_redis_is_flushed_killed_and_restarted(
    pg_url: str, own_redis: RedisServer, redis_prefix: str, tmp_path: Path
) -> None:
    settings = _settings(pg_url, own_redis, redis_prefix, tmp_path, write_retry_seconds=0.3)
    reports = [
        nth_completion(i, kind, day=DAY - timedelta(days=i))
        for i in range(5)
        for kind in ReportType
    ]
    phase = "warm"
    answers: dict[str, Counter[str]] = {}
    wrong: list[str] = []
    errors: list[str] = []
    calls = 0
    max_calls = 5000
    stop = asyncio.Event()

    async with opened(settings) as results:
        for completion in reports:
            outcome = await results.publish(completion)
            assert outcome.persisted

        async def read_load(worker: int) -> None:
            nonlocal calls
            index = worker
            while not stop.is_set() and calls < max_calls:
                completion = reports[index % len(reports)]
                index += 1
                calls += 1
                seen_in = phase
                try:
                    response = await results.get_report(
                        completion.report_type, completion.scheduled_date
                    )
                except Exception as error:  # the point: nothing may escape get_report
                    errors.append(f"{seen_in}: {error!r}")
                    continue
                tally = answers.setdefault(seen_in, Counter())
                tally[response.state.value] += 1
                tally[f"source:{response.source}"] += 1
                for warning in response.warnings:
                    tally[f"warning:{warning}"] += 1
                if not same_content(response, completion):
                    wrong.append(f"{seen_in}: {response.state} {response.data!r}")
                await asyncio.sleep(0.005)

        async def faults() -> None:
            nonlocal phase
            await asyncio.sleep(0.3)
            phase = "flushed"
            own_redis.flushall()
            await asyncio.sleep(0.5)
            phase = "down"
            own_redis.kill()
            await asyncio.sleep(0.8)
            phase = "restarting"
            await asyncio.to_thread(own_redis.start)
            phase = "restarted"
            await asyncio.sleep(0.6)
            stop.set()

        await asyncio.wait_for(
            asyncio.gather(faults(), *(read_load(w) for w in range(6))), timeout=30
        )

    print(f"\nredis faults: {calls} get_report calls; answers by phase: {answers}")
    assert errors == [], errors[:5]
    assert wrong == [], wrong[:5]
    total = sum(c[ReportState.FRESH.value] for c in answers.values())
    assert total == calls
    # Each fault was really seen by the load, and the read path really recovered from it.
    assert answers["flushed"][f"source:{Source.STORE}"] >= 1
    assert answers["down"]["warning:cache_unavailable"] >= 1
    assert answers["down"][f"source:{Source.STORE}"] == answers["down"]["fresh"]
    assert answers["restarted"][f"source:{Source.CACHE}"] >= 1
    assert own_redis.starts == 2


@pytest.mark.slow
async def test_a_stopped_redis_opens_the_cache_breaker_reads_go_to_the_store_and_come_back(
    pg_url: str, own_redis: RedisServer, redis_prefix: str, tmp_path: Path
) -> None:
    settings = _settings(pg_url, own_redis, redis_prefix, tmp_path, cache_breaker_seconds=1.0)
    reports = [nth_completion(i, ReportType.PRE_MARKET) for i in range(4)]
    async with opened(settings) as results:
        for completion in reports:
            assert (await results.publish(completion)).persisted
        first = await results.get_report(ReportType.PRE_MARKET, reports[0].scheduled_date)
        assert first.source is Source.CACHE
        cache = results.deps.cache
        assert isinstance(cache, RedisCache)
        health = cache.health

        own_redis.pause()
        # The first read waits for the cache's timeout, then reads the store; the breaker opens.
        slow = await asyncio.wait_for(
            results.get_report(ReportType.PRE_MARKET, reports[0].scheduled_date), 10
        )
        assert same_content(slow, reports[0])
        assert slow.source is Source.STORE
        assert "cache_unavailable" in slow.warnings
        assert health.is_open
        # Open: every read goes straight to the store, with the exact bytes.
        for completion in reports:
            response = await asyncio.wait_for(
                results.get_report(completion.report_type, completion.scheduled_date), 10
            )
            assert same_content(response, completion)
            assert response.source is Source.STORE
            assert "cache_unavailable" in response.warnings
        with pytest.raises(CacheUnavailable, match="not asked again"):
            await cache.get("anything")
        ready = await asyncio.wait_for(results.readiness(), 10)
        assert ready["ready"] is True  # the store answers: the cache is optional
        assert ready["cache"]["ok"] is False
        assert own_redis.stopped

        own_redis.resume()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while health.is_down:
            assert loop.time() < deadline, "redis answers again but the breaker stays open"
            with contextlib.suppress(CacheUnavailable):
                await cache.ping()
            await asyncio.sleep(0.05)
        back = await results.get_report(ReportType.PRE_MARKET, reports[1].scheduled_date)
        assert same_content(back, reports[1])
        assert back.source is Source.CACHE
        assert back.warnings == ()
