"""The read path's snapshot reads at the driver give what SQLAlchemy's execution gives.

`SQLStore.latest_snapshot` and `snapshot_before` run their SELECT at the driver, on a pooled
connection (`Engines.read_first`), with SQLAlchemy's own result processors. On a real SQLite
file and a real PostgreSQL database, each answer is compared with the same SELECT executed by
SQLAlchemy; the statements are counted as every other statement is, and driver errors come
out as the store's errors, as they do through SQLAlchemy.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from marketbrief.errors import SchemaError, StoreUnavailable
from marketbrief.models import ReportType, Snapshot
from marketbrief.store import prepared, rows
from marketbrief.store.sql import _LATEST_SNAPSHOT, _SNAPSHOT_BEFORE, SQLStore
from tests.support.factories import standalone_completion

PRE = ReportType.PRE_MARKET
DAYS = (date(2026, 11, 23), date(2026, 11, 24))
AT = datetime(2026, 11, 24, 13, 30, 5, 123456, tzinfo=UTC)


@pytest.fixture
def store(database_url: str) -> Iterator[SQLStore]:
    """A migrated store (SQLite, PostgreSQL) holding a pre-market report for each of DAYS."""
    opened = SQLStore(database_url)
    opened.migrate()
    for n, day in enumerate(DAYS):
        completion = standalone_completion(
            PRE, day, started_at=AT.replace(day=day.day), marker=f"caf\u00e9 \u2014 {n} \U0001f4c8"
        )
        completion = dataclasses.replace(completion, metadata={"symbols": ["AAPL"], "n": n})
        assert opened.finish_run(completion).published
    yield opened
    opened.close()


def _by_sqlalchemy(store: SQLStore, query: sa.Select[Any], day: date) -> Snapshot | None:
    with store._engines.read() as connection:
        row = connection.execute(query, {"kind": PRE.value, "day": day}).first()
    return rows.snapshot(row) if row is not None else None


def test_the_snapshot_reads_take_the_driver_lane(store: SQLStore) -> None:
    dialect = store._engines.reader.dialect
    assert prepared.reading(dialect, _LATEST_SNAPSHOT) is not None
    assert prepared.reading(dialect, _SNAPSHOT_BEFORE) is not None


@pytest.mark.parametrize("day", [*DAYS, date(2026, 11, 25), date(2026, 11, 20)])
def test_a_snapshot_read_at_the_driver_is_the_one_sqlalchemy_reads(
    store: SQLStore, day: date
) -> None:
    latest = store.latest_snapshot(PRE, day)
    before = store.snapshot_before(PRE, day)
    assert latest == _by_sqlalchemy(store, _LATEST_SNAPSHOT, day)
    assert before == _by_sqlalchemy(store, _SNAPSHOT_BEFORE, day)
    if day in DAYS:
        assert latest is not None
        assert latest.scheduled_date == day
        assert latest.created_at.tzinfo is not None
        assert "caf\u00e9".encode() in latest.content  # the exact UTF-8 bytes stored
        assert latest.metadata["symbols"] == ["AAPL"]
    else:
        assert latest is None


def test_reads_at_the_driver_are_counted_as_every_statement_is(store: SQLStore) -> None:
    before = store.usage.pending()
    assert store.latest_snapshot(PRE, DAYS[1]) is not None
    assert store.latest_snapshot(PRE, date(2026, 11, 25)) is None
    after = store.usage.pending()
    assert (after.queries - before.queries, after.rows_read - before.rows_read) == (2, 1)
    assert after.rows_written == before.rows_written


def _schemaless(tmp_path: Path) -> str:
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()
    return f"sqlite:///{path}"


def _unopenable(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'no such folder' / 'store.db'}"


@pytest.mark.parametrize(
    ("url_of", "error", "says"),
    [
        (_schemaless, SchemaError, "marketbrief migrate"),
        (_unopenable, StoreUnavailable, "unable to open database file"),
    ],
)
def test_a_driver_error_is_the_stores_error_as_through_sqlalchemy(
    tmp_path: Path, url_of: Callable[[Path], str], error: type[Exception], says: str
) -> None:
    store = SQLStore(url_of(tmp_path))
    try:
        with pytest.raises(error, match=says):
            store.latest_snapshot(PRE, DAYS[0])
        with pytest.raises(error, match=says), store._engines.read() as connection:
            connection.execute(_LATEST_SNAPSHOT, {"kind": PRE.value, "day": DAYS[0]})
    finally:
        store.close()
