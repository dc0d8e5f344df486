"""Conversions between SQL rows and marketbrief's records."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar

from marketbrief.models import (
    Completion,
    Direction,
    Prediction,
    PredictionStatus,
    ReportType,
    Run,
    RunStatus,
    Snapshot,
    Stage,
    StageRecord,
    StageStatus,
    TriggerSource,
    version_of,
)

E = TypeVar("E", bound=Enum)


def _by_value(kind: type[E]) -> Callable[[Any], E]:
    """`kind(value)` as a dictionary lookup: calling an Enum class costs about ten lookups, and
    every row read converts several. A value no member has raises ValueError, as the call does."""
    members: dict[Any, E] = {member.value: member for member in kind}

    def of(value: Any) -> E:
        found = members.get(value)
        return found if found is not None else kind(value)

    return of


_REPORT_TYPE = _by_value(ReportType)
_RUN_STATUS = _by_value(RunStatus)
_TRIGGER = _by_value(TriggerSource)
_STAGE = _by_value(Stage)
_STAGE_STATUS = _by_value(StageStatus)


def elapsed_ms(start: datetime, end: datetime) -> int:
    """Whole milliseconds from start to end (never negative)."""
    return max(0, int((end - start).total_seconds() * 1000))


def run(row: Any) -> Run:
    """A `job_executions` row as a Run."""
    return Run(
        id=int(row.id),
        run_id=row.run_id,
        report_type=_REPORT_TYPE(row.job_type),
        scheduled_date=row.scheduled_date,
        status=_RUN_STATUS(row.status),
        current_stage=row.current_stage,
        trigger_source=_TRIGGER(row.trigger_source),
        started_at=row.started_at,
        executed_at=row.executed_at,
        execution_time_ms=row.execution_time_ms,
        symbols_processed=row.symbols_processed,
        symbols_successful=row.symbols_successful,
        symbols_fallback=row.symbols_fallback,
        symbols_failed=row.symbols_failed,
        success_rate=row.success_rate,
        errors=list(row.errors or []),
        warnings=list(row.warnings or []),
        created_at=row.created_at,
        # A run recorded before the store issued versions keeps the one it was published with.
        version=int(row.version) if row.version is not None else version_of(row.started_at),
    )


def run_values(c: Completion) -> dict[str, Any]:
    """The columns a completion sets on its run row (a spooled claim leaves it running)."""
    running = c.status is RunStatus.RUNNING
    return {
        "status": c.status.value,
        "current_stage": Stage.INIT.value if running else Stage.FINALIZE.value,
        "executed_at": None if running else c.executed_at,
        "execution_time_ms": None if running else elapsed_ms(c.started_at, c.executed_at),
        "symbols_processed": c.symbols_processed,
        "symbols_successful": c.symbols_successful,
        "symbols_fallback": c.symbols_fallback,
        "symbols_failed": c.symbols_failed,
        "success_rate": c.success_rate,
        "errors": list(c.errors),
        "warnings": list(c.warnings),
    }


def stage_values(record: StageRecord) -> dict[str, Any]:
    """The columns of one stage row."""
    return {
        "run_id": record.run_id,
        "stage": record.stage.value,
        "status": record.status.value,
        "started_at": record.started_at,
        "ended_at": record.ended_at,
        "details": record.details,
    }


def snapshot_values(c: Completion) -> dict[str, Any]:
    """The columns of a completion's snapshot row."""
    assert c.content is not None
    return {
        "run_id": c.run_id,
        "scheduled_date": c.scheduled_date,
        "report_type": c.report_type.value,
        "report_content": c.content.decode("utf-8"),
        "metadata": c.metadata,
        "trigger_source": c.trigger_source.value,
        "content_sha256": hashlib.sha256(c.content).hexdigest(),
        "version": c.version,
        # The instant the report was generated, wherever it is later served from.
        "created_at": c.executed_at,
    }


def stage(row: Any) -> StageRecord:
    """A `job_stages` row as a StageRecord."""
    return StageRecord(
        run_id=row.run_id,
        stage=_STAGE(row.stage),
        status=_STAGE_STATUS(row.status),
        started_at=row.started_at,
        ended_at=row.ended_at,
        details=dict(row.details or {}),
    )


def prediction(row: Any) -> Prediction:
    """A `symbol_predictions` row as a Prediction."""
    return Prediction(
        symbol=row.symbol,
        direction=Direction(row.direction),
        confidence=row.confidence,
        sentiment_score=row.sentiment_score,
        articles_count=row.articles_count,
        model=row.model,
        status=PredictionStatus(row.status),
        error=row.error,
        headlines=list(row.headlines or []),
    )


def prediction_values(c: Completion, p: Prediction) -> dict[str, Any]:
    """The columns of one prediction row of a completion."""
    return {
        "run_id": c.run_id,
        "scheduled_date": c.scheduled_date,
        "report_type": c.report_type.value,
        "symbol": p.symbol,
        "direction": p.direction.value,
        "confidence": p.confidence,
        "sentiment_score": p.sentiment_score,
        "articles_count": p.articles_count,
        "model": p.model,
        "status": p.status.value,
        "error": p.error,
        "headlines": list(p.headlines),
        "created_at": c.executed_at,
    }


def snapshot(row: Any) -> Snapshot:
    """A `scheduled_job_results` row as a Snapshot (content as the exact stored bytes)."""
    return Snapshot(
        id=int(row.id),
        run_id=row.run_id,
        scheduled_date=row.scheduled_date,
        report_type=_REPORT_TYPE(row.report_type),
        content=row.report_content.encode("utf-8"),
        metadata=dict(row.metadata or {}),
        trigger_source=_TRIGGER(row.trigger_source),
        content_sha256=row.content_sha256,
        created_at=row.created_at,
        version=int(row.version),
    )


# What a later pre-market run of the same day replaces in `daily_analysis`.
DAILY_ANALYSIS_UPDATED = (
    "run_id",
    "total_symbols",
    "usable_symbols",
    "high_confidence_symbols",
    "execution_time_ms",
    "summary",
    "updated_at",
)


def daily_analysis_values(c: Completion, now: datetime) -> dict[str, Any]:
    """The `daily_analysis` row a pre-market completion writes with its run."""
    assert c.daily_analysis is not None
    counts = c.daily_analysis.counts
    return {
        "analysis_date": c.scheduled_date,
        "run_id": c.run_id,
        "total_symbols": counts.get("analysed", 0),
        "usable_symbols": counts.get("usable", 0),
        "high_confidence_symbols": counts.get("high_confidence", 0),
        "execution_time_ms": elapsed_ms(c.started_at, c.executed_at),
        "summary": c.daily_analysis.summary,
        "created_at": now,
        "updated_at": now,
    }
