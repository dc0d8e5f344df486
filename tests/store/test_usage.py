"""Store usage on both engines: statements and rows counted at the store's edge, added to the
store by day (surviving a restart, adding up across processes), table sizes, rows per day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command

from marketbrief.calendar import utc_now
from marketbrief.errors import SchemaError
from marketbrief.models import ReportType, TriggerSource
from marketbrief.store import SQLStore, Store
from marketbrief.store.migrate import alembic_config
from marketbrief.store.sizes import DBSTAT, ESTIMATE, PG_SIZE, estimate_bytes
from marketbrief.store.usage import UsageTotals
from tests.support.factories import SESSION, completion_for, standalone_completion


def _store(url: str) -> SQLStore:
    backend = SQLStore(url)
    backend.migrate()
    backend.usage.take()  # the migration's own statements are not what these tests count
    return backend


def _today() -> date:
    return utc_now().date()


async def test_a_select_counts_one_query_and_the_rows_it_fetched(database_url: str) -> None:
    backend = _store(database_url)
    store = Store(backend)
    try:
        for kind in (ReportType.PRE_MARKET, ReportType.INTRADAY, ReportType.END_OF_DAY):
            await store.finish_run(standalone_completion(kind, SESSION))
        backend.usage.take()

        keys = await store.latest_keys()

        assert len(keys) == 3
        assert backend.usage.pending() == UsageTotals(queries=1, rows_read=3, rows_written=0)
    finally:
        backend.usage.take()
        await store.close()


async def test_finishing_a_run_counts_each_row_it_wrote(database_url: str) -> None:
    backend = _store(database_url)
    store = Store(backend)
    try:
        claim = await store.claim_run(ReportType.PRE_MARKET, SESSION, TriggerSource.MANUAL)
        backend.usage.take()

        await store.finish_run(completion_for(claim.run))  # six predictions

        # The run's row, its snapshot, six predictions, the latest pointer (its RETURNING row),
        # the revision row, and the batch guard's token put in and taken out: twelve rows.
        assert backend.usage.pending().rows_written == 1 + 1 + 6 + 1 + 1 + 2
    finally:
        backend.usage.take()
        await store.close()


async def test_counts_persist_across_a_restart_and_add_up_across_two_stores(
    database_url: str,
) -> None:
    first, second = _store(database_url), _store(database_url)
    for backend in (first, second):
        await Store(backend).finish_run(standalone_completion(ReportType.PRE_MARKET, SESSION))
    await Store(second).latest_keys()
    counted_first, counted_second = first.usage.pending(), second.usage.pending()
    assert counted_first.queries > 0
    assert counted_second.rows_read > 0

    first.flush_usage(utc_now())
    second.flush_usage(utc_now())
    assert first.usage.pending() == UsageTotals()  # the flush does not count itself
    first.close()
    second.close()

    reopened = SQLStore(database_url)  # a process started afterwards
    try:
        counted = reopened.usage_measures(_today()).counted
        assert counted == {_today(): counted_first.plus(counted_second)}
        reopened.flush_usage(utc_now())  # its measuring adds on top, never overwrites
        again = reopened.usage_measures(_today()).counted[_today()]
        assert again.queries > counted_first.queries + counted_second.queries
    finally:
        reopened.close()


async def test_the_gateway_adds_its_counts_to_the_store_when_it_closes(database_url: str) -> None:
    backend = _store(database_url)
    await Store(backend).finish_run(standalone_completion(ReportType.PRE_MARKET, SESSION))
    counted = backend.usage.pending()

    await Store(backend).close()

    reopened = SQLStore(database_url)
    try:
        assert reopened.usage_measures(_today()).counted == {_today(): counted}
    finally:
        reopened.close()


def test_a_flush_that_fails_keeps_its_counts_for_the_next_one(sqlite_url: str) -> None:
    engine = sa.create_engine(sqlite_url)  # a store one migration before store_usage
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0011")
    engine.dispose()
    backend = SQLStore(sqlite_url)
    try:
        backend.revision()
        counted = backend.usage.pending()
        assert counted == UsageTotals(queries=1, rows_read=1, rows_written=0)
        with pytest.raises(SchemaError):
            backend.flush_usage(utc_now())
        assert backend.usage.pending() == counted

        backend.migrate()
        counted = backend.usage.pending()  # the revision read and the migration's statements
        backend.flush_usage(utc_now())
        assert backend.usage_measures(_today()).counted == {_today(): counted}
    finally:
        backend.close()


async def test_sizes_are_measured_on_each_engine_and_grow_after_writes(database_url: str) -> None:
    backend = _store(database_url)
    store = Store(backend)
    try:
        before = (await store.usage_measures(_today())).sizes
        for i in range(20):
            day = SESSION - timedelta(days=i)
            await store.finish_run(standalone_completion(ReportType.PRE_MARKET, day))
        after = (await store.usage_measures(_today())).sizes
    finally:
        await store.close()

    method = DBSTAT if database_url.startswith("sqlite") else PG_SIZE
    assert (before.bytes_method, after.bytes_method) == (method, method)
    rows_before = {t.name: t.rows for t in before.tables}
    rows_after = {t.name: t.rows for t in after.tables}
    assert rows_after["job_executions"] - rows_before["job_executions"] == 20
    assert rows_after["scheduled_job_results"] - rows_before["scheduled_job_results"] == 20
    assert rows_after["symbol_predictions"] - rows_before["symbol_predictions"] == 120
    assert all(t.bytes > 0 for t in after.tables)
    assert sum(t.bytes for t in after.tables) > sum(t.bytes for t in before.tables)
    assert {t.name for t in after.tables} >= {"store_usage", "job_executions", "report_latest"}
    if database_url.startswith("sqlite"):
        assert after.database_bytes is not None
        assert after.database_bytes >= sum(t.bytes for t in after.tables)


def test_without_dbstat_the_file_is_shared_by_the_bytes_of_each_tables_values(
    sqlite_url: str,
) -> None:
    backend = _store(sqlite_url)
    backend.finish_run(standalone_completion(ReportType.PRE_MARKET, SESSION))
    backend.close()
    engine = sa.create_engine(sqlite_url)
    try:
        with engine.connect() as connection:
            shares = estimate_bytes(connection, 1_000_000)
    finally:
        engine.dispose()

    assert 1_000_000 - len(shares) < sum(shares.values()) <= 1_000_000  # floor division
    assert shares["daily_analysis"] == 0  # no rows, no share
    # A snapshot's payload and six predictions outweigh one run's row.
    assert shares["symbol_predictions"] > shares["job_executions"] > 0
    assert "estimate" in ESTIMATE


async def test_rows_are_counted_on_the_utc_day_they_stand_for(database_url: str) -> None:
    backend = _store(database_url)
    store = Store(backend)
    today = _today()
    two_days_ago = datetime.combine(today - timedelta(days=2), datetime.min.time(), UTC)
    try:
        for hour in (1, 12, 23):  # three runs two days ago, at both ends of that UTC day
            started = two_days_ago + timedelta(hours=hour, minutes=30)
            await store.finish_run(standalone_completion(started_at=started))
        await store.finish_run(standalone_completion(started_at=two_days_ago + timedelta(days=1)))
        old = two_days_ago - timedelta(days=30)  # before the window
        await store.finish_run(standalone_completion(started_at=old))

        added = (await store.usage_measures(today - timedelta(days=3))).added
    finally:
        await store.close()

    day2, day1 = today - timedelta(days=2), today - timedelta(days=1)
    assert added["job_executions"] == {day2: 3, day1: 1}
    assert added["scheduled_job_results"] == {day2: 3, day1: 1}  # generated a second later
    assert added["symbol_predictions"] == {day2: 18, day1: 6}
