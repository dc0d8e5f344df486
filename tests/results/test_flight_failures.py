"""A single-flight load that is cancelled, or whose store fails, on both modes.

Nothing here fakes the store: failures are made for real (an exclusively locked SQLite file, a
locked PostgreSQL table whose waiting backend is terminated, a closed port), and the only thing
wrapped is `latest_snapshot`, to count the calls that really reach the store.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio.to_thread
import psycopg
import pytest
from harness.store import migrate

from marketbrief.config import Settings
from marketbrief.models import Completion, ReportType
from marketbrief.results import Results
from marketbrief.results.envelope import ReportResponse, ReportState, Source
from marketbrief.store import engine as store_engine
from tests.support.backends import PG_HOST, PG_PORT
from tests.support.clock import DAY, LATE, Clock
from tests.support.factories import standalone_completion
from tests.support.results_fixtures import CallCounter, forget_near

PRE = ReportType.PRE_MARKET


@dataclass
class StoreBlock:
    """A real lock on the store that makes the next report read wait inside the database."""

    wait_until_blocked: Callable[[CallCounter], Awaitable[None]]
    release: Callable[[], Awaitable[None]]
    break_blocked_read: Callable[[], Awaitable[None]]


def _pg_conninfo(url: str) -> dict[str, Any]:
    options = parse_qs(urlsplit(url).query)["options"][0]  # -csearch_path=<private schema>
    return {
        "host": PG_HOST,
        "port": PG_PORT,
        "user": "postgres",
        "dbname": "test",
        "options": options,
    }


async def _eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


@asynccontextmanager
async def blocked_store(results: Results) -> AsyncIterator[StoreBlock]:
    """Embedded: an EXCLUSIVE lock on the SQLite file. Scaled: an ACCESS EXCLUSIVE lock on
    report_latest. Either way the report read really waits inside the database."""
    url = results.deps.store.backend.url
    if url.startswith("sqlite"):
        async with _blocked_sqlite(results, url) as block:
            yield block
    else:
        async with _blocked_postgres(url) as block:
            yield block


@asynccontextmanager
async def _blocked_sqlite(results: Results, url: str) -> AsyncIterator[StoreBlock]:
    # In WAL mode only an exclusive locking mode, taken while no other connection is open,
    # shuts readers out: close this process's pooled connections first.
    await anyio.to_thread.run_sync(results.deps.store.backend.close)
    locker = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, timeout=1)
    locker.execute("PRAGMA locking_mode=EXCLUSIVE")
    locker.execute("BEGIN EXCLUSIVE")

    async def blocked(counter: CallCounter) -> None:
        async def entered() -> bool:
            return counter.calls >= 1

        await _eventually(entered)
        await asyncio.sleep(0.1)  # the read now waits in SQLite's busy handler

    async def release() -> None:
        locker.close()

    async def break_read() -> None:
        pass  # the busy timeout runs out by itself: "database is locked"

    try:
        yield StoreBlock(blocked, release, break_read)
    finally:
        locker.close()


@asynccontextmanager
async def _blocked_postgres(url: str) -> AsyncIterator[StoreBlock]:
    conninfo = _pg_conninfo(url)
    waiting: list[int] = []
    locker = await psycopg.AsyncConnection.connect(**conninfo)
    try:
        await locker.execute("LOCK TABLE report_latest IN ACCESS EXCLUSIVE MODE")

        async def blocked(counter: CallCounter) -> None:
            async with await psycopg.AsyncConnection.connect(**conninfo, autocommit=True) as c:

                async def queued() -> bool:
                    cursor = await c.execute(
                        "SELECT pid FROM pg_locks WHERE NOT granted"
                        " AND relation = 'report_latest'::regclass"
                    )
                    waiting[:] = [row[0] for row in await cursor.fetchall()]
                    return bool(waiting)

                await _eventually(queued)
            assert len(waiting) == 1
            assert counter.calls == 1

        async def release() -> None:
            await locker.rollback()

        async def break_read() -> None:
            async with await psycopg.AsyncConnection.connect(**conninfo, autocommit=True) as c:
                await c.execute("SELECT pg_terminate_backend(%s)", (waiting[0],))

        yield StoreBlock(blocked, release, break_read)
    finally:
        await locker.rollback()
        await locker.close()


async def _all_waiting_on_the_flight(results: Results, misses_before: int, readers: int) -> None:
    """Every reader has missed the cache, and so is parked on the single-flight.

    A reader counts its miss and joins the flight without yielding in between. Waiting for this
    matters: on Python 3.11, `asyncio.wait_for` (which redis-py runs around every command it
    sends) swallows a cancellation that lands just as the send completes (bpo-42130, fixed in
    3.12), so a reader cancelled while still talking to Redis may run on instead of stopping.
    """

    async def parked() -> bool:
        return results.deps.counters.cache_misses - misses_before == readers

    await _eventually(parked)


@asynccontextmanager
async def _settled(readers: list[asyncio.Task[ReportResponse]]) -> AsyncIterator[None]:
    """On the way out, wait for every reader: none may outlive the test and warm the cache
    after the fixture has cleared it."""
    try:
        yield
    finally:
        if readers:
            await asyncio.wait_for(asyncio.gather(*readers, return_exceptions=True), timeout=15)


async def _published_then_cold(results: Results) -> Completion:
    completion = standalone_completion(PRE, DAY, started_at=LATE - timedelta(hours=20))
    assert (await results.publish(completion)).published
    # One read first: the in-process cache checks the store's revision on its first read (and,
    # with this frozen clock, never again), so the reads under test go straight to the flight.
    assert (await results.get_report(PRE, DAY)).state is ReportState.FRESH
    assert results.deps.cache is not None
    await results.deps.cache.clear()
    forget_near(results)
    return completion


async def test_a_cancelled_reader_does_not_break_the_other_waiters_of_its_single_flight(
    make_results: Callable[..., Results],
) -> None:
    results = make_results()
    completion = await _published_then_cold(results)
    reads_before = results.deps.counters.store_reads
    misses_before = results.deps.counters.cache_misses
    real_reads = CallCounter(results.deps.store.backend, "latest_snapshot")
    readers: list[asyncio.Task[ReportResponse]] = []
    async with _settled(readers), blocked_store(results) as block:
        readers += [asyncio.create_task(results.get_report(PRE, DAY)) for _ in range(20)]
        await block.wait_until_blocked(real_reads)
        await _all_waiting_on_the_flight(results, misses_before, len(readers))
        # Five readers hang up mid-miss, among them the first, whose miss started the flight.
        hung_up = readers[:5]
        for task in hung_up:
            task.cancel()
        done, _ = await asyncio.wait(hung_up, timeout=5)
        assert done == set(hung_up)
        assert all(task.cancelled() for task in hung_up)
        assert not any(task.done() for task in readers[5:])  # the load is still blocked
        await block.release()
        answers = await asyncio.wait_for(asyncio.gather(*readers[5:]), timeout=10)
    assert {(a.state, a.data, a.run_id) for a in answers} == {
        (ReportState.FRESH, completion.content, completion.run_id)
    }
    assert all(a.has_content for a in answers)
    assert results.deps.counters.store_reads - reads_before == 1
    assert real_reads.calls == 1
    # The load ran to its end despite its first caller leaving: it warmed the cache.
    after = await results.get_report(PRE, DAY)
    assert (after.state, after.source, after.data) == (
        ReportState.FRESH,
        Source.CACHE,
        completion.content,
    )


async def test_a_store_failure_during_a_single_flight_load_is_unavailable_for_every_waiter(
    make_results: Callable[..., Results], monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite gives up on a locked file after its busy timeout; one second keeps this test quick.
    monkeypatch.setattr(store_engine, "BUSY_TIMEOUT_MS", 1_000)
    results = make_results()
    completion = await _published_then_cold(results)
    reads_before = results.deps.counters.store_reads
    misses_before = results.deps.counters.cache_misses
    real_reads = CallCounter(results.deps.store.backend, "latest_snapshot")
    readers: list[asyncio.Task[ReportResponse]] = []
    async with _settled(readers), blocked_store(results) as block:
        readers += [asyncio.create_task(results.get_report(PRE, DAY)) for _ in range(20)]
        await block.wait_until_blocked(real_reads)
        await _all_waiting_on_the_flight(results, misses_before, len(readers))
        await block.break_blocked_read()
        answers = await asyncio.wait_for(asyncio.gather(*readers), timeout=15)
        assert {a.state for a in answers} == {ReportState.UNAVAILABLE}
        assert all("store_unavailable" in a.warnings for a in answers)
        assert not any(a.has_content or a.data is not None for a in answers)
        assert results.deps.counters.store_reads - reads_before == 1
        assert real_reads.calls == 1
        assert results.deps.health.is_down
        # ... and it was the failure made above, not some other one.
        embedded = results.deps.store.backend.url.startswith("sqlite")
        expected = "database is locked" if embedded else "terminating connection"
        assert expected in (results.deps.health.last_error or "")
        await block.release()
    recovered = await results.get_report(PRE, DAY)
    assert (recovered.state, recovered.data) == (ReportState.FRESH, completion.content)
    assert not results.deps.health.is_down


@pytest.mark.parametrize(
    "unreachable",
    [
        pytest.param("sqlite:///{tmp}/no-such-directory/marketbrief.db", id="embedded"),
        pytest.param("postgresql+psycopg://postgres@127.0.0.1:1/test", id="scaled"),
    ],
)
async def test_an_unreachable_store_is_unavailable_for_every_waiter_not_an_error(
    request: pytest.FixtureRequest, tmp_path: Path, unreachable: str, clock: Clock
) -> None:
    mode = request.node.callspec.id
    settings: Settings = request.getfixturevalue(f"{mode}_settings")
    migrate(settings.database_url)
    writer = Results.open(settings, clock=clock)
    # The reader cannot reach any store; in scaled mode it shares the writer's Redis cache.
    reader = Results.open(
        dataclasses.replace(settings, database_url=unreachable.format(tmp=tmp_path)), clock=clock
    )
    try:
        completion = standalone_completion(PRE, DAY, started_at=LATE - timedelta(hours=20))
        assert (await writer.publish(completion)).published
        other_day = DAY - timedelta(days=1)
        answers = await asyncio.gather(*(reader.get_report(PRE, other_day) for _ in range(20)))
        assert {a.state for a in answers} == {ReportState.UNAVAILABLE}
        assert all("store_unavailable" in a.warnings for a in answers)
        assert reader.deps.counters.store_reads == 1
        assert reader.deps.health.is_down
        expected = "unable to open database file" if mode == "embedded" else "refused"
        assert expected in (reader.deps.health.last_error or "")
        if mode == "scaled":
            # A hit in the shared cache is still served, labelled with the outage.
            hit = await reader.get_report(PRE, DAY)
            assert (hit.state, hit.source, hit.data) == (
                ReportState.FRESH,
                Source.CACHE,
                completion.content,
            )
            assert "store_unavailable" in hit.warnings
    finally:
        for results in (writer, reader):
            if results.deps.cache is not None:
                await results.deps.cache.clear()
            await results.close()
