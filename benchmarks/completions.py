"""Run completions per second: `SQLStore.finish_run` in a loop, in-process, one at a time.

Each completion is a never-claimed run with a 20 KB report and six predictions, so every call
is one transaction that inserts the run row, the snapshot and the predictions and moves the
latest pointer (SQLite: WAL with synchronous=FULL, i.e. an fsync per commit).

Run it as its own pinned process:
`taskset -c 0 python -m benchmarks.completions URL --seconds 3`; it prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.child import run_pinned
from benchmarks.load import percentile
from benchmarks.payloads import REPORT_DAY, completion, report_payload
from marketbrief.store.sql import SQLStore


@dataclass(slots=True)
class CompletionsResult:
    """How many completions committed, how fast, and how long each commit took."""

    completions: int
    seconds: float
    per_second: float
    latency_ms: dict[str, float] = field(default_factory=dict)
    payload_bytes: int = 0
    cpu_us: float = 0.0  # CPU time of this process per completion (Python, SQLAlchemy, driver)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def measure(
    url: str, seconds: float, *, warmup: int = 20, migrate: bool = True
) -> CompletionsResult:
    """Commit completions back to back on the store at `url` for about `seconds`."""
    payload = report_payload("pre-market", REPORT_DAY)
    store = SQLStore(url)
    try:
        if migrate:
            store.migrate()
        for n in range(warmup):
            store.finish_run(completion(n, payload))
        # Each completion is built just before its commit (a uuid and a dataclass: a few
        # microseconds), so start instants, hence versions, follow commit order.
        latencies: list[float] = []
        n = 0
        cpu_began = time.process_time()
        began = time.perf_counter()
        deadline = began + seconds
        now = began
        while now < deadline:
            item = completion(n, payload)
            store.finish_run(item)
            done = time.perf_counter()
            latencies.append(done - now)
            now = done
            n += 1
        elapsed = now - began
        cpu = time.process_time() - cpu_began
    finally:
        store.close()
    latencies.sort()
    return CompletionsResult(
        completions=n,
        seconds=elapsed,
        per_second=n / elapsed if elapsed > 0 else 0.0,
        latency_ms={f"p{q}": percentile(latencies, q) * 1e3 for q in (50, 95, 99)},
        payload_bytes=len(payload),
        cpu_us=cpu / n * 1e6 if n else 0.0,
    )


def fsync_floor(directory: Path, size: int = 24 * 1024, count: int = 200) -> float:
    """Median microseconds to append `size` bytes to a file in `directory` and fdatasync it.

    A commit with synchronous=FULL waits for at least one such sync of the WAL, so this is
    the disk's floor under each SQLite commit, whatever the code above it does.
    """
    path = directory / "fsync-probe.bin"
    block = b"\0" * size
    times: list[float] = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for _ in range(count):
            began = time.perf_counter()
            os.write(fd, block)
            os.fdatasync(fd)
            times.append(time.perf_counter() - began)
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)
    times.sort()
    return percentile(times, 50) * 1e6


def run_measure(url: str, seconds: float) -> CompletionsResult:
    """`measure` in its own process pinned to the server core."""
    found = run_pinned(
        "benchmarks.completions", [url, "--seconds", str(seconds)], seconds, "completions benchmark"
    )
    return CompletionsResult(**found)


def main(argv: list[str] | None = None) -> None:
    """CLI: prints one JSON object."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.completions")
    parser.add_argument("url")
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.url, args.seconds).as_dict()))


if __name__ == "__main__":
    main()
