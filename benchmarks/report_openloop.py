"""The "At a fixed offered rate" section: every condition at the same rate, beside the bare app."""

from __future__ import annotations

from statistics import median

from benchmarks.config import FIXED_RATE
from benchmarks.openloop import (
    DRAIN_SECONDS,
    GENERATOR_LAG_INTERVALS,
    GENERATOR_LAG_MS,
    KEPT_RATE,
    FixedRateResult,
)
from benchmarks.outcome import Outcome
from benchmarks.report_figures import Emit, ms, rps_of, spread, times


def _mid(runs: list[FixedRateResult], q: str) -> str:
    return ms(median(r.latency_ms[q] for r in runs))


def _times(runs: list[FixedRateResult], bare: list[FixedRateResult], q: str) -> str:
    """The rounds' `q` latency as multiples of the bare app's in the same round (median)."""
    return times(
        median(r.latency_ms[q] / b.latency_ms[q] for r, b in zip(runs, bare, strict=False))
    )


def _lag(runs: list[FixedRateResult]) -> str:
    """Median send lag p99 over the rounds that sent anything answered."""
    lags = [
        r.send_lag_ms["p99"]
        for r in runs
        if r.send_lag_ms.get("p99", 0) == r.send_lag_ms.get("p99")
    ]
    return ms(median(lags)) if lags else "—"


def section(outcome: Outcome, emit: Emit) -> None:
    c = outcome.config
    emit(f"## At a fixed offered rate (open loop): {outcome.fixed_rate:,.0f} requests/s")
    emit("")
    bare = outcome.fixed.get("bare")
    if not bare:
        why = outcome.failures.get("fixed offered rate (open loop)", "see the phases below")
        emit(f"Not measured in this run: {why}.")
        emit("")
        return
    ceiling = rps_of(outcome, outcome.fixed_bare)
    emit(
        f"Every condition is offered {c.fixed_fraction:.0%} of the closed-loop rate of the "
        f"faster bare ceiling of this run (`{outcome.fixed_bare}`, {spread(ceiling)} req/s), "
        f"{c.fixed_reps} × {c.fixed_seconds:g} s rounds, interleaved; the bare app on that "
        "server gets the same rate from the same generator. Latency in ms from each request's "
        "scheduled send time; medians over rounds, p95 and p99 also as multiples of the bare "
        "app's in the same round. History is `GET /api/v1/jobs/history?limit=50` (about "
        f"{outcome.response_bytes.get('history_sqlite', 0):,} bytes); the report is the cached "
        f"pre-market report ({outcome.response_bytes.get('cached', 0):,} bytes)."
    )
    emit("")
    emit(
        "| condition | p50 | p95 | ÷ bare | p99 | ÷ bare | max | answered req/s | errors "
        "| dispatch lag p99 | send lag p99 | other CPU, cores |"
    )
    emit("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for key, label in FIXED_RATE:
        runs = outcome.fixed.get(key)
        if not runs:
            reason = outcome.skipped.get(key, outcome.skipped.get("scaled-out mode", "not run"))
            emit(f"| {label} | skipped: {reason} |" + " |" * 10)
            continue
        others = [x for x in outcome.other_cpu.get(f"fixed:{key}", []) if x == x]
        noise = f"{median(others):.2f}" if others else "—"
        emit(
            f"| {label} | {_mid(runs, 'p50')} | {_mid(runs, 'p95')} "
            f"| {_times(runs, bare, 'p95')} | {_mid(runs, 'p99')} "
            f"| {_times(runs, bare, 'p99')} | {_mid(runs, 'max')} "
            f"| {median(r.achieved_rate for r in runs):,.0f} "
            f"| {sum(sum(r.errors.values()) for r in runs)} "
            f"| {median(r.dispatch_lag_ms['p99'] for r in runs):.2f} "
            f"| {_lag(runs)} | {noise} |"
        )
    emit("")
    interval = 1e3 / outcome.fixed_rate
    emit(
        f"The generator is one asyncio process on uvloop; at this rate a request is due every "
        f"{interval:.2f} ms. *Dispatch lag* is how late the generator itself put a request on "
        "the timetable (its own CPU falling behind); *send lag* is how late the request went "
        "out, which adds any wait for a free connection while the server is slow. Both are "
        "inside the latencies. A round's figures count only if the dispatch lag's p99 stayed "
        f"under {GENERATOR_LAG_MS:g} ms or {GENERATOR_LAG_INTERVALS} intervals, whichever is "
        f"larger, and the bare app answered at least {KEPT_RATE:.0%} of the offered rate; "
        "otherwise the target says the generator could not keep up instead of a number. "
        "*Answered req/s* counts answers from the first measured scheduled send to the last "
        "answer: below the offered rate when the server fell behind. Requests still unanswered "
        f"{DRAIN_SECONDS:g} s after the last scheduled send are counted with an infinite "
        "latency (∞), so a backlog is charged in full rather than left out."
    )
    emit("")
    for key, label in FIXED_RATE:
        rps = rps_of(outcome, key)
        if rps and key != "bare":
            cost = 1e6 / median(rps)
            emit(
                f"- {label}: closed-loop maximum {spread(rps)} req/s, i.e. about {cost:,.0f} µs "
                f"of the server's core per request; the offered rate keeps it busy "
                f"{outcome.fixed_rate * cost / 1e4:.0f} % of the time."
            )
    emit("")
