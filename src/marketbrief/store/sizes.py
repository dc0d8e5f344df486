"""How big each of the store's tables is: rows and bytes, measured the way each engine can.

Rows are an exact `count(*)` on both engines. Bytes:

- SQLite with the `dbstat` virtual table compiled in: the pages each table and its indexes
  occupy (`SUM(pgsize)`), exact;
- SQLite without it: an estimate, the file's `page_count * page_size` shared among the tables
  in proportion to the bytes of their values (`length()` of every column), stated as such;
- PostgreSQL: `pg_total_relation_size` (heap, indexes and TOAST) of each table in the store's
  own schema (the first schema of the connection's search path), exact.

Only the tables the store declares are measured: a shared database's other tables are not ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from marketbrief.store.schema import ALL_TABLES

DBSTAT = "sqlite dbstat: pages used by each table and its indexes"
ESTIMATE = (
    "estimate: the file's page_count * page_size, shared by the bytes of each table's values "
    "(SQLite here has no dbstat)"
)
PG_SIZE = "pg_total_relation_size: heap, indexes and TOAST of each table"
ROWS_COUNTED = "exact count(*)"


@dataclass(frozen=True, slots=True)
class TableSize:
    """One table's rows and bytes."""

    name: str
    rows: int
    bytes: int


@dataclass(frozen=True, slots=True)
class Sizes:
    """Every table's size, and how the bytes were measured."""

    tables: tuple[TableSize, ...]
    bytes_method: str
    rows_method: str = ROWS_COUNTED
    database_bytes: int | None = None  # SQLite: the whole file, free pages included


def measure(connection: sa.Connection) -> Sizes:
    """The size of every table the store declares, on either engine."""
    rows = {
        t.name: int(connection.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
        for t in ALL_TABLES
    }
    if connection.dialect.name == "postgresql":
        return Sizes(_tables(rows, _pg_bytes(connection)), PG_SIZE)
    page_size = int(connection.exec_driver_sql("PRAGMA page_size").scalar_one())
    page_count = int(connection.exec_driver_sql("PRAGMA page_count").scalar_one())
    file_bytes = page_size * page_count
    exact = _dbstat_bytes(connection)
    if exact is not None:
        return Sizes(_tables(rows, exact), DBSTAT, database_bytes=file_bytes)
    return Sizes(
        _tables(rows, estimate_bytes(connection, file_bytes)), ESTIMATE, database_bytes=file_bytes
    )


def _tables(rows: dict[str, int], sizes: dict[str, int]) -> tuple[TableSize, ...]:
    return tuple(TableSize(name, count, sizes.get(name, 0)) for name, count in rows.items())


def _pg_bytes(connection: sa.Connection) -> dict[str, int]:
    query = sa.text(
        "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') "
        "AND c.relname IN :names"
    ).bindparams(sa.bindparam("names", expanding=True))
    found = connection.execute(query, {"names": [t.name for t in ALL_TABLES]}).all()
    return {name: int(size) for name, size in found}


def _dbstat_bytes(connection: sa.Connection) -> dict[str, int] | None:
    """Pages per table (its indexes included) from dbstat, or None when SQLite lacks it."""
    query = (
        "SELECT m.tbl_name, SUM(d.pgsize) FROM dbstat AS d "
        "JOIN sqlite_master AS m ON m.name = d.name GROUP BY m.tbl_name"
    )
    try:
        found = connection.exec_driver_sql(query).all()
    except sa.exc.OperationalError:  # "no such table: dbstat": not compiled in
        return None
    return {name: int(size) for name, size in found}


def estimate_bytes(connection: sa.Connection, file_bytes: int) -> dict[str, int]:
    """`file_bytes` shared among the tables by the bytes of their values (an estimate)."""
    content = {t.name: _content_bytes(connection, t) for t in ALL_TABLES}
    total = sum(content.values())
    if total == 0:
        return dict.fromkeys(content, 0)
    return {name: file_bytes * size // total for name, size in content.items()}


def _content_bytes(connection: sa.Connection, table: sa.Table) -> int:
    lengths: list[Any] = [sa.func.coalesce(sa.func.length(c), 0) for c in table.c]
    found = connection.execute(sa.select(sa.func.sum(sum(lengths[1:], lengths[0])))).scalar()
    return int(found or 0)
