"""Records as the plain dicts the API returns and the dashboard renders (one shape for both)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from marketbrief.calendar import iso_instant
from marketbrief.models import Prediction, Run, RunDetail, RunStatus, Snapshot, StageRecord
from marketbrief.reports.payload import parsed


def job(run: Run) -> dict[str, Any]:
    """A run as a history row (never with a report body)."""
    return {
        "id": run.id,
        "run_id": run.run_id,
        "job_type": run.report_type.value,
        "status": run.status.value,
        "scheduled_date": run.scheduled_date.isoformat(),
        "trigger_source": run.trigger_source.value,
        "current_stage": run.current_stage,
        "started_at": iso_instant(run.started_at),
        "executed_at": iso_instant(run.executed_at),
        "duration_ms": run.execution_time_ms,
        "symbols_processed": run.symbols_processed,
        "symbols_successful": run.symbols_successful,
        "symbols_fallback": run.symbols_fallback,
        "symbols_failed": run.symbols_failed,
        "success_rate": run.success_rate,
        "errors": run.errors,
        "warnings": run.warnings,
        "reason": reason(run),
    }


_REASON_CHARS = 240


def reason(run: Run) -> str | None:
    """Why a run is not a plain success, in one line: its errors if failed, else its warnings."""
    if run.status is RunStatus.SUCCESS or run.status is RunStatus.RUNNING:
        return None
    return summary(run.errors if run.status is RunStatus.FAILED else run.warnings)


def summary(items: Sequence[Any]) -> str | None:
    """A run's errors or warnings as one line of words (None when there are none)."""
    said = "; ".join(_said(item) for item in items) or None
    if said is not None and len(said) > _REASON_CHARS:
        said = said[: _REASON_CHARS - 1] + "…"
    return said


def _said(item: Any) -> str:
    """One error or warning as words: `AAPL skipped: no articles`, `analysis: ...`."""
    if not isinstance(item, dict):
        return str(item)
    who = item.get("symbol") or item.get("stage") or item.get("provider")
    what = item.get("reason") or item.get("error")
    status = item.get("status")
    head = f"{who} {status}" if who and status else (who or status)
    if head and what:
        return f"{head}: {what}"
    return str(what or head or item)


def stage(record: StageRecord) -> dict[str, Any]:
    """One stage of a run."""
    duration = None
    if record.ended_at is not None:
        duration = int((record.ended_at - record.started_at).total_seconds() * 1000)
    return {
        "stage": record.stage.value,
        "status": record.status.value,
        "started_at": iso_instant(record.started_at),
        "ended_at": iso_instant(record.ended_at),
        "duration_ms": duration,
        "details": record.details,
    }


def prediction(p: Prediction) -> dict[str, Any]:
    """One stored prediction."""
    return p.as_dict()


def snapshot(s: Snapshot, *, with_content: bool = True) -> dict[str, Any]:
    """One stored report snapshot (content parsed back to JSON for display)."""
    body: dict[str, Any] = {
        "id": s.id,
        "run_id": s.run_id,
        "scheduled_date": s.scheduled_date.isoformat(),
        "report_type": s.report_type.value,
        "trigger_source": s.trigger_source.value,
        "content_sha256": s.content_sha256,
        "created_at": iso_instant(s.created_at),
        "metadata": s.metadata,
    }
    if with_content:
        body["content"] = parsed(s.content)
    return body


def run_detail(detail: RunDetail) -> dict[str, Any]:
    """A run with its stages, predictions and snapshot."""
    return {
        "job": job(detail.run),
        "stages": [stage(s) for s in detail.stages],
        "predictions": [prediction(p) for p in detail.predictions],
        "snapshot": snapshot(detail.snapshot) if detail.snapshot is not None else None,
    }
