"""The "How it was measured" and "Machine" sections: the method, and what it ran on."""

from __future__ import annotations

from benchmarks.config import REPORT_PATH
from benchmarks.outcome import Outcome
from benchmarks.report_figures import Emit
from benchmarks.seed_history import SeedPlan


def method(outcome: Outcome, emit: Emit) -> None:
    c = outcome.config
    emit("## How it was measured")
    emit("")
    emit(
        "- Loopback only (127.0.0.1). Every server is a process pinned with "
        "`taskset -c 0`; every load generator (wrk, the fixed-rate generator, Chromium) is "
        "pinned with `taskset -c 1`. PostgreSQL and Redis are the machine's shared servers and "
        "run unpinned, so in scaled-out mode they compete with both cores."
    )
    emit(
        "- All servers but one run on the server `marketbrief serve` ships with, through the "
        "same function (`benchmarks/shipped.py`): one uvicorn process, httptools with the head "
        "deadline and connection limit (`web/protocol.py`), uvloop, the access log off. The "
        "second ceiling runs the same bare app on granian, the fastest server "
        "`python -m benchmarks.candidates` measured; the targets are read against the faster "
        "of the two ceilings of each round."
    )
    emit(
        f"- Closed loop: `wrk -t1 -c32 -d{c.throughput_seconds:g}s --latency`, after a "
        f"{c.warmup_seconds:g} s warm-up of every server. {c.reps} rounds, interleaved: each "
        "round measures every condition once, in the same order, so noise from the shared "
        "machine hits all conditions alike. Ratios are taken within a round (A/B of the same "
        "round), then the median over rounds is reported with its min–max."
    )
    emit(
        f"- Open loop: every condition offered {c.fixed_fraction:.0%} of the faster bare "
        f"ceiling's closed-loop rate of this run ({outcome.fixed_rate:,.0f} requests/s) for "
        f"{c.fixed_seconds:g} s (after 1 s not recorded), {c.fixed_reps} rounds, interleaved, "
        "the bare app on that server included, by one asyncio process (uvloop) over 64 "
        "keep-alive connections (`benchmarks/openloop.py`), each condition at one URL (the "
        "cached report for one date, history as in the closed loop). Requests follow a fixed "
        "timetable "
        "and each latency is measured from its *scheduled* send time, so a stalled server is "
        "charged for every request that waited (no coordinated omission). The generator's own "
        "lateness is reported beside it, and a round where it fell behind gives no number."
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
        "date per request in turn: each answer is a snapshot of about 20 KB, and with "
        "the cache off concurrent requests seldom ask for the same report, so they seldom "
        "share a store read. Every cache-off answer is read from the store; when the read "
        "gives the same answer as the last one for that date within the same second of its "
        "age, the reply made then is sent again (web/replies.py), as it is for a cache hit. "
        "The ceiling answers every request with marketbrief's own "
        f"response bytes for `{REPORT_PATH}`; the baseline gets the same requests."
    )
    emit(
        "- Run completions: `SQLStore.finish_run(completion)` back to back in one process "
        "pinned to core 0; each completion is a never-claimed run with a 20 KB report and six "
        "predictions, i.e. one transaction inserting the run row, the snapshot and the "
        "predictions and moving the latest pointer (SQLite: WAL, `synchronous=FULL`). Each "
        "round then replays the same driver calls through plain `sqlite3` "
        "(`benchmarks/completions_raw.py`), the raw limit, on a fresh file of its own."
    )
    emit(
        "- Dashboard: headless Chromium loads `/` and a static copy of the same HTML served "
        "as a file by the same server stack, in turn; memory is each marketbrief server's "
        "`VmRSS` at the end of its rounds."
    )
    emit("")


def machine(outcome: Outcome, emit: Emit) -> None:
    emit("## Machine")
    emit("")
    emit("| fact | value |")
    emit("|---|---|")
    for name, value in outcome.machine.items():
        emit(f"| {name} | {value} |")
    emit("")
