"""The "Near cache" section: its hit ratio under load, and how fast a publish reaches every
serving process (benchmarks/near.py)."""

from __future__ import annotations

from benchmarks.outcome import Outcome
from benchmarks.report_figures import Emit

BOUND_S = 1.0  # the revision interval the near cache keeps its entries for (the shipped default)


def section(outcome: Outcome, emit: Emit) -> None:
    """Staleness per publish and each process's hit ratio."""
    emit("## Near cache (scaled out)")
    emit("")
    near = outcome.near
    if near is None:
        emit("Not measured in this run (it needs PostgreSQL and Redis).")
        emit("")
        return
    emit(
        f"{near.processes} `marketbrief serve` processes on one PostgreSQL schema and one Redis "
        "prefix, shipped defaults (near cache on, revision interval 1 s). The benchmark publishes "
        "a new pre-market report through the results door, then asks every process for it back "
        "to back until each serves the new run: the time from the publish returning to the "
        "last process serving it is that publish's staleness. The hit ratio is each process's "
        "near-cache hits over its cache hits (`/metrics`) under that polling load."
    )
    emit("")
    emit("| publishes | staleness: median | worst | bound | hit ratio per process |")
    emit("|---|---|---|---|---|")
    ratios = ", ".join(f"{r * 100:.1f} %" for r in near.hit_ratio) or "—"
    emit(
        f"| {len(near.staleness_s)} | {near.median_s * 1000:,.0f} ms | "
        f"{near.worst_s * 1000:,.0f} ms | {BOUND_S * 1000:,.0f} ms | {ratios} |"
    )
    emit("")
