"""Servers under test: subprocesses pinned to the server core (harness.HttpServer).

The bare ASGI ceiling, the FastAPI baseline and marketbrief itself all run on the server
`marketbrief serve` ships with (benchmarks/shipped.py: uvicorn, httptools with the head
deadline, uvloop, the access log off), so only the application differs. A second ceiling runs
the same bare app on the fastest server measured by benchmarks/candidates.py (granian), the
figure the targets are also read against.
"""

from __future__ import annotations

import shutil
import sys
import urllib.error
import urllib.request
from pathlib import Path

from harness.probes import free_port
from harness.process import HttpServer
from harness.serve import serve_command, server_env

from benchmarks import SERVER_CORE
from benchmarks.commands import CEILING, granian


def pinned(core: int, command: list[str]) -> list[str]:
    """`command` run on one CPU core (taskset), or as is where taskset is missing."""
    taskset = shutil.which("taskset")
    return [taskset, "-c", str(core), *command] if taskset else command


def _server(
    name: str, command: list[str], env: dict[str, str], port: int, logs: Path
) -> HttpServer:
    """One server pinned to the server core, its output in logs/<name>.log."""
    return HttpServer(
        name, pinned(SERVER_CORE, command), port=port, env=server_env(env), log=logs / f"{name}.log"
    )


def _uvicorn(target: str, port: int) -> list[str]:
    """The command line serving `target` exactly as `marketbrief serve` serves its app."""
    return [sys.executable, "-m", "benchmarks.shipped", target, str(port)]


def ceiling(body_file: Path, logs: Path) -> HttpServer:
    """The bare ASGI application returning one pre-serialized body, on the shipped server."""
    port = free_port()
    command = _uvicorn("benchmarks.ceiling:create_app", port)
    return _server("ceiling", command, {"BENCH_BODY_FILE": str(body_file)}, port, logs)


def fastest_ceiling(body_file: Path, logs: Path) -> HttpServer:
    """The same bare application on the fastest server measured (granian, uvloop)."""
    port = free_port()
    command = granian(CEILING, port)
    return _server("ceiling_fastest", command, {"BENCH_BODY_FILE": str(body_file)}, port, logs)


def static_page(directory: Path, logs: Path) -> HttpServer:
    """The files saved under `directory` (benchmarks/static_page.py), on the shipped server."""
    port = free_port()
    command = _uvicorn("benchmarks.static_page:create_app", port)
    return _server("static_page", command, {"BENCH_STATIC_DIR": str(directory)}, port, logs)


def baseline(database_url: str, logs: Path) -> HttpServer:
    """The FastAPI endpoint written the common way over the same store."""
    port = free_port()
    command = _uvicorn("benchmarks.baseline:create_app", port)
    return _server("baseline", command, {"BENCH_DATABASE_URL": database_url}, port, logs)


def marketbrief(
    name: str,
    logs: Path,
    *,
    database_url: str,
    cache_url: str | None = None,
    cache_prefix: str | None = None,
    cache: bool = True,
) -> HttpServer:
    """`marketbrief serve --no-scheduler` with its settings in MARKETBRIEF_* variables."""
    port = free_port()
    env = {
        "MARKETBRIEF_DATABASE_URL": database_url,
        "MARKETBRIEF_OUTBOX_DIR": str(logs / f"outbox-{name}"),
        "MARKETBRIEF_CACHE": "on" if cache else "off",
        "MARKETBRIEF_SCHEDULER": "off",
    }
    if cache_url:
        env["MARKETBRIEF_CACHE_URL"] = cache_url
    if cache_prefix:
        env["MARKETBRIEF_CACHE_PREFIX"] = cache_prefix
    return _server(name, serve_command(port, "--no-scheduler"), env, port, logs)


def fetch(url: str, timeout: float = 30.0) -> tuple[int, bytes]:
    """GET a URL once: (status, body); error statuses are returned, not raised."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def metric(text: str, name: str) -> float:
    """The sum over every label set of the metric `name` (or `name`_total) in a /metrics text."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        found = line.split("{", 1)[0].split(" ", 1)[0]
        if found in (name, name + "_total"):
            total += float(line.rsplit(" ", 1)[1])
    return total
