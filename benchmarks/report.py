"""docs/performance.md from one run's outcome: medians, spreads, ratios and the targets."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import median

from benchmarks.seed import SeedPlan
from benchmarks.suite import FIXED_RATE, REPORT_PATH, THROUGHPUT, Outcome

Emit = Callable[[str], None]
WELL_AHEAD = 2.0  # "well ahead of the baseline" is read as at least twice its requests/s


@dataclass(frozen=True, slots=True)
class Target:
    """One target, what was measured against it, and whether it was met (None: not measured)."""

    name: str
    measured: str
    met: bool | None


def spread(values: Sequence[float], digits: int = 0, unit: str = "") -> str:
    """`median (min–max)` of values, or the one value when there is one."""
    if not values:
        return "—"
    fmt = f"{{:,.{digits}f}}"
    mid = fmt.format(median(values)) + unit
    if len(values) == 1:
        return mid
    return f"{mid} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def round_ratios(outcome: Outcome, key: str, over: str) -> list[float]:
    """rps(key) / rps(over), round by round (each pair measured seconds apart)."""
    a = outcome.throughput.get(key, [])
    b = outcome.throughput.get(over, [])
    return [x.requests_per_second / y.requests_per_second for x, y in zip(a, b, strict=False)]


def _rps(outcome: Outcome, key: str) -> list[float]:
    return [r.requests_per_second for r in outcome.throughput.get(key, [])]


def _yes(met: bool | None) -> str:
    return {True: "**met**", False: "**not met**", None: "not measured"}[met]


def targets(outcome: Outcome) -> list[Target]:
    """The targets of the brief, each against its measured figure."""
    found: list[Target] = []

    def ratio_target(name: str, key: str, floor: float) -> None:
        ratios = round_ratios(outcome, key, "ceiling")
        if not ratios:
            found.append(Target(name, "—", None))
            return
        found.append(
            Target(
                name,
                spread([r * 100 for r in ratios], 1, " %") + " of ceiling",
                median(ratios) >= floor,
            )
        )

    ratio_target("cached report ≥ 50 % of the ceiling's requests/s (embedded)", "cached", 0.5)
    ratio_target("cache off ≥ 25 % of the ceiling's requests/s (SQLite)", "cache_off", 0.25)
    for key, label in FIXED_RATE:
        runs = outcome.fixed.get(key, [])
        name = f"history p95 ≤ 5 ms at {outcome.config.fixed_rate:,.0f} req/s, " + (
            f"{outcome.config.history_runs:,} runs ({label})"
        )
        if not runs:
            found.append(Target(name, "—", None))
            continue
        p95 = [r.latency_ms["p95"] for r in runs]
        clean = all(r.ok for r in runs)
        measured = "p95 " + spread(p95, 2, " ms") + ("" if clean else " (with errors)")
        found.append(Target(name, measured, clean and median(p95) <= 5.0))
    sqlite = outcome.completions.get("sqlite", [])
    found.append(
        Target(
            "≥ 1,000 run completions/s on SQLite (synchronous=FULL)",
            spread([r.per_second for r in sqlite], 0, "/s") if sqlite else "—",
            median([r.per_second for r in sqlite]) >= 1000 if sqlite else None,
        )
    )
    ahead = round_ratios(outcome, "cached", "baseline")
    found.append(
        Target(
            f"cached report well ahead of the FastAPI baseline (read as ≥ {WELL_AHEAD:g}×)",
            spread(ahead, 1, "×") if ahead else "—",
            median(ahead) >= WELL_AHEAD if ahead else None,
        )
    )
    dash = outcome.dashboard
    found.append(
        Target(
            f"dashboard DOMContentLoaded ≤ 200 ms ({outcome.config.dashboard_runs:,} runs)",
            spread(dash.warm_dcl_ms, 1, " ms") if dash else "—",
            dash.median_dcl_ms <= 200 if dash else None,
        )
    )
    pg_ratios = round_ratios(outcome, "pg_cached", "ceiling")
    if pg_ratios:
        found.append(
            Target(
                "scaled out: cached report ≥ 50 % of the ceiling (same target, PostgreSQL + Redis)",
                spread([r * 100 for r in pg_ratios], 1, " %") + " of ceiling",
                median(pg_ratios) >= 0.5,
            )
        )
    return found


def render(outcome: Outcome) -> str:
    """The whole Markdown document."""
    c = outcome.config
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(outcome.started))
    minutes = (outcome.finished - outcome.started) / 60
    out: list[str] = []
    add = out.append
    add("# Performance")
    add("")
    add(
        f"Measured by `make bench` on {when}; the run took {minutes:.1f} minutes. "
        "This file is written by the benchmark: run it again to refresh every number."
    )
    add("")
    add("```sh")
    add("make bench")
    add(f"# which runs: {outcome.command}")
    add("```")
    add("")
    if c.quick:
        add("> **Quick smoke run** (`--quick`): small stores and short runs. These numbers only")
        add("> show that the benchmark works; they measure nothing precisely.")
        add("")
    if outcome.failures:
        add("> **Some measurements failed in this run** and are missing below:")
        for name, error in outcome.failures.items():
            add(f"> - {name}: `{error}`")
        add("")
    add("## Targets")
    add("")
    add("| target | measured: median (min–max over rounds) | |")
    add("|---|---|---|")
    for t in targets(outcome):
        add(f"| {t.name} | {t.measured} | {_yes(t.met)} |")
    add("")
    _reading(outcome, add)
    _method(outcome, add)
    _machine(outcome, add)
    _throughput(outcome, add)
    _fixed(outcome, add)
    _completions(outcome, add)
    _dashboard(outcome, add)
    _profile(outcome, add)
    _housekeeping(outcome, add)
    return "\n".join(out).rstrip() + "\n"


def _cost_us(outcome: Outcome, key: str) -> float | None:
    """Server time per request at the closed-loop maximum (1 / median req/s), in µs."""
    rps = _rps(outcome, key)
    return 1e6 / median(rps) if rps else None


def _focus(outcome: Outcome, profile: str, name: str) -> float | None:
    summary = outcome.profiles.get(profile)
    if summary is None:
        return None
    return dict(summary.focus).get(name)


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
        cost = _cost_us(outcome, key)
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


def _reading(outcome: Outcome, emit: Emit) -> None:
    """What the numbers say about each missed target, from this run's own measurements."""
    lines: list[str] = []
    ceiling, cached = _cost_us(outcome, "ceiling"), _cost_us(outcome, "cached")
    off, ip = _cost_us(outcome, "cache_off"), outcome.in_process
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
    pg = _cost_us(outcome, "pg_cached")
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


def _method(outcome: Outcome, emit: Emit) -> None:
    c = outcome.config
    emit("## How it was measured")
    emit("")
    emit(
        "- Loopback only (127.0.0.1). Every server is a uvicorn process pinned with "
        "`taskset -c 0`; every load generator (wrk, the fixed-rate generator, Chromium) is "
        "pinned with `taskset -c 1`. PostgreSQL and Redis are the machine's shared servers and "
        "run unpinned, so in scaled-out mode they compete with both cores."
    )
    emit(
        "- All servers run the same uvicorn the same way `marketbrief serve` does: one process, "
        "uvicorn's default event loop and HTTP parser, log level info with the access log on."
    )
    emit(
        f"- Closed loop: `wrk -t1 -c32 -d{c.throughput_seconds:g}s --latency`, after a "
        f"{c.warmup_seconds:g} s warm-up of every server. {c.reps} rounds, interleaved: each "
        "round measures every condition once, in the same order, so noise from the shared "
        "machine hits all conditions alike. Ratios are taken within a round (A/B of the same "
        "round), then the median over rounds is reported with its min–max."
    )
    emit(
        f"- Open loop: {c.fixed_rate:,.0f} requests/s offered for {c.fixed_seconds:g} s (after "
        f"1 s not recorded), {c.fixed_reps} rounds alternating the two modes, by one asyncio "
        "process over 64 keep-alive connections. Requests follow a fixed timetable and each "
        "latency is measured from its *scheduled* send time, so a stalled server is charged "
        "for every request that waited (no coordinated omission). "
        "The generator's own lateness (send lag) is reported beside it."
    )
    emit(
        f"- Stores: the read benchmarks use one SQLite file seeded with "
        f"{c.history_runs:,} runs over {SeedPlan(c.history_runs).days:,} dates "
        "(3 % failed, 5 % partial, with errors and warnings), 20 KB report snapshots for the "
        "last 40 dates of each type, and the same data COPY'd into a private PostgreSQL schema. "
        "The schema is always created by `SQLStore.migrate()`."
    )
    emit(
        "- Report requests are `GET /api/v1/reports/pre-market?date=D` (a wrk Lua script), with "
        f"D going round the {outcome.report_dates} dates that have a pre-market report, one "
        "date per request in turn: each answer is a fresh snapshot of about 20 KB, and with "
        "the cache off concurrent requests seldom ask for the same report, so they seldom "
        "share a store read. The ceiling answers every request with marketbrief's own "
        f"response bytes for `{REPORT_PATH}`; the baseline gets the same requests."
    )
    emit(
        "- Run completions: `SQLStore.finish_run(completion)` back to back in one process "
        "pinned to core 0; each completion is a never-claimed run with a 20 KB report and six "
        "predictions, i.e. one transaction inserting the run row, the snapshot and the "
        "predictions and moving the latest pointer (SQLite: WAL, `synchronous=FULL`)."
    )
    emit("")


def _machine(outcome: Outcome, emit: Emit) -> None:
    emit("## Machine")
    emit("")
    emit("| fact | value |")
    emit("|---|---|")
    for name, value in outcome.machine.items():
        emit(f"| {name} | {value} |")
    emit("")


def _throughput(outcome: Outcome, emit: Emit) -> None:
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
            f"| {label} | {spread(_rps(outcome, key))} "
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


def _fixed(outcome: Outcome, emit: Emit) -> None:
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
        rps = _rps(outcome, key)
        if rps:
            cost = 1e6 / median(rps)
            emit(
                f"- {label}: the closed-loop maximum of the same endpoint is {spread(rps)} "
                f"req/s, i.e. one request costs the server about {cost:,.0f} µs of its one "
                f"core; {c.fixed_rate:,.0f} req/s is {c.fixed_rate / median(rps) * 100:.0f} % "
                f"of that maximum and leaves {1e6 / c.fixed_rate:,.0f} µs per request."
            )
    emit("")


def _completions(outcome: Outcome, emit: Emit) -> None:
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


def _dashboard(outcome: Outcome, emit: Emit) -> None:
    emit(f"## Dashboard `/` with {outcome.config.dashboard_runs:,} runs")
    emit("")
    dash = outcome.dashboard
    if dash is None:
        emit(f"Skipped: {outcome.skipped.get('dashboard', 'not run')}")
        emit("")
        return
    emit(
        f"Headless Debian Chromium {dash.chromium} via Playwright, {dash.loads} loads, each in a "
        "new page; the first (cold) load is left out of the median. The store holds "
        f"{outcome.config.dashboard_runs:,} runs, {outcome.dashboard_runs_in_window:,} of them in "
        f"the last 14 days (the schedule grid's window); the page is {dash.html_bytes:,} bytes "
        f"with {dash.rows} table rows."
    )
    emit("")
    emit("| | median (min–max), ms | first load, ms |")
    emit("|---|---|---|")
    emit(f"| DOMContentLoaded | {spread(dash.warm_dcl_ms, 1)} | {dash.dcl_ms[0]:.1f} |")
    ttfb = spread(dash.ttfb_ms[1:] or dash.ttfb_ms, 1)
    emit(f"| time to first byte | {ttfb} | {dash.ttfb_ms[0]:.1f} |")
    emit(f"| load event | {spread(dash.load_ms[1:] or dash.load_ms, 1)} | {dash.load_ms[0]:.1f} |")
    emit("")


def _profile(outcome: Outcome, emit: Emit) -> None:
    emit("## Where the time goes")
    emit("")
    ip = outcome.in_process
    if ip is not None:
        emit(
            f"In-process, without HTTP ({ip.calls:,} calls each, SQLite store with "
            f"{outcome.config.history_runs:,} runs):"
        )
        emit("")
        emit("| work | µs per call | share of one served request |")
        emit("|---|---|---|")
        rows = (
            ("ASGI app, cached report", ip.app_cached_report_us, "cached"),
            ("… of which `Results.get_report` + envelope render", ip.cached_report_us, "cached"),
            ("ASGI app, report with the cache off", ip.app_store_report_us, "cache_off"),
            ("… of which `Results.get_report` + envelope render", ip.store_report_us, "cache_off"),
            ("ASGI app, job history (limit=50)", ip.app_history_us, "history_sqlite"),
            ("`SQLStore.history(limit=50)` alone (the query, uncached)", ip.history_store_us, ""),
        )
        for label, micros, key in rows:
            rps = _rps(outcome, key) if key else []
            share = "—"
            if rps:
                cost = 1e6 / median(rps)
                share = f"{micros / cost * 100:.0f} % of {cost:,.0f} µs"
            emit(f"| {label} | {micros:,.1f} | {share} |")
        emit("")
        emit(
            '"ASGI app" calls the application directly (Starlette, middleware, handler, cache '
            "or store; no HTTP server, no client). The share column divides by the time one "
            "request costs the server at its measured closed-loop maximum (1 / req/s): the rest "
            "is uvicorn, h11, the asyncio transport and the access log. In-process calls run one "
            "at a time, so a store read also pays an idle worker thread's wake-up."
        )
        emit("")
    if outcome.profiles:
        emit(
            "py-spy (`record --gil --nonblocking`, 200 Hz) of the server under wrk load: the "
            "share of CPU samples by the package of the innermost Python frame (time inside C "
            "code is charged to the Python function that called it)."
        )
        emit("")
        for summary in outcome.profiles.values():
            emit(f"**{summary.label}** ({summary.samples:,} samples)")
            emit("")
            emit("| package (self time) | % |")
            emit("|---|---|")
            for name, pct in summary.groups[:10]:
                emit(f"| {name} | {pct} |")
            emit("")
            if summary.focus:
                emit(
                    "Inclusive: "
                    + ", ".join(f"`{name.split(' (')[0]}` {pct} %" for name, pct in summary.focus)
                )
                emit("")
            emit("<details><summary>Top functions by self time</summary>")
            emit("")
            for name, pct in summary.top_self:
                emit(f"- {pct} % `{name}`")
            emit("")
            emit("</details>")
            emit("")
    elif "py-spy profiles" in outcome.skipped:
        emit(f"py-spy profiles skipped: {outcome.skipped['py-spy profiles']}.")
        emit("")


def _housekeeping(outcome: Outcome, emit: Emit) -> None:
    emit("## Seeding and phases")
    emit("")
    emit("| store | runs | snapshots | seconds | |")
    emit("|---|---|---|---|---|")
    for key, info in outcome.seeds.items():
        how = "reused from the cache directory" if info.reused else "seeded"
        emit(f"| {key} | {info.runs:,} | {info.snapshots:,} | {info.seconds:.1f} | {how} |")
    emit("")
    emit("| phase | seconds |")
    emit("|---|---|")
    for name, seconds in outcome.timings.items():
        emit(f"| {name} | {seconds:.1f} |")
    emit("")
    if outcome.skipped:
        emit("Skipped: " + "; ".join(f"{k}: {v}" for k, v in outcome.skipped.items()) + ".")
        emit("")
    for note in outcome.notes:
        emit(f"- {note}")
    if outcome.notes:
        emit("")


def write(outcome: Outcome, path: Path) -> Path:
    """Write the report to `path` (creating its folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(outcome))
    return path
