"""The "Run completions per second" section: both stores, and where a commit's time goes."""

from __future__ import annotations

from statistics import median

from benchmarks.outcome import Outcome
from benchmarks.report_figures import Emit, spread


def section(outcome: Outcome, emit: Emit) -> None:
    emit("## Run completions per second")
    emit("")
    emit(
        "| store | completions/s: median (min–max) | commit p50 ms | commit p99 ms "
        "| CPU µs per completion | rounds |"
    )
    emit("|---|---|---|---|---|---|")
    labels = {
        "sqlite": "SQLite (WAL, synchronous=FULL)",
        "postgresql": "PostgreSQL (shared server)",
    }
    for key, label in labels.items():
        runs = outcome.completions.get(key)
        if not runs:
            emit(f"| {label} | skipped | | | | |")
            continue
        emit(
            f"| {label} | {spread([r.per_second for r in runs])} "
            f"| {median(r.latency_ms['p50'] for r in runs):.2f} "
            f"| {median(r.latency_ms['p99'] for r in runs):.2f} "
            f"| {median(r.cpu_us for r in runs):,.0f} "
            f"| {len(runs)} × {outcome.config.completion_seconds:g} s |"
        )
    emit("")
    sqlite = outcome.completions.get("sqlite")
    if sqlite and outcome.fsync_floor_us:
        wall = 1e6 / median(r.per_second for r in sqlite)
        cpu = median(r.cpu_us for r in sqlite)
        emit(
            f"Where a SQLite completion's {wall:,.0f} µs go: {cpu:,.0f} µs of CPU in this "
            "process (marketbrief, SQLAlchemy and the sqlite3 driver building and running the "
            f"transaction's statements) and the rest waiting, mostly on the disk: appending "
            f"24 KB to a file on the same disk and `fdatasync`-ing it takes "
            f"{outcome.fsync_floor_us:,.0f} µs (median of 200), the floor under every "
            "`synchronous=FULL` commit. 1,000 completions/s leaves 1,000 µs for both."
        )
        emit("")
