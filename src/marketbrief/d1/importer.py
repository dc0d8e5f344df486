"""Importing the old Cloudflare D1 database (a `wrangler d1 export` dump) into the store.

One write transaction: the import lands whole or not at all. Each old table maps onto ours:

    job_run_results        -> job_executions (trigger `import`; the old trigger kept in warnings)
    job_executions         -> job_executions, run_id `<date>_<type>_d1-job-<old id>`
    job_stage_log          -> job_stages (several log rows of one stage merge into one)
    scheduled_job_results  -> scheduled_job_results (version from the run's start, else created_at)
    job_date_results       -> report_latest, where its latest_run_id has a snapshot
    symbol_predictions     -> symbol_predictions, on the day's imported pre-market run, or on a
                              run `<date>_pre-market_d1-predictions` made to hold them
    daily_analysis         -> daily_analysis
    market_close_data      -> market_closes

It is idempotent: runs key on run_id, snapshots on run_id (or on date, type, content SHA-256
and created_at when they have none), the rest on their natural unique keys. A value it cannot
map skips its row with a reason; nothing is guessed (LESSONS 16).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from marketbrief.cli.progress import progress_bar
from marketbrief.d1 import history as d1history
from marketbrief.d1 import market as d1market
from marketbrief.d1 import values as legacy
from marketbrief.d1.dump import KNOWN_COLUMNS, Dump
from marketbrief.d1.history import IMPORT, RUN_ID_MAX
from marketbrief.models import PUBLISHABLE, ReportType
from marketbrief.ops.backup import Progress
from marketbrief.store.schema import (
    job_executions,
    report_latest,
    scheduled_job_results,
)
from marketbrief.store.sql import BUMP_REVISION, SQLStore

_PUBLISHED = tuple(status.value for status in PUBLISHABLE)
_POINTERS = "job_date_results"


@dataclass(slots=True)
class Tally:
    """Rows of one old table: read, imported now, already present, skipped."""

    read: int = 0
    imported: int = 0
    present: int = 0
    skipped: int = 0


@dataclass(slots=True)
class ImportReport:
    """What an import did, table by table, with every skipped row and why."""

    tables: dict[str, Tally] = field(default_factory=dict)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    latest_set: int = 0
    runs_made: int = 0

    def tally(self, table: str) -> Tally:
        """The tally of one old table."""
        return self.tables.setdefault(table, Tally())

    def skip(self, table: str, row: str, reason: str) -> None:
        """Record a skipped row (reason without row details, so reasons can be counted)."""
        self.tally(table).skipped += 1
        self.skipped.append((table, row, reason))

    def reasons(self) -> dict[str, dict[str, int]]:
        """How many rows each reason skipped, per table."""
        counted: dict[str, Counter[str]] = defaultdict(Counter)
        for table, _row, reason in self.skipped:
            counted[table][reason] += 1
        return {table: dict(counter) for table, counter in counted.items()}

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form for `import-d1 --json`."""
        return {
            "tables": {
                name: {
                    "read": t.read,
                    "imported": t.imported,
                    "present": t.present,
                    "skipped": t.skipped,
                }
                for name, t in self.tables.items()
            },
            "latest_set": self.latest_set,
            "runs_made_for_predictions": self.runs_made,
            "reasons": self.reasons(),
            "skipped": [{"table": t, "row": r, "reason": why} for t, r, why in self.skipped],
            "notes": self.notes,
        }


@dataclass(frozen=True, slots=True)
class KnownRun:
    """What the import needs to know of a run already in the store or imported."""

    job_type: str
    day: date
    started_at: datetime
    status: str
    trigger: str


@dataclass(frozen=True, slots=True)
class KnownSnapshot:
    """An imported snapshot competing to be a (date, type)'s latest report."""

    id: int
    run_id: str | None
    created_at: datetime
    version: int


def import_d1(
    store: SQLStore,
    dump_path: Path,
    *,
    now: datetime | None = None,
    progress: Progress = progress_bar,
) -> ImportReport:
    """Import a `wrangler d1 export` dump in one transaction; returns what was done and why not."""
    dump = Dump(dump_path)
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
    finally:
        dump.close()
    total = sum(map(len, tables.values()))
    with progress(total, "import-d1") as advance, store.write_transaction() as connection:
        Importer(connection, report, now or datetime.now(UTC), advance).run(tables)
    return report


class Importer:
    """One import inside one transaction."""

    def __init__(
        self,
        connection: sa.Connection,
        report: ImportReport,
        now: datetime,
        advance: Callable[[], None],
    ) -> None:
        self.c = connection
        self.report = report
        self.now = now
        self.advance = advance
        found = connection.execute(
            sa.select(
                job_executions.c.run_id,
                job_executions.c.job_type,
                job_executions.c.scheduled_date,
                job_executions.c.started_at,
                job_executions.c.status,
                job_executions.c.trigger_source,
            )
        )
        self.runs = {
            r.run_id: KnownRun(
                r.job_type, r.scheduled_date, r.started_at, r.status, r.trigger_source
            )
            for r in found
        }
        self.touched: dict[tuple[date, str], None] = {}

    def run(self, tables: dict[str, list[dict[str, Any]]]) -> None:
        """Map every old table, parents before children, then the latest pointers."""
        d1history.runs_from_results(self, tables.get("job_run_results", []))
        d1history.runs_from_executions(self, tables.get("job_executions", []))
        d1history.stages(self, tables.get("job_stage_log", []))
        d1history.snapshots(self, tables.get("scheduled_job_results", []))
        self.move_latest(tables.get("job_date_results", []))
        d1market.predictions(self, tables.get("symbol_predictions", []))
        d1market.analyses(self, tables.get("daily_analysis", []))
        d1market.closes(self, tables.get("market_close_data", []))

    # -- shared by the table mappings -----------------------------------------------------------

    def add_run(self, table: str | None, values: dict[str, Any]) -> bool:
        """Insert one run unless its run_id is known; True when it was inserted."""
        run_id = values["run_id"]
        if run_id in self.runs:
            if table is not None:
                self.report.tally(table).present += 1
            return False
        self.c.execute(sa.insert(job_executions).values(**values))
        self.runs[run_id] = KnownRun(
            values["job_type"],
            values["scheduled_date"],
            values["started_at"],
            values["status"],
            IMPORT,
        )
        if table is not None:
            self.report.tally(table).imported += 1
        return True

    def premarket_run(self, day: date) -> str | None:
        """The day's best imported pre-market run (published first, then the latest started)."""
        candidates = [
            (run.status in _PUBLISHED, run.started_at, run_id)
            for run_id, run in self.runs.items()
            if run.trigger == IMPORT and run.day == day and run.job_type == ReportType.PRE_MARKET
        ]
        return max(candidates)[2] if candidates else None

    # -- the latest pointer ---------------------------------------------------------------------

    def move_latest(self, pointers: list[dict[str, Any]]) -> None:
        """Point report_latest at each imported (date, type)'s chosen snapshot, forward only."""
        named = self._named_latest(pointers)
        moved = False
        for key in sorted(set(self.touched) | set(named)):
            label = f"{key[0]} {key[1]}"
            candidates = self._import_snapshots(key)
            by_name = [s for s in candidates if key in named and s.run_id == named[key]]
            if key in named and not by_name:
                self.report.skip(_POINTERS, label, "its latest_run_id has no imported snapshot")
            if not candidates:
                continue
            # job_date_results' choice first; else rows with a run_id, then the newest created_at.
            chosen = by_name[0] if by_name else max(candidates, key=_preference)
            applied = self._point(key, chosen)
            moved = moved or applied
            if by_name:
                tally = self.report.tally(_POINTERS)
                tally.imported += applied
                tally.present += not applied
        if moved:
            self.c.execute(BUMP_REVISION)

    def _named_latest(self, pointers: list[dict[str, Any]]) -> dict[tuple[date, str], str]:
        """job_date_results: the run the old system served for each (date, type)."""
        named: dict[tuple[date, str], str] = {}
        for row in pointers:
            self.advance()
            day = legacy.day(row.get("scheduled_date"))
            kind = legacy.report_type(row.get("report_type"))
            label = f"{row.get('scheduled_date')} {row.get('report_type')}"
            run_id = legacy.text(row.get("latest_run_id"), RUN_ID_MAX)
            if day is None or kind is None:
                self.report.skip(_POINTERS, label, "unknown scheduled_date or report_type")
            elif run_id is None:
                self.report.skip(_POINTERS, label, "no latest_run_id")
            elif run_id not in self.runs:
                self.report.skip(
                    _POINTERS, label, "latest_run_id names a run that was not imported"
                )
            else:
                named[(day, kind.value)] = run_id
        return named

    def _import_snapshots(self, key: tuple[date, str]) -> list[KnownSnapshot]:
        s = scheduled_job_results.c
        found = self.c.execute(
            sa.select(s.id, s.run_id, s.created_at, s.version)
            .where(s.scheduled_date == key[0], s.report_type == key[1], s.trigger_source == IMPORT)
            .order_by(s.id)
        )
        return [KnownSnapshot(r.id, r.run_id, r.created_at, r.version) for r in found]

    def _point(self, key: tuple[date, str], chosen: KnownSnapshot) -> bool:
        latest = report_latest.c
        where = sa.and_(latest.scheduled_date == key[0], latest.report_type == key[1])
        held = self.c.execute(
            sa.select(latest.snapshot_id, latest.version, scheduled_job_results.c.trigger_source)
            .join(scheduled_job_results, scheduled_job_results.c.id == latest.snapshot_id)
            .where(where)
        ).first()
        values = {
            "snapshot_id": chosen.id,
            "run_id": chosen.run_id,
            "version": chosen.version,
            "updated_at": self.now,
        }
        if held is None:
            self.c.execute(
                sa.insert(report_latest).values(scheduled_date=key[0], report_type=key[1], **values)
            )
        elif held.snapshot_id == chosen.id:
            return False
        elif held.trigger_source != IMPORT:
            self.report.notes.append(
                f"report_latest {key[0]} {key[1]}: kept the report this system produced"
            )
            return False
        elif held.version < chosen.version:
            self.c.execute(sa.update(report_latest).where(where).values(**values))
        else:
            return False
        self.report.latest_set += 1
        return True


def _preference(snapshot: KnownSnapshot) -> tuple[bool, datetime, int]:
    return (snapshot.run_id is not None, snapshot.created_at, snapshot.id)
