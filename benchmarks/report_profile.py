"""The "Where the time goes" section: in-process timings and the py-spy profiles under load."""

from __future__ import annotations

from statistics import median

from benchmarks.outcome import Outcome
from benchmarks.report_figures import Emit, rps_of


def section(outcome: Outcome, emit: Emit) -> None:
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
            ("`answer_now`, cached report (the protocol's question)", ip.early_report_us, "cached"),
            ("ASGI app, cached report", ip.app_cached_report_us, "cached"),
            ("… of which `Results.get_report` + envelope render", ip.cached_report_us, "cached"),
            ("ASGI app, report with the cache off", ip.app_store_report_us, "cache_off"),
            ("… of which `Results.get_report` + envelope render", ip.store_report_us, "cache_off"),
            ("… of which `SQLStore.latest_snapshot`, called directly", ip.store_read_us, ""),
            ("the same SELECT through plain `sqlite3`", ip.raw_read_us, ""),
            ("ASGI app, job history (limit=50)", ip.app_history_us, "history_sqlite"),
            ("`SQLStore.history(limit=50)` alone (the query, uncached)", ip.history_store_us, ""),
        )
        for label, micros, key in rows:
            rps = rps_of(outcome, key) if key else []
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
            "is the HTTP server (uvicorn, httptools, the uvloop transport). A repeated cached "
            "report is not the app's at all: the server's protocol asks `answer_now` once the "
            "head is in and writes the kept reply itself (web/protocol.py), so under load the "
            "first row, not the ASGI app, is what a cached report costs marketbrief. In-process "
            "calls run one at a time, so a store read also pays an idle worker thread's wake-up."
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
