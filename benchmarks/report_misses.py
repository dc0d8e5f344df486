"""The "Reading the misses" section: what this run's own numbers say about each missed target."""

from __future__ import annotations

from statistics import median

from benchmarks.config import FIXED_RATE
from benchmarks.outcome import Outcome
from benchmarks.report_figures import Emit, cost_us, fastest_ratios, round_ratios
from benchmarks.report_targets import RSS_LIMIT_MB, history_target

SQLALCHEMY = "SQLAlchemy"


def _group(outcome: Outcome, profile: str, name: str) -> float:
    summary = outcome.profiles.get(profile)
    return dict(summary.groups).get(name, 0.0) if summary else 0.0


def _fastest_cost(outcome: Outcome) -> float | None:
    costs = [c for c in (cost_us(outcome, "ceiling"), cost_us(outcome, "ceiling_fastest")) if c]
    return min(costs) if costs else None


def _cached(outcome: Outcome) -> list[str]:
    ratios, ceiling = fastest_ratios(outcome, "cached"), _fastest_cost(outcome)
    cached = cost_us(outcome, "cached")
    if not ratios or ceiling is None or cached is None or median(ratios) >= 0.5:
        return []
    ip = outcome.in_process
    detail = ""
    if ip is not None:
        detail = (
            f" In-process, the protocol's `answer_now` gives a repeated cached report in "
            f"{ip.early_report_us:,.1f} µs (the whole ASGI app, for a first request, in "
            f"{ip.app_cached_report_us:,.0f} µs); the rest of the {cached:,.0f} µs is the HTTP "
            f"server and the socket."
        )
    return [
        f"**Cached report, embedded**: {cached:,.0f} µs of the server per answer against "
        f"{ceiling:,.0f} µs for the fastest ceiling; 50 % of it would need {ceiling * 2:,.0f} "
        f"µs.{detail}"
    ]


def _cache_off(outcome: Outcome) -> list[str]:
    ratios, ceiling = fastest_ratios(outcome, "cache_off"), _fastest_cost(outcome)
    off = cost_us(outcome, "cache_off")
    if not ratios or ceiling is None or off is None or median(ratios) >= 0.2:
        return []
    ip = outcome.in_process
    detail = ""
    if ip is not None:
        detail = (
            f" In-process, a cache-off `get_report` + render takes {ip.store_report_us:,.0f} µs "
            f"against {ip.cached_report_us:,.0f} µs for a hit (one request after another: each "
            f"waits for a read thread to wake); the store read alone (`SQLStore.latest_snapshot`:"
            f" a pooled connection, the SELECT at the driver, SQLAlchemy's result processors) "
            f"takes {ip.store_read_us:,.0f} µs where the same SELECT through plain sqlite3 on one "
            f"open connection takes {ip.raw_read_us:,.1f} µs; the rest is the hop to the store's "
            f"read threads and back (which a stalled disk must never block the server for), the "
            f"read path around the read (single-flight, the answer) and the HTTP server."
        )
    return [
        f"**Cache off** costs the server {off:,.0f} µs per answer against {ceiling:,.0f} µs "
        f"for the fastest ceiling; 20 % of it would need {ceiling * 5:,.0f} µs.{detail} In the "
        f"profile, SQLAlchemy is {_group(outcome, 'cache_off', SQLALCHEMY):.0f} % of the samples."
    ]


def _history(outcome: Outcome) -> list[str]:
    lines = []
    interval = 1e6 / outcome.fixed_rate if outcome.fixed_rate else 0.0
    for key, label in FIXED_RATE:
        cost = cost_us(outcome, key)
        if not key.startswith("history") or cost is None or not interval:
            continue
        if history_target(outcome, key, label).met is not False:
            continue
        busy = cost / interval * 100
        if busy > 70:
            lines.append(
                f"**{label} at {outcome.fixed_rate:,.0f} req/s** asks for more than one core "
                f"serves comfortably: a request costs about {cost:,.0f} µs (closed-loop maximum "
                f"{1e6 / cost:,.0f} req/s) and one is due every {interval:,.0f} µs, so the server "
                f"is busy {busy:.0f} % of the time and requests queue."
            )
        else:
            lines.append(
                f"**{label}** keeps the server busy about {busy:.0f} % of the time at this rate "
                f"(a request costs {cost:,.0f} µs, one is due every {interval:,.0f} µs), yet its "
                "tail misses: the p99 and max columns show stalls rather than a steady cost."
            )
    return lines


def _completions(outcome: Outcome) -> list[str]:
    store, raw = outcome.completions.get("sqlite"), outcome.completions.get("sqlite_raw")
    if not store or not raw:
        return []
    ratio = median(a.per_second / b.per_second for a, b in zip(store, raw, strict=False))
    if ratio >= 0.5:
        return []
    wall = 1e6 / median(r.per_second for r in store)
    floor = 1e6 / median(r.per_second for r in raw)
    line = (
        f"**Completions on SQLite** reach {ratio:.0%} of the raw limit: {wall:,.0f} µs each "
        f"against {floor:,.0f} µs for the same driver calls through plain sqlite3."
    )
    profile = outcome.completion_profile
    if profile is not None:
        groups = dict(profile.groups)
        orm = sum(us for name, us in groups.items() if name.startswith(SQLALCHEMY))
        ours = sum(us for name, us in groups.items() if name.startswith("marketbrief"))
        line += (
            f" Under cProfile, SQLAlchemy's own code takes {orm:,.0f} µs of each completion and "
            f"marketbrief's {ours:,.0f} µs (see the table above)."
        )
    return [line]


def _scaled_out(outcome: Outcome) -> list[str]:
    pg, cached = cost_us(outcome, "pg_cached"), cost_us(outcome, "cached")
    ratios = round_ratios(outcome, "pg_cached", "cached")
    if not pg or not cached or not ratios or median(ratios) >= 0.9:
        return []
    return [
        f"**Scaled out**, a cached answer costs {pg:,.0f} µs against {cached:,.0f} µs "
        f"embedded: the difference, about {pg - cached:,.0f} µs, is the Redis round trip "
        "through redis-py's asyncio client (and the Redis server, unpinned, shares the two "
        "cores with the server and wrk). The near cache is what removes it."
    ]


def _memory(outcome: Outcome) -> list[str]:
    over = {k: mb for k, mb in outcome.rss_mb.items() if mb > RSS_LIMIT_MB}
    if not over:
        return []
    worst = max(over, key=lambda k: over[k])
    start = outcome.rss_start_mb.get(worst)
    line = f"**Memory**: the {worst} server holds {over[worst]:,.0f} MB after its rounds"
    if start:
        line += f", of which {start:,.0f} MB were resident once it was ready, before any request"
        if start >= 0.8 * over[worst]:
            line += ": most of a worker's memory is what its imports and start-up take"
    return [line + "."]


def section(outcome: Outcome, emit: Emit) -> None:
    """What the numbers say about each missed target, from this run's own measurements."""
    lines = [
        *_cached(outcome),
        *_cache_off(outcome),
        *_history(outcome),
        *_completions(outcome),
        *_scaled_out(outcome),
        *_memory(outcome),
    ]
    if not lines:
        return
    emit("### Reading the misses")
    emit("")
    for line in lines:
        emit(f"- {line}")
    emit("")
