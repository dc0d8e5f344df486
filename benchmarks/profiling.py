"""Where the time goes: py-spy samples of a loaded server, and in-process timings of the hot path.

`py-spy record --gil` samples only the thread holding the GIL, so on a one-core server the
samples are the CPU time, split here by the package of the innermost Python frame (self time)
and by a few marketbrief functions (inclusive time). Without py-spy, the in-process timings of
`Results.get_report` + envelope render and of the history query still say how much of a
request is marketbrief's own work and how much is the HTTP server's.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

# Package of a frame's file -> the group it is reported under, first match wins.
GROUPS: tuple[tuple[str, str], ...] = (
    ("marketbrief/", "marketbrief"),
    ("sqlalchemy/", "SQLAlchemy"),
    ("psycopg", "psycopg"),
    ("redis/", "redis client"),
    ("uvicorn/", "uvicorn (HTTP)"),
    ("httptools", "uvicorn (HTTP)"),
    ("h11/", "uvicorn (HTTP)"),
    ("starlette/", "Starlette"),
    ("fastapi/", "FastAPI"),
    ("pydantic", "FastAPI"),
    ("anyio/", "thread hand-off (anyio, threading, queue)"),
    ("threading.py", "thread hand-off (anyio, threading, queue)"),
    ("queue.py", "thread hand-off (anyio, threading, queue)"),
    ("concurrent/", "thread hand-off (anyio, threading, queue)"),
    ("uvloop", "event loop (uvloop, asyncio) + sockets"),
    ("asyncio/", "event loop (uvloop, asyncio) + sockets"),
    ("selectors.py", "event loop (uvloop, asyncio) + sockets"),
    ("socket.py", "event loop (uvloop, asyncio) + sockets"),
    ("logging/", "logging"),
    ("json/", "stdlib json"),
    ("jinja2/", "Jinja2"),
    ("prometheus_client/", "prometheus_client"),
    ("enum.py", "enum (stdlib)"),
    ("contextlib.py", "contextlib"),
)
# marketbrief functions whose inclusive share is worth a line of the report.
FOCUS = (
    "Reader.get_report",
    "ReportResponse.render",
    "get_report (marketbrief/web/api.py",
    "job_history (marketbrief/web/api.py",
    "SQLStore.history",
    "SQLStore.latest_snapshot",
    "run (marketbrief/store/rows.py",
    "job (marketbrief/results/records.py",
    "Edge.__call__",
    "Metrics.observe",
    "Store._call",
    "Logger.info",
)


def py_spy() -> str | None:
    """The py-spy executable (the venv's first), or None."""
    local = Path(sys.executable).parent / "py-spy"
    if local.exists():
        return str(local)
    return shutil.which("py-spy")


@dataclass(slots=True)
class ProfileSummary:
    """Sampled CPU time of one server under load, by group and by focus function."""

    label: str
    samples: int
    groups: list[tuple[str, float]] = field(default_factory=list)
    focus: list[tuple[str, float]] = field(default_factory=list)
    top_self: list[tuple[str, float]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def _group(frame: str) -> str:
    location = frame.rpartition("(")[2]
    for needle, group in GROUPS:
        if needle in location:
            return group
    return "other"


def summarize(label: str, raw: str, top: int = 12) -> ProfileSummary:
    """Summarize py-spy's raw (collapsed stack) output."""
    by_group: Counter[str] = Counter()
    by_focus: Counter[str] = Counter()
    by_self: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        leaf = frames[-1]
        by_group[_group(leaf)] += n
        by_self[leaf] += n
        for name in FOCUS:
            if any(name in frame for frame in frames):
                by_focus[name] += n
    if total == 0:
        return ProfileSummary(label, 0)

    def share(counter: Counter[str], limit: int | None = None) -> list[tuple[str, float]]:
        return [(k, round(v * 100 / total, 1)) for k, v in counter.most_common(limit)]

    return ProfileSummary(
        label=label,
        samples=total,
        groups=share(by_group),
        focus=share(by_focus),
        top_self=share(by_self, top),
    )


@contextlib.contextmanager
def recording(pid: int, seconds: float, output: Path, rate: int = 200) -> Any:
    """py-spy records `pid` (GIL holder only) while the body runs; yields the Popen."""
    executable = py_spy()
    if executable is None:
        raise RuntimeError("py-spy is not installed")
    command = [
        executable,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(seconds))),
        "--rate",
        str(rate),
        "--format",
        "raw",
        "--output",
        str(output),
        "--nonblocking",
        "--gil",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(0.3)  # let it attach before the load starts
        yield process
    finally:
        try:
            process.wait(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- in-process timings ----------------------------------------------------------------------


@dataclass(slots=True)
class InProcess:
    """Microseconds per call of the hot paths, measured in this process without an HTTP server.

    `app_*` go through the whole ASGI application (Starlette, middleware, handler, store or
    cache) called directly; `early_report_us` is the app's `answer_now`, what the server's
    protocol asks before it starts the app (web/protocol.py); the others time one layer below.
    """

    calls: int = 0
    early_report_us: float = 0.0
    app_cached_report_us: float = 0.0
    app_store_report_us: float = 0.0
    app_history_us: float = 0.0
    cached_report_us: float = 0.0
    store_report_us: float = 0.0
    store_read_us: float = 0.0  # `SQLStore.latest_snapshot` alone, called directly
    raw_read_us: float = 0.0  # the same SELECT through plain sqlite3
    history_store_us: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


async def asgi_get(app: Any, path: str) -> int:
    """GET `path` by calling the ASGI app directly (no server, no client); returns the status."""
    route, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": route,
        "raw_path": route.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"bench"), (b"accept", b"application/json")],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])

    await app(scope, receive, send)
    return status


def in_process(database_url: str, day: date, calls: int, work_dir: Path) -> InProcess:
    """Time the report and history paths in-process, through the app and one layer below."""
    from marketbrief.config import Settings
    from marketbrief.models import ReportType
    from marketbrief.results import Results
    from marketbrief.store.base import HistoryQuery
    from marketbrief.store.sql import SQLStore
    from marketbrief.web.app import create_app

    report = f"/api/v1/reports/pre-market?date={day.isoformat()}"
    history = "/api/v1/jobs/history?limit=50"
    out = InProcess(calls=calls)

    def settings(cache: bool) -> Settings:
        return Settings(
            database_url=database_url,
            cache_enabled=cache,
            outbox_dir=work_dir / f"outbox-{'on' if cache else 'off'}",
            scheduler_enabled=False,
        )

    async def per_call(app: Any, path: str) -> float:
        for _ in range(20):
            status = await asgi_get(app, path)
            if status != 200:
                raise RuntimeError(f"{path} answered {status} in-process")
        began = time.perf_counter()
        for _ in range(calls):
            await asgi_get(app, path)
        return (time.perf_counter() - began) / calls * 1e6

    def early(app: Any) -> float:
        target, headers = report.encode(), [(b"host", b"bench")]
        if app.answer_now(target, headers) is None:
            raise RuntimeError(f"{report} was not answered early after being served")
        began = time.perf_counter()
        for _ in range(calls):
            app.answer_now(target, headers)
        return (time.perf_counter() - began) / calls * 1e6

    async def through_app(cache: bool) -> tuple[float, float]:
        app = create_app(settings(cache), scheduler=False)
        async with app.router.lifespan_context(app):
            reports = await per_call(app, report)
            if cache:
                out.early_report_us = early(app)
            pages = await per_call(app, history) if cache else 0.0
        return reports, pages

    async def results_only(cache: bool) -> float:
        results = Results.open(settings(cache))
        try:
            clock = results.now
            for _ in range(20):
                (await results.get_report(ReportType.PRE_MARKET, day)).render(clock())
            began = time.perf_counter()
            for _ in range(calls):
                response = await results.get_report(ReportType.PRE_MARKET, day)
                response.render(clock())
            return (time.perf_counter() - began) / calls * 1e6
        finally:
            await results.close()

    out.app_cached_report_us, out.app_history_us = asyncio.run(through_app(True))
    out.app_store_report_us, _ = asyncio.run(through_app(False))
    out.cached_report_us = asyncio.run(results_only(True))
    out.store_report_us = asyncio.run(results_only(False))
    store = SQLStore(database_url)
    try:
        out.store_read_us, out.raw_read_us = _snapshot_reads(store, database_url, day, calls)
        query = HistoryQuery(limit=50)
        store.history(query)
        began = time.perf_counter()
        for _ in range(calls):
            store.history(query)
        out.history_store_us = (time.perf_counter() - began) / calls * 1e6
    finally:
        store.close()
    return out


def _snapshot_reads(store: Any, database_url: str, day: date, calls: int) -> tuple[float, float]:
    """µs per `SQLStore.latest_snapshot` beside the same SELECT through plain sqlite3."""
    import sqlite3

    from sqlalchemy.dialects import sqlite

    from marketbrief.models import ReportType
    from marketbrief.store.sql import _LATEST_SNAPSHOT

    kind = ReportType.PRE_MARKET
    if store.latest_snapshot(kind, day) is None:
        raise RuntimeError(f"no {kind.value} snapshot for {day} to time")
    began = time.perf_counter()
    for _ in range(calls):
        store.latest_snapshot(kind, day)
    through_store = (time.perf_counter() - began) / calls * 1e6
    compiled = _LATEST_SNAPSHOT.compile(dialect=sqlite.dialect())
    # Its own literal parameters (the LIMIT and OFFSET) as SQLAlchemy would bind them.
    values = {**compiled.params, "kind": kind.value, "day": day.isoformat()}
    sql, params = str(compiled), [values[name] for name in compiled.positiontup or ()]
    connection = sqlite3.connect(database_url.removeprefix("sqlite:///"))
    try:
        if connection.execute(sql, params).fetchone() is None:
            raise RuntimeError("the plain sqlite3 read found no snapshot")
        began = time.perf_counter()
        for _ in range(calls):
            connection.execute(sql, params).fetchone()
        raw = (time.perf_counter() - began) / calls * 1e6
    finally:
        connection.close()
    return through_store, raw
