"""The run history of the old D1 database: runs and their stages (the snapshots: `snapshots`).

One mapper per old table (job_run_results, job_executions, job_stage_log): each reads the old
rows, skips what it cannot map (with a reason), corrects the old system's known faults (dates,
stage statuses; reported), inserts what is new and refreshes what an earlier import wrote,
through the session's one transaction.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from marketbrief.calendar import business_date
from marketbrief.d1 import dates
from marketbrief.d1 import values as legacy
from marketbrief.d1.rows import OldRow
from marketbrief.d1.session import IMPORT, RUN_ID_MAX, ImportSession, imported_marker, note
from marketbrief.models import RunStatus, StageStatus
from marketbrief.ops.columns import shown
from marketbrief.store.rows import elapsed_ms
from marketbrief.store.schema import job_stages


def _run_values(
    imp: ImportSession,
    row: OldRow,
    *,
    run_id: str,
    kind: Any,
    day: date | None,
    status: Any,
    started: datetime | None,
    executed: datetime | None,
    created: datetime | None,
    stage: str | None = None,
    errors: list[Any],
    warnings: list[Any],
    marker: dict[str, Any],
    trigger: Any = None,
    counts: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """The job_executions row of an old run, or None (skipped with a reason).

    `marker` is the run's `imported` warning: it keeps what the import changed (the old
    trigger, the old date, that the run was in flight at export)."""
    if legacy.other_payload(kind):
        imp.report.skip(row.table, row.key, f"{kind!r} is not a report (old tracking rows)")
        return None
    job_type, run_status = legacy.report_type(kind), legacy.run_status(status)
    if job_type is None:
        imp.report.skip(row.table, row.key, f"unknown report type {kind!r}")
        return None
    if day is None:
        imp.report.skip(row.table, row.key, "no scheduled_date")
        return None
    if run_status is None:
        imp.report.skip(row.table, row.key, f"unknown status {status!r}")
        return None
    if started is None:
        imp.report.skip(row.table, row.key, "no start time")
        return None
    fixed = dates.corrected(imp.calendar, job_type, day, started)
    if fixed is not None:
        marker = {**marker, "scheduled_date": day.isoformat(), "date_corrected": fixed[1]}
        imp.report.correct(row.table, f"{row.key}: {day} -> {fixed[0]}", fixed[1])
        day = fixed[0]
    if run_status is RunStatus.RUNNING:
        # Open when the old system was exported: it will never finish here, so it failed; a
        # later dump where it finished replaces it (see ImportSession.add_run).
        run_status, executed = RunStatus.FAILED, None
        marker = {**marker, "in_flight_at_export": True}
        errors = [
            *errors,
            {
                "stage": stage,
                "error": "still running when the old system was exported; imported as failed",
            },
        ]
    source = _trigger(imp, trigger, day, job_type.value, run_id)
    if source != trigger and trigger is not None and source == IMPORT:
        marker = {**marker, "trigger_kept_as_import": _why_import(imp, trigger, day, job_type)}
    mapped_stage = legacy.stage(stage)
    counts = counts or {}
    return {
        "run_id": run_id,
        "job_type": job_type.value,
        "scheduled_date": day,
        "status": run_status.value,
        "current_stage": mapped_stage.value if mapped_stage else stage,
        "trigger_source": source,
        "started_at": started,
        "executed_at": executed,
        "execution_time_ms": counts.get("ms", _elapsed(row, started, executed)),
        "symbols_processed": counts.get("processed") or 0,
        "symbols_successful": counts.get("successful") or 0,
        "symbols_fallback": counts.get("fallback") or 0,
        "symbols_failed": counts.get("failed") or 0,
        "success_rate": counts.get("rate"),
        "errors": errors,
        "warnings": [*warnings, marker],
        "created_at": created or started,
    }


def _trigger(imp: ImportSession, old: Any, day: date, job_type: str, run_id: str) -> str:
    """marketbrief's trigger for an old one: its meaning, or `import` when none is known or
    the (date, type) slot it would claim is already another run's."""
    mapped = legacy.trigger(old)
    if mapped is None:
        return IMPORT
    if mapped.claims_slot and imp.claim_slot(day, job_type, run_id) is not None:
        return IMPORT
    return mapped.value


def _why_import(imp: ImportSession, old: Any, day: date, job_type: Any) -> str:
    holder = imp.slots.get((day, job_type.value))
    if legacy.trigger(old) is None:
        return f"the old trigger {old!r} has no meaning here"
    return f"the {day} {job_type.value} slot is already claimed by run {holder}"


def _elapsed(row: OldRow, started: datetime, executed: datetime | None) -> int | None:
    if executed is None:
        return None
    try:
        return elapsed_ms(started, executed)
    except OverflowError:
        raise row.refuse("executed_at", "is too far from the start to be a run's end") from None


def runs_from_results(imp: ImportSession, rows: list[dict[str, Any]]) -> None:
    """job_run_results -> job_executions, keyed on the old run_id."""
    table = "job_run_results"
    for raw in rows:
        imp.advance()
        row = OldRow(table, f"run_id {shown(raw.get('run_id'))}", raw)
        run_id = row.text("run_id", RUN_ID_MAX)
        if run_id is None:
            imp.report.skip(table, row.key, "no run_id")
            continue
        started = row.instant("started_at") or row.instant("created_at")
        values = _run_values(
            imp,
            row,
            run_id=run_id,
            kind=row.get("report_type"),
            day=row.day("scheduled_date"),
            status=row.get("status"),
            started=started or row.instant("executed_at"),
            executed=row.instant("executed_at"),
            created=row.instant("created_at"),
            stage=row.text("current_stage", 32),
            errors=legacy.json_list(row.get("errors_json")),
            warnings=legacy.json_list(row.get("warnings_json")),
            marker=note(table, trigger_source=row.get("trigger_source")),
            trigger=row.get("trigger_source"),
        )
        _add(imp, row, values)


def runs_from_executions(imp: ImportSession, rows: list[dict[str, Any]]) -> None:
    """The old job_executions -> job_executions, run_id `<date>_<type>_d1-job-<old id>`."""
    table = "job_executions"
    for raw in rows:
        imp.advance()
        row = OldRow(table, f"id {shown(raw.get('id'))}", raw)
        old_id = row.whole("id", minimum=None)
        if old_id is None:
            imp.report.skip(table, row.key, "no id")
            continue
        executed = row.instant("executed_at")
        ms = row.whole("execution_time_ms")
        try:
            started = executed - timedelta(milliseconds=ms) if executed and ms is not None else None
        except OverflowError:
            raise row.refuse(
                "execution_time_ms", f"{shown(ms)} ms puts the start before year 1"
            ) from None
        started = started or executed or row.instant("created_at")
        try:
            day = row.day("scheduled_date") or (business_date(started) if started else None)
        except OverflowError:
            raise row.refuse("executed_at", "has no New York date") from None
        kind = legacy.report_type(row.get("job_type"))
        rate = row.number("success_rate")
        if rate is not None and 1 < rate <= 100:
            rate /= 100  # the old system kept percentages; ours is a fraction
        elif rate is not None and not 0 <= rate <= 1:
            raise row.refuse("success_rate", f"{rate} is neither a fraction nor a percentage")
        counts = {
            name: row.whole(f"symbols_{name}")
            for name in ("processed", "successful", "fallback", "failed")
        }
        values = _run_values(
            imp,
            row,
            run_id=f"{day}_{kind.value if kind else 'unknown'}_d1-job-{old_id}",
            kind=row.get("job_type"),
            day=day,
            status=row.get("status"),
            started=started,
            executed=executed,
            created=row.instant("created_at"),
            errors=legacy.json_list(row.get("errors")),
            warnings=[],
            marker=note(table, id=old_id),
            counts={**counts, "rate": rate, "ms": ms},
        )
        _add(imp, row, values)


def _add(imp: ImportSession, row: OldRow, values: dict[str, Any] | None) -> None:
    if values is None:
        return
    imp.add_run(row, values)
    old = imported_marker(values["warnings"])
    if old is not None and "scheduled_date" in old:
        imp.note_old_day(values["run_id"], date.fromisoformat(old["scheduled_date"]))


def stages(imp: ImportSession, rows: list[dict[str, Any]]) -> None:
    """job_stage_log -> job_stages; the log rows of one (run, stage) merge into one stage."""
    table = "job_stage_log"
    groups: dict[tuple[str, str], list[_Logged]] = defaultdict(list)
    for order, raw in enumerate(rows):
        imp.advance()
        row = OldRow(
            table, f"id {shown(raw.get('id'))} ({raw.get('run_id')} {raw.get('stage')})", raw
        )
        run_id = row.text("run_id", RUN_ID_MAX)
        stage, raw_status = legacy.stage(row.get("stage")), row.get("status")
        status = legacy.stage_status(raw_status)
        started = row.instant("started_at") or row.instant("created_at")
        if run_id is None or run_id not in imp.runs:
            imp.report.skip(table, row.key, "stage of a run that was not imported")
        elif stage is None:
            imp.report.skip(table, row.key, f"unknown stage {row.get('stage')!r}")
        elif status is None and raw_status is not None and str(raw_status).strip():
            imp.report.skip(table, row.key, f"unknown status {raw_status!r}")
        elif started is None:
            imp.report.skip(table, row.key, "no start time")
        else:
            logged = row.instant("created_at") or started
            entry = _Logged(logged, order, row, status, started, row.instant("ended_at"))
            groups[(run_id, stage.value)].append(entry)
    existing = {
        (r["run_id"], r["stage"]): dict(r) for r in imp.c.execute(sa.select(job_stages)).mappings()
    }
    merged = 0
    for (run_id, stage_name), entries in groups.items():
        entries.sort(key=lambda e: (e.logged, e.order))
        tally = imp.report.tally(table)
        run = imp.runs[run_id]
        if (run_id, stage_name) in existing and not run.imported:
            tally.present += len(entries)
            continue
        values = _stage_values(imp, run_id, stage_name, entries)
        last = entries[-1].row
        if (run_id, stage_name) not in existing:
            imp.insert(job_stages, values, last)
            tally.imported += len(entries)
        elif imp.refresh(
            job_stages,
            {"run_id": run_id, "stage": stage_name},
            values,
            last,
            held=existing[(run_id, stage_name)],
        ):
            tally.updated += len(entries)
        else:
            tally.present += len(entries)
        merged += len(entries) - 1
    if merged:
        imp.report.notes.append(f"{table}: {merged} repeated log row(s) merged into their stage")


def _stage_values(
    imp: ImportSession, run_id: str, stage_name: str, entries: list[_Logged]
) -> dict[str, Any]:
    """One stage from its log rows: the last row's status (derived when it has none, or when
    it says running under a finished run), the earliest start, the latest end."""
    last = entries[-1]
    details = legacy.json_object(last.row.get("details_json"), "details")
    errors = [e for x in entries for e in legacy.json_list(x.row.get("errors_json"))]
    warnings = [w for x in entries for w in legacy.json_list(x.row.get("warnings_json"))]
    if errors:
        details = {**details, "errors": errors}
    if warnings:
        details = {**details, "warnings": warnings}
    ended = [x.ended for x in entries if x.ended is not None]
    status = last.status
    if status is None or status is StageStatus.RUNNING:
        # Every imported run has finished (one in flight at export is imported as failed), so
        # no stage stays running under it.
        run = imp.runs[run_id]
        status = _derived_status(run.status, run.current_stage == stage_name, bool(ended))
        details = {
            **details,
            "d1_import": {"status": last.row.get("status"), "derived": status.value},
        }
        imp.report.correct(
            "job_stage_log",
            f"{run_id} {stage_name}",
            f"stage status {'NULL' if last.status is None else 'running'} derived from its end "
            "and its run",
        )
    return {
        "run_id": run_id,
        "stage": stage_name,
        "status": status.value,
        "started_at": min(x.started for x in entries),
        "ended_at": max(ended) if ended else None,
        "details": details,
    }


def _derived_status(run_status: str, where_it_stopped: bool, ended: bool) -> StageStatus:
    """A stage's status from its run's outcome: a failed run failed at its current stage (and
    at any stage that never ended); every other stage of a finished run got through."""
    if run_status == RunStatus.FAILED.value and (where_it_stopped or not ended):
        return StageStatus.FAILED
    return StageStatus.SUCCESS


@dataclass(frozen=True, slots=True)
class _Logged:
    """One stage log row that will merge into its stage."""

    logged: datetime
    order: int
    row: OldRow
    status: StageStatus | None
    started: datetime
    ended: datetime | None
