"""`import-d1` of a later dump of the same database converges to what that dump alone gives.

Rows the first import had to guess (a run in flight at export, the run made to hold a day's
predictions, a snapshot without its run) are brought up to date; importing the same dump again
writes nothing, not even the store's revisions.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from marketbrief.d1.importer import import_d1
from marketbrief.models import ReportType, StageStatus
from marketbrief.store.schema import (
    daily_analysis,
    job_executions,
    job_stages,
    market_closes,
    report_latest,
    scheduled_job_results,
    store_revision,
    symbol_predictions,
)
from marketbrief.store.sql import SQLStore
from tests.d1.dumps import prediction, row, run, stage, write
from tests.d1.imports import migrated_store

NOW = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
PRE = ReportType.PRE_MARKET


# The same database exported twice: A while an intraday run was in flight, B later.
EARLIER = [
    run(
        "r-flight", "2026-01-13", "intraday", "running", "2026-01-13T17:00:00Z", stage="data_fetch"
    ),
    run(
        "q",
        "2026-01-13",
        "pre-market",
        "success",
        "2026-01-13T13:30:00Z",
        executed="2026-01-13T13:31:00Z",
    ),
    stage(1, "r-flight", "2026-01-13", "intraday", "data_fetch", "running", "2026-01-13T17:00:01Z"),
    row(
        "scheduled_job_results",
        1,
        "2026-01-13",
        "pre-market",
        '{"v": 1}',
        "{}",
        "cron",
        "q",
        "2026-01-13 13:31:00",
    ),
    row(
        "scheduled_job_results",
        2,
        "2026-01-13",
        "end-of-day",
        '{"g": 1}',
        "{}",
        "cron",
        "ghost",
        "2026-01-13 21:06:00",
    ),
    prediction(1, "AAPL", "2026-01-14", "0.4", 0.6, "bullish", created="2026-01-14 13:20:00"),
    row("daily_analysis", 1, "2026-01-14", 1, None, '{"up": 1}', None),
    row(
        "market_close_data",
        1,
        "AAPL",
        "2026-01-13",
        250.0,
        200.0,
        50.0,
        1000,
        "stooq",
        "2026-01-13 21:10:00",
    ),
]
LATER = [
    run(
        "r-flight",
        "2026-01-13",
        "intraday",
        "success",
        "2026-01-13T17:00:00Z",
        executed="2026-01-13T17:02:00Z",
    ),
    EARLIER[1],
    run(
        "ghost",
        "2026-01-13",
        "end-of-day",
        "success",
        "2026-01-13T21:05:00Z",
        executed="2026-01-13T21:06:00Z",
    ),
    run(
        "p",
        "2026-01-14",
        "pre-market",
        "success",
        "2026-01-14T13:30:00Z",
        executed="2026-01-14T13:31:00Z",
    ),
    stage(
        1,
        "r-flight",
        "2026-01-13",
        "intraday",
        "data_fetch",
        "success",
        "2026-01-13T17:00:01Z",
        ended="2026-01-13T17:01:00Z",
    ),
    stage(
        2,
        "r-flight",
        "2026-01-13",
        "intraday",
        "finalize",
        "success",
        "2026-01-13T17:01:00Z",
        ended="2026-01-13T17:02:00Z",
    ),
    EARLIER[3],
    EARLIER[4],
    row(
        "scheduled_job_results",
        3,
        "2026-01-13",
        "intraday",
        '{"r": 1}',
        "{}",
        "cron",
        "r-flight",
        "2026-01-13 17:02:00",
    ),
    row(
        "scheduled_job_results",
        4,
        "2026-01-13",
        "pre-market",
        '{"v": 2}',
        "{}",
        "manual",
        "q",
        "2026-01-13 14:00:00",
    ),
    EARLIER[5],
    prediction(
        2, "MSFT", "2026-01-14", "-0.2", 0.7, "bearish", articles=2, created="2026-01-14 13:21:00"
    ),
    row("daily_analysis", 1, "2026-01-14", 2, None, '{"up": 1, "down": 1}', None),
    row(
        "market_close_data",
        1,
        "AAPL",
        "2026-01-13",
        251.0,
        200.0,
        51.0,
        1000,
        "stooq",
        "2026-01-13 21:10:00",
    ),
]


def _rows(store: SQLStore) -> dict[str, list[tuple[Any, ...]]]:
    """Every table as comparable rows: no surrogate ids (pointers name their snapshot)."""
    s = scheduled_job_results.c
    found: dict[str, list[tuple[Any, ...]]] = {}
    with store.snapshot_read() as connection:
        for table in (
            job_executions,
            job_stages,
            scheduled_job_results,
            symbol_predictions,
            daily_analysis,
            market_closes,
        ):
            columns = [c for c in table.c if c.name != "id"]
            found[table.name] = sorted(
                tuple(repr(v) for v in r) for r in connection.execute(sa.select(*columns))
            )
        latest = sa.select(
            report_latest.c.scheduled_date,
            report_latest.c.report_type,
            report_latest.c.run_id,
            report_latest.c.version,
            s.content_sha256,
            s.created_at,
        ).join(scheduled_job_results, s.id == report_latest.c.snapshot_id)
        found["report_latest"] = sorted(
            tuple(repr(v) for v in r) for r in connection.execute(latest)
        )
    return found


def _revisions(store: SQLStore) -> tuple[Any, ...]:
    with store.snapshot_read() as connection:
        return tuple(connection.execute(sa.select(store_revision)).one())


def test_a_later_dump_converges_to_what_it_alone_gives_and_a_repeat_writes_nothing(
    database_url: str, tmp_path: Path
) -> None:
    # A then B on SQLite and on PostgreSQL; B alone into a fresh SQLite store.
    both, alone = migrated_store(database_url), migrated_store(f"sqlite:///{tmp_path / 'alone.db'}")
    earlier, later = write(tmp_path / "a.sql", *EARLIER), write(tmp_path / "b.sql", *LATER)
    first = import_d1(both, earlier, now=NOW)
    assert first.runs_made == 1  # 2026-01-14 had predictions and no run yet
    flight = both.get_run("r-flight")
    assert flight is not None
    assert flight.run.warnings[-1]["in_flight_at_export"] is True

    second = import_d1(both, later, now=NOW)
    assert second.tables["job_run_results"].updated == 1
    assert second.tables["scheduled_job_results"].updated == 2  # q's newer report, ghost's run
    assert second.tables["symbol_predictions"].updated == 1  # AAPL moved onto run p
    # q's pointer (same snapshot row, new content), r-flight's and ghost's new reports: caches
    # must drop what they hold.
    assert second.latest_set == 3
    import_d1(alone, later, now=NOW)
    assert _rows(both) == _rows(alone)

    finished = both.get_run("r-flight")
    assert finished is not None
    assert finished.run.status.value == "success"
    assert "in_flight_at_export" not in finished.run.warnings[-1]
    assert [s.status for s in finished.stages] == [StageStatus.SUCCESS, StageStatus.SUCCESS]
    assert both.get_run("2026-01-14_pre-market_d1-predictions") is None
    pre = both.latest_snapshot(PRE, date(2026, 1, 13))
    assert pre is not None
    assert pre.content == b'{"v": 2}'

    before, revisions = _rows(both), _revisions(both)
    again = import_d1(both, later, now=datetime(2026, 3, 1, tzinfo=UTC))
    assert not again.changed
    assert all(t.imported == t.updated == 0 for t in again.tables.values())
    assert _rows(both) == before
    assert _revisions(both) == revisions  # not even the runs revision moved
    both.close()
    alone.close()


def test_a_prediction_a_later_dump_re_dates_leaves_nothing_at_its_old_date(
    tmp_path: Path,
) -> None:
    # First exported without its creation time (so its Sunday date cannot be told wrong, and a
    # run is made to hold it), then with it: Monday's, on Monday's run.
    def sundays(created: str | None) -> str:
        return prediction(1, "AAPL", "2026-01-11", "0.4", 0.6, "bullish", created=created)

    monday = run("m", "2026-01-12", "pre-market", "success", "2026-01-12T13:30:00Z")
    earlier = write(tmp_path / "a.sql", monday, sundays(None))
    later = write(tmp_path / "b.sql", monday, sundays("2026-01-12 13:20:00"))
    both, alone = (
        migrated_store(f"sqlite:///{tmp_path / 'both.db'}"),
        migrated_store(f"sqlite:///{tmp_path / 'alone.db'}"),
    )
    assert import_d1(both, earlier, now=NOW).runs_made == 1
    import_d1(both, later, now=NOW)
    import_d1(alone, later, now=NOW)
    assert _rows(both) == _rows(alone)
    assert both.get_run("2026-01-11_pre-market_d1-predictions") is None
    found = both.predictions_for(date(2026, 1, 12), (PRE,))
    assert found is not None
    assert found[0].run_id == "m"
    both.close()
    alone.close()
