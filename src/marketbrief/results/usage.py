"""The store's usage as people read it: what it holds, what each day added and asked of it, and
where its size is heading a year from now.

Days are UTC dates (the day a cloud database bills by), the last `days` of them up to today.
Growth is the least-squares slope of the window's end-of-day totals, each rebuilt from what
the store holds now: a table's rows at the end of day D are its rows now less those dated
after D, and its bytes are those rows at the table's average bytes per row now. Rows deleted
since (a prune) are therefore not in the past totals either, so the slope is the growth of what
is kept. The projection is today's total plus 365 days of that slope.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from marketbrief.calendar import iso_instant, utc_day
from marketbrief.errors import InvalidInput, StoreError
from marketbrief.store import Store
from marketbrief.store.measures import UsageMeasures
from marketbrief.store.usage import UsageTotals

log = logging.getLogger(__name__)
DEFAULT_USAGE_DAYS = 30
MAX_USAGE_DAYS = 3660
USAGE_FLUSH_SECONDS = 60.0  # how often a serving process adds its counts to the store
YEAR_DAYS = 365
GROWTH_METHOD = (
    "least squares over the window's end-of-day totals (rebuilt from each row's date and each "
    "table's average bytes per row now), projected 365 days from today"
)
DAY_BASIS = "UTC days; rows by the instant they stand for (a run's start, a snapshot's generation)"


def least_squares_slope(values: Sequence[float]) -> float | None:
    """The slope per step of the least-squares line through `values` (None under two)."""
    n = len(values)
    if n < 2:
        return None
    mean_x = (n - 1) / 2
    mean_y = sum(values) / n
    spread = sum((x - mean_x) ** 2 for x in range(n))
    return sum((x - mean_x) * (y - mean_y) for x, y in enumerate(values)) / spread


def window(today: date, days: int) -> list[date]:
    """The last `days` UTC days, oldest first, today last."""
    if not 1 <= days <= MAX_USAGE_DAYS:
        raise InvalidInput(f"days must be between 1 and {MAX_USAGE_DAYS}")
    return [today - timedelta(days=days - 1 - i) for i in range(days)]


def end_of_day_totals(
    measures: UsageMeasures, days: Sequence[date]
) -> tuple[list[int], list[float]]:
    """Rows and bytes the store held at the end of each day, as rebuilt from now."""
    rows: list[int] = []
    sizes: list[float] = []
    for day in days:
        day_rows = 0
        day_bytes = 0.0
        for table in measures.sizes.tables:
            later = sum(n for d, n in measures.added.get(table.name, {}).items() if d > day)
            kept = max(table.rows - later, 0)
            day_rows += kept
            day_bytes += table.bytes / table.rows * kept if table.rows else 0.0
        rows.append(day_rows)
        sizes.append(day_bytes)
    return rows, sizes


def growth(measures: UsageMeasures, days: Sequence[date]) -> dict[str, Any]:
    """Rows and bytes per day over the window, and the totals they reach in a year."""
    rows, sizes = end_of_day_totals(measures, days)
    rows_slope = least_squares_slope(rows)
    bytes_slope = least_squares_slope(sizes)
    total_rows = sum(t.rows for t in measures.sizes.tables)
    total_bytes = sum(t.bytes for t in measures.sizes.tables)
    if rows_slope is None or bytes_slope is None:
        return {"method": GROWTH_METHOD, "measured": False, "why": "a window of one day"}
    return {
        "method": GROWTH_METHOD,
        "measured": True,
        "rows_per_day": round(rows_slope, 2),
        "bytes_per_day": round(bytes_slope),
        "in_a_year": {
            "rows": round(total_rows + rows_slope * YEAR_DAYS),
            "bytes": round(total_bytes + bytes_slope * YEAR_DAYS),
        },
    }


def usage_record(
    measures: UsageMeasures,
    days: Sequence[date],
    now: datetime,
    unflushed: UsageTotals,
    source: str,
) -> dict[str, Any]:
    """The usage report as JSON: tables, each day, the counters' source and the growth."""
    sizes = measures.sizes
    per_day = []
    for day in days:
        counted = measures.counted.get(day, UsageTotals())
        per_day.append(
            {
                "day": day.isoformat(),
                "runs": measures.added.get("job_executions", {}).get(day, 0),
                "snapshots": measures.added.get("scheduled_job_results", {}).get(day, 0),
                **counted.as_dict(),
            }
        )
    return {
        "measured_at": iso_instant(now),
        "days": len(days),
        "from": days[0].isoformat(),
        "to": days[-1].isoformat(),
        "day_basis": DAY_BASIS,
        "tables": [{"table": t.name, "rows": t.rows, "bytes": t.bytes} for t in sizes.tables],
        "total": {
            "rows": sum(t.rows for t in sizes.tables),
            "bytes": sum(t.bytes for t in sizes.tables),
        },
        "rows_method": sizes.rows_method,
        "bytes_method": sizes.bytes_method,
        "database_bytes": sizes.database_bytes,
        "per_day": per_day,
        "counters": {"source": source, "unflushed_here": unflushed.as_dict()},
        "growth": growth(measures, days),
    }


async def usage_report(store: Store, days: int, now: datetime) -> dict[str, Any]:
    """Measure the store and report its usage over the last `days` UTC days."""
    span = window(utc_day(now), days)
    measures = await store.usage_measures(span[0])
    return usage_record(measures, span, now, store.usage.pending(), store.usage.source)


async def flush_usage_every(
    store: Store, interval: float, stop: asyncio.Event, flushed: asyncio.Event | None = None
) -> None:
    """Until `stop` is set: add this process's usage counts to the store every `interval`
    seconds (`flushed` is set after each attempt, for whoever waits on one)."""
    while not stop.is_set():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
        if stop.is_set():
            return  # the store's close() flushes one last time
        try:
            await store.flush_usage()
        except StoreError as error:
            log.debug("usage flush failed (kept for the next one): %s", error)
        if flushed is not None:
            flushed.set()
