"""The fixed-rate rounds: every condition offered a quarter of the bare ceiling's closed-loop rate.

The rate comes from this run's own closed-loop rounds (the faster of the two bare ceilings,
median over rounds), so the test asks the same of a fast machine as of a slow one; the bare
app on that server runs through the same generator at the same rate, as the reference.
"""

from __future__ import annotations

from statistics import median

from benchmarks.config import FIXED_RATE, Config
from benchmarks.meter import Meter
from benchmarks.openloop import run_fixed_rate
from benchmarks.outcome import Outcome
from benchmarks.progress import log
from benchmarks.report_figures import rps_of

CEILINGS = ("ceiling", "ceiling_fastest")


def bare_ceiling(outcome: Outcome) -> str | None:
    """The key of the faster bare ceiling (median closed-loop req/s), or None if none ran."""
    measured = [key for key in CEILINGS if rps_of(outcome, key)]
    return max(measured, key=lambda key: median(rps_of(outcome, key))) if measured else None


def offered_rate(outcome: Outcome, fraction: float) -> float:
    """`fraction` of the faster ceiling's closed-loop req/s, rounded to tens."""
    key = bare_ceiling(outcome)
    if key is None:
        raise RuntimeError("no bare ceiling was measured, so there is no rate to offer")
    return max(10.0, round(median(rps_of(outcome, key)) * fraction / 10) * 10)


def run(config: Config, outcome: Outcome, targets: dict[str, tuple[str, int]]) -> None:
    """Every condition of FIXED_RATE found in `targets` (key -> (url, server pid)), interleaved.

    `targets` names the bare reference under each ceiling's own key; the faster one runs as
    "bare".
    """
    bare = bare_ceiling(outcome)
    if bare is None or bare not in targets:
        raise RuntimeError("the bare ceiling is not running")
    outcome.fixed_bare = bare
    outcome.fixed_rate = rate = offered_rate(outcome, config.fixed_fraction)
    chosen = {key: targets[bare if key == "bare" else key] for key, _ in FIXED_RATE}
    log(f"  offered rate {rate:,.0f} req/s ({config.fixed_fraction:.0%} of {bare})")
    for rep in range(config.fixed_reps):
        for key, _label in FIXED_RATE:
            if key != "bare" and key not in targets:
                continue
            url, pid = chosen[key]
            with Meter(pid) as meter:
                result = run_fixed_rate(url, rate, config.fixed_seconds)
            outcome.fixed.setdefault(key, []).append(result)
            outcome.other_cpu.setdefault(f"fixed:{key}", []).append(meter.other_cores)
            log(
                f"  round {rep + 1} {key}: p95 {result.latency_ms['p95']:.2f} ms, "
                f"p99 {result.latency_ms['p99']:.2f} ms, dispatch lag p99 "
                f"{result.dispatch_lag_ms['p99']:.2f} ms, errors {sum(result.errors.values())}"
            )
