"""The closed-loop HTTP section: requests per second side by side, and their ratios."""

from __future__ import annotations

from statistics import median

from benchmarks.config import THROUGHPUT
from benchmarks.outcome import Outcome
from benchmarks.report_figures import Emit, round_ratios, rps_of, spread


def closed_loop(outcome: Outcome, emit: Emit) -> None:
    emit("## Requests per second, side by side (closed loop)")
    emit("")
    emit(
        "| condition | req/s: median (min–max) | p50 ms | p99 ms | body bytes | "
        "÷ ceiling (per round) |"
    )
    emit("|---|---|---|---|---|---|")
    for key, label in THROUGHPUT:
        runs = outcome.throughput.get(key)
        if not runs:
            reason = outcome.skipped.get(key, "not run")
            emit(f"| {label} | skipped: {reason} | | | | |")
            continue
        ratio = round_ratios(outcome, key, "ceiling")
        emit(
            f"| {label} | {spread(rps_of(outcome, key))} "
            f"| {median(r.latency_ms.get('p50', 0) for r in runs):.2f} "
            f"| {median(r.latency_ms.get('p99', 0) for r in runs):.2f} "
            f"| {outcome.response_bytes.get(key, 0):,} "
            f"| {spread([x * 100 for x in ratio], 1, ' %') if key != 'ceiling' else '100 %'} |"
        )
    emit("")
    pairs = (
        ("cached", "baseline", "marketbrief cached ÷ FastAPI baseline"),
        ("cache_off", "baseline", "marketbrief cache off ÷ FastAPI baseline"),
        ("cached", "cache_off", "marketbrief cached ÷ cache off"),
        ("pg_cached", "cached", "scaled-out cached ÷ embedded cached"),
        ("history_pg", "history_sqlite", "history PostgreSQL ÷ SQLite"),
    )
    emit("| ratio (same round) | median (min–max) |")
    emit("|---|---|")
    for a, b, label in pairs:
        values = round_ratios(outcome, a, b)
        if values:
            emit(f"| {label} | {spread(values, 2, '×')} |")
    emit("")
    if outcome.store_reads_per_request:
        emit(
            "Store reads per report answer during the rounds (from each server's `/metrics`): "
            + ", ".join(
                f"{key} {value:.3f}"
                for key, value in sorted(outcome.store_reads_per_request.items())
            )
            + ". With the cache off every answer is read from the store, except that concurrent "
            "requests for the same report share one read (single-flight)."
        )
        emit("")
    emit("<details><summary>Every round</summary>")
    emit("")
    emit(
        "Each cell: req/s, and in brackets the CPU cores that everything else on the machine "
        "used meanwhile (other users' work, PostgreSQL, Redis, steal): the noise of that "
        "measurement, out of 2 cores."
    )
    emit("")
    emit("| round | " + " | ".join(k for k, _ in THROUGHPUT if k in outcome.throughput) + " |")
    emit("|---|" + "---|" * len(outcome.throughput))
    for rep in range(outcome.config.reps):
        cells = []
        for key, _ in THROUGHPUT:
            runs = outcome.throughput.get(key)
            if runs is None:
                continue
            others = outcome.other_cpu.get(key, [])
            noise = f" ({others[rep]:.2f})" if rep < len(others) else ""
            cells.append(f"{runs[rep].requests_per_second:,.0f}{noise}" if rep < len(runs) else "—")
        emit(f"| {rep + 1} | " + " | ".join(cells) + " |")
    emit("")
    emit("</details>")
    emit("")
