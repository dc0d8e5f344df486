"""The results core under concurrency: ordering, single-flight, cancellation and store failure.

Each test runs on embedded mode (SQLite file + in-process cache) and scaled-out mode (a private
PostgreSQL schema + Redis under a private key prefix), except the two-process test, which is
about Redis. Nothing here fakes the store: failures are made for real (an exclusively locked
SQLite file, a locked PostgreSQL table whose waiting backend is terminated, a closed port), and
the only thing wrapped is `latest_snapshot`, to count the calls that really reach the store.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import itertools
import json
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio.to_thread
import psycopg
import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from marketbrief.cache import keys
from marketbrief.config import Settings
from marketbrief.models import Completion, Outcome, ReportType
from marketbrief.results import Results
from marketbrief.results.envelope import ReportResponse, ReportState, Source
from marketbrief.store import engine as store_engine
from marketbrief.store.sql import SQLStore
from tests.support.backends import PG_HOST, PG_PORT
from tests.support.factories import standalone_completion

PRE = ReportType.PRE_MARKET
EOD = ReportType.END_OF_DAY
DAY = date(2026, 11, 24)  # Tuesday
LATE = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)  # every slot of DAY has passed


class Clock:
    """A settable clock for the read path's notion of now."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class CallCounter:
    """Counts the calls of one store method that really reach the store (it still runs them)."""

    def __init__(self, store: Any, name: str) -> None:
        self.calls = 0
        self._lock = threading.Lock()  # store methods run in worker threads
        real = getattr(store, name)

        def counted(*args: Any) -> Any:
            with self._lock:
                self.calls += 1
            return real(*args)

        setattr(store, name, counted)


def migrate(database_url: str) -> None:
    store = SQLStore(database_url)
    store.migrate()
    store.close()


@pytest.fixture
def embedded_settings(tmp_path: Path, sqlite_url: str) -> Settings:
    return Settings(
        outbox_dir=tmp_path / "outbox", write_retry_seconds=0.2, database_url=sqlite_url
    )


@pytest.fixture
def scaled_settings(tmp_path: Path, pg_url: str, redis_url: str, redis_prefix: str) -> Settings:
    return Settings(
        outbox_dir=tmp_path / "outbox",
        write_retry_seconds=0.2,
        database_url=pg_url,
        cache_url=redis_url,
        cache_prefix=redis_prefix,
    )


@pytest.fixture(params=["embedded", "scaled"])
def settings(request: pytest.FixtureRequest) -> Settings:
    chosen: Settings = request.getfixturevalue(f"{request.param}_settings")
    return chosen


@pytest.fixture
def clock() -> Clock:
    return Clock(LATE)


@pytest.fixture
async def make_results(settings: Settings, clock: Clock) -> AsyncIterator[Callable[..., Results]]:
    opened: list[Results] = []
    migrate(settings.database_url)

    def make(**changes: Any) -> Results:
        results = Results.open(dataclasses.replace(settings, **changes), clock=clock)
        opened.append(results)
        return results

    yield make
    for results in opened:
        if results.deps.cache is not None:
            await results.deps.cache.clear()
        await results.close()


# -- 1. ordering under random interleavings (hypothesis) ------------------------------------------


@dataclass(frozen=True)
class Publish:
    """A run of key `key` that started `minute` minutes after noon completes and is published."""

    key: int
    minute: int
    lose_cache_write: bool = False  # the cache entry it wrote is gone right after


@dataclass(frozen=True)
class Read:
    key: int


@dataclass(frozen=True)
class Evict:
    key: int


@dataclass(frozen=True)
class Flush:
    pass


Op = Publish | Read | Evict | Flush
KEYS = 3  # (pre-market, Tuesday), (pre-market, Wednesday), (end-of-day, Tuesday)
FIRST_TUESDAY = date(2001, 1, 2)
FAR_LATER = datetime(2028, 6, 1, tzinfo=UTC)  # every slot of every example's dates has passed
_example_weeks = itertools.count()  # one distinct week of report dates per example

key_indexes = st.integers(0, KEYS - 1)
minutes = st.integers(0, 5)  # few distinct start times: late older runs and equal versions
ops = st.one_of(
    st.builds(Publish, key_indexes, minutes, st.booleans()),
    st.builds(Read, key_indexes),
    st.builds(Evict, key_indexes),
    st.builds(Flush),
)


class ResultsOrderingMachine(RuleBasedStateMachine):
    """Drives publishes (some late and older, some losing their cache write), reads, evictions
    and flushes, one at a time or several at once, and checks every read:

    (a) a reader never gets an older version than one whose publish returned published=True
        before the read began, and the bytes are exactly that run's;
    (b) a reader never gets anything but a fresh report while the store holds one for the key.
    """

    results_settings: Settings  # set by `machine_for`

    def __init__(self) -> None:
        super().__init__()
        tuesday = FIRST_TUESDAY + timedelta(weeks=next(_example_weeks))
        assert tuesday.year < 2026, "more examples than distinct weeks of report dates"
        self.keys = [(PRE, tuesday), (PRE, tuesday + timedelta(days=1)), (EOD, tuesday)]
        self.floor: dict[int, int] = {}  # highest version published=True, per key
        self.runs: dict[str, tuple[int, int, bytes]] = {}  # run_id -> key, version, content
        self.won: set[str] = set()  # run_ids whose publish returned published=True
        self.loop = asyncio.new_event_loop()
        # Nothing connects until first use, which happens inside self.loop: the Redis client
        # is bound to the loop it first connects in, and is closed in that same loop.
        self.results = Results.open(self.results_settings, clock=lambda: FAR_LATER)

    def teardown(self) -> None:
        try:
            self.loop.run_until_complete(self._close())
        finally:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    async def _close(self) -> None:
        try:
            if self.results.deps.cache is not None:
                await self.results.deps.cache.clear()
        finally:
            await self.results.close()

    # -- rules ---------------------------------------------------------------------------------

    @rule(key=key_indexes, minute=minutes)
    def publish(self, key: int, minute: int) -> None:
        self._step([Publish(key, minute)])

    @rule(key=key_indexes, minute=minutes)
    def publish_losing_its_cache_write(self, key: int, minute: int) -> None:
        self._step([Publish(key, minute, lose_cache_write=True)])

    @rule(key=key_indexes)
    def read(self, key: int) -> None:
        self._step([Read(key)])

    @rule()
    def read_every_key(self) -> None:
        for key in range(KEYS):
            self._step([Read(key)])

    @rule(key=key_indexes)
    def evict(self, key: int) -> None:
        self._step([Evict(key)])

    @rule()
    def flush(self) -> None:
        self._step([Flush()])

    @rule(together=st.lists(ops, min_size=2, max_size=4))
    def interleave(self, together: list[Op]) -> None:
        self._step(together)

    # -- running and checking ------------------------------------------------------------------

    def _step(self, together: list[Op]) -> None:
        floors = dict(self.floor)  # what every read of this step must at least see
        outcomes = self.loop.run_until_complete(self._all(together))
        for op, outcome in zip(together, outcomes, strict=True):
            if isinstance(op, Publish) and isinstance(outcome, Outcome):
                assert outcome.persisted, outcome
                if outcome.published:
                    self.won.add(outcome.run_id)
                    version = self.runs[outcome.run_id][1]
                    self.floor[op.key] = max(self.floor.get(op.key, version), version)
        for op, outcome in zip(together, outcomes, strict=True):
            if isinstance(op, Read):
                assert isinstance(outcome, ReportResponse)
                self._check(op.key, outcome, floors.get(op.key))

    async def _all(self, together: list[Op]) -> list[object]:
        done = await asyncio.gather(*(self._do(op) for op in together), return_exceptions=True)
        for outcome in done:
            if isinstance(outcome, BaseException):
                raise outcome
        return done

    async def _do(self, op: Op) -> object:
        cache = self.results.deps.cache
        assert cache is not None
        if isinstance(op, Read):
            return await self.results.get_report(*self.keys[op.key])
        if isinstance(op, Evict):
            await cache.delete(self._cache_key(op.key))
            return None
        if isinstance(op, Flush):
            return await cache.clear()
        kind, day = self.keys[op.key]
        started = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        completion = standalone_completion(
            kind,
            day,
            started_at=started + timedelta(minutes=op.minute),
            run_id=f"{day.isoformat()}_{kind.value}_{uuid.uuid4().hex}",
        )
        assert completion.content is not None
        self.runs[completion.run_id] = (op.key, completion.version, completion.content)
        outcome = await self.results.publish(completion)
        if op.lose_cache_write:
            await cache.delete(self._cache_key(op.key))
        return outcome

    def _cache_key(self, key: int) -> str:
        kind, day = self.keys[key]
        return keys.report_key(kind.value, day)

    def _check(self, key: int, response: ReportResponse, floor: int | None) -> None:
        kind, day = self.keys[key]
        label = f"{kind.value} {day}"
        if floor is not None:
            assert response.state is ReportState.FRESH, (
                f"{label}: the store holds version {floor} but a read answered "
                f"{response.state.value} {response.warnings}"
            )
        if response.state is not ReportState.FRESH:
            assert response.state is not ReportState.UNAVAILABLE, response.warnings
            if response.state is ReportState.STALE:
                assert response.business_date is not None
                assert response.business_date < day
            return
        assert response.has_content
        assert response.business_date == day
        assert response.run_id in self.won, f"{label}: served a run that never became latest"
        served_key, version, content = self.runs[response.run_id]
        assert served_key == key
        assert response.data == content
        if floor is not None:
            assert version >= floor, (
                f"{label}: served version {version} after version {floor} was published"
            )


def machine_for(results_settings: Settings) -> type[ResultsOrderingMachine]:
    migrate(results_settings.database_url)
    return type(
        "ResultsOrderingMachineUnderTest",
        (ResultsOrderingMachine,),
        {"results_settings": results_settings},
    )


def hypothesis_settings(max_examples: int) -> hsettings:
    return hsettings(
        max_examples=max_examples,
        deadline=None,
        stateful_step_count=30,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        database=None,  # no example database written into the working tree
    )


def test_lesson_18_readers_never_go_back_in_time_or_blank_embedded(
    embedded_settings: Settings,
) -> None:
    run_state_machine_as_test(
        machine_for(embedded_settings), settings=hypothesis_settings(max_examples=40)
    )


def test_lesson_18_readers_never_go_back_in_time_or_blank_scaled(
    scaled_settings: Settings,
) -> None:
    run_state_machine_as_test(
        machine_for(scaled_settings), settings=hypothesis_settings(max_examples=25)
    )


# -- 2. single-flight in one process --------------------------------------------------------------


async def test_100_concurrent_misses_cost_one_store_read_in_process(
    make_results: Callable[..., Results],
) -> None:
    results = make_results()
    completion = standalone_completion(PRE, DAY, started_at=LATE - timedelta(hours=20))
    assert (await results.publish(completion)).published
    assert results.deps.cache is not None
    await results.deps.cache.clear()
    real_reads = CallCounter(results.deps.store.backend, "latest_snapshot")

    answers = await asyncio.gather(*(results.get_report(PRE, DAY) for _ in range(100)))

    assert results.deps.counters.store_reads == 1
    assert real_reads.calls == 1
    assert {a.state for a in answers} == {ReportState.FRESH}
    assert all(a.has_content for a in answers)
    assert {a.data for a in answers} == {completion.content}
    assert {a.run_id for a in answers} == {completion.run_id}
    # The one read warmed the cache: the next hundred cost nothing.
    again = await asyncio.gather(*(results.get_report(PRE, DAY) for _ in range(100)))
    assert {(a.state, a.source, a.data) for a in again} == {
        (ReportState.FRESH, Source.CACHE, completion.content)
    }
    assert (results.deps.counters.store_reads, real_reads.calls) == (1, 1)


# -- 3. single-flight across processes (Redis lock) -----------------------------------------------

_READER_PROCESS = r"""
import asyncio, hashlib, json, sys, threading, time
from datetime import date
from pathlib import Path

from marketbrief.config import Settings
from marketbrief.models import ReportType
from marketbrief.results import Results

job = json.loads(sys.argv[1])


async def main():
    settings = Settings(
        database_url=job["database_url"],
        cache_url=job["cache_url"],
        cache_prefix=job["cache_prefix"],
        outbox_dir=Path(job["outbox_dir"]),
    )
    results = Results.open(settings)
    store = results.deps.store.backend
    real = store.latest_snapshot
    calls = [0]
    lock = threading.Lock()

    def counted(*args):
        with lock:
            calls[0] += 1
        return real(*args)

    store.latest_snapshot = counted
    # Connect to both backends before the race, so the race is about the reads alone.
    await results.store.ping()
    await results.deps.cache.ping()
    signals = Path(job["signals"])
    found = []
    try:
        for i, day in enumerate(job["days"]):
            (signals / f"ready-{i}-{job['me']}").touch()
            deadline = time.monotonic() + 30
            while not all(
                (signals / f"ready-{i}-{n}").exists() for n in range(job["processes"])
            ):
                if time.monotonic() > deadline:
                    raise SystemExit("the start signal never came")
                time.sleep(0.001)
            reads, real_calls = results.deps.counters.store_reads, calls[0]
            answers = await asyncio.gather(
                *(
                    results.get_report(ReportType(job["report_type"]), date.fromisoformat(day))
                    for _ in range(job["readers"])
                )
            )
            found.append(
                {
                    "day": day,
                    "store_reads": results.deps.counters.store_reads - reads,
                    "real_calls": calls[0] - real_calls,
                    "answers": len(answers),
                    "states": sorted({a.state.value for a in answers}),
                    "has_content": all(a.has_content for a in answers),
                    "sha256": sorted(
                        {hashlib.sha256(a.data).hexdigest() if a.data else "" for a in answers}
                    ),
                }
            )
    finally:
        await results.close()
    print(json.dumps(found))


asyncio.run(main())
"""


@pytest.mark.parametrize("settings", ["scaled"], indirect=True)
async def test_two_processes_on_redis_cost_at_most_one_store_read_each_per_cold_key(
    make_results: Callable[..., Results], settings: Settings, tmp_path: Path
) -> None:
    results = make_results()
    days = [DAY - timedelta(days=offset) for offset in range(4)]
    published: dict[str, str] = {}
    for day in days:
        completion = standalone_completion(PRE, day, started_at=LATE - timedelta(days=3))
        assert (await results.publish(completion)).published
        published[day.isoformat()] = hashlib.sha256(completion.content or b"").hexdigest()
    assert results.deps.cache is not None
    await results.deps.cache.clear()  # every key is cold for both processes
    signals = tmp_path / "signals"
    signals.mkdir()
    job = {
        "database_url": settings.database_url,
        "cache_url": settings.cache_url,
        "cache_prefix": settings.cache_prefix,
        "outbox_dir": str(tmp_path / "outbox"),
        "signals": str(signals),
        "days": list(published),
        "report_type": PRE.value,
        "processes": 2,
        "readers": 50,
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _READER_PROCESS, json.dumps({**job, "me": me})],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for me in range(2)
    ]
    try:
        outputs = await anyio.to_thread.run_sync(
            lambda: [p.communicate(timeout=60) for p in processes]
        )
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    reports = []
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
        reports.append(json.loads(out))
    for i, key_day in enumerate(published):
        per_process = [report[i] for report in reports]
        assert all(p["day"] == key_day for p in per_process)
        for p in per_process:
            assert p["answers"] == 50
            assert p["states"] == [ReportState.FRESH.value]
            assert p["has_content"]
            assert p["sha256"] == [published[key_day]]
            assert p["store_reads"] == p["real_calls"]
        reads = sum(p["store_reads"] for p in per_process)
        assert 1 <= reads <= 2, (key_day, per_process)


# -- 4. cancellation and store failure during a single-flight load --------------------------------


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
