"""The "Seeding and phases" section: how each store was seeded, how long each phase took."""

from __future__ import annotations

from benchmarks.outcome import Outcome
from benchmarks.report_figures import Emit


def section(outcome: Outcome, emit: Emit) -> None:
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
