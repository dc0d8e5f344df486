"""The report snapshots of the old D1 database: scheduled_job_results -> scheduled_job_results.

Each snapshot keeps its content's exact text. One per run (the newest created_at wins); a
run-less legacy row is kept without a run. A snapshot the import brought in before is found
again by its old id, else by its run, else by date, type, content and creation, and is updated
when a later dump says otherwise (its run has finished, a newer report of the run, its date).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa

from marketbrief.d1 import dates
from marketbrief.d1 import values as legacy
from marketbrief.d1.rows import OldRow
from marketbrief.d1.session import IMPORT, RUN_ID_MAX, ImportSession
from marketbrief.models import version_of
from marketbrief.ops.columns import shown
from marketbrief.reports import payload
from marketbrief.store.schema import scheduled_job_results


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
            scheduled_job_results,
            {"id": found.id},
            values,
            row,
            # The stored text is not read back: the same SHA-256 is the same text.
            held={**found.row, "report_content": _same_text(found.row, values)},
        ):
            held.add(found.id, values)
            imp.refreshed.add(found.id)
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
    row: dict[str, Any]  # every column but report_content


class _HeldSnapshots:
    """The store's snapshots by the keys an imported one is found again by."""

    def __init__(self) -> None:
        self.by_old_id: dict[Any, _Held] = {}
        self.by_run: dict[str, _Held] = {}
        self.by_key: dict[tuple[Any, ...], _Held] = {}

    @classmethod
    def load(cls, imp: ImportSession) -> _HeldSnapshots:
        columns = [c for c in scheduled_job_results.c if c.name != "report_content"]
        held = cls()
        for found in imp.c.execute(sa.select(*columns)).mappings():
            r, stored = found, dict(found)
            provenance = r["metadata"].get("d1_import") if isinstance(r["metadata"], dict) else None
            entry = _Held(
                r["id"],
                r["scheduled_date"],
                r["report_type"],
                r["trigger_source"] == IMPORT,
                stored,
            )
            old_id = None
            if entry.imported and isinstance(provenance, dict):
                old_id = provenance.get("legacy_id")
            held.remember(entry, old_id)
        return held

    def remember(self, entry: _Held, old_id: Any) -> None:
        """Index `entry` by its old id (if any), and by its run, else (run-less) by its key."""
        if old_id is not None:
            self.by_old_id[old_id] = entry
        if entry.row["run_id"] is not None:
            self.by_run[entry.row["run_id"]] = entry
        else:
            self.by_key[_key(entry.row)] = entry

    def find(self, values: dict[str, Any]) -> _Held | None:
        old_id = values["metadata"]["d1_import"].get("legacy_id")
        rid = values["run_id"]
        if old_id is not None and old_id in self.by_old_id:
            return self.by_old_id[old_id]
        if rid is not None:
            return self.by_run.get(rid)
        return self.by_key.get(_key(values))

    def add(self, id_: int, values: dict[str, Any]) -> None:
        stored = {k: v for k, v in values.items() if k != "report_content"}
        entry = _Held(id_, values["scheduled_date"], values["report_type"], True, stored)
        self.remember(entry, values["metadata"]["d1_import"].get("legacy_id"))


def _same_text(stored: dict[str, Any], values: dict[str, Any]) -> str | None:
    """The new text when the stored one has its SHA-256 (so equal), else None (so different)."""
    return (
        values["report_content"] if stored["content_sha256"] == values["content_sha256"] else None
    )


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
