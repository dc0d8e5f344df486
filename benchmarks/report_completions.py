"""The "Run completions per second" section: each store, the raw limit, and where the time goes."""

from __future__ import annotations

from statistics import median

from benchmarks.outcome import Outcome
from benchmarks.report_figures import Emit, spread

LABELS = {
    "sqlite": "`SQLStore.finish_run`, SQLite (WAL, synchronous=FULL)",
    "sqlite_raw": "raw limit: the same driver calls through plain `sqlite3`, same pragmas",
    "postgresql": "`SQLStore.finish_run`, PostgreSQL (shared server)",
}


def section(outcome: Outcome, emit: Emit) -> None:
    emit("## Run completions per second")
    emit("")
    emit(
        "| store | completions/s: median (min–max) | commit p50 ms | commit p99 ms "
        "| CPU µs per completion | rounds |"
    )
    emit("|---|---|---|---|---|---|")
    for key, label in LABELS.items():
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
    store, raw = outcome.completions.get("sqlite"), outcome.completions.get("sqlite_raw")
    if store and raw:
        wall = 1e6 / median(r.per_second for r in store)
        floor = 1e6 / median(r.per_second for r in raw)
        emit(
            "The raw limit replays one recorded `finish_run` at the driver: every statement "
            "and parameter SQLAlchemy handed to sqlite3 (BEGIN IMMEDIATE, the guard, the run "
            "row, the 20 KB snapshot, six predictions in one executemany, the latest pointer's "
            "compare-and-set, the revision bump), then one commit, with a new run id, version "
            "and snapshot id each time, on a connection with the store's pragmas, in a process "
            f"pinned to the same core. A completion costs {wall:,.0f} µs through the store "
            f"against {floor:,.0f} µs raw: {wall - floor:,.0f} µs is marketbrief and "
            f"SQLAlchemy. Appending 24 KB to a file on the same disk and `fdatasync`-ing it "
            f"takes {outcome.fsync_floor_us:,.0f} µs (median of 200), the floor under every "
            "`synchronous=FULL` commit."
        )
        emit("")
    profile = outcome.completion_profile
    if profile is not None and profile.completions:
        total = sum(us for _, us in profile.groups)
        emit(
            f"Where a completion's time goes: `finish_run` in a loop under cProfile "
            f"({profile.completions:,} completions, {profile.wall_us:,.0f} µs each under the "
            "profiler), self time by group. cProfile slows Python code and not C calls, so the "
            "Python groups are overstated; the commit and the statements are measured as is."
        )
        emit("")
        emit("| group | µs per completion | share |")
        emit("|---|---|---|")
        for name, us in profile.groups:
            emit(
                f"| {name} | {us:,.0f} | {us / total * 100:.0f} % |"
                if total
                else f"| {name} | 0 | |"
            )
        emit("")
        emit("<details><summary>Top functions by self time</summary>")
        emit("")
        for name, us in profile.top:
            emit(f"- {us:,.0f} µs `{name}`")
        emit("")
        emit("</details>")
        emit("")
