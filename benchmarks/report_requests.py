"""The HTTP sections: requests per second side by side (closed loop), history at a fixed rate."""

from __future__ import annotations

from statistics import median

from benchmarks.config import FIXED_RATE, THROUGHPUT
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


def fixed_rate(outcome: Outcome, emit: Emit) -> None:
    c = outcome.config
    emit(f"## Job history at a fixed {c.fixed_rate:,.0f} requests/s, {c.history_runs:,} runs")
    emit("")
    emit(
        "`GET /api/v1/jobs/history?limit=50` (50 runs, about "
        f"{outcome.response_bytes.get('history_sqlite', 0):,} bytes of JSON). Latency in ms "
        "from the scheduled send time."
    )
    emit("")
    emit(
        "| mode | round | p50 | p90 | p95 | p99 | p99.9 | max | achieved req/s | errors | "
        "send lag p99 | other CPU, cores |"
    )
    emit("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for key, label in FIXED_RATE:
        runs = outcome.fixed.get(key)
        if not runs:
            emit(f"| {label} | skipped: {outcome.skipped.get(key, 'not run')} |" + " |" * 10)
            continue
        others = outcome.other_cpu.get(f"fixed:{key}", [])
        for rep, r in enumerate(runs, start=1):
            lat = r.latency_ms
            errors = sum(r.errors.values())
            noise = f"{others[rep - 1]:.2f}" if rep <= len(others) else "—"
            emit(
                f"| {label} | {rep} | {lat['p50']:.2f} | {lat['p90']:.2f} | {lat['p95']:.2f} "
                f"| {lat['p99']:.2f} | {lat['p99.9']:.2f} | {lat['max']:.2f} "
                f"| {r.achieved_rate:,.0f} | {errors} | {r.send_lag_ms['p99']:.2f} | {noise} |"
            )
        p95 = [r.latency_ms["p95"] for r in runs]
        p99 = [r.latency_ms["p99"] for r in runs]
        emit(
            f"| **{label}** | median | {median(r.latency_ms['p50'] for r in runs):.2f} | "
            f"| **{median(p95):.2f}** | {median(p99):.2f} | | | | | | |"
        )
    emit("")
    if outcome.relaxed:
        emit(
            f"The same endpoint offered {c.relaxed_fraction:.0%} of its closed-loop maximum "
            f"instead ({c.relaxed_seconds:g} s, one run each), i.e. not overloaded:"
        )
        emit("")
        emit("| mode | offered req/s | p50 | p90 | p95 | p99 | max | errors |")
        emit("|---|---|---|---|---|---|---|---|")
        for key, label in FIXED_RATE:
            relaxed = outcome.relaxed.get(key)
            if relaxed is None:
                continue
            lat = relaxed.latency_ms
            emit(
                f"| {label} | {relaxed.rate:,.0f} | {lat['p50']:.2f} | {lat['p90']:.2f} "
                f"| {lat['p95']:.2f} | {lat['p99']:.2f} | {lat['max']:.2f} "
                f"| {sum(relaxed.errors.values())} |"
            )
        emit("")
    emit(
        "Achieved req/s counts answers from the first measured scheduled send to the last "
        "answer: below the offered rate when the server fell behind and a backlog drained "
        "after the window. Send lag is how late the generator itself sent (included in the "
        "latencies)."
    )
    emit("")
    for key, label in FIXED_RATE:
        rps = rps_of(outcome, key)
        if rps:
            cost = 1e6 / median(rps)
            emit(
                f"- {label}: the closed-loop maximum of the same endpoint is {spread(rps)} "
                f"req/s, i.e. one request costs the server about {cost:,.0f} µs of its one "
                f"core; {c.fixed_rate:,.0f} req/s is {c.fixed_rate / median(rps) * 100:.0f} % "
                f"of that maximum and leaves {1e6 / c.fixed_rate:,.0f} µs per request."
            )
    emit("")
