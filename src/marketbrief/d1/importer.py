"""Importing the old Cloudflare D1 database (a `wrangler d1 export` dump, or the live database
through the D1 REST API: `d1/live.py`) into the store.

This module owns the order of the tables and the one write transaction: the import lands whole
or not at all. Each old table maps onto ours (the mappers live in `history`, `latest` and
`market`, and write into the `session`):

    job_run_results        -> job_executions (the old trigger mapped onto ours, kept in warnings)
    job_executions         -> job_executions, run_id `<date>_<type>_d1-job-<old id>`
    job_stage_log          -> job_stages (several log rows of one stage merge into one)
    scheduled_job_results  -> scheduled_job_results (version from the run's start, else created_at)
    job_date_results       -> report_latest, where its latest_run_id has a snapshot
    symbol_predictions     -> symbol_predictions, on the day's imported pre-market run, or on a
                              run `<date>_pre-market_d1-predictions` made to hold them
    daily_analysis         -> daily_analysis
    market_close_data      -> market_closes

It is idempotent and converges: runs key on run_id, snapshots on their old id (else run_id,
else date, type, content SHA-256 and created_at), the rest on their natural unique keys; a row
the import wrote before is brought up to what the dump now says, so importing a later dump of
the same database gives what importing that dump alone gives. An import that would change
nothing rolls its transaction back, so not even the store's revisions move. A row with a name
it cannot map (a report type, a status) is skipped with a reason; the old system's known faults
(shifted dates, stages and predictions without a status) are corrected and reported; a value
that is there but cannot be read or kept refuses the whole dump (`rows.BadRow`, exit 2) and the
transaction rolls back, as a restore refuses an archive. Nothing is half imported.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from marketbrief.d1 import history as d1history
from marketbrief.d1 import latest as d1latest
from marketbrief.d1 import market as d1market
from marketbrief.d1 import snapshots as d1snapshots
from marketbrief.d1.dump import KNOWN_COLUMNS, Dump
from marketbrief.d1.live import LiveDatabase
from marketbrief.d1.session import ImportReport, ImportSession
from marketbrief.ops.progress import Progress, advancing
from marketbrief.store.d1.api import D1Api
from marketbrief.store.sql import SQLStore


class Source(Protocol):
    """The old database as the importer reads it: a loaded dump, or a live D1 database."""

    @property
    def schemaless(self) -> list[str]: ...

    def tables(self) -> list[str]: ...

    def has(self, table: str) -> bool: ...

    def columns(self, table: str) -> list[str]: ...

    def rows(self, table: str) -> list[dict[str, Any]]: ...

    def close(self) -> None: ...


def import_d1(
    store: SQLStore,
    dump_path: Path,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import a `wrangler d1 export` dump in one transaction; returns what was done and why not.

    `progress`, when given, is told the number of old rows and advanced once for each.
    """
    return import_source(store, Dump(dump_path), now=now, progress=progress)


def import_live(
    store: SQLStore,
    api: D1Api,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import straight from a live D1 database (read page by page, with progress)."""
    return import_source(store, LiveDatabase(api, progress), now=now, progress=progress)


def import_source(
    store: SQLStore,
    dump: Source,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import the old database from `dump` (closed after reading) in one transaction."""
    report = ImportReport()
    try:
        tables: dict[str, list[dict[str, Any]]] = {}
        for name, known in KNOWN_COLUMNS.items():
            if not dump.has(name):
                report.notes.append(
                    f"{name}: not in the dump (an older database); nothing to import"
                )
                continue
            for column in dump.columns(name):
                if column not in known:
                    report.notes.append(
                        f"{name}.{column}: a column the importer does not know; ignored"
                    )
            tables[name] = dump.rows(name)
            report.tally(name).read = len(tables[name])
        others = [t for t in dump.tables() if t not in KNOWN_COLUMNS and t != "sqlite_sequence"]
        if others:
            report.notes.append(f"tables the importer does not read: {', '.join(others)}")
        if dump.schemaless:
            report.notes.append(
                f"no CREATE TABLE for {', '.join(dump.schemaless)} (exported with --no-schema): "
                "their columns were taken from the INSERTs"
            )
        if tables and len(tables) < len(KNOWN_COLUMNS):
            report.notes.append(
                "some tables are not in the dump: if it was exported with --table, export the "
                "whole database (`wrangler d1 export <database> --remote --output=dump.sql`) so "
                "runs, their stages, reports and predictions come in together"
            )
    finally:
        dump.close()
    total = sum(map(len, tables.values()))
    try:
        with (
            advancing(progress, total, "import-d1") as advance,
            store.write_transaction() as connection,
        ):
            imp = ImportSession(connection, report, now or datetime.now(UTC), advance)
            _map_tables(imp, tables)
            if not report.changed:
                raise _NothingChanged
    except _NothingChanged:
        report.notes.append("nothing changed: the store already holds this dump")
    return report


class _NothingChanged(Exception):
    """Rolls back an import that wrote nothing, so the transaction's revision bump is undone
    and a no-op re-import leaves the store exactly as it was."""


def _map_tables(imp: ImportSession, tables: dict[str, list[dict[str, Any]]]) -> None:
    """Map every old table, parents before children: the run history and its latest pointers,
    then the market data."""
    d1history.runs_from_results(imp, tables.get("job_run_results", []))
    d1history.runs_from_executions(imp, tables.get("job_executions", []))
    d1history.stages(imp, tables.get("job_stage_log", []))
    d1snapshots.snapshots(imp, tables.get("scheduled_job_results", []))
    d1latest.move_latest(imp, tables.get("job_date_results", []))
    d1market.predictions(imp, tables.get("symbol_predictions", []))
    d1market.analyses(imp, tables.get("daily_analysis", []))
    d1market.closes(imp, tables.get("market_close_data", []))
