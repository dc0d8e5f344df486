"""Where a SQLite completion's time goes: `finish_run` in a loop under cProfile, by group.

Self time of every function, summed into a few groups: the sqlite3 commit (the WAL write and
its fsync), the sqlite3 statements themselves, SQLAlchemy compiling statements (or finding
them in its cache), the rest of SQLAlchemy's execution (connection, pool, parameter and type
processing, results), marketbrief's own code, and the benchmark building each completion.
cProfile makes Python functions slower and C calls no slower, so the Python groups are
overstated; the split, not the sum, is the finding.

Run it as its own pinned process:
`taskset -c 0 python -m benchmarks.completions_profile URL --seconds 2`; it prints JSON.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from benchmarks.child import run_pinned
from benchmarks.payloads import REPORT_DAY, completion, report_payload
from marketbrief.store.sql import SQLStore

COMMIT = "sqlite3 commit (WAL write + fsync)"
EXECUTE = "sqlite3 statements (B-tree and index writes)"
COMPILE = "SQLAlchemy: statement compile / cache lookup"
EXECUTION = "SQLAlchemy: execution (connection, pool, params, types, results)"
OURS = "marketbrief (store code, row values)"
BENCH = "benchmark (building each completion)"
OTHER = "stdlib and other (json, datetime, threading, hashlib)"
GROUP_ORDER = (COMMIT, EXECUTE, COMPILE, EXECUTION, OURS, BENCH, OTHER)


@dataclass(slots=True)
class CompletionProfile:
    """µs of self time per completion by group, under the profiler."""

    completions: int = 0
    wall_us: float = 0.0
    groups: list[tuple[str, float]] = field(default_factory=list)
    top: list[tuple[str, float]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def group_of(filename: str, function: str) -> str:
    """The group a profiled function's self time is charged to."""
    if "sqlite3.Connection" in function and "commit" in function:
        return COMMIT
    if "sqlite3.Cursor" in function or "sqlite3.Connection" in function:
        return EXECUTE
    if "sqlalchemy/" in filename:
        sql = "sqlalchemy/sql/" in filename or "cache_key" in filename
        return COMPILE if sql else EXECUTION
    if "marketbrief/" in filename:
        return OURS
    if "benchmarks/" in filename:
        return BENCH
    return OTHER


def measure(url: str, seconds: float, *, warmup: int = 20) -> CompletionProfile:
    """Profile `finish_run` back to back on the store at `url` for about `seconds`."""
    payload = report_payload("pre-market", REPORT_DAY)
    store = SQLStore(url)
    profiler = cProfile.Profile()
    try:
        store.migrate()
        for n in range(warmup):
            store.finish_run(completion(n, payload))
        n = warmup
        began = time.perf_counter()
        deadline = began + seconds
        profiler.enable()
        while time.perf_counter() < deadline:
            store.finish_run(completion(n, payload))
            n += 1
        profiler.disable()
        elapsed = time.perf_counter() - began
    finally:
        store.close()
    done = n - warmup
    stats: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    by_group: Counter[str] = Counter()
    by_function: Counter[str] = Counter()
    for (filename, line, function), (_cc, _nc, tottime, _ct, _callers) in stats.items():
        by_group[group_of(filename, function)] += tottime
        where = filename.rsplit("site-packages/", 1)[-1].rsplit("src/", 1)[-1]
        by_function[f"{function} ({where}:{line})"] += tottime
    per = 1e6 / done if done else 0.0
    return CompletionProfile(
        completions=done,
        wall_us=elapsed * per,
        groups=[(name, round(by_group[name] * per, 1)) for name in GROUP_ORDER],
        top=[(name, round(t * per, 1)) for name, t in by_function.most_common(12)],
    )


def run_measure(url: str, seconds: float) -> CompletionProfile:
    """`measure` in its own process pinned to the server core."""
    raw = run_pinned(
        "benchmarks.completions_profile",
        [url, "--seconds", str(seconds)],
        seconds,
        "completion profile",
    )
    return CompletionProfile(
        completions=raw["completions"],
        wall_us=raw["wall_us"],
        groups=[(str(k), float(v)) for k, v in raw["groups"]],
        top=[(str(k), float(v)) for k, v in raw["top"]],
    )


def main(argv: list[str] | None = None) -> None:
    """CLI: prints one JSON object."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.completions_profile")
    parser.add_argument("url")
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.url, args.seconds).as_dict()))


if __name__ == "__main__":
    main()
