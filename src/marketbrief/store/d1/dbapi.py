"""A DB-API 2 driver over the D1 REST API, for SQLAlchemy's SQLite dialect (`store/d1/dialect.py`).

Each `execute` outside a batch is one call, committed by D1 on its own (D1 has no interactive
transactions; `commit` and `rollback` have nothing to do). A batch is the store's one way to
write several statements atomically, and it keeps SQLAlchemy in charge of compiling statements
and typing results: `record()` makes `execute` collect each statement (its SQL and bound
values) instead of sending it, `send()` posts what was collected as ONE batch, which D1 runs as
one transaction, and the same statements executed again are answered, in order, from the
batch's results (`store/batch.py` drives the three steps).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

from marketbrief.store.d1.api import D1Api, StatementResult
from marketbrief.store.d1.errors import (
    DatabaseError,
    DataError,
    Error,
    IntegrityError,
    InterfaceError,
    InternalError,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
    Warning,
)

apilevel = "2.0"
threadsafety = 1
paramstyle = "qmark"
# What D1 runs today; SQLAlchemy's SQLite dialect reads it to enable RETURNING and upserts.
sqlite_version_info = (3, 45, 0)
sqlite_version = "3.45.0"

_ROWS_HINTS = ("select", "with", "pragma", "values")


def _returns_rows(sql: str) -> bool:
    head = sql.lstrip().split(None, 1)[0].lower() if sql.strip() else ""
    return head in _ROWS_HINTS or " returning " in f" {sql.lower()} "


class Cursor:
    """A DB-API cursor; its rows come from one statement's answer."""

    arraysize = 1

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.description: list[tuple[Any, ...]] | None = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._rows: deque[tuple[Any, ...]] = deque()

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Cursor:
        """Run (or record, or replay) one statement."""
        self._show(sql, [self.connection.answer(sql, [tuple(parameters)])])
        return self

    def executemany(self, sql: str, seq_of_parameters: Sequence[Sequence[Any]]) -> Cursor:
        """Run one statement per parameter set, all in ONE call (a batch)."""
        params = [tuple(p) for p in seq_of_parameters]
        self._show(sql, self.connection.answers(sql, params))
        return self

    def _show(self, sql: str, results: list[StatementResult | None]) -> None:
        found = [r for r in results if r is not None]
        self._rows = deque(tuple(row) for r in found for row in r.rows)
        self.rowcount = sum(r.changes for r in found) if found else -1
        self.lastrowid = found[-1].last_row_id if found else None
        columns = found[0].columns if found else []
        if columns:
            self.description = [(name, None, None, None, None, None, None) for name in columns]
        elif found and _returns_rows(sql):
            # An empty answer may name no columns; the statement still returns (no) rows.
            self.description = [("?", None, None, None, None, None, None)]
        else:
            self.description = None

    def fetchone(self) -> tuple[Any, ...] | None:
        """The next row, or None."""
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None) -> list[tuple[Any, ...]]:
        """Up to `size` more rows."""
        count = size or self.arraysize
        return [self._rows.popleft() for _ in range(min(count, len(self._rows)))]

    def fetchall(self) -> list[tuple[Any, ...]]:
        """Every remaining row."""
        rows = list(self._rows)
        self._rows.clear()
        return rows

    def close(self) -> None:
        """Forget the rows."""
        self._rows.clear()

    def setinputsizes(self, *_args: Any) -> None:
        """Nothing to do."""

    def setoutputsize(self, *_args: Any) -> None:
        """Nothing to do."""


class Connection:
    """A DB-API connection: a handle on the shared `D1Api` plus the batch being built."""

    def __init__(self, api: D1Api) -> None:
        self.api = api
        self._recorded: list[tuple[str, Sequence[Any]]] | None = None
        self._replay: deque[StatementResult] | None = None

    # -- batches --------------------------------------------------------------------------------

    def record(self) -> None:
        """Collect the statements executed from now on instead of sending them."""
        self._recorded, self._replay = [], None

    def send(self) -> None:
        """Post what was recorded as one batch; executing it again answers from its results."""
        recorded, self._recorded = self._recorded or [], None
        self._replay = deque(self.api.run(recorded)) if recorded else deque()

    def end_batch(self) -> None:
        """Leave batch mode (after the replay, or after a failure)."""
        self._recorded, self._replay = None, None

    def answers(self, sql: str, params: list[tuple[Any, ...]]) -> list[StatementResult | None]:
        """Answers for `sql` run once per parameter set: sent, recorded, or replayed."""
        if self._recorded is not None:
            self._recorded.extend((sql, p) for p in params)
            return [None for _ in params]
        if self._replay is not None:
            if len(self._replay) < len(params):
                raise InterfaceError("a batch was replayed with more statements than it sent")
            return [self._replay.popleft() for _ in params]
        return list(self.api.run([(sql, p) for p in params]))

    def answer(self, sql: str, params: list[tuple[Any, ...]]) -> StatementResult | None:
        """The answer for one statement."""
        return self.answers(sql, params)[0]

    # -- DB-API ---------------------------------------------------------------------------------

    def cursor(self) -> Cursor:
        """A new cursor."""
        return Cursor(self)

    def commit(self) -> None:
        """Nothing to do: D1 commits each call (a batch as one transaction)."""

    def rollback(self) -> None:
        """Nothing to undo: no call leaves a transaction open."""
        self.end_batch()

    def close(self) -> None:
        """Nothing to close: the HTTP client belongs to the engine."""
        self.end_batch()


def connect(api: D1Api) -> Connection:
    """A connection to the D1 database `api` reaches."""
    return Connection(api)


__all__ = (
    "DataError",
    "DatabaseError",
    "Error",
    "IntegrityError",
    "InterfaceError",
    "InternalError",
    "NotSupportedError",
    "OperationalError",
    "ProgrammingError",
    "Warning",
    "connect",
)
