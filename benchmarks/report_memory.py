"""The "Memory" section: resident memory of each marketbrief server after its rounds."""

from __future__ import annotations

from benchmarks.outcome import Outcome
from benchmarks.report_figures import Emit

LABELS = {
    "cached": "embedded, cache on (after the report and history rounds)",
    "cache_off": "embedded, cache off",
    "pg_cached": "scaled out, PostgreSQL + Redis (after the report and history rounds)",
    "dashboard": "the dashboard's server (its own store, after the browser loads)",
}


def section(outcome: Outcome, emit: Emit) -> None:
    emit("## Memory per worker")
    emit("")
    if not outcome.rss_mb:
        emit("Not measured in this run.")
        emit("")
        return
    emit(
        "`VmRSS` from `/proc/PID/status` of each `marketbrief serve` process (one worker each; "
        "the largest process when a server has several) at the end of its last round, before "
        "it is stopped, beside the same figure once it first answered `/healthz`, before any "
        "load (the memory its imports and start-up take)."
    )
    emit("")
    emit("| server | RSS after its rounds, MB | RSS once ready, MB |")
    emit("|---|---|---|")
    for key, mb in outcome.rss_mb.items():
        start = outcome.rss_start_mb.get(key)
        emit(f"| {LABELS.get(key, key)} | {mb:,.1f} | {f'{start:,.1f}' if start else '—'} |")
    emit("")
