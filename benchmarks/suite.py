"""The whole benchmark run: seed, start every server, measure interleaved, profile, clean up."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from statistics import median
from typing import Any

from benchmarks import browser, completions, load, profiling, seed, servers
from benchmarks.load import FixedRateResult, WrkResult
from benchmarks.seed import REPORT_DAY, PgSchema, SeedInfo, SeedPlan
from marketbrief.calendar import business_date, utc_now

REPORT_PATH = f"/api/v1/reports/pre-market?date={REPORT_DAY.isoformat()}"
HISTORY_PATH = "/api/v1/jobs/history?limit=50"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379

# (key, label) of every closed-loop measurement, in the order each round runs them.
THROUGHPUT = (
    ("ceiling", "ceiling: bare ASGI app, same uvicorn, same pre-serialized body"),
    ("baseline", "baseline: FastAPI + SQLAlchemy ORM query + json.loads, same SQLite store"),
    ("cached", "marketbrief cached report, embedded (SQLite + memory cache)"),
    ("cache_off", "marketbrief report with MARKETBRIEF_CACHE=off (SQLite)"),
    ("pg_cached", "marketbrief cached report, scaled out (PostgreSQL + Redis)"),
    ("history_sqlite", "marketbrief job history (limit=50), SQLite"),
    ("history_pg", "marketbrief job history (limit=50), PostgreSQL + Redis"),
)
FIXED_RATE = (
    ("history_sqlite", "job history, embedded (SQLite + memory cache)"),
    ("history_pg", "job history, scaled out (PostgreSQL + Redis)"),
)


@dataclass(frozen=True, slots=True)
class Config:
    """Counts and durations of one run; `quick()` is the smoke run."""

    quick: bool = False
    history_runs: int = 1_000_000
    dashboard_runs: int = 100_000
    reps: int = 5
    throughput_seconds: float = 5.0
    warmup_seconds: float = 2.0
    fixed_rate: float = 1000.0
    fixed_seconds: float = 10.0
    fixed_reps: int = 5
    # One more open-loop run per mode at this fraction of the closed-loop maximum: the latency
    # of the endpoint when it is not overloaded.
    relaxed_fraction: float = 0.5
    relaxed_seconds: float = 10.0
    completion_seconds: float = 3.0
    dashboard_loads: int = 10
    profile_seconds: float = 6.0
    in_process_calls: int = 2000
    cache_dir: Path = Path(".bench-cache")

    @classmethod
    def smoke(cls, cache_dir: Path = Path(".bench-cache")) -> Config:
        """Small counts and short runs: proves every part works, measures nothing precisely."""
        return cls(
            quick=True,
            history_runs=20_000,
            dashboard_runs=5_000,
            reps=1,
            throughput_seconds=2.0,
            warmup_seconds=1.0,
            fixed_rate=200.0,
            fixed_seconds=2.0,
            fixed_reps=1,
            relaxed_seconds=2.0,
            completion_seconds=0.5,
            dashboard_loads=3,
            profile_seconds=2.0,
            in_process_calls=200,
            cache_dir=cache_dir,
        )


@dataclass
class Outcome:
    """Everything measured, for the report."""

    config: Config
    command: str
    started: float = field(default_factory=time.time)
    finished: float = 0.0
    machine: dict[str, str] = field(default_factory=dict)
    seeds: dict[str, SeedInfo] = field(default_factory=dict)
    throughput: dict[str, list[WrkResult]] = field(default_factory=dict)
    response_bytes: dict[str, int] = field(default_factory=dict)
    store_reads_per_request: dict[str, float] = field(default_factory=dict)
    fixed: dict[str, list[FixedRateResult]] = field(default_factory=dict)
    relaxed: dict[str, FixedRateResult] = field(default_factory=dict)
    completions: dict[str, list[completions.CompletionsResult]] = field(default_factory=dict)
    dashboard: browser.DashboardResult | None = None
    dashboard_runs_in_window: int = 0
    report_dates: int = 0
    fsync_floor_us: float = 0.0
    profiles: dict[str, profiling.ProfileSummary] = field(default_factory=dict)
    in_process: profiling.InProcess | None = None
    skipped: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    # CPU cores used by everything but the server under test and the load generator, per
    # measurement: the shared machine's noise (PostgreSQL and Redis count here too).
    other_cpu: dict[str, list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def log(message: str) -> None:
    """Progress on stderr."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def phase(outcome: Outcome, name: str, *, optional: bool = False) -> Iterator[None]:
    """Time a phase of the run (reported, so the 15-minute budget is visible).

    An optional phase that fails is recorded in `outcome.failures` (and in the report) and the
    run goes on, so one broken part does not throw away every other measurement.
    """
    log(f"{name} ...")
    began = time.perf_counter()
    try:
        yield
    except Exception as error:
        if not optional:
            raise
        outcome.failures[name] = f"{type(error).__name__}: {error}"
        log(f"{name} FAILED: {outcome.failures[name]}")
    finally:
        outcome.timings[name] = time.perf_counter() - began
        log(f"{name} took {outcome.timings[name]:.1f} s")


class Meter:
    """How many CPU cores everything else used while one measurement ran.

    Busy time of the whole machine (/proc/stat, steal included) minus the server's own CPU time
    (/proc/PID/stat) minus the CPU time of the children waited for meanwhile (the load
    generator), divided by the wall time.
    """

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.other_cores = float("nan")
        self._start: tuple[float, float, float, float] | None = None

    @staticmethod
    def _busy_seconds() -> float:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
        return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")

    def _server_seconds(self) -> float:
        text = Path(f"/proc/{self.server_pid}/stat").read_text()
        fields = text.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _children_seconds() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    def __enter__(self) -> Meter:
        try:
            self._start = (
                time.perf_counter(),
                self._busy_seconds(),
                self._server_seconds(),
                self._children_seconds(),
            )
        except (OSError, ValueError, IndexError):
            self._start = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._start is None or exc[0] is not None:
            return
        try:
            wall = time.perf_counter() - self._start[0]
            busy = self._busy_seconds() - self._start[1]
            server = self._server_seconds() - self._start[2]
            children = self._children_seconds() - self._start[3]
        except (OSError, ValueError, IndexError):
            return
        self.other_cores = max(0.0, (busy - server - children) / wall) if wall > 0 else 0.0


# -- machine facts -----------------------------------------------------------------------------


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _first_line(command: list[str]) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
        text = (done.stdout or done.stderr).strip()
        return text.splitlines()[0] if text else "unknown"
    return "unknown"


def machine_facts() -> dict[str, str]:
    """What this was measured on."""
    memory = "unknown"
    with contextlib.suppress(OSError):
        match = re.search(r"MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text())
        if match:
            memory = f"{int(match[1]) / 1024 / 1024:.1f} GiB"
    os_name = "unknown"
    with contextlib.suppress(OSError):
        match = re.search(r'PRETTY_NAME="([^"]+)"', Path("/etc/os-release").read_text())
        if match:
            os_name = match[1]
    wrk = shutil.which("wrk")
    return {
        "nproc": _first_line(["nproc"]),
        "CPU model": _cpu_model(),
        "memory": memory,
        "OS": os_name,
        "kernel": platform.release(),
        "Python": platform.python_version(),
        "uvicorn": _version("uvicorn"),
        "h11": _version("h11"),
        "httptools / uvloop": f"{_version('httptools')} / {_version('uvloop')}",
        "starlette": _version("starlette"),
        "fastapi": _version("fastapi"),
        "SQLAlchemy": _version("sqlalchemy"),
        "orjson": _version("orjson"),
        "psycopg": _version("psycopg"),
        "redis (client)": _version("redis"),
        "SQLite": sqlite3.sqlite_version,
        "wrk": _first_line([wrk, "--version"]).split(" [")[0] if wrk else "not installed",
        "py-spy": _first_line([profiling.py_spy() or "py-spy", "--version"]),
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def _server_versions(outcome: Outcome, pg: PgSchema | None, redis_ok: bool) -> None:
    if pg is not None:
        import psycopg

        with psycopg.connect(pg.admin_conninfo) as connection:
            row = connection.execute("SHOW server_version").fetchone()
            outcome.machine["PostgreSQL (server)"] = str(row[0]) if row else "unknown"
    if redis_ok:
        import redis

        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT)
        try:
            outcome.machine["Redis (server)"] = str(client.info("server")["redis_version"])
        finally:
            client.close()


# -- shared backends ------------------------------------------------------------------------


def redis_answers() -> bool:
    """Whether the shared Redis server answers PING."""
    try:
        import redis

        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def drop_redis_prefix(prefix: str) -> int:
    """Delete every key under our private prefix (never anything else); return how many."""
    import redis

    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
        return len(keys)
    finally:
        client.close()


# -- measurements -------------------------------------------------------------------------------


def _metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _report_counters(server: servers.Server) -> tuple[float, float]:
    """(store report reads, report answers) so far, from the server's /metrics."""
    status, body = servers.fetch(server.url + "/metrics", timeout=120)
    if status != 200:
        return 0.0, 0.0
    text = body.decode()
    return (
        _metric(text, "marketbrief_store_report_reads_total"),
        _metric(text, "marketbrief_reports_served_total"),
    )


def _check_response(name: str, url: str, expect_source: str | None) -> int:
    status, body = servers.fetch(url)
    if status != 200:
        raise RuntimeError(f"{name}: {url} answered {status}: {body[:300]!r}")
    if expect_source is not None:
        import orjson

        meta = orjson.loads(body)["meta"]
        if meta["state"] != "fresh" or meta["source"] != expect_source:
            raise RuntimeError(f"{name}: expected a fresh answer from {expect_source}, got {meta}")
    return len(body)


def run(config: Config, command: str) -> Outcome:
    """Measure everything `config` asks for; every server, schema and key is removed after."""
    outcome = Outcome(config=config, command=command)
    load.ensure_wrk()
    outcome.machine = machine_facts()
    cleanups: list[Callable[[], Any]] = []
    work = Path(tempfile.mkdtemp(prefix="mbbench-"))
    cleanups.append(lambda: shutil.rmtree(work, ignore_errors=True))
    try:
        _run(config, outcome, work, cleanups)
    finally:
        for cleanup in reversed(cleanups):
            try:
                cleanup()
            except Exception as error:  # keep cleaning up the rest
                log(f"cleanup failed: {error!r}")
    outcome.machine["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    outcome.finished = time.time()
    return outcome


def _run(config: Config, outcome: Outcome, work: Path, cleanups: list[Callable[[], Any]]) -> None:
    pg_ok = seed.postgres_answers()
    redis_ok = redis_answers()
    scaled = pg_ok and redis_ok
    if not scaled:
        reason = (
            "PostgreSQL does not answer at 127.0.0.1:5432"
            if not pg_ok
            else "Redis does not answer at 127.0.0.1:6379"
        )
        outcome.skipped["scaled-out mode"] = reason
    pg: PgSchema | None = None
    prefix = f"mbbench:{uuid.uuid4().hex[:10]}:"
    history_plan = SeedPlan(config.history_runs)
    with phase(outcome, "seed SQLite history store"):
        outcome.seeds["sqlite"] = seed.cached_sqlite(config.cache_dir.resolve(), history_plan)
    sqlite_url = f"sqlite:///{outcome.seeds['sqlite'].path}"
    if scaled:
        with phase(outcome, "seed PostgreSQL history store"):
            pg = PgSchema.create("read")
            cleanups.append(pg.drop)
            outcome.seeds["postgresql"] = seed.seed_postgres(pg, history_plan)
        cleanups.append(lambda: drop_redis_prefix(prefix))
    _server_versions(outcome, pg, redis_ok)

    logs = work / "logs"
    logs.mkdir()
    started: list[servers.Server] = []

    def stop_all() -> None:
        for server in started:
            server.stop()

    cleanups.append(stop_all)

    def start(server: servers.Server) -> servers.Server:
        server.start()
        started.append(server)
        return server

    with phase(outcome, "start servers"):
        by_key: dict[str, servers.Server] = {}
        by_key["cached"] = start(servers.marketbrief("cached", logs, database_url=sqlite_url))
        by_key["cache_off"] = start(
            servers.marketbrief("cache_off", logs, database_url=sqlite_url, cache=False)
        )
        by_key["baseline"] = start(servers.baseline(sqlite_url, logs))
        if scaled and pg is not None:
            by_key["pg_cached"] = start(
                servers.marketbrief(
                    "pg_cached",
                    logs,
                    database_url=pg.url,
                    cache_url=f"redis://{REDIS_HOST}:{REDIS_PORT}/0",
                    cache_prefix=prefix,
                )
            )
        for server in started:
            server.wait_ready()
        # The ceiling serves the very bytes marketbrief serves for this report.
        status, body = servers.fetch(by_key["cached"].url + REPORT_PATH)
        if status != 200:
            raise RuntimeError(f"marketbrief answered {status} for {REPORT_PATH}")
        body_file = work / "body.json"
        body_file.write_bytes(body)
        by_key["ceiling"] = start(servers.ceiling(body_file, logs))
        by_key["ceiling"].wait_ready()
        by_key["history_sqlite"] = by_key["cached"]
        if "pg_cached" in by_key:
            by_key["history_pg"] = by_key["pg_cached"]

    # Report requests go round the dates that have a pre-market report, one date per request,
    # so with the cache off concurrent requests rarely share a store read (single-flight).
    report_paths = [f"/api/v1/reports/pre-market?date={d}" for d in _report_dates(sqlite_url)]
    rotation = load.rotation_script(report_paths, work / "reports.lua")
    urls = {
        key: by_key[key].url + (HISTORY_PATH if key.startswith("history") else report_paths[0])
        for key, _ in THROUGHPUT
        if key in by_key
    }
    scripts = {key: None if key.startswith("history") else rotation for key in urls}
    outcome.report_dates = len(report_paths)
    for key, _ in THROUGHPUT:
        if key not in by_key:
            outcome.skipped.setdefault(key, outcome.skipped.get("scaled-out mode", "not run"))

    with phase(outcome, "check answers and warm up"):
        for key, url in urls.items():
            load.run_wrk(url, config.warmup_seconds, script=scripts[key])
        sources = {"cached": "cache", "cache_off": "store", "pg_cached": "cache"}
        for key, url in urls.items():
            outcome.response_bytes[key] = _check_response(key, url, sources.get(key))
        counters_before = {
            key: _report_counters(by_key[key])
            for key in ("cached", "cache_off", "pg_cached")
            if key in by_key
        }

    with phase(outcome, "throughput rounds (closed loop, wrk)"):
        for rep in range(config.reps):
            for key, _label in THROUGHPUT:
                if key not in urls:
                    continue
                with Meter(by_key[key].pid) as meter:
                    result = load.run_wrk(urls[key], config.throughput_seconds, script=scripts[key])
                outcome.other_cpu.setdefault(key, []).append(meter.other_cores)
                if not result.ok:
                    raise RuntimeError(f"{key}: wrk saw errors: {result}")
                outcome.throughput.setdefault(key, []).append(result)
                log(f"  round {rep + 1} {key}: {result.requests_per_second:,.0f} req/s")
        for key, (reads0, served0) in counters_before.items():
            reads1, served1 = _report_counters(by_key[key])
            if served1 > served0:
                outcome.store_reads_per_request[key] = (reads1 - reads0) / (served1 - served0)

    with phase(outcome, "history at a fixed rate (open loop)", optional=True):
        for rep in range(config.fixed_reps):
            for key, _label in FIXED_RATE:
                if key not in urls:
                    continue
                with Meter(by_key[key].pid) as meter:
                    fixed = load.run_fixed_rate(urls[key], config.fixed_rate, config.fixed_seconds)
                outcome.fixed.setdefault(key, []).append(fixed)
                outcome.other_cpu.setdefault(f"fixed:{key}", []).append(meter.other_cores)
                log(
                    f"  round {rep + 1} {key}: p95 {fixed.latency_ms['p95']:.2f} ms, "
                    f"errors {fixed.errors or 0}"
                )
        for key, _label in FIXED_RATE:
            closed = [r.requests_per_second for r in outcome.throughput.get(key, [])]
            if key not in urls or not closed:
                continue
            rate = max(10.0, round(median(closed) * config.relaxed_fraction / 10) * 10)
            if rate >= config.fixed_rate:
                continue  # the fixed rate is already well within what the endpoint serves
            relaxed = load.run_fixed_rate(urls[key], rate, config.relaxed_seconds)
            outcome.relaxed[key] = relaxed
            log(f"  {key} at {rate:,.0f} req/s: p95 {relaxed.latency_ms['p95']:.2f} ms")

    with phase(outcome, "profiles (py-spy)", optional=True):
        if profiling.py_spy() is None:
            outcome.skipped["py-spy profiles"] = "py-spy is not installed"
        else:
            for key, label in (
                ("cached", "cached report, embedded"),
                ("cache_off", "report with MARKETBRIEF_CACHE=off"),
                ("history_sqlite", "job history, SQLite"),
            ):
                raw = work / f"profile-{key}.txt"
                with profiling.recording(by_key[key].pid, config.profile_seconds, raw):
                    load.run_wrk(urls[key], config.profile_seconds + 1, script=scripts[key])
                if raw.exists():
                    outcome.profiles[key] = profiling.summarize(label, raw.read_text())

    for server in list(started):
        server.stop()
    started.clear()

    with phase(outcome, "run completions (in-process finish_run loop)", optional=True):
        targets = {"sqlite": f"sqlite:///{work / 'completions.db'}"}
        if pg_ok:
            write_schema = PgSchema.create("write")
            cleanups.append(write_schema.drop)
            targets["postgresql"] = write_schema.url
        else:
            outcome.skipped["completions on PostgreSQL"] = "PostgreSQL does not answer"
        outcome.fsync_floor_us = completions.fsync_floor(work)
        for rep in range(config.reps):
            for key, url in targets.items():
                done = completions.run_measure(url, config.completion_seconds)
                outcome.completions.setdefault(key, []).append(done)
                log(f"  round {rep + 1} {key}: {done.per_second:,.0f} completions/s")

    with phase(outcome, "dashboard in Chromium", optional=True):
        absent = browser.missing()
        if absent:
            outcome.skipped["dashboard"] = absent
        else:
            today = business_date(utc_now())
            dashboard_plan = SeedPlan(config.dashboard_runs, end=today)
            outcome.seeds["dashboard"] = seed.seed_sqlite(work / "dashboard.db", dashboard_plan)
            dashboard_url = f"sqlite:///{work / 'dashboard.db'}"
            server = start(servers.marketbrief("dashboard", logs, database_url=dashboard_url))
            server.wait_ready()
            status, _ = servers.fetch(server.url + "/")
            if status != 200:
                raise RuntimeError(f"the dashboard answered {status}")
            outcome.dashboard = browser.run_measure(server.url + "/", config.dashboard_loads)
            outcome.dashboard_runs_in_window = _runs_in_last_days(work / "dashboard.db", today)
            server.stop()

    with phase(outcome, "in-process timings", optional=True):
        outcome.in_process = profiling.in_process(
            sqlite_url, REPORT_DAY, config.in_process_calls, work
        )


def _report_dates(sqlite_url: str) -> list[str]:
    """The dates that have a pre-market report in the seeded store, newest first."""
    connection = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))
    try:
        found = connection.execute(
            "SELECT scheduled_date FROM report_latest WHERE report_type = 'pre-market' "
            "ORDER BY scheduled_date DESC"
        ).fetchall()
    finally:
        connection.close()
    dates = [str(row[0]) for row in found]
    if not dates or dates[0] != REPORT_DAY.isoformat():
        raise RuntimeError(f"the seeded store has no pre-market report for {REPORT_DAY}")
    return dates


def _runs_in_last_days(path: Path, today: Any, days: int = 14) -> int:
    from datetime import timedelta

    connection = sqlite3.connect(path)
    try:
        row = connection.execute(
            "SELECT count(*) FROM job_executions WHERE scheduled_date >= ?",
            ((today - timedelta(days=days)).isoformat(),),
        ).fetchone()
        return int(row[0])
    finally:
        connection.close()
