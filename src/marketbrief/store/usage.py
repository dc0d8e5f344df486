"""What this process asks of the store, counted at its edge: statements and rows, per UTC day.

`UsageCounter` is a small object every backend owns (`backend.usage`, `Store.usage`): the SQL
backend feeds it from SQLAlchemy's `after_cursor_execute` on its engines (`count_statements`),
and a backend over an HTTP API can feed it from the API's own response metadata. Counting only
adds to memory under a lock; the totals reach the store later, in one UPSERT per day that
increments (`Store.flush_usage`: periodically from serving processes, and when a process closes
its store), never on the request path.

What is counted: every statement sent through a cursor except transaction control (BEGIN,
COMMIT, SAVEPOINT...), which no API bills as a query, and except the usage flush's own UPSERT
(marked with the `UNCOUNTED` execution option), so an idle store stays idle. Rows read are the
rows a SELECT's caller fetched; rows written are a write's `rowcount`, or the rows its RETURNING
gave back (SQLite only knows a RETURNING statement's rowcount once its rows are fetched).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from marketbrief.calendar import utc_day, utc_now

UNCOUNTED = "marketbrief_usage_uncounted"
OWN_COUNTERS = "the service's own counters: statements and rows at the store's edge"
_TRANSACTION_WORDS = frozenset({"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "END"})
_WRITE_WORDS = frozenset({"INSERT", "UPDATE", "DELETE", "REPLACE", "UPSERT"})


@dataclass(frozen=True, slots=True)
class UsageTotals:
    """Statements and rows for one day (or any span)."""

    queries: int = 0
    rows_read: int = 0
    rows_written: int = 0

    def plus(self, other: UsageTotals) -> UsageTotals:
        """The sum of two totals."""
        return UsageTotals(
            self.queries + other.queries,
            self.rows_read + other.rows_read,
            self.rows_written + other.rows_written,
        )

    def __bool__(self) -> bool:
        return bool(self.queries or self.rows_read or self.rows_written)

    def as_dict(self) -> dict[str, int]:
        """A JSON-ready form."""
        return {
            "queries": self.queries,
            "rows_read": self.rows_read,
            "rows_written": self.rows_written,
        }


class UsageCounter:
    """Per-UTC-day totals counted in this process and not yet added to the store."""

    def __init__(self, source: str = OWN_COUNTERS, clock: Callable[[], datetime] = utc_now) -> None:
        self.source = source  # where the counts come from, as the usage report says it
        self._clock = clock
        self._lock = threading.Lock()
        # Plain lists, not UsageTotals: `add` runs once or twice per statement.
        self._pending: dict[date, list[int]] = {}

    def add(self, queries: int = 0, rows_read: int = 0, rows_written: int = 0) -> None:
        """Count statements and rows against today (UTC)."""
        day = utc_day(self._clock())
        with self._lock:
            totals = self._pending.get(day)
            if totals is None:
                totals = self._pending[day] = [0, 0, 0]
            totals[0] += queries
            totals[1] += rows_read
            totals[2] += rows_written

    def take(self) -> dict[date, UsageTotals]:
        """Everything pending, by day, leaving nothing pending (the flush's share)."""
        with self._lock:
            taken, self._pending = self._pending, {}
        found = {day: UsageTotals(*totals) for day, totals in taken.items()}
        return {day: totals for day, totals in found.items() if totals}

    def restore(self, taken: Mapping[date, UsageTotals]) -> None:
        """Put back what a flush took and could not write, so the next flush adds it."""
        with self._lock:
            for day, t in taken.items():
                totals = self._pending.setdefault(day, [0, 0, 0])
                totals[0] += t.queries
                totals[1] += t.rows_read
                totals[2] += t.rows_written

    def pending(self) -> UsageTotals:
        """Everything counted here and not yet in the store, all days together."""
        with self._lock:
            values = [tuple(totals) for totals in self._pending.values()]
        return (
            UsageTotals(*(sum(column) for column in zip(*values, strict=True)))
            if values
            else UsageTotals()
        )


def _first_word(statement: str) -> str:
    return statement.lstrip(" \t\r\n(").split(None, 1)[0].upper() if statement.strip() else ""


class _CountingCursor:
    """A DBAPI cursor whose fetched rows are counted; everything else is the cursor's own."""

    __slots__ = ("_count", "_cursor")

    def __init__(self, cursor: Any, count: Callable[[int], None]) -> None:
        self._cursor = cursor
        self._count = count

    def fetchone(self) -> Any:
        row = self._cursor.fetchone()
        if row is not None:
            self._count(1)
        return row

    def fetchmany(self, size: int | None = None) -> Any:
        rows = self._cursor.fetchmany() if size is None else self._cursor.fetchmany(size)
        self._count(len(rows))
        return rows

    def fetchall(self) -> Any:
        rows = self._cursor.fetchall()
        self._count(len(rows))
        return rows

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


def count_statements(engine: sa.Engine, counter: UsageCounter) -> None:
    """Count every statement `engine` runs, and its rows, into `counter`."""

    @event.listens_for(engine, "after_cursor_execute")
    def _counted(
        _conn: sa.Connection,
        cursor: Any,
        statement: str,
        _parameters: Any,
        context: Any,
        _executemany: bool,
    ) -> None:
        word = _first_word(statement)
        if word in _TRANSACTION_WORDS or context.execution_options.get(UNCOUNTED):
            return
        writes = bool(context.isinsert or context.isupdate or context.isdelete)
        writes = writes or word in _WRITE_WORDS
        if cursor.description is None:
            written = max(cursor.rowcount, 0) if writes else 0
            counter.add(queries=1, rows_written=written)
            return
        counter.add(queries=1)
        if writes:
            context.cursor = _CountingCursor(cursor, lambda n: counter.add(rows_written=n))
        else:
            context.cursor = _CountingCursor(cursor, lambda n: counter.add(rows_read=n))
