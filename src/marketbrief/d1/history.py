"""The run history of the old D1 database: runs, their stages and their report snapshots.

One mapper per old table (job_run_results, job_executions, job_stage_log,
scheduled_job_results): each reads the old rows, skips what it cannot map (with a reason),
counts what is already present (so a second import adds nothing) and inserts the rest through
the session's one transaction.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from marketbrief.calendar import business_date
from marketbrief.d1 import values as legacy
from marketbrief.d1.session import IMPORT, RUN_ID_MAX, ImportSession, note
from marketbrief.models import RunStatus, version_of
from marketbrief.store.rows import elapsed_ms
from marketbrief.store.schema import job_stages, scheduled_job_results


def _run_values(
    imp: ImportSession,
    table: str,
    key: str,
    *,
    run_id: str,
    kind: Any,
    day: date | None,
    status: Any,
    started: datetime | None,
    executed: datetime | None,
    created: datetime | None,
    stage: Any = None,
    errors: list[Any],
    warnings: list[Any],
    counts: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """The job_executions row of an old run, or None (skipped with a reason)."""
    job_type, run_status = legacy.report_type(kind), legacy.run_status(status)
    if job_type is None:
        imp.report.skip(table, key, f"unknown report type {kind!r}")
        return None
    if day is None:
        imp.report.skip(table, key, "no usable scheduled_date")
        return None
    if run_status is None:
        imp.report.skip(table, key, f"unknown status {status!r}")
        return None
    if started is None:
        imp.report.skip(table, key, "no start time")
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
        "current_stage": mapped_stage.value if mapped_stage else legacy.text(stage, 32),
        "trigger_source": IMPORT,
        "started_at": started,
        "executed_at": executed,
        "execution_time_ms": counts.get("ms", elapsed_ms(started, executed) if executed else None),
        "symbols_processed": counts.get("processed") or 0,
        "symbols_successful": counts.get("successful") or 0,
        "symbols_fallback": counts.get("fallback") or 0,
        "symbols_failed": counts.get("failed") or 0,
        "success_rate": counts.get("rate"),
        "errors": errors,
        "warnings": warnings,
        "created_at": created or started,
    }


def runs_from_results(imp: ImportSession, rows: list[dict[str, Any]]) -> None:
    """job_run_results -> job_executions, keyed on the old run_id."""
    table = "job_run_results"
    for row in rows:
        imp.advance()
        key = str(row.get("run_id"))
        run_id = legacy.text(row.get("run_id"), RUN_ID_MAX)
        if run_id is None:
            imp.report.skip(table, key, "no run_id (or longer than 160 characters)")
            continue
        started = (
            legacy.instant(row.get("started_at"))
            or legacy.instant(row.get("created_at"))
            or legacy.instant(row.get("executed_at"))
        )
        values = _run_values(
            imp,
            table,
            key,
            run_id=run_id,
            kind=row.get("report_type"),
            day=legacy.day(row.get("scheduled_date")),
            status=row.get("status"),
            started=started,
            executed=legacy.instant(row.get("executed_at")),
            created=legacy.instant(row.get("created_at")),
            stage=row.get("current_stage"),
            errors=legacy.json_list(row.get("errors_json")),
            warnings=[
                *legacy.json_list(row.get("warnings_json")),
                note(table, trigger_source=row.get("trigger_source")),
            ],
        )
        if values is not None:
            imp.add_run(table, values)


def runs_from_executions(imp: ImportSession, rows: list[dict[str, Any]]) -> None:
    """The old job_executions -> job_executions, run_id `<date>_<type>_d1-job-<old id>`."""
    table = "job_executions"
    for row in rows:
        imp.advance()
        old_id = legacy.whole(row.get("id"))
        key = f"id {row.get('id')}"
        if old_id is None:
            imp.report.skip(table, key, "no id")
            continue
        executed = legacy.instant(row.get("executed_at"))
        ms = legacy.whole(row.get("execution_time_ms"))
        if ms is not None and ms < 0:
            ms = None
        started = executed - timedelta(milliseconds=ms) if executed and ms is not None else None
        started = started or executed or legacy.instant(row.get("created_at"))
        day = legacy.day(row.get("scheduled_date")) or (business_date(started) if started else None)
        kind = legacy.report_type(row.get("job_type"))
        rate = legacy.number(row.get("success_rate"))
        if rate is not None and 1 < rate <= 100:
            rate /= 100  # the old system kept percentages; ours is a fraction
        elif rate is not None and not 0 <= rate <= 1:
            rate = None
        counts = {
            name: max(legacy.whole(row.get(f"symbols_{name}")) or 0, 0)
            for name in ("processed", "successful", "fallback", "failed")
        }
        values = _run_values(
            imp,
            table,
            key,
            run_id=f"{day}_{kind.value if kind else 'unknown'}_d1-job-{old_id}",
            kind=row.get("job_type"),
            day=day,
            status=row.get("status"),
            started=started,
            executed=executed,
            created=legacy.instant(row.get("created_at")),
            errors=legacy.json_list(row.get("errors")),
            warnings=[note(table, id=old_id)],
            counts={**counts, "rate": rate, "ms": ms},
        )
        if values is not None:
            imp.add_run(table, values)


def stages(imp: ImportSession, rows: list[dict[str, Any]]) -> None:
    """job_stage_log -> job_stages; the log rows of one (run, stage) merge into one stage."""
    table = "job_stage_log"
    groups: dict[tuple[str, str], list[tuple[datetime, int, dict[str, Any]]]] = defaultdict(list)
    for order, row in enumerate(rows):
        imp.advance()
        run_id, key = (
            legacy.text(row.get("run_id"), RUN_ID_MAX),
            f"{row.get('run_id')} {row.get('stage')}",
        )
        stage, status = legacy.stage(row.get("stage")), legacy.stage_status(row.get("status"))
        started = legacy.instant(row.get("started_at")) or legacy.instant(row.get("created_at"))
        if run_id is None or run_id not in imp.runs:
            imp.report.skip(table, key, "stage of a run that was not imported")
        elif stage is None:
            imp.report.skip(table, key, f"unknown stage {row.get('stage')!r}")
        elif status is None:
            imp.report.skip(table, key, f"unknown status {row.get('status')!r}")
        elif started is None:
            imp.report.skip(table, key, "no start time")
        else:
            logged = legacy.instant(row.get("created_at")) or started
            groups[(run_id, stage.value)].append(
                (logged, order, {**row, "_status": status, "_start": started})
            )
    existing = {
        (r.run_id, r.stage)
        for r in imp.c.execute(sa.select(job_stages.c.run_id, job_stages.c.stage))
    }
    merged = 0
    for (run_id, stage_name), entries in groups.items():
        entries.sort(key=lambda e: (e[0], e[1]))
        tally = imp.report.tally(table)
        if (run_id, stage_name) in existing:
            tally.present += len(entries)
            continue
        last = entries[-1][2]
        details = legacy.json_object(last.get("details_json"), "details")
        errors = [e for _, _, r in entries for e in legacy.json_list(r.get("errors_json"))]
        warnings = [w for _, _, r in entries for w in legacy.json_list(r.get("warnings_json"))]
        if errors:
            details = {**details, "errors": errors}
        if warnings:
            details = {**details, "warnings": warnings}
        ended = [e for _, _, r in entries if (e := legacy.instant(r.get("ended_at"))) is not None]
        imp.c.execute(
            sa.insert(job_stages).values(
                run_id=run_id,
                stage=stage_name,
                status=last["_status"].value,
                started_at=min(r["_start"] for _, _, r in entries),
                ended_at=max(ended) if ended else None,
                details=details,
            )
        )
        tally.imported += len(entries)
        merged += len(entries) - 1
    if merged:
        imp.report.notes.append(f"{table}: {merged} repeated log row(s) merged into their stage")


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
    accepted: list[dict[str, Any]] = []
    unknown_runs = 0
    for row in rows:
        imp.advance()
        values = _snapshot_values(imp, table, row)
        if values is None:
            continue
        if values["run_id"] is None and row.get("run_id") not in (None, ""):
            unknown_runs += 1
        accepted.append(values)
    # One snapshot per run: the newest created_at wins.
    newest: dict[str, dict[str, Any]] = {}
    for values in accepted:
        rid = values["run_id"]
        if rid is not None and (
            rid not in newest or newest[rid]["created_at"] < values["created_at"]
        ):
            newest[rid] = values
    for values in accepted:
        rid, day, kind = values["run_id"], values["scheduled_date"], values["report_type"]
        if rid is not None and newest[rid] is not values:
            imp.report.skip(table, rid, "another snapshot of the same run is newer")
            continue
        legacy_key = (day, kind, values["content_sha256"], values["created_at"])
        if (rid is not None and rid in with_run) or (rid is None and legacy_key in without_run):
            imp.report.tally(table).present += 1
        else:
            imp.c.execute(sa.insert(scheduled_job_results).values(**values))
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


def _snapshot_values(imp: ImportSession, table: str, row: dict[str, Any]) -> dict[str, Any] | None:
    key = f"id {row.get('id')} {row.get('scheduled_date')} {row.get('report_type')}"
    day, kind = legacy.day(row.get("scheduled_date")), legacy.report_type(row.get("report_type"))
    content = _text(row.get("report_content"))
    if day is None or kind is None:
        imp.report.skip(
            table, key, f"unknown scheduled_date or report type {row.get('report_type')!r}"
        )
        return None
    parsed, ok = legacy.json_value(content) if content is not None else (None, False)
    if content is None or not ok or parsed is None:
        imp.report.skip(table, key, "report_content is not valid JSON (it could not be served)")
        return None
    rid = legacy.text(row.get("run_id"), RUN_ID_MAX)
    run = imp.runs.get(rid) if rid is not None else None
    if run is not None and (run.job_type != kind.value or run.day != day):
        imp.report.skip(table, key, "its run is for another date or report type")
        return None
    created = legacy.instant(row.get("created_at")) or (run.started_at if run else None)
    if created is None:
        imp.report.skip(table, key, "no created_at")
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


def _text(value: Any) -> str | None:
    """Report text as stored: a string, or UTF-8 bytes (a BLOB in the dump); else None."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return value if isinstance(value, str) else None
