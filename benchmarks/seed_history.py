"""The run history a seeding writes: its plan, its rows (as tuples), and what it produced."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import orjson

from benchmarks.payloads import REPORT_DAY, TYPE_CYCLE

RUN_COLUMNS = (
    "id",
    "run_id",
    "job_type",
    "scheduled_date",
    "status",
    "current_stage",
    "trigger_source",
    "started_at",
    "executed_at",
    "execution_time_ms",
    "symbols_processed",
    "symbols_successful",
    "symbols_fallback",
    "symbols_failed",
    "success_rate",
    "errors",
    "warnings",
    "created_at",
)
_ERRORS_FAILED = orjson.dumps(
    [{"stage": "data_fetch", "error": "every news provider failed: timed out after 10 s"}]
).decode()
_ERRORS_PARTIAL = orjson.dumps([{"symbol": "TSLA", "error": "no usable headlines"}]).decode()
_WARNINGS_PARTIAL = orjson.dumps(["fallback lexicon used for 1 symbol"]).decode()
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_DAY_START_SECONDS = 8 * 3600  # runs of a day start from 08:00 UTC on, 30 s apart


@dataclass(frozen=True, slots=True)
class SeedPlan:
    """How many runs, over which dates, and how many recent days carry report snapshots."""

    runs: int
    end: date = REPORT_DAY
    days: int = 5 * 365
    snapshot_days: int = 40

    @property
    def start(self) -> date:
        """The first scheduled date."""
        return self.end - timedelta(days=self.days - 1)


@dataclass(slots=True)
class SeedInfo:
    """What a seeding produced, and how long it took."""

    runs: int
    snapshots: int
    seconds: float
    reused: bool = False
    path: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def finished(cls, plan: SeedPlan, snapshots: int, began: float, path: str) -> SeedInfo:
        """What a seeding of `plan` that began at `time.perf_counter()` = `began` produced."""
        return cls(
            runs=plan.runs, snapshots=snapshots, seconds=time.perf_counter() - began, path=path
        )


@dataclass(slots=True)
class Slot:
    """The scheduled run of one (date, type): it carries the snapshot for recent dates."""

    run_id: str
    day: date
    report_type: str
    started_us: int


def stamp(epoch_us: int) -> str:
    """A naive UTC timestamp in SQLAlchemy's SQLite storage format."""
    seconds, micros = divmod(epoch_us, 1_000_000)
    days, rest = divmod(seconds, 86_400)
    day = date.fromordinal(_EPOCH_ORDINAL + days)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{day.isoformat()} {hours:02d}:{minutes:02d}:{secs:02d}.{micros:06d}"


class RunRows:
    """The run rows of a plan as tuples in RUN_COLUMNS order, newest last (ids ascending).

    The first run of each (date, type) is its scheduled run and always succeeds; the others are
    backfills and manual re-runs, 3% failed and 5% partial, with errors and warnings as JSON.
    """

    def __init__(self, plan: SeedPlan) -> None:
        self.plan = plan
        self.slots: list[Slot] = []

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        plan = self.plan
        start = plan.start
        snapshot_from = plan.end - timedelta(days=plan.snapshot_days - 1)
        seen: set[tuple[int, str]] = set()
        day_index = -1
        day = start
        day_text = start.isoformat()
        day_us = 0
        slot_in_day = 0
        for i in range(1, plan.runs + 1):
            index = (i - 1) * plan.days // plan.runs
            if index != day_index:
                day_index = index
                day = start + timedelta(days=index)
                day_text = day.isoformat()
                day_us = (day.toordinal() - _EPOCH_ORDINAL) * 86_400_000_000
                slot_in_day = 0
            kind = TYPE_CYCLE[i % len(TYPE_CYCLE)]
            started_us = day_us + (_DAY_START_SECONDS + slot_in_day * 30) * 1_000_000 + i % 997
            slot_in_day += 1
            duration_ms = 2_000 + (i * 37) % 8_000
            scheduled = (index, kind) not in seen
            run_id = f"{day_text}_{kind}_{i:032x}"
            if scheduled:
                seen.add((index, kind))
                trigger = "schedule"
                r = 99
                if day >= snapshot_from:
                    self.slots.append(Slot(run_id, day, kind, started_us))
            else:
                trigger = "backfill" if i % 3 else "manual"
                r = i % 100
            if r < 3:
                status, ok, failed, errors, warnings = "failed", 0, 6, _ERRORS_FAILED, "[]"
            elif r < 8:
                status, ok, failed = "partial", 5, 1
                errors, warnings = _ERRORS_PARTIAL, _WARNINGS_PARTIAL
            else:
                status, ok, failed, errors, warnings = "success", 6, 0, "[]", "[]"
            started = stamp(started_us)
            yield (
                i,
                run_id,
                kind,
                day_text,
                status,
                "finalize",
                trigger,
                started,
                stamp(started_us + duration_ms * 1000),
                duration_ms,
                6,
                ok,
                0,
                failed,
                ok / 6,
                errors,
                warnings,
                started,
            )
