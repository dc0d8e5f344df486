"""Taking a consistent backup while the service runs: the portable archive and a SQLite hot copy.

Everything is read inside ONE read transaction (REPEATABLE READ on PostgreSQL; on SQLite in WAL
mode one read transaction is a snapshot), so runs written during the backup are either wholly
in it or wholly absent. On SQLite the hot copy is taken through the online backup API from that
same transaction, so it holds exactly the rows of the archive; it is then checked with
`PRAGMA integrity_check`, switched out of WAL into a single self-contained file, and fsync'd.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from marketbrief.errors import SchemaError, StoreError
from marketbrief.ops.archive import (
    HOT_COPY,
    TABLES,
    ArchiveWriter,
    Entry,
    Manifest,
    sha256_of,
)
from marketbrief.ops.files import fsync_file
from marketbrief.ops.progress import Advance, Progress, advancing
from marketbrief.store.migrate import current_revision
from marketbrief.store.schema import store_revision
from marketbrief.store.sql import SQLStore

_BATCH = 1000


@dataclass(frozen=True, slots=True)
class BackupResult:
    """Where the archive went and what it holds."""

    path: Path
    manifest: Manifest

    @property
    def hot_copy(self) -> Entry | None:
        """The SQLite hot copy's entry, when the archive has one."""
        return self.manifest.extras.get(HOT_COPY)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {"path": str(self.path), "manifest": self.manifest.as_dict()}


def default_name(now: datetime) -> str:
    """`marketbrief-backup-<UTC timestamp>`, the default --output in the working directory."""
    return f"marketbrief-backup-{now.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"


def take_backup(
    store: SQLStore,
    destination: Path,
    *,
    hot_copy: bool = True,
    progress: Progress | None = None,
) -> BackupResult:
    """Write a consistent archive of every table (and on SQLite, if asked, a hot copy).

    `progress`, when given, is told the number of rows and advanced once for each written.
    """
    writer = ArchiveWriter(destination)
    try:
        copy = writer.file_path(HOT_COPY) if hot_copy and store.dialect == "sqlite" else None
        with store.snapshot_read() as connection:
            schema = current_revision(connection)
            if schema is None:
                raise SchemaError("the database was never migrated: run `marketbrief migrate`")
            revision = int(connection.execute(sa.select(store_revision.c.revision)).scalar_one())
            counts = {str(t.name): _count(connection, t) for t in TABLES}
            with advancing(progress, sum(counts.values()), "backup") as advance:
                for table in TABLES:
                    entry = writer.write_table(table, _ticking(rows_of(connection, table), advance))
                    if entry.rows != counts[table.name]:
                        raise StoreError(f"{table.name} changed during a snapshot read")
            if copy is not None:
                _hot_copy(connection, copy)
        extras: dict[str, Entry] = {}
        if copy is not None:
            _check_copy(copy, counts)
            extras[HOT_COPY] = sha256_of(copy)
        manifest = Manifest(
            schema_revision=schema,
            source_dialect=store.dialect,
            created_at=datetime.now(UTC).isoformat(timespec="microseconds"),
            store_revision=revision,
            tables=dict(writer.entries),
            extras=extras,
        )
        return BackupResult(writer.finish(manifest), manifest)
    except BaseException:
        writer.discard()
        raise


def rows_of(connection: sa.Connection, table: sa.Table) -> Iterable[Any]:
    """Every row of a table in primary-key order (the same order on either engine)."""
    key = list(table.primary_key.columns)
    if len(key) == 1 and isinstance(key[0].type, sa.Integer):
        query = sa.select(table).order_by(key[0]).execution_options(yield_per=_BATCH)
        return connection.execute(query)
    # String keys sort by collation on PostgreSQL: order them in Python, identically everywhere.
    found = connection.execute(sa.select(table)).all()
    return sorted(found, key=lambda row: tuple(str(row._mapping[c.name]) for c in key))


def _count(connection: sa.Connection, table: sa.Table) -> int:
    return int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _ticking(rows: Iterable[Any], advance: Advance) -> Iterator[Any]:
    for row in rows:
        yield row
        advance()


def _hot_copy(connection: sa.Connection, target: Path) -> None:
    """Copy the live SQLite database through the online backup API, inside the open snapshot."""
    source = connection.connection.dbapi_connection
    if not isinstance(source, sqlite3.Connection):  # pragma: no cover - only called on SQLite
        raise StoreError("a hot copy needs a SQLite store")
    try:
        with closing(sqlite3.connect(target)) as copy:
            source.backup(copy)
    except sqlite3.Error as error:
        raise StoreError(f"the SQLite hot copy failed: {error}") from error


def _check_copy(path: Path, counts: dict[str, int]) -> None:
    """integrity_check, the same row counts as the archive, one file (no WAL), on disk."""
    try:
        with closing(sqlite3.connect(path, isolation_level=None)) as copy:
            check = [row[0] for row in copy.execute("PRAGMA integrity_check")]
            if check != ["ok"]:
                raise StoreError(f"the SQLite hot copy failed integrity_check: {check[:5]}")
            for name, expected in counts.items():
                found = copy.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
                if found != expected:
                    raise StoreError(
                        f"the hot copy has {found} rows in {name}, expected {expected}"
                    )
            copy.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.Error as error:
        raise StoreError(f"the SQLite hot copy is unreadable: {error}") from error
    fsync_file(path)
