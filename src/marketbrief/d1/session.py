"""The state of one D1 import, which the table mappers read and write.

`ImportSession` holds the open write transaction, the report being filled, the clock and the
progress callback, and every run known so far (already in the store or imported now), so a
mapper can tell a new run from one present and hang children on the right parent. A row the
import wrote before (a run is the import's when its warnings carry the `imported` marker) is
compared with what the dump now says and updated when they differ, so a later dump converges;
a row this system wrote is never touched. `changed` tells whether anything was written at all.
Also here: what the mappers share (the longest run_id kept, the warning that marks an imported
run) and the report itself (`ImportReport`, one `Tally` per old table).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from marketbrief.calendar import MarketCalendar
from marketbrief.d1.rows import OldRow
from marketbrief.models import PUBLISHABLE, ReportType, TriggerSource
from marketbrief.store.schema import SLOT_TRIGGERS, job_executions

IMPORT = TriggerSource.IMPORT.value
RUN_ID_MAX = 160
MADE_SUFFIX = "_d1-predictions"  # the run the import makes to hold a day's predictions
_PUBLISHED = tuple(status.value for status in PUBLISHABLE)


def note(table: str, **more: Any) -> dict[str, Any]:
    """The warning entry that marks a run as imported, and from where."""
    return {"code": "imported", "source": f"d1:{table}", **more}


def imported_marker(warnings: Any) -> dict[str, Any] | None:
    """The `imported` warning of a run, or None for a run this system produced."""
    if isinstance(warnings, list):
        for entry in warnings:
            if isinstance(entry, dict) and entry.get("code") == "imported":
                return entry
    return None


@dataclass(slots=True)
class Tally:
    """Rows of one old table: read, imported now, updated, already present, skipped."""

    read: int = 0
    imported: int = 0
    updated: int = 0
    present: int = 0
    skipped: int = 0


@dataclass(slots=True)
class ImportReport:
    """What an import did, table by table, with every skipped and corrected row and why."""

    tables: dict[str, Tally] = field(default_factory=dict)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    corrected: list[tuple[str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    latest_set: int = 0
    runs_made: int = 0
    changed: bool = False

    def tally(self, table: str) -> Tally:
        """The tally of one old table."""
        return self.tables.setdefault(table, Tally())

    def skip(self, table: str, row: str, reason: str) -> None:
        """Record a skipped row (reason without row details, so reasons can be counted)."""
        self.tally(table).skipped += 1
        self.skipped.append((table, row, reason))

    def correct(self, table: str, row: str, what: str) -> None:
        """Record a value the import corrected (what, without row details, so it can count)."""
        self.corrected.append((table, row, what))

    def reasons(self) -> dict[str, dict[str, int]]:
        """How many rows each reason skipped, per table."""
        return _counted(self.skipped)

    def corrections(self) -> dict[str, dict[str, int]]:
        """How many rows each kind of correction changed, per table."""
        return _counted(self.corrected)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form for `import-d1 --json`."""
        return {
            "tables": {
                name: {
                    "read": t.read,
                    "imported": t.imported,
                    "updated": t.updated,
                    "present": t.present,
                    "skipped": t.skipped,
                }
                for name, t in self.tables.items()
            },
            "changed": self.changed,
            "latest_set": self.latest_set,
            "runs_made_for_predictions": self.runs_made,
            "reasons": self.reasons(),
            "skipped": [{"table": t, "row": r, "reason": why} for t, r, why in self.skipped],
            "corrections": self.corrections(),
            "corrected": [{"table": t, "row": r, "what": w} for t, r, w in self.corrected],
            "notes": self.notes,
        }


def _counted(entries: list[tuple[str, str, str]]) -> dict[str, dict[str, int]]:
    counted: dict[str, Counter[str]] = defaultdict(Counter)
    for table, _row, reason in entries:
        counted[table][reason] += 1
    return {table: dict(counter) for table, counter in counted.items()}


@dataclass(frozen=True, slots=True)
class KnownRun:
    """What the import needs to know of a run already in the store or imported.

    `old_day` is the date the old system stored when the import corrected it (else None)."""

    job_type: str
    day: date
    started_at: datetime
    status: str
    trigger: str
    imported: bool
    current_stage: str | None = None
    old_day: date | None = None


class ImportSession:
    """One import inside one transaction: what the table mappers write into."""

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
        self.calendar = MarketCalendar()
        self.runs: dict[str, KnownRun] = {}
        self.run_rows: dict[str, Mapping[str, Any]] = {}  # the stored rows of imported runs
        self.slots: dict[tuple[date, str], str] = {}
        for found in connection.execute(sa.select(job_executions)).mappings():
            r = dict(found)
            known = self.runs[r["run_id"]] = _known(r)
            if known.imported:
                self.run_rows[r["run_id"]] = r
            if r["trigger_source"] in SLOT_TRIGGERS:
                self.slots[(r["scheduled_date"], r["job_type"])] = r["run_id"]
        self.touched: dict[tuple[date, str], None] = {}
        self.refreshed: set[int] = set()  # snapshots whose row the import updated in place

    def insert(self, table: sa.Table, values: dict[str, Any], source: OldRow) -> None:
        """Insert one row into our `table`, every value checked first (BadRow names `source`)."""
        self.c.execute(sa.insert(table).values(**source.checked(table, values)))
        self.report.changed = True

    def update(
        self,
        table: sa.Table,
        where: sa.ColumnElement[bool],
        values: dict[str, Any],
        source: OldRow,
    ) -> None:
        """Update the rows of our `table` that `where` selects, every value checked first."""
        self.c.execute(sa.update(table).where(where).values(**source.checked(table, values)))
        self.report.changed = True

    def execute(self, statement: sa.Executable) -> None:
        """Run one writing statement the mappers built themselves (a delete, a bump)."""
        self.c.execute(statement)
        self.report.changed = True

    def insert_many(self, table: sa.Table, rows: list[tuple[OldRow, dict[str, Any]]]) -> None:
        """Insert rows into our `table` in one statement, every value checked first."""
        if rows:
            self.c.execute(sa.insert(table), [source.checked(table, v) for source, v in rows])
            self.report.changed = True

    def refresh(
        self,
        table: sa.Table,
        key: dict[str, Any],
        values: dict[str, Any],
        source: OldRow,
        *,
        kept: tuple[str, ...] = (),
        held: Mapping[str, Any] | None = None,
    ) -> bool:
        """Update the one imported row whose columns hold `key` to `values` when they differ;
        True if so.

        `kept` names columns left as stored (values the import made up, like its own clock);
        `held` is the stored row when the caller read it already. The condition is built only
        when it is needed: building one costs more than the comparison."""

        def where() -> sa.ColumnElement[bool]:
            return sa.and_(*(table.c[name] == value for name, value in key.items()))

        if held is None:
            row = self.c.execute(sa.select(table).where(where())).mappings().first()
            held = dict(row) if row is not None else None
        if held is None:
            raise LookupError(f"no {table.name} row to refresh")
        changes = {
            name: value
            for name, value in values.items()
            if name not in kept and held[name] != value
        }
        if not changes:
            return False
        self.update(table, where(), changes, source)
        return True

    def add_run(self, source: OldRow, values: dict[str, Any], *, count: bool = True) -> bool:
        """Insert one run, or bring the import's earlier copy up to date; True if written.

        A run this system produced is never touched. A run that was in flight at the earlier
        export is updated by a dump where it finished, never the other way round. `count` says
        whether the run is tallied under its source's table (a run the import makes to hold
        predictions is not a row of any old table)."""
        run_id = values["run_id"]
        tally = self.report.tally(source.table) if count else None
        known = self.runs.get(run_id)
        if known is not None:
            written = False
            stored = self.run_rows.get(run_id)
            if stored is not None and not (_in_flight(values) and not _in_flight(stored)):
                written = self.refresh(
                    job_executions,
                    {"run_id": run_id},
                    values,
                    source,
                    held=stored,
                )
            if tally is not None:
                if written:
                    tally.updated += 1
                else:
                    tally.present += 1
            if written:
                self.runs[run_id] = self._known_from(values, known.old_day)
                self.run_rows[run_id] = values
            return written
        self.insert(job_executions, values, source)
        self.runs[run_id] = self._known_from(values, None)
        self.run_rows[run_id] = values
        if tally is not None:
            tally.imported += 1
        return True

    def note_old_day(self, run_id: str, old: date) -> None:
        """Remember the date the old system stored for a run whose date was corrected."""
        known = self.runs.get(run_id)
        if known is not None:
            self.runs[run_id] = KnownRun(
                known.job_type,
                known.day,
                known.started_at,
                known.status,
                known.trigger,
                known.imported,
                known.current_stage,
                old,
            )

    def claim_slot(self, day: date, job_type: str, run_id: str) -> str | None:
        """Claim a (date, type) slot for an imported scheduled run; the holder if it is taken."""
        holder = self.slots.setdefault((day, job_type), run_id)
        return None if holder == run_id else holder

    def premarket_run(self, day: date) -> str | None:
        """The day's best imported pre-market run (published first, then the latest started).

        The runs the import made to hold predictions are not candidates: a real run wins."""
        candidates = [
            (run.status in _PUBLISHED, run.started_at, run_id)
            for run_id, run in self.runs.items()
            if run.imported
            and run.day == day
            and run.job_type == ReportType.PRE_MARKET
            and not run_id.endswith(MADE_SUFFIX)
        ]
        return max(candidates)[2] if candidates else None

    def _known_from(self, values: dict[str, Any], old_day: date | None) -> KnownRun:
        return KnownRun(
            values["job_type"],
            values["scheduled_date"],
            values["started_at"],
            values["status"],
            values["trigger_source"],
            True,
            values.get("current_stage"),
            old_day,
        )


def _in_flight(values: Mapping[str, Any]) -> bool:
    marker = imported_marker(values.get("warnings"))
    return bool(marker and marker.get("in_flight_at_export"))


def _known(r: Mapping[str, Any]) -> KnownRun:
    return KnownRun(
        r["job_type"],
        r["scheduled_date"],
        r["started_at"],
        r["status"],
        r["trigger_source"],
        imported_marker(r["warnings"]) is not None,
        r["current_stage"],
    )
