"""Engines for both dialects, and the one place driver errors become marketbrief errors.

SQLite gets WAL, synchronous=FULL and a busy timeout on every connection; writes go through a
separate single-connection engine whose transactions begin with BEGIN IMMEDIATE, so a writer
takes the lock up front instead of failing half-way with SQLITE_BUSY. A SQLite connection that
met its filesystem failing (read-only, I/O error, full) is thrown away with its pool, the way
SQLAlchemy discards a dropped server connection: SQLite keeps a connection opened while the
file was read-only read-only for its whole life, so only a new one can write once it is back.
PostgreSQL's engine, with a bound on every wait, is built in `store/postgres.py`; D1's (the
SQLite dialect over D1's REST API, no transaction but a batch) in `store/d1/`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.pool import NullPool

from marketbrief.errors import (
    SchemaError,
    StoreConflict,
    StoreError,
    StoreTimeout,
    StoreUnavailable,
)
from marketbrief.store.batch import Done, Step, execute_steps, run_on_d1
from marketbrief.store.d1.api import D1Api, D1Usage
from marketbrief.store.d1.dialect import d1_engine, target_from_url
from marketbrief.store.postgres import PgTimeouts, is_timeout, pg_engine
from marketbrief.store.prepared import Reading

BUSY_TIMEOUT_MS = 5_000
PG_LOCK_TIMEOUT_MS = 3_000
_SCHEMA_HINTS = (
    "no such table",
    "no such column",
    "undefinedtable",
    "undefinedcolumn",
    "does not exist",
)
_UNAVAILABLE_HINTS = (
    "database is locked",
    "readonly database",
    "read-only",
    "unable to open database",
    "disk i/o error",
    "connection refused",
    "server closed the connection",
    "terminating connection",
    "connection is closed",
    "the database system is",
    "could not connect",
    "lock timeout",
    "canceling statement",
    "connection failed",
)


# Primary SQLite result codes that come from the file and its filesystem, not from the SQL:
# a connection that saw one may never write again (READONLY) or be in an unknown state (IOERR).
_SQLITE_FILESYSTEM_CODES = frozenset(
    {sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_FULL}
)


@dataclass(frozen=True, slots=True)
class Engines:
    """A reader engine and a writer engine (the same engine on PostgreSQL)."""

    reader: sa.Engine
    writer: sa.Engine
    write_lock: AbstractContextManager[Any]
    d1: D1Api | None = None

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql` (D1 speaks the `sqlite` dialect)."""
        return self.reader.dialect.name

    @property
    def usage(self) -> D1Usage | None:
        """D1's counters (calls, rows read and written); None on SQLite and PostgreSQL."""
        return self.d1.usage if self.d1 is not None else None

    def batch(self, steps: Sequence[Step]) -> list[Done]:
        """Run a write path's statements atomically: one transaction, or ONE D1 batch call."""
        if self.d1 is None:
            with self.write() as connection:
                return execute_steps(connection, steps, at_driver=True)
        with mapped_errors(), self.writer.connect() as connection:
            return run_on_d1(connection, steps)

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """One write transaction: serialized in-process, BEGIN IMMEDIATE on SQLite."""
        with mapped_errors(), self.write_lock, self.writer.begin() as connection:
            yield connection

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        """One read transaction; on SQLite it sees a consistent WAL snapshot."""
        with mapped_errors(), self.reader.begin() as connection:
            yield connection

    def read_first(self, reading: Reading, values: Mapping[str, Any]) -> Any:
        """The first row (or None) of a SELECT compiled once (`store/prepared.py`), read at the
        driver on a pooled reader connection: a single statement is a consistent read on its
        own, and SQLAlchemy's execution around it cost four times the read. A driver error is
        raised as SQLAlchemy raises it, for `mapped_errors` to map alike; a connection it
        leaves unusable (a disconnect, or SQLite's filesystem failing) is dropped with every
        other pooled one, as SQLAlchemy does after a disconnect."""
        engine = self.reader
        dialect = engine.dialect
        driver_error = dialect.loaded_dbapi.Error
        params = reading.statement.bind(values)
        with mapped_errors():
            try:
                connection = engine.raw_connection()
            except driver_error as error:
                raise exc.DBAPIError.instance(
                    None, None, error, driver_error, dialect=dialect
                ) from error
            try:
                cursor = connection.cursor()
                try:
                    cursor.execute(reading.statement.sql, params)
                    found = cursor.fetchone()
                finally:
                    cursor.close()
            except driver_error as error:
                lost = _filesystem_error(error) or dialect.is_disconnect(
                    error, connection.dbapi_connection, None
                )
                if lost:  # SQLAlchemy's own handling: this connection, and the pool's older ones
                    engine.pool._invalidate(connection, error)
                raise exc.DBAPIError.instance(
                    reading.statement.sql,
                    params,
                    error,
                    driver_error,
                    connection_invalidated=lost,
                    dialect=dialect,
                ) from error
            finally:
                connection.close()  # back to the pool, which ends the read's transaction
        return None if found is None else reading.row_of(found)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.reader.dispose()
        if self.writer is not self.reader:
            self.writer.dispose()
        if self.d1 is not None:
            self.d1.close()


def create_engines(
    url: str,
    pg_timeouts: PgTimeouts | None = None,
    *,
    d1_token: str | None = None,
    d1_api_url: str | None = None,
) -> Engines:
    """Build engines for a sqlite:///, postgresql+psycopg:// or d1://ACCOUNT/DATABASE URL."""
    if url.startswith("d1:"):
        # D1 serializes writes itself, and every connection shares one HTTP client.
        api = D1Api(target_from_url(url, d1_token, d1_api_url))
        engine = d1_engine(api)
        return Engines(reader=engine, writer=engine, write_lock=_NoLock(), d1=api)
    with mapped_errors():
        if url.startswith("sqlite"):
            reader = _sqlite_engine(url, begin="BEGIN", pool_size=8)
            writer = _sqlite_engine(url, begin="BEGIN IMMEDIATE", pool_size=1)
        else:
            reader = pg_engine(url, pg_timeouts or PgTimeouts(), lock_timeout_ms=PG_LOCK_TIMEOUT_MS)
            writer = reader

    # On PostgreSQL concurrent writers are the database's business, not a process lock's.
    lock: AbstractContextManager[Any] = threading.Lock() if url.startswith("sqlite") else _NoLock()
    return Engines(reader=reader, writer=writer, write_lock=lock)


def _sqlite_engine(url: str, *, begin: str, pool_size: int) -> sa.Engine:
    memory = url in ("sqlite://", "sqlite:///:memory:")
    engine = sa.create_engine(
        url,
        poolclass=NullPool if memory else sa.QueuePool,
        **({} if memory else {"pool_size": pool_size, "max_overflow": 0, "pool_timeout": 30}),
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN is ours to emit.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        connection.exec_driver_sql(begin)

    @event.listens_for(engine, "handle_error")
    def _renew_after_filesystem_errors(context: sa.engine.ExceptionContext) -> None:
        # Treated as a disconnect: the connection is invalidated and the pool recycles every
        # other connection it holds, so the next checkout opens the file afresh.
        if _filesystem_error(context.original_exception):
            context.is_disconnect = True

    return engine


def _filesystem_error(error: BaseException) -> bool:
    """Whether a SQLite error came from the database file's filesystem (read-only, I/O, full)."""
    code = getattr(error, "sqlite_errorcode", None)
    return (
        isinstance(error, sqlite3.Error)
        and code is not None
        and code & 0xFF in _SQLITE_FILESYSTEM_CODES
    )


class _NoLock(AbstractContextManager[None]):
    """A lock that never blocks, for backends that do their own concurrency control."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *_exc: object) -> None:
        return None


def insert_with_conflicts(dialect: str, table: sa.Table) -> Any:
    """An INSERT that supports ON CONFLICT, in the given dialect."""
    if dialect == "sqlite":
        return sqlite.insert(table)
    return postgresql.insert(table)


@contextmanager
def mapped_errors() -> Iterator[None]:
    """Turn SQLAlchemy and driver exceptions into the marketbrief tree at the store's edge."""
    try:
        yield
    except exc.IntegrityError as error:
        raise StoreConflict(_message(error)) from error
    except exc.TimeoutError as error:  # the connection pool stayed exhausted
        raise StoreUnavailable(f"no store connection free: {error}") from error
    except exc.DBAPIError as error:
        if is_timeout(error.orig):
            raise StoreTimeout(_message(error)) from error
        raise _classify(error) from error
    except exc.SQLAlchemyError as error:
        raise StoreError(_message(error)) from error
    except OSError as error:
        raise StoreUnavailable(f"store unreachable: {error}") from error


def _classify(error: exc.DBAPIError) -> StoreError:
    text = _message(error)
    lowered = text.lower() + " " + type(error.orig).__name__.lower()
    if error.connection_invalidated or any(h in lowered for h in _UNAVAILABLE_HINTS):
        return StoreUnavailable(text)
    if isinstance(error, exc.OperationalError) and not any(h in lowered for h in _SCHEMA_HINTS):
        return StoreUnavailable(text)
    if any(h in lowered for h in _SCHEMA_HINTS):
        return SchemaError(f"{text} (is the schema migrated? run `marketbrief migrate`)")
    return StoreError(text)


def _message(error: exc.SQLAlchemyError) -> str:
    orig = getattr(error, "orig", None)
    return str(orig if orig is not None else error).strip().splitlines()[0]
