"""The report rows a seeding writes for recent scheduled runs: snapshots, pointers, predictions."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from benchmarks.payloads import SYMBOLS, predictions, report_payload
from benchmarks.seed_history import Slot, stamp

_SNAPSHOT_COLUMNS = (
    "id, run_id, scheduled_date, report_type, report_content, metadata, trigger_source, "
    "content_sha256, version, created_at"
)
_LATEST_COLUMNS = "report_type, scheduled_date, snapshot_id, run_id, version, updated_at"
_PREDICTION_COLUMNS = (
    "run_id, scheduled_date, report_type, symbol, direction, confidence, sentiment_score, "
    "articles_count, model, status, error, headlines, created_at"
)
_TABLES = (
    ("scheduled_job_results", _SNAPSHOT_COLUMNS),
    ("report_latest", _LATEST_COLUMNS),
    ("symbol_predictions", _PREDICTION_COLUMNS),
)


@dataclass(slots=True)
class SnapshotRows:
    """Snapshots, latest pointers and predictions for the scheduled runs of recent days."""

    snapshots: list[tuple[Any, ...]]
    latest: list[tuple[Any, ...]]
    predictions: list[tuple[Any, ...]]

    def inserts(self, mark: str) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
        """(INSERT with `mark` placeholders, its rows) for each table, in the order to run them."""
        tables = zip(_TABLES, (self.snapshots, self.latest, self.predictions), strict=True)
        for (table, columns), rows in tables:
            marks = ", ".join(mark for _ in columns.split(","))
            yield f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows


def snapshot_rows(slots: list[Slot]) -> SnapshotRows:
    """The snapshot, latest pointer and prediction rows of the scheduled runs `slots`."""
    snapshots, latest, preds = [], [], []
    for n, slot in enumerate(slots, start=1):
        content = report_payload(slot.report_type, slot.day)
        created = stamp(slot.started_us + 5_000_000)
        snapshots.append(
            (
                n,
                slot.run_id,
                slot.day.isoformat(),
                slot.report_type,
                content.decode(),
                orjson.dumps({"symbols": len(SYMBOLS)}).decode(),
                "schedule",
                hashlib.sha256(content).hexdigest(),
                slot.started_us,
                created,
            )
        )
        latest.append(
            (slot.report_type, slot.day.isoformat(), n, slot.run_id, slot.started_us, created)
        )
        for p in predictions():
            preds.append(
                (
                    slot.run_id,
                    slot.day.isoformat(),
                    slot.report_type,
                    p.symbol,
                    p.direction.value,
                    p.confidence,
                    p.sentiment_score,
                    p.articles_count,
                    p.model,
                    p.status.value,
                    None,
                    orjson.dumps(p.headlines).decode(),
                    created,
                )
            )
    return SnapshotRows(snapshots, latest, preds)


def bump_revisions(columns: list[str]) -> str:
    """UPDATE moving every revision counter of `store_revision`: runs and reports were written."""
    counters = [c for c in columns if c != "id" and c.endswith("revision")]
    return "UPDATE store_revision SET " + ", ".join(f"{c} = {c} + 1" for c in counters)
