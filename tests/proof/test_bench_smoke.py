"""The benchmark suite's building blocks work (no timings are asserted: machines are noisy).

Everything runs in-process and small: seeding a store, the applications the benchmark serves
(ceiling, FastAPI baseline, marketbrief over the seeded store), the completions loop, the
fixed-rate generator against a tiny local HTTP server, wrk's and py-spy's output readers, the
in-process timings and the report. `python -m benchmarks --quick` runs them for real.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest
from benchmarks import (
    completions,
    completions_profile,
    completions_raw,
    load,
    memory,
    openloop,
    profiling,
    report,
    servers,
    static_page,
)
from benchmarks.baseline import create_app as baseline_app
from benchmarks.browser import DashboardResult
from benchmarks.ceiling import make_app as ceiling_app
from benchmarks.completions import CompletionsResult
from benchmarks.config import HISTORY_PATH, Config
from benchmarks.load import WrkResult
from benchmarks.near import NearResult
from benchmarks.openloop import FixedRateResult
from benchmarks.outcome import Outcome
from benchmarks.payloads import REPORT_DAY, SYMBOLS, report_payload
from benchmarks.report_targets import targets
from benchmarks.seed_history import SeedInfo, SeedPlan
from benchmarks.seed_sqlite import seed_sqlite

from marketbrief.config import Settings
from marketbrief.models import ReportType, RunStatus
from marketbrief.store.base import HistoryQuery
from marketbrief.store.sql import SQLStore
from marketbrief.web.app import create_app

PLAN = SeedPlan(runs=3_000, days=120, snapshot_days=10)
REPORT = f"/api/v1/reports/pre-market?date={REPORT_DAY.isoformat()}"
WRK_OUTPUT = """\
Running 8s test @ http://127.0.0.1:41234/api/v1/jobs/history?limit=50
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    46.10ms    9.55ms 120.00ms   80.00%
    Req/Sec   694.10     50.00   800.00     70.00%
  Latency Distribution
     50%   43.57ms
     75%   50.13ms
     90%   65.20ms
     99%    1.02s
  5553 requests in 8.00s, 116.57MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:    694.12
Transfer/sec:     14.57MB
"""
PY_SPY_RAW = """\
<module> (marketbrief:6);run (uvicorn/main.py:632);Reader.get_report (marketbrief/reader.py:45) 30
<module> (marketbrief:6);run (uvicorn/main.py:632);send (h11/_connection.py:538) 50
<module> (marketbrief:6);emit (logging/__init__.py:1113) 20
"""


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A small seeded SQLite store, shared by the tests that only read it."""
    path = tmp_path_factory.mktemp("bench") / "history.db"
    info = seed_sqlite(path, PLAN)
    assert info.runs == PLAN.runs
    assert info.snapshots == PLAN.snapshot_days * 4
    return f"sqlite:///{path}"


def test_the_quick_mode_is_small() -> None:
    quick, full = Config.smoke(), Config()
    assert quick.quick
    assert quick.history_runs < full.history_runs
    assert quick.reps == 1
    assert full.reps >= 3


def test_payload_is_a_20_kb_report() -> None:
    body = report_payload("pre-market", REPORT_DAY)
    assert 19_000 <= len(body) <= 21_000
    parsed = orjson.loads(body)
    assert parsed["business_date"] == REPORT_DAY.isoformat()
    assert set(parsed["symbols"]) == set(SYMBOLS)
    assert "accuracy" in orjson.loads(report_payload("end-of-day", REPORT_DAY))


def test_a_seeded_store_is_what_marketbrief_reads(seeded: str) -> None:
    store = SQLStore(seeded)
    try:
        assert store.verify().ok
        page = store.history(HistoryQuery(limit=50))
        assert [run.id for run in page.runs] == list(range(PLAN.runs, PLAN.runs - 50, -1))
        assert page.next_cursor is not None
        assert {run.status for run in store.history(HistoryQuery(limit=500)).runs} == {
            RunStatus.SUCCESS,
            RunStatus.PARTIAL,
            RunStatus.FAILED,
        }
        snapshot = store.latest_snapshot(ReportType.PRE_MARKET, REPORT_DAY)
        assert snapshot is not None
        assert snapshot.content == report_payload("pre-market", REPORT_DAY)
        assert store.revision() == 1
    finally:
        store.close()


def test_the_completions_loop_commits_whole_runs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'writes.db'}"
    result = completions.measure(url, 0.2, warmup=2)
    assert result.completions > 0
    assert result.per_second > 0
    assert result.cpu_us > 0
    assert result.payload_bytes > 19_000
    store = SQLStore(url)
    try:
        newest = store.history(HistoryQuery(limit=1)).runs[0]
        detail = store.get_run(newest.run_id)
        assert detail is not None
        assert detail.snapshot is not None
        assert len(detail.predictions) == 6
    finally:
        store.close()
    assert completions.fsync_floor(tmp_path, count=3) > 0


def _table_counts(path: Path) -> dict[str, int]:
    import sqlite3

    connection = sqlite3.connect(path)
    try:
        return {
            table: int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
            for table in ("job_executions", "scheduled_job_results", "symbol_predictions")
        }
    finally:
        connection.close()


def test_the_raw_replay_writes_what_finish_run_writes(tmp_path: Path) -> None:
    path = tmp_path / "raw.db"
    statements, version, prefix = completions_raw.record(f"sqlite:///{path}", warmup=2)
    before = _table_counts(path)
    assert before == {"job_executions": 3, "scheduled_job_results": 3, "symbol_predictions": 18}
    connection = completions_raw.connect(str(path))
    try:
        for n in range(1, 4):
            completions_raw.replay(connection, statements, f"{prefix}replay{n}", version + n)
    finally:
        connection.close()
    assert _table_counts(path) == {
        "job_executions": 6,
        "scheduled_job_results": 6,
        "symbol_predictions": 36,
    }
    store = SQLStore(f"sqlite:///{path}")
    try:
        detail = store.get_run(f"{prefix}replay3")
        assert detail is not None
        assert detail.snapshot is not None
        assert detail.snapshot.content == report_payload("pre-market", REPORT_DAY)
        assert len(detail.predictions) == 6
        report_type = detail.snapshot.report_type
        latest = store.latest_snapshot(report_type, REPORT_DAY)
        assert latest is not None
        assert latest.run_id == f"{prefix}replay3"
    finally:
        store.close()


def test_the_raw_limit_is_measured(tmp_path: Path) -> None:
    result = completions_raw.measure(str(tmp_path / "raw.db"), 0.2, warmup=2)
    assert result.completions > 0
    assert result.payload_bytes == len(report_payload("pre-market", REPORT_DAY))


def test_finish_run_is_profiled_by_group(tmp_path: Path) -> None:
    profile = completions_profile.measure(f"sqlite:///{tmp_path / 'p.db'}", 0.2, warmup=2)
    groups = dict(profile.groups)
    assert set(groups) == set(completions_profile.GROUP_ORDER)
    assert groups[completions_profile.COMMIT] > 0
    assert groups[completions_profile.EXECUTION] > 0
    assert profile.completions > 0


def test_a_server_reads_its_own_resident_memory() -> None:
    import os

    assert memory.worker_rss_mb(os.getpid()) > 1


async def test_the_ceiling_returns_its_body() -> None:
    body = b'{"data":{"x":1},"meta":{}}'
    transport = httpx.ASGITransport(app=ceiling_app(body))
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        answer = await client.get(REPORT)
        assert answer.status_code == 200
        assert answer.content == body
        assert (await client.get("/healthz")).status_code == 200


async def test_the_static_copy_serves_the_saved_page(tmp_path: Path) -> None:
    html = b"<!doctype html><link rel=stylesheet href=/static/style.css><p>x</p>"
    directory = static_page.save(tmp_path / "copy", html, {"/static/style.css": b"p{}"})
    transport = httpx.ASGITransport(app=static_page.make_app(directory))
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        page = await client.get("/")
        sheet = await client.get("/static/style.css")
        missing = await client.get("/nothing")
    assert (page.content, page.headers["content-type"]) == (html, "text/html; charset=utf-8")
    assert sheet.headers["content-type"].startswith("text/css")
    assert missing.status_code == 404


async def test_the_baseline_reads_the_same_store(seeded: str) -> None:
    transport = httpx.ASGITransport(app=baseline_app(seeded))
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        answer = await client.get(REPORT)
    assert answer.status_code == 200
    assert answer.json()["data"] == orjson.loads(report_payload("pre-market", REPORT_DAY))


@contextlib.asynccontextmanager
async def _marketbrief(
    database_url: str, work: Path, *, cache: bool
) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        database_url=database_url,
        outbox_dir=work / "outbox",
        scheduler_enabled=False,
        cache_enabled=cache,
    )
    app = create_app(settings, scheduler=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            yield client


@pytest.mark.parametrize(("cache", "source"), [(True, "cache"), (False, "store")])
async def test_marketbrief_serves_the_seeded_report(
    seeded: str, tmp_path: Path, cache: bool, source: str
) -> None:
    async with _marketbrief(seeded, tmp_path, cache=cache) as client:
        await client.get(REPORT)  # the first read warms the cache
        answer = await client.get(REPORT)
        history = await client.get(HISTORY_PATH)
    assert answer.status_code == 200
    meta = answer.json()["meta"]
    assert (meta["state"], meta["source"]) == ("fresh", source)
    assert answer.json()["data"] == orjson.loads(report_payload("pre-market", REPORT_DAY))
    assert history.status_code == 200
    assert history.json()["count"] == 50


async def _serve(body: bytes, chunked: bool, served: list[int] | None = None) -> asyncio.Server:
    """A loopback HTTP server; `served` gets one count per connection of the requests it had."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        slot = 0
        if served is not None:
            slot = len(served)
            served.append(0)
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                if served is not None:
                    served[slot] += 1
                if chunked:
                    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    framed = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
                    writer.write(head + framed)
                else:
                    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                    writer.write(head + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def _offer_200_per_second(chunked: bool, served: list[int] | None = None) -> FixedRateResult:
    """0.1 s of warm-up and 0.3 s measured at 200 requests/s over 4 connections, to `_serve`."""
    server = await _serve(b'{"ok":true}', chunked, served)
    port = server.sockets[0].getsockname()[1]
    try:
        return await openloop.fixed_rate(
            f"http://127.0.0.1:{port}/x?y=1", 200, 0.3, connections=4, warmup=0.1
        )
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("chunked", [False, True])
async def test_the_fixed_rate_generator_answers_for_every_request(chunked: bool) -> None:
    result = await _offer_200_per_second(chunked)
    assert result.ok, result
    assert result.scheduled == result.completed == 60
    assert result.bytes_per_response == len(b'{"ok":true}')
    assert set(result.latency_ms) == {"p50", "p90", "p95", "p99", "p99.9", "max"}
    assert set(result.dispatch_lag_ms) == {"p50", "p99", "max"}
    assert FixedRateResult(**result.as_dict()) == result


async def test_the_fixed_rate_generator_takes_its_connections_in_turn() -> None:
    # In turn, not last-freed first: a connection left idle at the bottom of a stack would
    # outlive the server's keep-alive timeout and be closed under it (a lost request).
    served: list[int] = []
    result = await _offer_200_per_second(False, served)
    assert result.ok, result
    assert len(served) == 4
    assert sum(served) == 80
    assert min(served) > 0
    assert max(served) <= 40, served


def test_a_generator_behind_its_timetable_is_told_apart() -> None:
    on_time = FixedRateResult(rate=2000, seconds=1, achieved_rate=1990)
    on_time.dispatch_lag_ms = {"p50": 0.1, "p99": 1.5, "max": 3.0}
    behind = FixedRateResult(rate=2000, seconds=1, achieved_rate=1500)
    behind.dispatch_lag_ms = {"p50": 4.0, "p99": 9.0, "max": 20.0}
    assert on_time.generator_kept_up
    assert on_time.reached_rate
    assert not behind.generator_kept_up
    assert not behind.reached_rate


def test_wrk_output_is_read() -> None:
    result = load.parse_wrk(WRK_OUTPUT)
    assert result.requests_per_second == 694.12
    assert result.requests == 5553
    assert result.latency_ms == {"p50": 43.57, "p75": 50.13, "p90": 65.2, "p99": 1020.0}
    assert (result.non_2xx, result.socket_errors) == (4, 3)
    assert not result.ok


def test_the_rotation_script_names_every_path(tmp_path: Path) -> None:
    script = load.rotation_script(["/a?date=1", "/b"], tmp_path / "r.lua").read_text()
    assert '"/a?date=1",\n  "/b"' in script
    assert "request = function()" in script
    with pytest.raises(ValueError, match="quotes"):
        load.rotation_script(['/"'], tmp_path / "bad.lua")


def test_py_spy_samples_are_summarized() -> None:
    summary = profiling.summarize("cached", PY_SPY_RAW)
    assert summary.samples == 100
    assert dict(summary.groups) == {
        "uvicorn (HTTP)": 50.0,
        "marketbrief": 30.0,
        "logging": 20.0,
    }
    assert ("Reader.get_report", 30.0) in summary.focus


def test_in_process_timings_run(seeded: str, tmp_path: Path) -> None:
    timings = profiling.in_process(seeded, REPORT_DAY, 5, tmp_path)
    assert timings.cached_report_us > 0
    assert timings.store_report_us > 0
    assert timings.app_history_us > 0
    assert timings.history_store_us > 0
    assert timings.app_store_report_us > 0
    assert timings.early_report_us > 0  # a repeated report was answered by `answer_now`
    assert timings.store_read_us > 0
    assert timings.raw_read_us > 0


def _wrk(rps: float) -> WrkResult:
    return WrkResult(rps, int(rps * 8), 8.0, {"p50": 1.0, "p99": 2.0}, 0, 0, "1MB")


def _fixed(p95: float, p99: float, *, lag: float = 0.5) -> FixedRateResult:
    result = FixedRateResult(rate=2000, seconds=2, scheduled=4000, completed=4000)
    result.achieved_rate = 1995
    result.latency_ms = {"p50": 1.0, "p90": 2.0, "p95": p95, "p99": p99, "p99.9": 50, "max": 60}
    result.send_lag_ms = {"p50": 0.1, "p99": lag}
    result.dispatch_lag_ms = {"p50": 0.1, "p99": lag, "max": lag * 2}
    return result


def _outcome() -> Outcome:
    config = Config.smoke()
    outcome = Outcome(config=config, command="python -m benchmarks --quick")
    outcome.finished = outcome.started + 60
    outcome.machine = {"nproc": "2", "CPU model": "test"}
    outcome.seeds["sqlite"] = SeedInfo(runs=10, snapshots=4, seconds=0.1)
    for key, rps in {
        "ceiling": 8000,
        "ceiling_fastest": 9000,
        "baseline": 1000,
        "cached": 6000,
        "cache_off": 1500,
        "pg_cached": 5000,
        "history_sqlite": 3000,
        "history_pg": 1500,
    }.items():
        outcome.throughput[key] = [_wrk(rps)]
    outcome.fixed_rate, outcome.fixed_bare = 2250, "ceiling_fastest"
    outcome.fixed["bare"] = [_fixed(2.0, 4.0)]
    outcome.fixed["history_sqlite"] = [_fixed(5.0, 12.0)]
    outcome.fixed["history_pg"] = [_fixed(30.0, 80.0)]
    outcome.fixed["cached"] = [_fixed(2.5, 5.0)]
    outcome.completions["sqlite"] = [CompletionsResult(600, 1.0, 600.0, {"p50": 1, "p99": 2})]
    outcome.completions["sqlite_raw"] = [CompletionsResult(900, 1.0, 900.0, {"p50": 1, "p99": 2})]
    outcome.completion_profile = completions_profile.CompletionProfile(
        completions=10, wall_us=3000, groups=[(completions_profile.COMMIT, 1000.0)]
    )
    outcome.dashboard = DashboardResult(loads=3, dcl_ms=[90.0, 80.0, 70.0], ttfb_ms=[1, 2, 3])
    outcome.dashboard.load_ms = [1.0, 2.0, 3.0]
    outcome.static_page = DashboardResult(loads=3, dcl_ms=[30.0, 20.0, 10.0], ttfb_ms=[1, 1, 1])
    outcome.static_page.load_ms = [1.0, 2.0, 3.0]
    outcome.rss_mb = {"cached": 90.0, "dashboard": 160.0}
    outcome.near = NearResult(3, staleness_s=[0.4, 0.9, 0.7], hit_ratio=[0.98, 0.97, 0.99])
    outcome.profiles["cached"] = profiling.summarize("cached report", PY_SPY_RAW)
    return outcome


def test_the_report_states_every_target(tmp_path: Path) -> None:
    outcome = _outcome()
    verdicts = {t.name.split(":")[0].split(" ≥")[0].split(" ≤")[0]: t.met for t in targets(outcome)}
    assert verdicts == {
        "cached report, embedded, as shipped": True,  # 6000 / 9000
        "cached report, scaled out (PostgreSQL + Redis)": False,  # 5000 / 6000
        "cache off (every request from SQLite)": False,  # 1500 / 9000
        "history (limit 50), 20,000 runs, embedded (SQLite + memory cache), at 2,250 req/s "
        "(25% of the bare ceiling)": True,  # 2.5x and 3x
        "history (limit 50), 20,000 runs, scaled out (PostgreSQL + Redis), at 2,250 req/s "
        "(25% of the bare ceiling)": False,  # 15x and 20x
        "run completions on SQLite (synchronous=FULL)": True,  # 600 / 900
        "dashboard `/` with 5,000 runs": True,  # 75 / 15 = 5x
        "RSS per worker after the benchmark": False,  # 160 MB
        "near cache": True,  # worst 900 ms
    }
    written = report.write(outcome, tmp_path / "performance.md").read_text()
    assert "## Targets" in written
    assert "Quick smoke run" in written
    assert "**not met**" in written
    assert "### Reading the misses" in written
    assert "## At a fixed offered rate (open loop): 2,250 requests/s" in written
    assert "## Memory per worker" in written
    assert "| 3 | 700 ms | 900 ms | 1,000 ms | 98.0 %, 97.0 %, 99.0 % |" in written
    assert "python -m benchmarks --quick" in written


def test_a_generator_that_fell_behind_gives_no_number() -> None:
    outcome = _outcome()
    outcome.fixed["bare"] = [_fixed(2.0, 4.0, lag=25.0)]
    history = [t for t in targets(outcome) if t.name.startswith("history")]
    assert [t.met for t in history] == [None, None]
    assert all(t.unmeasured == "generator could not keep up" for t in history)
    assert "dispatch lag p99 25.0 ms" in history[0].measured


def test_rounds_where_the_generator_fell_behind_are_left_out() -> None:
    outcome = _outcome()
    outcome.fixed["bare"] = [_fixed(2.0, 4.0, lag=25.0), _fixed(2.0, 4.0)]
    outcome.fixed["history_sqlite"] = [_fixed(100.0, 200.0), _fixed(5.0, 12.0)]
    history = next(t for t in targets(outcome) if t.name.startswith("history"))
    assert history.met is True
    assert "1 of 2 rounds" in history.measured


def test_a_metric_is_read_summed_over_its_labels_and_by_its_exact_name() -> None:
    text = (
        "# HELP marketbrief_reports_served_total Report answers by state.\n"
        'marketbrief_reports_served_total{state="fresh"} 7.0\n'
        'marketbrief_reports_served_total{state="stale"} 2.0\n'
        "marketbrief_cache_hits_total 40.0\n"
        "marketbrief_cache_hits_created 1.7e9\n"
        "marketbrief_near_cache_hits_total 30.0\n"
    )
    assert servers.metric(text, "marketbrief_reports_served_total") == 9.0
    assert servers.metric(text, "marketbrief_cache_hits") == 40.0
    assert servers.metric(text, "marketbrief_near_cache_hits") == 30.0
    assert servers.metric(text, "marketbrief_absent") == 0.0
