"""The HTTP servers marketbrief could ship, measured side by side on the bare ASGI ceiling.

`python -m benchmarks.candidates [--seconds 3] [--reps 3]` serves the same pre-serialized body
from the bare ASGI app (benchmarks/ceiling.py) on every candidate, pinned to the server core,
and drives each with the same closed-loop wrk on the load core, interleaved round by round
(A B C D A B C D ...). It prints requests per second and each candidate's share of the
fastest: the measurement that chose the server `marketbrief serve` runs (docs/performance.md).

Every candidate runs with its access log off, so the figure is the server's own cost.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from statistics import median

from harness.probes import free_port
from harness.process import HttpServer
from harness.serve import server_env

from benchmarks import SERVER_CORE, load
from benchmarks.payloads import REPORT_DAY, report_payload
from benchmarks.servers import pinned

CEILING = "benchmarks.ceiling:create_app"
PY = sys.executable


def uvicorn_h11(target: str, port: int) -> list[str]:
    """uvicorn with the pure-Python h11 parser and the stock asyncio loop (shipped until now)."""
    return [
        *(PY, "-m", "uvicorn", target, "--factory", "--host", "127.0.0.1", "--port", str(port)),
        *("--http", "h11", "--loop", "asyncio", "--no-access-log"),
    ]


def uvicorn_httptools(target: str, port: int) -> list[str]:
    """uvicorn with httptools and uvloop, what a user who cares about speed runs."""
    return [
        *(PY, "-m", "uvicorn", target, "--factory", "--host", "127.0.0.1", "--port", str(port)),
        *("--http", "httptools", "--loop", "uvloop", "--no-access-log"),
    ]


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


CANDIDATES: dict[str, Callable[[str, int], list[str]]] = {
    "uvicorn + h11 + asyncio": uvicorn_h11,
    "uvicorn + httptools + uvloop": uvicorn_httptools,
    "granian (ASGI, uvloop)": granian,
    "hypercorn (h11, uvloop)": hypercorn,
}


def start_ceilings(body_file: Path, logs: Path) -> dict[str, HttpServer]:
    """The bare ceiling on every candidate, each pinned to the server core, all started."""
    started: dict[str, HttpServer] = {}
    for name, command_of in CANDIDATES.items():
        port = free_port()
        slug = "".join(c if c.isalnum() else "-" for c in name)
        server = HttpServer(
            name,
            pinned(SERVER_CORE, command_of(CEILING, port)),
            port=port,
            env=server_env({"BENCH_BODY_FILE": str(body_file)}),
            log=logs / f"{slug}.log",
        )
        server.start()
        started[name] = server
    for server in started.values():
        server.wait_ready()
    return started


def measure(seconds: float, reps: int, work: Path) -> dict[str, list[float]]:
    """Requests per second of the ceiling on each candidate, `reps` interleaved rounds."""
    body_file = work / "body.json"
    body_file.write_bytes(report_payload("pre-market", REPORT_DAY))
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    started = start_ceilings(body_file, logs)
    rates: dict[str, list[float]] = {name: [] for name in started}
    try:
        for server in started.values():
            load.run_wrk(server.url + "/report", 1.0)  # warm up
        for rep in range(reps):
            for name, server in started.items():
                result = load.run_wrk(server.url + "/report", seconds)
                if not result.ok:
                    raise RuntimeError(f"{name}: wrk saw errors: {result}")
                rates[name].append(result.requests_per_second)
                print(f"round {rep + 1} {name}: {result.requests_per_second:,.0f} req/s")
    finally:
        for server in started.values():
            server.stop()
    return rates


def main(argv: list[str] | None = None) -> int:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.candidates", description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="length of one wrk run")
    parser.add_argument("--reps", type=int, default=3, help="interleaved rounds")
    args = parser.parse_args(argv)
    load.ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="mbcandidates-") as work:
        rates = measure(args.seconds, args.reps, Path(work))
    best = max(median(values) for values in rates.values())
    print(f"\n{'server':<32} {'median req/s':>14} {'rounds':>28} {'of fastest':>11}")
    for name, values in rates.items():
        rounds = ", ".join(f"{v:,.0f}" for v in values)
        print(f"{name:<32} {median(values):>14,.0f} {rounds:>28} {median(values) / best:>10.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
