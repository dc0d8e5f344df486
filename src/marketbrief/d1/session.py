"""The state of one D1 import, which the table mappers read and write.

`ImportSession` holds the open write transaction, the report being filled, the clock and the
progress callback, and every run known so far (already in the store or imported now), so a
mapper can tell a new run from one present and hang children on the right parent. Also here:
what the mappers share (the `import` trigger, the longest run_id kept, the warning that marks
an imported run) and the report itself (`ImportReport`, one `Tally` per old table).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from marketbrief.d1.rows import OldRow
from marketbrief.models import PUBLISHABLE, ReportType, TriggerSource
from marketbrief.store.schema import job_executions

IMPORT = TriggerSource.IMPORT.value
RUN_ID_MAX = 160
_PUBLISHED = tuple(status.value for status in PUBLISHABLE)


def note(table: str, **more: Any) -> dict[str, Any]:
    """The warning entry that marks a run as imported, and from where."""
    return {"code": "imported", "source": f"d1:{table}", **more}


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

    def insert(self, table: sa.Table, values: dict[str, Any], source: OldRow) -> None:
        """Insert one row into our `table`, every value checked first (BadRow names `source`)."""
        self.c.execute(sa.insert(table).values(**source.checked(table, values)))

    def add_run(self, source: OldRow, values: dict[str, Any], *, count: bool = True) -> bool:
        """Insert one run unless its run_id is known; True when it was inserted.

        `count` says whether the run is tallied under its source's table (a run the import
        makes to hold predictions is not a row of any old table)."""
        run_id = values["run_id"]
        if run_id in self.runs:
            if count:
                self.report.tally(source.table).present += 1
            return False
        self.insert(job_executions, values, source)
        self.runs[run_id] = KnownRun(
            values["job_type"],
            values["scheduled_date"],
            values["started_at"],
            values["status"],
            IMPORT,
        )
        if count:
            self.report.tally(source.table).imported += 1
        return True

    def premarket_run(self, day: date) -> str | None:
        """The day's best imported pre-market run (published first, then the latest started)."""
        candidates = [
            (run.status in _PUBLISHED, run.started_at, run_id)
            for run_id, run in self.runs.items()
            if run.trigger == IMPORT and run.day == day and run.job_type == ReportType.PRE_MARKET
        ]
        return max(candidates)[2] if candidates else None
