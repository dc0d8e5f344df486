"""The "Targets" section: each target of the brief against its measured figure, met or not."""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median

from benchmarks.config import FIXED_RATE
from benchmarks.outcome import Outcome
from benchmarks.report_figures import Emit, fastest_ratios, round_ratios, spread

WELL_AHEAD = 2.0  # "well ahead of the baseline" is read as at least twice its requests/s


@dataclass(frozen=True, slots=True)
class Target:
    """One target, what was measured against it, and whether it was met (None: not measured)."""

    name: str
    measured: str
    met: bool | None


def _yes(met: bool | None) -> str:
    return {True: "**met**", False: "**not met**", None: "not measured"}[met]


def targets(outcome: Outcome) -> list[Target]:
    """The targets of the brief, each against its measured figure."""
    found: list[Target] = []

    def ratio_target(name: str, key: str, floor: float) -> None:
        ratios = fastest_ratios(outcome, key)
        if not ratios:
            found.append(Target(name, "—", None))
            return
        found.append(
            Target(
                name,
                spread([r * 100 for r in ratios], 1, " %") + " of the fastest ceiling",
                median(ratios) >= floor,
            )
        )

    ratio_target(
        "cached report ≥ 50 % of the bare app on the fastest server measured (embedded)",
        "cached",
        0.5,
    )
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


def section(outcome: Outcome, emit: Emit) -> None:
    """The table of targets, one row each, with its verdict."""
    emit("## Targets")
    emit("")
    emit("| target | measured: median (min–max over rounds) | |")
    emit("|---|---|---|")
    for t in targets(outcome):
        emit(f"| {t.name} | {t.measured} | {_yes(t.met)} |")
    emit("")
