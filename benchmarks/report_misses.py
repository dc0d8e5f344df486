"""The "Reading the misses" section: what this run's own numbers say about each missed target."""

from __future__ import annotations

from statistics import median

from benchmarks.config import FIXED_RATE
from benchmarks.outcome import Outcome
from benchmarks.report_figures import Emit, cost_us, round_ratios


def _group(outcome: Outcome, profile: str, name: str) -> float:
    summary = outcome.profiles.get(profile)
    return dict(summary.groups).get(name, 0.0) if summary else 0.0


def _history_misses(outcome: Outcome) -> list[str]:
    """One line per history mode whose p95 missed 5 ms: overloaded, or noisy?"""
    rate = outcome.config.fixed_rate
    ip = outcome.in_process
    lines = []
    for key, label in FIXED_RATE:
        runs = outcome.fixed.get(key)
        cost = cost_us(outcome, key)
        if not runs or cost is None:
            continue
        p95 = [r.latency_ms["p95"] for r in runs]
        if median(p95) <= 5.0:
            continue
        if cost > 1e6 / rate * 0.7:
            detail = ""
            if key == "history_sqlite" and ip is not None:
                detail = (
                    f" In-process the app answers a history request in {ip.app_history_us:,.0f}"
                    f" µs; `SQLStore.history(limit=50)` alone takes {ip.history_store_us:,.0f} µs."
                )
            lines.append(
                f"**{label} at {rate:,.0f} req/s** is beyond what one core serves: one request "
                f"costs about {cost:,.0f} µs (closed-loop maximum {1e6 / cost:,.0f} req/s), so "
                f"the queue only grows and the percentiles measure the backlog.{detail}"
            )
            continue
        best = min(range(len(runs)), key=lambda i: p95[i])
        worst = max(range(len(runs)), key=lambda i: p95[i])
        text = (
            f"**{label} at {rate:,.0f} req/s** is within what the endpoint serves (one request "
            f"costs about {cost:,.0f} µs of the core, so the server is busy "
            f"{rate * cost / 1e4:.0f} % of the time), yet p95 went from {p95[best]:.2f} ms to "
            f"{p95[worst]:.2f} ms across rounds"
        )
        others = outcome.other_cpu.get(f"fixed:{key}", [])
        if len(others) == len(runs):
            text += (
                f"; everything else on the machine used {others[best]:.2f} cores in the best "
                f"round and {others[worst]:.2f} in the worst"
            )
        lines.append(text + ". The tail is made of stalls (see p99 and max), not of a steady cost.")
    return lines


def section(outcome: Outcome, emit: Emit) -> None:
    """What the numbers say about each missed target, from this run's own measurements."""
    lines: list[str] = []
    ceiling, cached = cost_us(outcome, "ceiling"), cost_us(outcome, "cached")
    off, ip = cost_us(outcome, "cache_off"), outcome.in_process
    off_ratios = round_ratios(outcome, "cache_off", "ceiling")
    if ceiling and off and off_ratios and median(off_ratios) < 0.25:
        detail = ""
        if ip is not None:
            detail = (
                f" In-process, a cache-off `get_report` + render takes "
                f"{ip.store_report_us:,.0f} µs against {ip.cached_report_us:,.0f} µs for a "
                "hit: the SQL read of the 20 KB snapshot through SQLAlchemy plus the "
                "hand-off to a worker thread and back."
            )
        lines.append(
            f"**Cache off** costs the server {off:,.0f} µs per answer against "
            f"{ceiling:,.0f} µs for the ceiling; 25 % of the ceiling would need "
            f"{ceiling * 4:,.0f} µs.{detail} In the profile, SQLAlchemy is "
            f"{_group(outcome, 'cache_off', 'SQLAlchemy'):.0f} % and the thread hand-off "
            f"{_group(outcome, 'cache_off', 'thread hand-off (anyio, threading, queue)'):.0f}"
            " % of the samples."
        )
    lines.extend(_history_misses(outcome))
    sqlite = outcome.completions.get("sqlite")
    if sqlite and median(r.per_second for r in sqlite) < 1000:
        cpu = median(r.cpu_us for r in sqlite)
        lines.append(
            f"**Completions on SQLite** are bound by CPU more than by the disk: "
            f"{cpu:,.0f} µs of CPU per completion (Python, SQLAlchemy building and running "
            "the transaction's statements, sqlite3), while a 24 KB append + "
            f"`fdatasync` on this disk takes {outcome.fsync_floor_us:,.0f} µs."
        )
    pg = cost_us(outcome, "pg_cached")
    if pg and cached and ceiling and median(round_ratios(outcome, "pg_cached", "ceiling")) < 0.5:
        lines.append(
            f"**Scaled out**, a cached answer costs {pg:,.0f} µs against {cached:,.0f} µs "
            f"embedded: the difference, about {pg - cached:,.0f} µs, is the Redis round trip "
            "through redis-py's asyncio client (and the Redis server, unpinned, shares the "
            "two cores with the server and wrk)."
        )
    if not lines:
        return
    emit("### Reading the misses")
    emit("")
    for line in lines:
        emit(f"- {line}")
    emit("")
