"""The command lines of the servers the benchmarks compare, each serving an ASGI app factory."""

from __future__ import annotations

import sys

CEILING = "benchmarks.ceiling:create_app"
MARKETBRIEF = "marketbrief.web.app:create_app"
PY = sys.executable


def uvicorn_h11(target: str, port: int) -> list[str]:
    """uvicorn with the pure-Python h11 parser and the stock asyncio loop (shipped until now)."""
    return [
        *(PY, "-m", "uvicorn", target, "--factory", "--host", "127.0.0.1", "--port", str(port)),
        *("--http", "h11", "--loop", "asyncio", "--no-access-log"),
    ]


def uvicorn_h11_logged(target: str, port: int) -> list[str]:
    """What `marketbrief serve` ran until now: h11, asyncio and the access log on."""
    return [
        *(PY, "-m", "uvicorn", target, "--factory", "--host", "127.0.0.1", "--port", str(port)),
        *("--log-level", "info"),
    ]


def uvicorn_httptools(target: str, port: int) -> list[str]:
    """uvicorn with httptools and uvloop, what a user who cares about speed runs."""
    return [
        *(PY, "-m", "uvicorn", target, "--factory", "--host", "127.0.0.1", "--port", str(port)),
        *("--http", "httptools", "--loop", "uvloop", "--no-access-log"),
    ]


def shipped(target: str, port: int) -> list[str]:
    """What `marketbrief serve` runs: httptools + uvloop with the head deadline and limit."""
    return [PY, "-m", "benchmarks.shipped", target, str(port)]


def granian(target: str, port: int) -> list[str]:
    """granian (Rust HTTP over hyper) with its ASGI interface and uvloop."""
    return [
        *(PY, "-m", "granian", "--interface", "asgi", "--factory", "--loop", "uvloop"),
        *("--host", "127.0.0.1", "--port", str(port), "--no-ws", target),
    ]


def hypercorn(target: str, port: int) -> list[str]:
    """hypercorn (h11) on uvloop."""
    module, name = target.split(":")
    return [
        *(PY, "-m", "hypercorn", f"{module}:{name}()", "--bind", f"127.0.0.1:{port}"),
        *("--worker-class", "uvloop"),
    ]
