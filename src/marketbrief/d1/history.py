"""The run history of the old D1 database: runs, their stages and their report snapshots.

One mapper per old table (job_run_results, job_executions, job_stage_log,
scheduled_job_results): each reads the old rows, skips what it cannot map (with a reason),
counts what is already present (so a second import adds nothing) and inserts the rest through
the session's one transaction.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from marketbrief.calendar import business_date
from marketbrief.d1 import values as legacy
from marketbrief.d1.rows import OldRow
from marketbrief.d1.session import IMPORT, RUN_ID_MAX, ImportSession, note
from marketbrief.models import RunStatus, StageStatus, version_of
from marketbrief.ops.columns import shown
from marketbrief.store.rows import elapsed_ms
from marketbrief.store.schema import job_stages, scheduled_job_results


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
    counts: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """The job_executions row of an old run, or None (skipped with a reason)."""
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
    if run_status is RunStatus.RUNNING:
        # Open when the old system was exported: it will never finish, so it failed.
        run_status, executed = RunStatus.FAILED, None
        errors = [
            *errors,
            {
                "stage": stage,
                "error": "still running when the old system was exported; imported as failed",
            },
        ]
    mapped_stage = legacy.stage(stage)
    counts = counts or {}
    return {
        "run_id": run_id,
        "job_type": job_type.value,
        "scheduled_date": day,
        "status": run_status.value,
        "current_stage": mapped_stage.value if mapped_stage else stage,
        "trigger_source": IMPORT,
        "started_at": started,
        "executed_at": executed,
        "execution_time_ms": counts.get("ms", _elapsed(row, started, executed)),
        "symbols_processed": counts.get("processed") or 0,
        "symbols_successful": counts.get("successful") or 0,
        "symbols_fallback": counts.get("fallback") or 0,
        "symbols_failed": counts.get("failed") or 0,
        "success_rate": counts.get("rate"),
        "errors": errors,
        "warnings": warnings,
        "created_at": created or started,
    }


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
            warnings=[
                *legacy.json_list(row.get("warnings_json")),
                note(table, trigger_source=row.get("trigger_source")),
            ],
        )
        if values is not None:
            imp.add_run(row, values)


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
            warnings=[note(table, id=old_id)],
            counts={**counts, "rate": rate, "ms": ms},
        )
        if values is not None:
            imp.add_run(row, values)


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
        stage, status = legacy.stage(row.get("stage")), legacy.stage_status(row.get("status"))
        started = row.instant("started_at") or row.instant("created_at")
        if run_id is None or run_id not in imp.runs:
            imp.report.skip(table, row.key, "stage of a run that was not imported")
        elif stage is None:
            imp.report.skip(table, row.key, f"unknown stage {row.get('stage')!r}")
        elif status is None:
            imp.report.skip(table, row.key, f"unknown status {row.get('status')!r}")
        elif started is None:
            imp.report.skip(table, row.key, "no start time")
        else:
            logged = row.instant("created_at") or started
            entry = _Logged(logged, order, row, status, started, row.instant("ended_at"))
            groups[(run_id, stage.value)].append(entry)
    existing = {
        (r.run_id, r.stage)
        for r in imp.c.execute(sa.select(job_stages.c.run_id, job_stages.c.stage))
    }
    merged = 0
    for (run_id, stage_name), entries in groups.items():
        entries.sort(key=lambda e: (e.logged, e.order))
        tally = imp.report.tally(table)
        if (run_id, stage_name) in existing:
            tally.present += len(entries)
            continue
        last = entries[-1]
        details = legacy.json_object(last.row.get("details_json"), "details")
        errors = [e for x in entries for e in legacy.json_list(x.row.get("errors_json"))]
        warnings = [w for x in entries for w in legacy.json_list(x.row.get("warnings_json"))]
        if errors:
            details = {**details, "errors": errors}
        if warnings:
            details = {**details, "warnings": warnings}
        ended = [x.ended for x in entries if x.ended is not None]
        imp.insert(
            job_stages,
            {
                "run_id": run_id,
                "stage": stage_name,
                "status": last.status.value,
                "started_at": min(x.started for x in entries),
                "ended_at": max(ended) if ended else None,
                "details": details,
            },
            last.row,
        )
        tally.imported += len(entries)
        merged += len(entries) - 1
    if merged:
        imp.report.notes.append(f"{table}: {merged} repeated log row(s) merged into their stage")


@dataclass(frozen=True, slots=True)
class _Logged:
    """One stage log row that will merge into its stage."""

    logged: datetime
    order: int
    row: OldRow
    status: StageStatus
    started: datetime
    ended: datetime | None


def snapshots(imp: ImportSession, rows: list[dict[str, Any]]) -> None:
    """scheduled_job_results -> scheduled_job_results (append-only, exact content text)."""
    table = "scheduled_job_results"
    s = scheduled_job_results.c
    with_run = set(imp.c.execute(sa.select(s.run_id).where(s.run_id.is_not(None))).scalars())
    without_run = {
        (r.scheduled_date, r.report_type, r.content_sha256, r.created_at)
        for r in imp.c.execute(
            sa.select(s.scheduled_date, s.report_type, s.content_sha256, s.created_at).where(
                s.run_id.is_(None)
            )
        )
    }
    accepted: list[tuple[OldRow, dict[str, Any]]] = []
    unknown_runs = 0
    for raw in rows:
        imp.advance()
        row = OldRow(
            table,
            f"id {shown(raw.get('id'))} ({raw.get('scheduled_date')} {raw.get('report_type')})",
            raw,
        )
        values = _snapshot_values(imp, row)
        if values is None:
            continue
        if values["run_id"] is None and values["metadata"]["d1_import"].get("run_id"):
            unknown_runs += 1
        accepted.append((row, values))
    # One snapshot per run: the newest created_at wins.
    newest: dict[str, dict[str, Any]] = {}
    for _row, values in accepted:
        rid = values["run_id"]
        if rid is not None and (
            rid not in newest or newest[rid]["created_at"] < values["created_at"]
        ):
            newest[rid] = values
    for row, values in accepted:
        rid, day, kind = values["run_id"], values["scheduled_date"], values["report_type"]
        if rid is not None and newest[rid] is not values:
            imp.report.skip(table, row.key, "another snapshot of the same run is newer")
            continue
        legacy_key = (day, kind, values["content_sha256"], values["created_at"])
        if (rid is not None and rid in with_run) or (rid is None and legacy_key in without_run):
            imp.report.tally(table).present += 1
        else:
            imp.insert(scheduled_job_results, values, row)
            if rid is None:
                without_run.add(legacy_key)  # the same legacy row twice in one dump: once
            else:
                with_run.add(rid)
            imp.report.tally(table).imported += 1
        imp.touched[(day, kind)] = None
    if unknown_runs:
        imp.report.notes.append(
            f"{table}: {unknown_runs} snapshot(s) name runs that were not imported; kept without "
            "a run (legacy rows), their old run_id in metadata.d1_import"
        )


def _snapshot_values(imp: ImportSession, row: OldRow) -> dict[str, Any] | None:
    day, kind = row.day("scheduled_date"), legacy.report_type(row.get("report_type"))
    if day is None or kind is None:
        imp.report.skip(
            row.table,
            row.key,
            f"no scheduled_date or unknown report type {row.get('report_type')!r}",
        )
        return None
    content = _content(row)
    if content is None:
        imp.report.skip(row.table, row.key, "no report_content")
        return None
    rid = row.text("run_id", RUN_ID_MAX)
    run = imp.runs.get(rid) if rid is not None else None
    if run is not None and (run.job_type != kind.value or run.day != day):
        imp.report.skip(row.table, row.key, "its run is for another date or report type")
        return None
    created = row.instant("created_at") or (run.started_at if run else None)
    if created is None:
        imp.report.skip(row.table, row.key, "no created_at")
        return None
    metadata = legacy.json_object(row.get("metadata"), "metadata")
    provenance = {"legacy_id": row.get("id"), "trigger_source": row.get("trigger_source")}
    if rid is not None and run is None:
        provenance["run_id"] = rid
    return {
        "run_id": rid if run is not None else None,
        "scheduled_date": day,
        "report_type": kind.value,
        "report_content": content,
        "metadata": {**metadata, "d1_import": provenance},
        "trigger_source": IMPORT,
        "content_sha256": hashlib.sha256(content.encode("utf-8")).hexdigest(),
        # The latest pointer follows run start order; a run-less row orders by its creation.
        "version": version_of(run.started_at if run else created),
        "created_at": created,
    }


def _content(row: OldRow) -> str | None:
    """Report text exactly as stored (a string, or a UTF-8 BLOB); it must be JSON, as served."""
    value = row.get("report_content")
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise row.refuse("report_content", "is a blob that is not UTF-8 text") from None
    if not isinstance(value, str):
        raise row.refuse("report_content", f"{value!r} is not JSON text")
    if not legacy.json_value(value)[1]:
        raise row.refuse(
            "report_content", "is not JSON text (readers serve it as application/json)"
        )
    return value
