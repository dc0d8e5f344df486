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

from marketbrief import payload
from marketbrief.calendar import business_date
from marketbrief.d1 import dates
from marketbrief.d1 import values as legacy
from marketbrief.d1.rows import OldRow
from marketbrief.d1.session import IMPORT, RUN_ID_MAX, ImportSession, imported_marker, note
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
        (r.run_id, r.stage)
        for r in imp.c.execute(sa.select(job_stages.c.run_id, job_stages.c.stage))
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
            sa.and_(job_stages.c.run_id == run_id, job_stages.c.stage == stage_name),
            values,
            last,
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


def snapshots(imp: ImportSession, rows: list[dict[str, Any]]) -> None:
    """scheduled_job_results -> scheduled_job_results (exact content text).

    An imported snapshot is found again by its old id, else by its run, else (run-less rows)
    by date, type, content and creation; when the dump now says otherwise it is updated."""
    table = "scheduled_job_results"
    held = _HeldSnapshots.load(imp)
    accepted: list[tuple[OldRow, dict[str, Any]]] = []
    unknown_runs = lone = 0
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
        provenance = values["metadata"]["d1_import"]
        unknown_runs += values["run_id"] is None and bool(provenance.get("run_id"))
        lone += bool(provenance.get("lone_surrogate"))
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
        found = held.find(values)
        tally = imp.report.tally(table)
        if found is None:
            imp.insert(scheduled_job_results, values, row)
            held.add(-1, values)
            tally.imported += 1
        elif found.imported and imp.refresh(
            scheduled_job_results, scheduled_job_results.c.id == found.id, values, row
        ):
            held.add(found.id, values)
            tally.updated += 1
            imp.touched[(found.day, found.kind)] = None  # its old (date, type) may lose it
        else:
            tally.present += 1
        imp.touched[(day, kind)] = None
    if unknown_runs:
        imp.report.notes.append(
            f"{table}: {unknown_runs} snapshot(s) name runs that were not imported; kept without "
            "a run (legacy rows), their old run_id in metadata.d1_import"
        )
    if lone:
        imp.report.notes.append(
            f"{table}: {lone} report(s) hold a lone surrogate escape (cut off by truncation); "
            "kept exactly, served with U+FFFD in its place"
        )


@dataclass(frozen=True, slots=True)
class _Held:
    """A snapshot already in the store."""

    id: int
    day: date
    kind: str
    imported: bool


class _HeldSnapshots:
    """The store's snapshots by the keys an imported one is found again by."""

    def __init__(self) -> None:
        self.by_old_id: dict[Any, _Held] = {}
        self.by_run: dict[str, _Held] = {}
        self.by_key: dict[tuple[Any, ...], _Held] = {}

    @classmethod
    def load(cls, imp: ImportSession) -> _HeldSnapshots:
        s = scheduled_job_results.c
        found = imp.c.execute(
            sa.select(
                s.id, s.run_id, s.scheduled_date, s.report_type, s.content_sha256,
                s.created_at, s.metadata, s.trigger_source,
            )
        )  # fmt: skip
        held = cls()
        for r in found:
            provenance = r.metadata.get("d1_import") if isinstance(r.metadata, dict) else None
            entry = _Held(r.id, r.scheduled_date, r.report_type, r.trigger_source == IMPORT)
            if entry.imported and isinstance(provenance, dict):
                old_id = provenance.get("legacy_id")
                if old_id is not None:
                    held.by_old_id[old_id] = entry
            if r.run_id is not None:
                held.by_run[r.run_id] = entry
            else:
                key = (r.scheduled_date, r.report_type, r.content_sha256, r.created_at)
                held.by_key[key] = entry
        return held

    def find(self, values: dict[str, Any]) -> _Held | None:
        old_id = values["metadata"]["d1_import"].get("legacy_id")
        rid = values["run_id"]
        if old_id is not None and old_id in self.by_old_id:
            return self.by_old_id[old_id]
        if rid is not None:
            return self.by_run.get(rid)
        return self.by_key.get(_key(values))

    def add(self, id_: int, values: dict[str, Any]) -> None:
        entry = _Held(id_, values["scheduled_date"], values["report_type"], True)
        old_id = values["metadata"]["d1_import"].get("legacy_id")
        if old_id is not None:
            self.by_old_id[old_id] = entry
        if values["run_id"] is not None:
            self.by_run[values["run_id"]] = entry
        else:
            self.by_key[_key(values)] = entry


def _key(values: dict[str, Any]) -> tuple[Any, ...]:
    return (
        values["scheduled_date"],
        values["report_type"],
        values["content_sha256"],
        values["created_at"],
    )


def _snapshot_values(imp: ImportSession, row: OldRow) -> dict[str, Any] | None:
    raw_kind = row.get("report_type")
    if legacy.other_payload(raw_kind):
        imp.report.skip(row.table, row.key, f"{raw_kind!r} is not a report (old tracking rows)")
        return None
    day, kind = row.day("scheduled_date"), legacy.report_type(raw_kind)
    if day is None or kind is None:
        imp.report.skip(
            row.table, row.key, f"no scheduled_date or unknown report type {raw_kind!r}"
        )
        return None
    content, lone = _content(row)
    if content is None:
        imp.report.skip(row.table, row.key, "no report_content")
        return None
    rid = row.text("run_id", RUN_ID_MAX)
    run = imp.runs.get(rid) if rid is not None else None
    stored_day = day
    if run is not None and run.old_day == day and run.job_type == kind.value:
        day = run.day  # the run's date was corrected, and its report carried the same fault
        imp.report.correct(row.table, f"{row.key}: {stored_day} -> {day}", "as its run's date")
    created = row.instant("created_at") or (run.started_at if run else None)
    if run is None and created is not None:
        fixed = dates.corrected(imp.calendar, kind, day, created)
        if fixed is not None:
            day = fixed[0]
            imp.report.correct(row.table, f"{row.key}: {stored_day} -> {day}", fixed[1])
    if run is not None and (run.job_type != kind.value or run.day != day):
        imp.report.skip(row.table, row.key, "its run is for another date or report type")
        return None
    if created is None:
        imp.report.skip(row.table, row.key, "no created_at")
        return None
    metadata = legacy.json_object(row.get("metadata"), "metadata")
    provenance: dict[str, Any] = {
        "legacy_id": row.get("id"),
        "trigger_source": row.get("trigger_source"),
    }
    if rid is not None and run is None:
        provenance["run_id"] = rid
    if day != stored_day:
        provenance["scheduled_date"] = stored_day.isoformat()
    if lone:
        provenance["lone_surrogate"] = True
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


def _content(row: OldRow) -> tuple[str | None, bool]:
    """Report text exactly as stored (a string, or a UTF-8 BLOB), and whether only a lenient
    parser reads it (a lone surrogate escape); it must be JSON, as served."""
    value = row.get("report_content")
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, False
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise row.refuse("report_content", "is a blob that is not UTF-8 text") from None
    if not isinstance(value, str):
        raise row.refuse("report_content", f"{value!r} is not JSON text")
    if legacy.json_value(value)[1]:
        return value, False
    if payload.readable(value):
        return value, True
    raise row.refuse("report_content", "is not JSON text (readers serve it as application/json)")
