"""The HTTP servers marketbrief could ship, measured side by side on the bare ASGI ceiling.

`python -m benchmarks.candidates [--seconds 3] [--reps 3] [--app marketbrief]` serves the same
pre-serialized body from the bare ASGI app (benchmarks/ceiling.py) on every candidate, pinned
to the server core, and drives each with the same closed-loop wrk on the load core,
interleaved round by round (A B C D A B C D ...). It prints requests per second and each
candidate's share of the fastest: the measurement that chose the server `marketbrief serve`
runs (docs/performance.md). With `--app marketbrief` the application is marketbrief itself,
answering the cached pre-market report from a small seeded SQLite store.

Every candidate runs with its access log off, so the figure is the server's own cost; one more
row is the stack `serve` shipped before (h11, asyncio, the access log on).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from statistics import median

from harness import ROOT
from harness.probes import free_port
from harness.process import HttpServer
from harness.serve import server_env

from benchmarks import SERVER_CORE, load
from benchmarks.commands import (
    CEILING,
    MARKETBRIEF,
    granian,
    hypercorn,
    shipped,
    uvicorn_h11,
    uvicorn_h11_logged,
    uvicorn_httptools,
)
from benchmarks.config import REPORT_PATH
from benchmarks.payloads import REPORT_DAY, report_payload
from benchmarks.seed_history import SeedPlan
from benchmarks.seed_sqlite import cached_sqlite
from benchmarks.servers import pinned

CANDIDATES: dict[str, Callable[[str, int], list[str]]] = {
    "uvicorn + h11 + asyncio + access log": uvicorn_h11_logged,
    "uvicorn + h11 + asyncio": uvicorn_h11,
    "uvicorn + httptools + uvloop": uvicorn_httptools,
    "marketbrief serve (the above, bounded)": shipped,
    "granian (ASGI, uvloop)": granian,
    "hypercorn (h11, uvloop)": hypercorn,
}


def start_all(target: str, env: dict[str, str], logs: Path) -> dict[str, HttpServer]:
    """`target` on every candidate, each pinned to the server core, all started and ready."""
    started: dict[str, HttpServer] = {}
    for name, command_of in CANDIDATES.items():
        if name.startswith("hypercorn") and target != CEILING:
            continue  # a fifth as fast on the bare app already: kept out of the longer round
        port = free_port()
        slug = "".join(c if c.isalnum() else "-" for c in name)
        server = HttpServer(
            name,
            pinned(SERVER_CORE, command_of(target, port)),
            port=port,
            env=server_env(env),
            log=logs / f"{slug}.log",
        )
        server.start()
        started[name] = server
    for server in started.values():
        server.wait_ready()
    return started


def measure(seconds: float, reps: int, work: Path, app: str) -> dict[str, list[float]]:
    """Requests per second of `app` on each candidate, `reps` interleaved rounds."""
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    if app == "marketbrief":
        seeded = cached_sqlite((ROOT / ".bench-cache").resolve(), SeedPlan(20_000))
        target, env = (
            MARKETBRIEF,
            {
                "MARKETBRIEF_DATABASE_URL": f"sqlite:///{seeded.path}",
                "MARKETBRIEF_OUTBOX_DIR": str(work / "outbox"),
                "MARKETBRIEF_SCHEDULER": "off",
            },
        )
    else:
        body_file = work / "body.json"
        body_file.write_bytes(report_payload("pre-market", REPORT_DAY))
        target, env = CEILING, {"BENCH_BODY_FILE": str(body_file)}
    started = start_all(target, env, logs)
    rates: dict[str, list[float]] = {name: [] for name in started}
    try:
        for server in started.values():
            load.run_wrk(server.url + REPORT_PATH, 1.0)  # warm up (and fill the cache)
        for rep in range(reps):
            for name, server in started.items():
                result = load.run_wrk(server.url + REPORT_PATH, seconds)
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
    parser.add_argument(
        "--app", choices=("ceiling", "marketbrief"), default="ceiling", help="what they serve"
    )
    args = parser.parse_args(argv)
    load.ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="mbcandidates-") as work:
        rates = measure(args.seconds, args.reps, Path(work), args.app)
    best = max(median(values) for values in rates.values())
    print(f"\n{'server':<40} {'median req/s':>14} {'rounds':>28} {'of fastest':>11}")
    for name, values in rates.items():
        rounds = ", ".join(f"{v:,.0f}" for v in values)
        print(f"{name:<40} {median(values):>14,.0f} {rounds:>28} {median(values) / best:>10.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
