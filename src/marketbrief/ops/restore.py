"""Putting an archive back, into SQLite or PostgreSQL, all or nothing.

Order of work: verify every file of the archive against its manifest (before touching the
database); then, in ONE write transaction, refuse a non-empty database unless forced (forced:
delete its rows children first), insert every row with its original id, move PostgreSQL's
sequences past the highest id, bump store_revision so in-process caches drop what they hold,
move the store's version counter past every restored version (runs claimed after the restore
rank above what it brought back), and re-encode what was written to prove it matches the
manifest byte for byte. Any failure rolls the whole transaction back.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from marketbrief.errors import InvalidInput, SchemaError, StoreError
from marketbrief.ops.archive import (
    TABLES,
    Archive,
    ArchiveError,
    Manifest,
    encode_row,
)
from marketbrief.ops.backup import rows_of
from marketbrief.ops.progress import Advance, Progress, advancing
from marketbrief.ops.schemas import absent_columns
from marketbrief.store.migrate import current_revision
from marketbrief.store.schema import (
    job_executions,
    report_latest,
    scheduled_job_results,
    store_revision,
)
from marketbrief.store.sql import SQLStore

_BATCH = 1000


class NotEmpty(InvalidInput):
    """The database already holds rows and --force was not given; nothing was changed."""


@dataclass(frozen=True, slots=True)
class RestoreResult:
    """What a restore wrote."""

    path: Path
    manifest: Manifest
    rows: dict[str, int]
    replaced: dict[str, int]
    store_revision: int

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "path": str(self.path),
            "schema_revision": self.manifest.schema_revision,
            "source_dialect": self.manifest.source_dialect,
            "rows": self.rows,
            "replaced": self.replaced,
            "store_revision": self.store_revision,
        }


def restore_archive(
    store: SQLStore, path: Path, *, force: bool = False, progress: Progress | None = None
) -> RestoreResult:
    """Replace the store's rows with an archive's (see the module docstring for the order).

    `progress`, when given, is told the number of archived rows and advanced once for each.
    """
    archive = Archive(path)  # raises ArchiveError, having changed nothing, unless all files match
    manifest = archive.manifest
    try:
        with store.write_transaction() as connection:
            schema = current_revision(connection)
            if schema is None:
                raise SchemaError(
                    "the database was never migrated: run `marketbrief migrate` first"
                )
            absent = absent_columns(manifest.schema_revision, schema)
            if absent is None:
                raise ArchiveError(
                    f"the archive is at schema revision {manifest.schema_revision}, the database "
                    f"at {schema}: restore with the marketbrief version that wrote it"
                )
            existing = {str(t.name): _count(connection, t) for t in TABLES}
            if any(existing.values()) and not force:
                held = ", ".join(f"{n} {c}" for n, c in existing.items() if c)
                raise NotEmpty(
                    f"the database is not empty ({held}); restore replaces everything: "
                    "add --force to delete these rows first"
                )
            for table in reversed(TABLES):
                connection.execute(sa.delete(table))
            total = sum(e.rows or 0 for e in manifest.tables.values())
            with advancing(progress, total, "restore") as advance:
                for table in TABLES:
                    _insert_all(connection, table, archive, advance, absent)
            if store.dialect == "postgresql":
                _reset_sequences(connection)
            revision = _bump_revision(connection, manifest.store_revision)
            _keep_versions_ahead(connection)
            _prove_identical(connection, manifest, absent)
    finally:
        archive.close()
    rows = {name: entry.rows or 0 for name, entry in manifest.tables.items()}
    replaced = {name: count for name, count in existing.items() if count}
    return RestoreResult(path, manifest, rows, replaced, revision)


def _count(connection: sa.Connection, table: sa.Table) -> int:
    return int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _insert_all(
    connection: sa.Connection,
    table: sa.Table,
    archive: Archive,
    advance: Advance,
    absent: dict[str, frozenset[str]],
) -> None:
    batch: list[dict[str, Any]] = []
    for row in archive.rows(table, absent.get(str(table.name), frozenset())):
        batch.append(row)
        advance()
        if len(batch) >= _BATCH:
            connection.execute(sa.insert(table), batch)
            batch = []
    if batch:
        connection.execute(sa.insert(table), batch)


def _reset_sequences(connection: sa.Connection) -> None:
    """Move every id sequence past the restored ids, so new rows never collide with them."""
    for table in TABLES:
        if "id" not in table.c:
            continue
        connection.execute(
            sa.text(
                f"SELECT setval(pg_get_serial_sequence(:table, 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
            ),
            {"table": table.name},
        )


def _bump_revision(connection: sa.Connection, archived: int) -> int:
    """Keep the one store_revision row, moved past both its own and the archive's value."""
    current = connection.execute(sa.select(store_revision.c.revision)).scalar()
    revision = max(int(current or 0), archived) + 1
    if current is None:
        connection.execute(sa.insert(store_revision).values(id=1, revision=revision))
    else:
        connection.execute(sa.update(store_revision).values(revision=revision))
    return revision


def _keep_versions_ahead(connection: sa.Connection) -> None:
    """Never issue a version at or below one restored (the counter itself never goes back)."""
    found = [
        connection.execute(sa.select(sa.func.max(column))).scalar()
        for column in (
            job_executions.c.version,
            scheduled_job_results.c.version,
            report_latest.c.version,
        )
    ]
    highest = max((int(v) for v in found if v is not None), default=None)
    if highest is not None:
        connection.execute(
            sa.update(store_revision)
            .where(store_revision.c.issued_version < highest)
            .values(issued_version=highest)
        )


def _prove_identical(
    connection: sa.Connection, manifest: Manifest, absent: dict[str, frozenset[str]]
) -> None:
    """Re-encode every restored table; a difference from the manifest rolls everything back."""
    for table in TABLES:
        entry = manifest.tables[table.name]
        digest, count = hashlib.sha256(), 0
        for row in rows_of(connection, table):
            digest.update(encode_row(table, row, absent.get(str(table.name), frozenset())))
            count += 1
        if count != entry.rows or digest.hexdigest() != entry.sha256:
            raise StoreError(
                f"after restoring, {table.name} does not read back as archived "
                f"({count} rows, manifest {entry.rows}); the restore was rolled back"
            )
