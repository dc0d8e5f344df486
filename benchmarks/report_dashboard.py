"""The "Dashboard" section: DOMContentLoaded in Chromium beside a static copy of the page."""

from __future__ import annotations

from benchmarks.browser import DashboardResult
from benchmarks.outcome import Outcome
from benchmarks.report_figures import Emit, spread


def _rows(label: str, r: DashboardResult, emit: Emit) -> None:
    emit(f"| {label}: DOMContentLoaded | {spread(r.warm_dcl_ms, 1)} | {r.dcl_ms[0]:.1f} |")
    ttfb = spread(r.ttfb_ms[1:] or r.ttfb_ms, 1)
    emit(f"| {label}: time to first byte | {ttfb} | {r.ttfb_ms[0]:.1f} |")
    emit(f"| {label}: load event | {spread(r.load_ms[1:] or r.load_ms, 1)} | {r.load_ms[0]:.1f} |")


def section(outcome: Outcome, emit: Emit) -> None:
    emit(f"## Dashboard `/` with {outcome.config.dashboard_runs:,} runs")
    emit("")
    dash = outcome.dashboard
    if dash is None:
        emit(f"Skipped: {outcome.skipped.get('dashboard', 'not run')}")
        emit("")
        return
    emit(
        f"Headless Debian Chromium {dash.chromium} via Playwright, {dash.loads} loads of each "
        "page, alternating with a static copy of the dashboard (its own HTML bytes, "
        f"{outcome.static_page_bytes:,} bytes, and its stylesheet, saved from the server and "
        "served as files by `benchmarks/static_page.py` on the same server stack), each load "
        "in a new page; the first (cold) load is left out of the medians. The store holds "
        f"{outcome.config.dashboard_runs:,} runs, {outcome.dashboard_runs_in_window:,} of them in "
        f"the last 14 days (the schedule grid's window); the page has {dash.rows} table rows."
    )
    emit("")
    emit("| | median (min–max), ms | first load, ms |")
    emit("|---|---|---|")
    _rows("dashboard", dash, emit)
    if outcome.static_page is not None:
        _rows("static copy", outcome.static_page, emit)
    emit("")
