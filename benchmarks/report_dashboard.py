"""The "Dashboard" section: DOMContentLoaded, time to first byte and load in headless Chromium."""

from __future__ import annotations

from benchmarks.outcome import Outcome
from benchmarks.report_figures import Emit, spread


def section(outcome: Outcome, emit: Emit) -> None:
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
