"""Real faults against real processes, on loopback only (DESIGN.md sections 4-5).

What is broken here is really broken: our own redis-server is flushed, killed and restarted
under a read load; PostgreSQL is cut off behind a TCP proxy we control and its backends are
terminated; a SQLite file is locked by another connection or opened read-only; a writer process
is killed with SIGKILL mid-stream; an outbox file is truncated and an outbox directory cannot
be written. The promises checked: no exception escapes get_report, a read never answers
without content for a report the store holds (when the store is reachable), every acknowledged
write survives (store or outbox), replay lands every one of them, and a write that could not be
made durable is not acknowledged.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import redis
import sqlalchemy as sa

from marketbrief.cache import keys
from marketbrief.config import Settings
from marketbrief.errors import OutboxError
from marketbrief.models import Completion, ReportType, RunStatus
from marketbrief.results import Results
from marketbrief.results.envelope import ReportResponse, ReportState, Source
from marketbrief.results.outbox import Outbox
from marketbrief.store import engine as store_engine
from marketbrief.store.sql import SQLStore
from tests.support.backends import PG_HOST, PG_PORT
from tests.support.factories import standalone_completion
from tests.support.faults_proxy import TcpProxy, free_port
from tests.support.faults_writer import plan
from tests.support.paths import ROOT

DAY = date(2026, 11, 24)  # Tuesday
LATE = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)  # every slot of DAY has passed
T0 = LATE - timedelta(days=40)
PRE = ReportType.PRE_MARKET
PG_ADMIN = (
    f"host={PG_HOST} port={PG_PORT} user=postgres dbname=test application_name=mb_faults_admin"
)


def _clock() -> datetime:
    return LATE


def _migrate(url: str) -> None:
    store = SQLStore(url)
    try:
        store.migrate()
    finally:
        store.close()


@asynccontextmanager
async def _opened(settings: Settings, **changes: object) -> AsyncIterator[Results]:
    results = Results.open(dataclasses.replace(settings, **changes), clock=_clock)
    try:
        yield results
    finally:
        await results.close()


def _completion(
    index: int, report_type: ReportType = PRE, *, day: date | None = None
) -> Completion:
    """A distinct (type, date) per index, started at increasing instants (so versions grow)."""
    day = day or DAY - timedelta(days=index)
    run_id = f"f{index:03d}-{report_type.value}-{day.isoformat()}-{uuid.uuid4().hex[:6]}"
    return standalone_completion(
        report_type, day, run_id=run_id, started_at=T0 + timedelta(minutes=index), marker=run_id
    )


def _with_query(url: str, **params: str) -> str:
    extra = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{url}{'&' if '?' in url else '?'}{extra}"


def _same_content(response: ReportResponse, completion: Completion) -> bool:
    return (
        response.state is ReportState.FRESH
        and response.has_content
        and response.data == completion.content
        and response.business_date == completion.scheduled_date
    )


# -- 1. Redis flushed, killed and restarted under a read load ------------------------------------


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

    def kill(self) -> None:
        """SIGKILL the server (an abrupt crash: every connection drops, every key is lost)."""
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


@pytest.mark.slow
async def test_reads_stay_fresh_with_exact_bytes_while_redis_is_flushed_killed_and_restarted(
    pg_url: str, own_redis: RedisServer, redis_prefix: str, tmp_path: Path
) -> None:
    _migrate(pg_url)
    settings = Settings(
        database_url=pg_url,
        cache_url=own_redis.url,
        cache_prefix=redis_prefix,
        outbox_dir=tmp_path / "outbox",
        write_retry_seconds=0.3,
    )
    reports = [
        _completion(i, kind, day=DAY - timedelta(days=i)) for i in range(5) for kind in ReportType
    ]
    phase = "warm"
    answers: dict[str, Counter[str]] = {}
    wrong: list[str] = []
    errors: list[str] = []
    calls = 0
    max_calls = 5000
    stop = asyncio.Event()

    async with _opened(settings) as results:
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
                if not _same_content(response, completion):
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


# -- 2. PostgreSQL: cut off behind a proxy; backends terminated ----------------------------------


def _schema_of(pg_url: str) -> str:
    return pg_url.rsplit("search_path%3D", 1)[1].split("&", 1)[0]


@pytest.mark.slow
async def test_postgres_cut_off_acknowledges_to_the_outbox_and_replay_lands_every_write(
    pg_url: str, tmp_path: Path
) -> None:
    _migrate(pg_url)
    outbox_dir = tmp_path / "outbox"
    with TcpProxy(PG_PORT) as proxy:
        proxied = pg_url.replace(f"{PG_HOST}:{PG_PORT}", f"127.0.0.1:{proxy.port}", 1)
        assert proxied != pg_url
        settings = Settings(database_url=proxied, outbox_dir=outbox_dir, write_retry_seconds=0.3)
        async with _opened(settings) as results:
            cached = _completion(0)
            evicted = _completion(1)
            for completion in (cached, evicted):
                assert (await results.publish(completion)).persisted
            assert results.deps.cache is not None
            await results.deps.cache.delete(keys.report_key(PRE.value, evicted.scheduled_date))
            assert proxy.accepted >= 1

            proxy.down()
            spooled = [_completion(i) for i in range(2, 7)]
            started = time.monotonic()
            for completion in spooled:
                outcome = await results.publish(completion)
                assert (outcome.persisted, outcome.outboxed) == (False, True)
                assert (outbox_dir / f"{completion.run_id}.json").is_file()
            spool_seconds = time.monotonic() - started
            assert results.deps.outbox.depth() == len(spooled)
            assert results.deps.health.is_down

            hit = await results.get_report(PRE, cached.scheduled_date)
            assert _same_content(hit, cached)
            assert hit.source is Source.CACHE
            assert "store_unavailable" in hit.warnings
            not_yet = await results.get_report(PRE, spooled[0].scheduled_date)
            assert _same_content(not_yet, spooled[0])
            assert {"store_unavailable", "not_persisted"} <= set(not_yet.warnings)
            for day in (evicted.scheduled_date, DAY + timedelta(days=1)):
                miss = await results.get_report(PRE, day)
                assert miss.state is ReportState.UNAVAILABLE
                assert not miss.has_content
                assert miss.data is None
                assert "store_unavailable" in miss.warnings

            proxy.up()
            report = await results.replay_outbox()
            assert sorted(c.run_id for c, _ in report.stored) == sorted(c.run_id for c in spooled)
            assert (report.remaining, report.rejected, report.store_unavailable) == (0, {}, False)
            assert results.deps.outbox.depth() == 0
            assert not results.deps.health.is_down
            store = results.deps.store.backend
            for completion in spooled:
                detail = store.get_run(completion.run_id)
                assert detail is not None
                assert detail.run.status is RunStatus.SUCCESS
            back = await results.get_report(PRE, evicted.scheduled_date)
            assert _same_content(back, evicted)
            assert back.source is Source.STORE
            replayed = await results.get_report(PRE, spooled[0].scheduled_date)
            assert _same_content(replayed, spooled[0])
            assert replayed.warnings == ()
            print(
                f"\nproxy: {proxy.accepted} connections, {proxy.severed} severed; "
                f"{len(spooled)} outboxed in {spool_seconds:.2f}s; replayed {len(report.stored)}"
            )


def _terminate(admin: psycopg.Connection, app: str, *, wait: bool) -> int:
    """pg_terminate_backend on OUR store's connections only (found by application_name)."""
    killed = admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = %s AND datname = 'test' AND pid <> pg_backend_pid()",
        (app,),
    ).fetchall()
    deadline = time.monotonic() + 5
    while wait and time.monotonic() < deadline:
        left = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (app,)
        ).fetchone()
        if left is None or left[0] == 0:
            break
        time.sleep(0.01)
    return sum(1 for (ok,) in killed if ok)


@pytest.mark.slow
async def test_postgres_backends_terminated_between_and_during_operations_never_raise(
    pg_url: str, tmp_path: Path
) -> None:
    _migrate(pg_url)
    app = f"mb_faults_{uuid.uuid4().hex[:10]}"
    url = _with_query(pg_url, application_name=app)
    # No cache: every read goes to the store and meets the terminated connections.
    settings = Settings(
        database_url=url,
        outbox_dir=tmp_path / "outbox",
        write_retry_seconds=0.3,
        cache_enabled=False,
    )
    acked: dict[str, Completion] = {}
    routes: Counter[str] = Counter()
    states: Counter[str] = Counter()
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        async with _opened(settings) as results:
            # Between operations: pool_pre_ping replaces the dead connections.
            between_killed = 0
            for i in range(8):
                completion = _completion(i)
                outcome = await results.publish(completion)
                acked[completion.run_id] = completion
                assert outcome.persisted, "pre-ping should have replaced the dead connection"
                between_killed += _terminate(admin, app, wait=True)
                response = await results.get_report(PRE, completion.scheduled_date)
                assert _same_content(response, completion)
                between_killed += _terminate(admin, app, wait=True)
            assert between_killed >= 8

            # During operations: a killer terminates our backends every 2-30 ms.
            stop = threading.Event()
            during_killed = 0

            def killer() -> None:
                nonlocal during_killed
                with psycopg.connect(PG_ADMIN, autocommit=True) as own:
                    while not stop.is_set():
                        during_killed += _terminate(own, app, wait=False)
                        time.sleep(random.uniform(0.002, 0.03))

            thread = threading.Thread(target=killer, name="pg-killer", daemon=True)
            thread.start()
            try:
                for i in range(8, 38):
                    completion = _completion(i)
                    outcome = await results.publish(completion)  # must not raise
                    acked[completion.run_id] = completion
                    routes["persisted" if outcome.persisted else "outboxed"] += 1
                    assert outcome.persisted != outcome.outboxed
                    if outcome.outboxed:
                        assert (settings.outbox_dir / f"{completion.run_id}.json").is_file()
                    response = await results.get_report(PRE, completion.scheduled_date)
                    states[response.state.value] += 1
                    if response.state is ReportState.FRESH:
                        assert response.data == completion.content
                    else:
                        assert not response.has_content
            finally:
                stop.set()
                thread.join(timeout=10)
            assert during_killed >= 1
            assert set(states) <= {
                ReportState.FRESH.value,
                ReportState.UNAVAILABLE.value,
                ReportState.MISSING.value,
            }

            report = await results.replay_outbox()
            assert report.rejected == {}
            assert report.remaining == 0
            assert results.deps.outbox.depth() == 0
            for run_id, completion in acked.items():
                detail = results.deps.store.backend.get_run(run_id)
                assert detail is not None, run_id
                assert detail.snapshot is not None
                assert detail.snapshot.content == completion.content
                response = await results.get_report(PRE, completion.scheduled_date)
                assert _same_content(response, completion)
            print(
                f"\npg terminate: {between_killed} backends killed between ops, "
                f"{during_killed} during; publish routes {dict(routes)}; read states "
                f"{dict(states)}; replayed {len(report.stored)}"
            )


# -- 3. SQLite: the file locked by another connection, the file read-only ------------------------


@pytest.fixture
def short_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> int:
    """A 200 ms busy timeout instead of 5 s, set before any store is created."""
    monkeypatch.setattr(store_engine, "BUSY_TIMEOUT_MS", 200)
    return 200


@pytest.mark.slow
async def test_sqlite_locked_by_another_connection_spools_to_the_outbox_and_replays_after(
    sqlite_url: str, tmp_path: Path, short_busy_timeout: int
) -> None:
    _migrate(sqlite_url)
    path = sqlite_url.removeprefix("sqlite:///")
    settings = Settings(
        database_url=sqlite_url, outbox_dir=tmp_path / "outbox", write_retry_seconds=0.3
    )
    async with _opened(settings) as results:
        before = _completion(0)
        assert (await results.publish(before)).persisted
        assert results.deps.cache is not None
        await results.deps.cache.clear()

        holder = sqlite3.connect(path, isolation_level=None, timeout=0)
        try:
            holder.execute("BEGIN EXCLUSIVE")
            locked_at = time.monotonic()
            spooled = [_completion(i) for i in range(1, 4)]
            for completion in spooled:
                started = time.monotonic()
                outcome = await results.publish(completion)
                assert (outcome.persisted, outcome.outboxed) == (False, True)
                # Bounded: the busy timeout and the retry budget, not a hang.
                assert time.monotonic() - started < 3
                assert (settings.outbox_dir / f"{completion.run_id}.json").is_file()
            # WAL readers are not blocked by the writer's lock: the store still answers reads.
            read = await results.get_report(PRE, before.scheduled_date)
            assert _same_content(read, before)
            held = time.monotonic() - locked_at
            assert held > short_busy_timeout / 1000 + settings.write_retry_seconds
        finally:
            holder.execute("ROLLBACK")
            holder.close()

        report = await results.replay_outbox()
        assert [c.run_id for c, _ in report.stored] == [c.run_id for c in spooled]
        assert results.deps.outbox.depth() == 0
        for completion in spooled:
            assert results.deps.store.backend.get_run(completion.run_id) is not None
            response = await results.get_report(PRE, completion.scheduled_date)
            assert _same_content(response, completion)
            assert "not_persisted" not in response.warnings
        print(
            f"\nsqlite locked {held:.2f}s: {len(spooled)} outboxed, "
            f"{results.deps.counters.commit_retries} commit retries, replayed {len(report.stored)}"
        )


async def test_sqlite_read_only_file_spools_to_the_outbox_and_a_writable_results_replays(
    sqlite_url: str, tmp_path: Path
) -> None:
    _migrate(sqlite_url)
    path = sqlite_url.removeprefix("sqlite:///")
    outbox_dir = tmp_path / "outbox"
    writable = Settings(database_url=sqlite_url, outbox_dir=outbox_dir, write_retry_seconds=0.2)
    before = _completion(0)
    async with _opened(writable) as results:
        assert (await results.publish(before)).persisted

    read_only = dataclasses.replace(
        writable, database_url=f"sqlite:///file:{path}?mode=ro&uri=true"
    )
    spooled = [_completion(i) for i in range(1, 4)]
    async with _opened(read_only) as results:
        for completion in spooled:
            outcome = await results.publish(completion)
            assert (outcome.persisted, outcome.outboxed) == (False, True)
            assert results.deps.store.backend.get_run(completion.run_id) is None
        # Reads still work on a read-only file.
        read = await results.get_report(PRE, before.scheduled_date)
        assert _same_content(read, before)
        assert read.source is Source.STORE
        assert results.deps.outbox.depth() == len(spooled)

    async with _opened(writable) as results:
        report = await results.replay_outbox()
        assert sorted(c.run_id for c, _ in report.stored) == sorted(c.run_id for c in spooled)
        assert results.deps.outbox.depth() == 0
        for completion in spooled:
            detail = results.deps.store.backend.get_run(completion.run_id)
            assert detail is not None
            assert detail.snapshot is not None
            assert detail.snapshot.content == completion.content


# -- 4. A writer killed with SIGKILL in the middle of 1,000 completions ---------------------------

WRITER_COUNT = 1000
WRITER_TIMEOUT = 60.0


def _run_and_kill_writer(url: str, outbox_dir: Path, log: Path) -> tuple[dict[str, str], int]:
    """Run the writer, SIGKILL it after 300-500 acks; return {run_id: route} and kill point."""
    kill_at = random.randint(300, 500)
    acked: dict[str, str] = {}
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.faults_writer",
                "--database-url",
                url,
                "--outbox-dir",
                str(outbox_dir),
                "--count",
                str(WRITER_COUNT),
            ],
            stdout=subprocess.PIPE,
            stderr=stderr,
            cwd=ROOT,
            text=True,
        )
        watchdog = threading.Timer(WRITER_TIMEOUT, process.kill)
        watchdog.start()
        try:
            assert process.stdout is not None
            killed = False
            # Lines printed before the kill are acknowledgements too: read until EOF.
            for line in process.stdout:
                if not line.endswith("\n"):
                    break
                word, run_id, route = line.split()
                assert word == "ack"
                acked[run_id] = route
                if not killed and len(acked) >= kill_at:
                    os.kill(process.pid, signal.SIGKILL)
                    killed = True
            returncode = process.wait(timeout=WRITER_TIMEOUT)
        finally:
            watchdog.cancel()
            if process.poll() is None:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
    assert returncode == -signal.SIGKILL, (returncode, log.read_text()[-2000:])
    assert kill_at <= len(acked) < WRITER_COUNT, "the writer was not killed mid-stream"
    return acked, kill_at


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_writer_killed_with_sigkill_loses_no_acknowledged_completion(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url: str = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url")
    _migrate(url)
    outbox_dir = tmp_path / "outbox"
    acked, kill_at = await asyncio.to_thread(
        _run_and_kill_writer, url, outbox_dir, tmp_path / "writer.log"
    )
    routes = Counter(acked.values())
    assert routes["persisted"] >= 1
    assert routes["outboxed"] >= 1

    oldest = DAY - timedelta(days=40)
    store = SQLStore(url)
    try:
        in_store = {run.run_id for run in store.runs_between(oldest, DAY)}
    finally:
        store.close()
    outbox = Outbox(outbox_dir)
    spooled = {path.stem for path in outbox.pending()}
    leftovers = sorted(p.name for p in outbox_dir.iterdir() if p.name.startswith(".tmp-"))
    for run_id, route in acked.items():
        # Acknowledged means durable: a committed run is in the store, a spooled one on disk.
        where = in_store if route == "persisted" else spooled
        assert run_id in where, (run_id, route)

    settings = Settings(database_url=url, outbox_dir=outbox_dir, write_retry_seconds=0.3)
    async with _opened(settings, cache_enabled=False) as results:
        report = await results.replay_outbox()
        assert report.rejected == {}
        assert report.remaining == 0
        assert results.deps.outbox.depth() == 0
        stored = {run.run_id: run for run in results.deps.store.backend.runs_between(oldest, DAY)}
        missing = sorted(set(acked) - set(stored))
        assert missing == []
        assert all(stored[run_id].status is RunStatus.SUCCESS for run_id in acked)
        # Nothing beyond what the writer started: at most the one in flight at the kill.
        assert len(set(stored) - set(acked)) <= 1
        # The newest acknowledged run is what readers get for its (type, date).
        newest, report_type, day = plan(max(int(run_id[1:5]) for run_id in acked))
        response = await results.get_report(report_type, day)
        assert response.state is ReportState.FRESH
        assert response.run_id == newest

    if backend == "sqlite":
        with sqlite3.connect(url.removeprefix("sqlite:///")) as check:
            assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        check.close()
    print(
        f"\n{backend} writer: SIGKILL at ack {kill_at}, {len(acked)} acknowledged "
        f"({dict(routes)}), {len(spooled)} in the outbox, {len(report.stored)} replayed, "
        f"{len(leftovers)} .tmp leftovers, {len(stored) - len(acked)} unacknowledged in store"
    )


# -- 5. A malformed outbox file; an outbox that cannot be written ---------------------------------


async def test_a_truncated_outbox_file_is_rejected_with_a_reason_and_the_others_replay(
    sqlite_url: str, tmp_path: Path
) -> None:
    _migrate(sqlite_url)
    outbox = Outbox(tmp_path / "outbox")
    completions = [_completion(i) for i in range(4)]
    paths = [outbox.append(c) for c in completions]
    for older, newer in itertools.pairwise(paths):
        assert older.stat().st_mtime_ns <= newer.stat().st_mtime_ns
    bad = paths[1]
    stamp = bad.stat()
    whole = bad.read_bytes()
    truncated = whole[: len(whole) // 2]
    bad.write_bytes(truncated)
    # Keep it second in replay order, so the files after it prove replay goes on.
    os.utime(bad, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert outbox.pending()[1] == bad

    settings = Settings(database_url=sqlite_url, outbox_dir=outbox.directory)
    async with _opened(settings) as results:
        report = await results.replay_outbox()
        good = [c for i, c in enumerate(completions) if i != 1]
        assert [c.run_id for c, _ in report.stored] == [c.run_id for c in good]
        assert list(report.rejected) == [bad.stem]
        assert "unreadable outbox file" in report.rejected[bad.stem]
        assert results.deps.outbox.depth() == 0
        assert results.deps.outbox.rejections() == {bad.stem: report.rejected[bad.stem]}
        kept = outbox.rejected_dir / bad.name
        assert kept.read_bytes() == truncated  # set aside as it was, never dropped
        assert (outbox.rejected_dir / f"{bad.stem}.reason").is_file()
        for completion in good:
            assert results.deps.store.backend.get_run(completion.run_id) is not None
        assert results.deps.store.backend.get_run(completions[1].run_id) is None
        # A second replay finds nothing to do and does not resurrect the rejected file.
        again = await results.replay_outbox()
        assert (again.stored, again.rejected, again.remaining) == ([], {}, 0)


@pytest.mark.parametrize("why", ["store_down", "store_writes_off"])
async def test_publish_raises_outbox_error_when_the_outbox_cannot_be_written_and_the_store_fails(
    why: str, sqlite_url: str, tmp_path: Path
) -> None:
    not_a_dir = tmp_path / "outbox-is-a-file"
    not_a_dir.write_bytes(b"occupied\n")
    if why == "store_down":
        # A read-only open of a file that does not exist: "unable to open database file".
        url = f"sqlite:///file:{tmp_path / 'absent.db'}?mode=ro&uri=true"
        changes: dict[str, object] = {}
    else:
        _migrate(sqlite_url)
        url = sqlite_url
        changes = {"store_writes": False}
    settings = Settings(database_url=url, outbox_dir=not_a_dir, write_retry_seconds=0.2)
    completion = _completion(0)
    async with _opened(settings, **changes) as results:
        with pytest.raises(OutboxError, match="cannot write the outbox"):
            await results.publish(completion)
        assert results.deps.counters.outboxed == 0
        assert not_a_dir.read_bytes() == b"occupied\n"
        # Not acknowledged, so never served as if it existed.
        response = await results.get_report(PRE, completion.scheduled_date)
        assert not response.has_content
        assert response.data is None
        assert response.state in (ReportState.UNAVAILABLE, ReportState.MISSING)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_concurrent_replays_of_one_outbox_store_each_completion_once_and_never_raise(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url: str = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url")
    _migrate(url)
    outbox_dir = tmp_path / "outbox"
    outbox = Outbox(outbox_dir)
    completions = [_completion(i) for i in range(120)]
    for completion in completions:
        outbox.append(completion)
    settings = Settings(database_url=url, outbox_dir=outbox_dir, cache_enabled=False)
    async with _opened(settings) as a, _opened(settings) as b, _opened(settings) as c:
        # Three replayers (own engines, own threads) race over the same files: one may find a
        # file gone, or insert a run another has just inserted. Neither is an error.
        reports = await asyncio.gather(a.replay_outbox(), b.replay_outbox(), c.replay_outbox())
    assert [r.rejected for r in reports] == [{}, {}, {}]
    assert [r.remaining for r in reports] == [0, 0, 0]
    stored = {completion.run_id for r in reports for completion, _ in r.stored}
    assert stored == {completion.run_id for completion in completions}
    assert outbox.depth() == 0
    assert not outbox.rejected_dir.exists() or list(outbox.rejected_dir.iterdir()) == []
    counting = sa.create_engine(url)
    try:
        with counting.connect() as connection:
            runs = connection.execute(sa.text("SELECT count(*) FROM job_executions")).scalar()
            snapshots = connection.execute(
                sa.text("SELECT count(*) FROM scheduled_job_results")
            ).scalar()
            predictions = connection.execute(
                sa.text("SELECT count(*) FROM symbol_predictions")
            ).scalar()
    finally:
        counting.dispose()
    assert (runs, snapshots) == (len(completions), len(completions))
    assert predictions == sum(len(c.predictions) for c in completions)
    print(f"\n{backend} concurrent replay: stored per replayer {[len(r.stored) for r in reports]}")
