"""The server section: the bare ceiling on every candidate server, and why `serve` runs its own."""

from __future__ import annotations

from statistics import median

from benchmarks.outcome import Outcome
from benchmarks.report_figures import Emit, spread


def section(outcome: Outcome, emit: Emit) -> None:
    emit("## The server marketbrief ships with")
    emit("")
    if not outcome.candidates:
        emit("Not measured in this run (`python -m benchmarks.candidates` measures it alone).")
        emit("")
        return
    best = max(median(values) for values in outcome.candidates.values())
    emit(
        "The bare ASGI app serving the same report bytes on each candidate server, one after "
        "the other in every round (`benchmarks/candidates.py`; access log off except where "
        "said):"
    )
    emit("")
    emit("| server | req/s: median (min–max) | ÷ fastest |")
    emit("|---|---|---|")
    for name, values in outcome.candidates.items():
        emit(f"| {name} | {spread(values)} | {100 * median(values) / best:.0f} % |")
    emit("")
    emit(
        "`marketbrief serve` runs uvicorn with httptools and uvloop, through "
        "`web/protocol.py`, which adds a deadline on every request head and a connection "
        "limit. granian is as fast or a little faster on the bare app, but its header-read "
        "timeout starts only with a connection's first byte: a connection that never sends "
        "one is never closed, which is the failure the limits exist for."
    )
    emit("")
