"""What a run was measured on: the machine, the versions of everything, the servers it used."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import sqlite3
import subprocess
from importlib import metadata
from pathlib import Path

from benchmarks import profiling
from benchmarks.backends import REDIS_HOST, REDIS_PORT, PgSchema


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
        "granian (fastest ceiling)": _version("granian"),
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


def server_versions(pg: PgSchema | None, redis_ok: bool) -> dict[str, str]:
    """The versions of the shared PostgreSQL and Redis servers this run used."""
    found: dict[str, str] = {}
    if pg is not None:
        import psycopg

        with psycopg.connect(pg.admin_conninfo) as connection:
            row = connection.execute("SHOW server_version").fetchone()
            found["PostgreSQL (server)"] = str(row[0]) if row else "unknown"
    if redis_ok:
        import redis

        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT)
        try:
            found["Redis (server)"] = str(client.info("server")["redis_version"])
        finally:
            client.close()
    return found
