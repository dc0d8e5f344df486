"""The latest pointers of the old D1 database: job_date_results -> report_latest.

After the snapshots are in, each (date, type) the import touched or job_date_results names
points at its chosen imported snapshot: the one job_date_results named, else one with a run,
then the newest created_at. A pointer held by an imported snapshot follows the import's choice
(so a later dump converges; one whose snapshot moved to another date is dropped); a pointer
never moves away from a report this system produced. When one moved, store_revision is bumped
so caches drop what they hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from marketbrief.d1 import values as legacy
from marketbrief.d1.rows import OldRow
from marketbrief.d1.session import IMPORT, RUN_ID_MAX, ImportSession
from marketbrief.store.schema import report_latest, scheduled_job_results
from marketbrief.store.writes import BUMP_REVISION

_POINTERS = "job_date_results"


@dataclass(frozen=True, slots=True)
class KnownSnapshot:
    """An imported snapshot competing to be a (date, type)'s latest report."""

    id: int
    run_id: str | None
    created_at: datetime
    version: int


def move_latest(imp: ImportSession, pointers: list[dict[str, Any]]) -> None:
    """Point report_latest at each imported (date, type)'s chosen snapshot, forward only."""
    named = _named_latest(imp, pointers)
    moved = False
    for key in sorted(set(imp.touched) | set(named)):
        label = f"{key[0]} {key[1]}"
        candidates = _import_snapshots(imp, key)
        by_name = [s for s in candidates if key in named and s.run_id == named[key]]
        if key in named and not by_name:
            imp.report.skip(_POINTERS, label, "its latest_run_id has no imported snapshot")
        if not candidates:
            moved = _drop_stale(imp, key) or moved
            continue
        # job_date_results' choice first; else rows with a run_id, then the newest created_at.
        chosen = by_name[0] if by_name else max(candidates, key=_preference)
        applied = _point(imp, key, chosen)
        moved = moved or applied
        if by_name:
            tally = imp.report.tally(_POINTERS)
            tally.imported += applied
            tally.present += not applied
    if moved:
        imp.execute(BUMP_REVISION)


def _named_latest(
    imp: ImportSession, pointers: list[dict[str, Any]]
) -> dict[tuple[date, str], str]:
    """job_date_results: the run the old system served for each (date, type)."""
    named: dict[tuple[date, str], str] = {}
    for raw in pointers:
        imp.advance()
        label = f"{raw.get('scheduled_date')} {raw.get('report_type')}"
        row = OldRow(_POINTERS, label, raw)
        day = row.day("scheduled_date")
        kind = legacy.report_type(row.get("report_type"))
        run_id = row.text("latest_run_id", RUN_ID_MAX)
        if day is None or kind is None:
            imp.report.skip(_POINTERS, label, "no scheduled_date or unknown report_type")
        elif run_id is None:
            imp.report.skip(_POINTERS, label, "no latest_run_id")
        elif run_id not in imp.runs:
            imp.report.skip(_POINTERS, label, "latest_run_id names a run that was not imported")
        else:
            run = imp.runs[run_id]
            if run.old_day == day and run.job_type == kind.value:
                day = run.day  # the date the import corrected on the run it names
            named[(day, kind.value)] = run_id
    return named


def _import_snapshots(imp: ImportSession, key: tuple[date, str]) -> list[KnownSnapshot]:
    s = scheduled_job_results.c
    found = imp.c.execute(
        sa.select(s.id, s.run_id, s.created_at, s.version)
        .where(s.scheduled_date == key[0], s.report_type == key[1], s.trigger_source == IMPORT)
        .order_by(s.id)
    )
    return [KnownSnapshot(r.id, r.run_id, r.created_at, r.version) for r in found]


def _point(imp: ImportSession, key: tuple[date, str], chosen: KnownSnapshot) -> bool:
    latest = report_latest.c
    where = sa.and_(latest.scheduled_date == key[0], latest.report_type == key[1])
    held = imp.c.execute(
        sa.select(
            latest.snapshot_id,
            latest.run_id,
            latest.version,
            scheduled_job_results.c.trigger_source,
        )
        .join(scheduled_job_results, scheduled_job_results.c.id == latest.snapshot_id)
        .where(where)
    ).first()
    values = {
        "snapshot_id": chosen.id,
        "run_id": chosen.run_id,
        "version": chosen.version,
        "updated_at": imp.now,
    }
    if held is None:
        imp.execute(
            sa.insert(report_latest).values(scheduled_date=key[0], report_type=key[1], **values)
        )
    elif (held.snapshot_id, held.run_id, held.version) == (
        chosen.id,
        chosen.run_id,
        chosen.version,
    ) and (chosen.id not in imp.refreshed):
        return False
    elif held.trigger_source != IMPORT:
        imp.report.notes.append(
            f"report_latest {key[0]} {key[1]}: kept the report this system produced"
        )
        return False
    else:
        imp.execute(sa.update(report_latest).where(where).values(**values))
    imp.report.latest_set += 1
    return True


def _drop_stale(imp: ImportSession, key: tuple[date, str]) -> bool:
    """Drop a pointer whose imported snapshot is no longer on its (date, type)."""
    latest, s = report_latest.c, scheduled_job_results.c
    where = sa.and_(latest.scheduled_date == key[0], latest.report_type == key[1])
    held = imp.c.execute(
        sa.select(s.scheduled_date, s.report_type, s.trigger_source)
        .join(report_latest, s.id == latest.snapshot_id)
        .where(where)
    ).first()
    if held is None or held.trigger_source != IMPORT or (held[0], held[1]) == key:
        return False
    imp.execute(sa.delete(report_latest).where(where))
    return True


def _preference(snapshot: KnownSnapshot) -> tuple[bool, datetime, int]:
    return (snapshot.run_id is not None, snapshot.created_at, snapshot.id)
