"""The usage report: its arithmetic on known data, and on runs recorded through the write path
(both modes), with the counters flushed by the serving process's periodic task."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date, timedelta

import pytest

from marketbrief.errors import InvalidInput
from marketbrief.models import ReportType
from marketbrief.results import Results
from marketbrief.results.usage import (
    end_of_day_totals,
    flush_usage_every,
    growth,
    least_squares_slope,
    window,
)
from marketbrief.store.measures import UsageMeasures
from marketbrief.store.sizes import Sizes, TableSize
from marketbrief.store.usage import UsageTotals
from tests.support.clock import LATE, Clock
from tests.support.factories import standalone_completion

TODAY = LATE.date()


def test_the_least_squares_slope_of_known_series() -> None:
    assert least_squares_slope([0, 2, 4, 6]) == 2.0
    assert least_squares_slope([7, 7, 7]) == 0.0
    assert least_squares_slope([1, 2, 4, 8]) == pytest.approx(2.3)  # 11.5 / 5
    assert least_squares_slope([5]) is None


def test_the_window_ends_today_and_refuses_an_empty_span() -> None:
    assert window(date(2026, 12, 2), 3) == [
        date(2026, 11, 30),
        date(2026, 12, 1),
        date(2026, 12, 2),
    ]
    with pytest.raises(InvalidInput):
        window(date(2026, 12, 2), 0)


def _measures(days: list[date]) -> UsageMeasures:
    # 30 runs now at 100 bytes each, ten a day over the three days; 8 stages at 50 bytes each,
    # four on the first day and four the day after the window (a clock ahead).
    sizes = Sizes(
        (TableSize("runs", rows=30, bytes=3_000), TableSize("stages", rows=8, bytes=400)),
        bytes_method="test",
    )
    added = {
        "runs": dict.fromkeys(days, 10),
        "stages": {days[0]: 4, days[-1] + timedelta(days=1): 4},
    }
    return UsageMeasures(days[0], sizes, added, {})


def test_end_of_day_totals_are_rebuilt_from_what_each_day_added() -> None:
    days = window(TODAY, 3)

    rows, sizes = end_of_day_totals(_measures(days), days)

    # runs 10, 20, 30; stages 4, 4, 4 (four dated after today are not there yet)
    assert rows == [14, 24, 34]
    assert sizes == [1_200.0, 2_200.0, 3_200.0]


def test_growth_is_the_slope_and_a_year_of_it_on_top_of_today() -> None:
    days = window(TODAY, 3)

    found = growth(_measures(days), days)

    assert found["measured"] is True
    assert found["rows_per_day"] == 10.0
    assert found["bytes_per_day"] == 1_000
    assert found["in_a_year"] == {"rows": 38 + 3_650, "bytes": 3_400 + 365_000}
    assert growth(_measures(days[-1:]), days[-1:])["measured"] is False


async def test_runs_and_snapshots_per_day_are_the_runs_recorded_that_day(
    make_results: Callable[..., Results],
) -> None:
    results = make_results()
    counts = {TODAY - timedelta(days=2): 3, TODAY - timedelta(days=1): 1, TODAY: 2}
    for day, n in counts.items():
        for i in range(n):
            started = LATE.replace(year=day.year, month=day.month, day=day.day) - timedelta(
                minutes=10 * (i + 1)
            )
            await results.publish(standalone_completion(ReportType.PRE_MARKET, started_at=started))

    report = await results.usage(5)

    assert [d["day"] for d in report["per_day"]] == [
        (TODAY - timedelta(days=4 - i)).isoformat() for i in range(5)
    ]
    assert [d["runs"] for d in report["per_day"]] == [0, 0, 3, 1, 2]
    assert [d["snapshots"] for d in report["per_day"]] == [0, 0, 3, 1, 2]
    tables = {t["table"]: t for t in report["tables"]}
    assert tables["job_executions"]["rows"] == 6
    assert tables["symbol_predictions"]["rows"] == 36
    assert report["total"]["bytes"] == sum(t["bytes"] for t in report["tables"]) > 0
    assert report["growth"]["measured"] is True
    assert report["growth"]["rows_per_day"] > 0
    assert report["growth"]["in_a_year"]["rows"] > report["total"]["rows"]
    assert report["counters"]["unflushed_here"]["queries"] > 0


async def test_a_serving_process_adds_its_counts_to_the_store_periodically(
    make_results: Callable[..., Results], clock: Clock
) -> None:
    results = make_results()
    await results.publish(standalone_completion(ReportType.PRE_MARKET, started_at=LATE))
    counted = results.store.usage.pending()
    stop, flushed = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(flush_usage_every(results.store, 1.0, stop, flushed))
    try:
        await asyncio.wait_for(flushed.wait(), 30)
    finally:
        stop.set()
        await task

    assert results.store.usage.pending() == UsageTotals()
    report = await results.usage(1)
    assert report["per_day"][0]["day"] == clock().date().isoformat()
    persisted = {k: report["per_day"][0][k] for k in ("queries", "rows_read", "rows_written")}
    assert persisted == counted.as_dict()
