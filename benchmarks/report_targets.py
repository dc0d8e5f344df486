"""The "Targets" section: each target of issue 16 against its measured figure, met or not."""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median

from benchmarks.config import FIXED_RATE
from benchmarks.openloop import DRAIN_SECONDS, FixedRateResult
from benchmarks.outcome import Outcome
from benchmarks.report_figures import Emit, fastest_ratios, ms, round_ratios, spread, times

RSS_LIMIT_MB = 150.0
HISTORY_P95_TIMES, HISTORY_P99_TIMES = 3.0, 5.0
GENERATOR_BEHIND = "generator could not keep up"


@dataclass(frozen=True, slots=True)
class Target:
    """One target, what was measured against it, and whether it was met (None: not measured)."""

    name: str
    measured: str
    met: bool | None
    unmeasured: str = "not measured"  # what the verdict says when `met` is None


def _yes(target: Target) -> str:
    return {True: "**met**", False: "**not met**", None: target.unmeasured}[target.met]


def _ratio_target(name: str, ratios: list[float], floor: float, of: str) -> Target:
    if not ratios:
        return Target(name, "—", None)
    return Target(name, spread([r * 100 for r in ratios], 1, " %") + of, median(ratios) >= floor)


def _behind(mode: FixedRateResult, bare: FixedRateResult) -> str | None:
    """Why the generator's figures of one round cannot be trusted, or None."""
    for r in (bare, mode):
        if not r.generator_kept_up:
            lag, interval = r.dispatch_lag_ms["p99"], 1e3 / r.rate
            return f"dispatch lag p99 {lag:.1f} ms, a request due every {interval:.2f} ms"
    if not bare.reached_rate:
        return f"{bare.achieved_rate:,.0f} of {bare.rate:,.0f} req/s answered by the bare app"
    return None


def history_target(outcome: Outcome, key: str, label: str) -> Target:
    """History p95/p99 at the offered rate against the bare app's at the same rate, per round.

    A round where the generator fell behind its timetable (on either run) says nothing about
    the server, so it is left out; with no round left, the target says so instead of a number.
    """
    rate = outcome.fixed_rate
    name = (
        f"history (limit 50), {outcome.config.history_runs:,} runs, {label}, at "
        f"{rate:,.0f} req/s ({outcome.config.fixed_fraction:.0%} of the bare ceiling): "
        f"p95 ≤ {HISTORY_P95_TIMES:g}× and p99 ≤ {HISTORY_P99_TIMES:g}× the bare app's"
    )
    pairs = list(zip(outcome.fixed.get(key, []), outcome.fixed.get("bare", []), strict=False))
    if not pairs:
        return Target(name, "—", None)
    reasons = [_behind(r, b) for r, b in pairs]
    kept = [pair for pair, reason in zip(pairs, reasons, strict=True) if reason is None]
    if not kept:
        return Target(name, "; ".join(str(r) for r in reasons), None, GENERATOR_BEHIND)
    runs, bare = [r for r, _ in kept], [b for _, b in kept]
    p95 = [r.latency_ms["p95"] / b.latency_ms["p95"] for r, b in kept]
    p99 = [r.latency_ms["p99"] / b.latency_ms["p99"] for r, b in kept]
    measured = (
        f"p95 {ms(median(r.latency_ms['p95'] for r in runs))} ms = {times(median(p95))}; "
        f"p99 {ms(median(r.latency_ms['p99'] for r in runs))} ms = {times(median(p99))} "
        f"(bare {ms(median(b.latency_ms['p95'] for b in bare))} / "
        f"{ms(median(b.latency_ms['p99'] for b in bare))} ms); send lag p99 "
        f"{ms(median(r.send_lag_ms['p99'] for r in runs))} ms"
    )
    if not all(r.reached_rate for r in runs):
        unanswered = median(r.errors.get("unanswered", 0) for r in runs)
        measured += (
            f"; fell behind: {median(r.achieved_rate for r in runs):,.0f} req/s answered, "
            f"{unanswered:,.0f} requests unanswered {DRAIN_SECONDS:g} s after the last send"
        )
    clean = all(r.ok for r in runs)
    if not clean:
        measured += " (with errors)"
    if len(kept) < len(pairs):
        measured += (
            f"; {len(kept)} of {len(pairs)} rounds, the generator fell behind in the others "
            f"({'; '.join(r for r in reasons if r)})"
        )
    met = clean and median(p95) <= HISTORY_P95_TIMES and median(p99) <= HISTORY_P99_TIMES
    return Target(name, measured, met)


def _dashboard_target(outcome: Outcome) -> Target:
    dash, static = outcome.dashboard, outcome.static_page
    name = (
        f"dashboard `/` with {outcome.config.dashboard_runs:,} runs: DOMContentLoaded ≤ 5× a "
        "static file of the same HTML on the same server"
    )
    if dash is None or static is None:
        return Target(name, "—", None)
    times = dash.median_dcl_ms / static.median_dcl_ms
    measured = (
        f"{dash.median_dcl_ms:.1f} ms = {times:.1f}× the static copy's "
        f"{static.median_dcl_ms:.1f} ms ({outcome.static_page_bytes:,} bytes)"
    )
    return Target(name, measured, times <= 5.0)


def _memory_target(outcome: Outcome) -> Target:
    name = f"RSS per worker after the benchmark ≤ {RSS_LIMIT_MB:g} MB"
    if not outcome.rss_mb:
        return Target(name, "—", None)
    measured = ", ".join(f"{key} {mb:,.0f} MB" for key, mb in outcome.rss_mb.items())
    return Target(name, measured, max(outcome.rss_mb.values()) <= RSS_LIMIT_MB)


def targets(outcome: Outcome) -> list[Target]:
    """The targets of issue 16, each against its measured figure."""
    found = [
        _ratio_target(
            "cached report, embedded, as shipped ≥ 50 % of the bare app on the fastest server",
            fastest_ratios(outcome, "cached"),
            0.5,
            " of the fastest ceiling",
        ),
        _ratio_target(
            "cached report, scaled out (PostgreSQL + Redis) ≥ 90 % of embedded, same round",
            round_ratios(outcome, "pg_cached", "cached"),
            0.9,
            " of embedded",
        ),
        _ratio_target(
            "cache off (every request from SQLite) ≥ 20 % of the fastest ceiling",
            fastest_ratios(outcome, "cache_off"),
            0.2,
            " of the fastest ceiling",
        ),
    ]
    found.extend(
        history_target(outcome, key, label.split(", ", 1)[1])
        for key, label in FIXED_RATE
        if key.startswith("history")
    )
    found.append(
        _ratio_target(
            "run completions on SQLite (synchronous=FULL) ≥ 50 % of raw sqlite3 commits of the "
            "same rows",
            [
                a.per_second / b.per_second
                for a, b in zip(
                    outcome.completions.get("sqlite", []),
                    outcome.completions.get("sqlite_raw", []),
                    strict=False,
                )
            ],
            0.5,
            " of the raw limit",
        )
    )
    found.append(_dashboard_target(outcome))
    found.append(_memory_target(outcome))
    found.append(_near_target(outcome))
    return found


def _near_target(outcome: Outcome) -> Target:
    name = "near cache: every process serves a new publish within about a second"
    near = outcome.near
    if near is None or not near.staleness_s:
        return Target(name, "—", None)
    ratios = ", ".join(f"{r * 100:.0f} %" for r in near.hit_ratio)
    measured = (
        f"worst {near.worst_s * 1000:,.0f} ms over {len(near.staleness_s)} publishes to "
        f"{near.processes} processes (median {near.median_s * 1000:,.0f} ms); hit ratio {ratios}"
    )
    return Target(name, measured, near.worst_s <= 1.0)


def section(outcome: Outcome, emit: Emit) -> None:
    """The table of targets, one row each, with its verdict."""
    emit("## Targets")
    emit("")
    emit(
        "Issue 16's targets, every one a ratio of two figures measured side by side in this run "
        "(absolute numbers are noise on a shared machine)."
    )
    emit("")
    emit("| target | measured: median (min–max over rounds) | |")
    emit("|---|---|---|")
    for t in targets(outcome):
        emit(f"| {t.name} | {t.measured} | {_yes(t)} |")
    emit("")
