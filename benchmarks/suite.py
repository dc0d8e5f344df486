"""The whole benchmark run: seed, start every server, measure interleaved, profile, clean up."""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.process import HttpServer

from benchmarks import (
    candidates,
    completion_rounds,
    dashboard_rounds,
    load,
    near,
    openloop_rounds,
    profiling,
    servers,
)
from benchmarks.backends import (
    REDIS_HOST,
    REDIS_PORT,
    PgSchema,
    drop_redis_prefix,
    postgres_answers,
    redis_answers,
)
from benchmarks.config import HISTORY_PATH, MARKETBRIEF_SERVERS, REPORT_PATH, THROUGHPUT, Config
from benchmarks.machine import machine_facts, server_versions
from benchmarks.memory import worker_rss_mb
from benchmarks.meter import Meter
from benchmarks.outcome import Outcome
from benchmarks.payloads import REPORT_DAY
from benchmarks.progress import log, phase
from benchmarks.seed_history import SeedPlan
from benchmarks.seed_postgres import seed_postgres
from benchmarks.seed_sqlite import cached_sqlite


def _report_counters(server: HttpServer) -> tuple[float, float]:
    """(store report reads, report answers) so far, from the server's /metrics."""
    status, body = servers.fetch(server.url + "/metrics", timeout=120)
    if status != 200:
        return 0.0, 0.0
    text = body.decode()
    return (
        servers.metric(text, "marketbrief_store_report_reads_total"),
        servers.metric(text, "marketbrief_reports_served_total"),
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
    pg_ok = postgres_answers()
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
        outcome.seeds["sqlite"] = cached_sqlite(config.cache_dir.resolve(), history_plan)
    sqlite_url = f"sqlite:///{outcome.seeds['sqlite'].path}"
    if scaled:
        with phase(outcome, "seed PostgreSQL history store"):
            pg = PgSchema.create("read")
            cleanups.append(pg.drop)
            outcome.seeds["postgresql"] = seed_postgres(pg, history_plan)
        cleanups.append(lambda: drop_redis_prefix(prefix))
    outcome.machine.update(server_versions(pg, redis_ok))

    logs = work / "logs"
    logs.mkdir()
    started: list[HttpServer] = []

    def stop_all() -> None:
        for server in started:
            server.stop()

    cleanups.append(stop_all)

    def start(server: HttpServer) -> HttpServer:
        server.start()
        started.append(server)
        return server

    with phase(outcome, "start servers"):
        by_key: dict[str, HttpServer] = {}
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
        for key in MARKETBRIEF_SERVERS:
            if key in by_key:
                outcome.rss_start_mb[key] = worker_rss_mb(by_key[key].pid)
        # The ceiling serves the very bytes marketbrief serves for this report.
        status, body = servers.fetch(by_key["cached"].url + REPORT_PATH)
        if status != 200:
            raise RuntimeError(f"marketbrief answered {status} for {REPORT_PATH}")
        body_file = work / "body.json"
        body_file.write_bytes(body)
        by_key["ceiling"] = start(servers.ceiling(body_file, logs))
        by_key["ceiling_fastest"] = start(servers.fastest_ceiling(body_file, logs))
        by_key["ceiling"].wait_ready()
        by_key["ceiling_fastest"].wait_ready()
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

    with phase(outcome, "near cache: hit ratio and staleness across processes", optional=True):
        if scaled:
            outcome.near = near.measure(logs)

    with phase(outcome, "fixed offered rate (open loop)", optional=True):
        fixed_targets = {key: (urls[key], by_key[key].pid) for key in urls}
        openloop_rounds.run(config, outcome, fixed_targets)

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

    for key in MARKETBRIEF_SERVERS:
        if key in by_key:
            outcome.rss_mb[key] = worker_rss_mb(by_key[key].pid)
    for server in list(started):
        server.stop()
    started.clear()

    with phase(outcome, "server candidates (bare ceiling on each)", optional=True):
        outcome.candidates = candidates.measure(
            config.throughput_seconds, min(config.reps, 3), work / "candidates", "ceiling"
        )

    with phase(outcome, "run completions (finish_run beside raw sqlite3)", optional=True):
        write_url = None
        if pg_ok:
            write_schema = PgSchema.create("write")
            cleanups.append(write_schema.drop)
            write_url = write_schema.url
        completion_rounds.run(config, outcome, work, write_url)

    with phase(outcome, "dashboard in Chromium beside its static copy", optional=True):
        dashboard_rounds.run(config, outcome, work, logs, start)

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
