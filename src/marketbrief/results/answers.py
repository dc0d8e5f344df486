"""The answers of the read path that are not plain store reads: each state's envelope."""

from __future__ import annotations

from datetime import date

import orjson

from marketbrief.models import Prediction, ReportType, Run
from marketbrief.results.entries import CachedReport
from marketbrief.results.envelope import ReportResponse, ReportState, Source


def fresh(
    report_type: ReportType, day: date, found: CachedReport, source: Source, warnings: list[str]
) -> ReportResponse:
    """A report found in the cache or the store, served as it is."""
    return ReportResponse(
        report_type.value,
        day,
        ReportState.FRESH,
        data=found.payload,
        source=source,
        business_date=found.business_date,
        generated_at=found.generated_at,
        run_id=found.run_id,
        snapshot_id=found.snapshot_id,
        content_sha256=found.content_sha256,
        warnings=tuple(warnings),
    )


def closed(
    report_type: ReportType, day: date, next_session: date, warnings: list[str]
) -> ReportResponse:
    """A day the market does not trade: no daily report is due, and no older one stands in."""
    return ReportResponse(
        report_type.value,
        day,
        ReportState.CLOSED,
        warnings=(*warnings, "market_closed"),
        extra={"market_closed": True, "next_session": next_session.isoformat()},
    )


def unavailable(report_type: ReportType, day: date, warnings: list[str]) -> ReportResponse:
    """No report can be had now (the store does not answer and the cache has none)."""
    return ReportResponse(report_type.value, day, ReportState.UNAVAILABLE, warnings=tuple(warnings))


def partial(
    report_type: ReportType,
    day: date,
    run: Run,
    predictions: list[Prediction],
    warnings: list[str],
) -> ReportResponse:
    """The day's predictions shaped as a partial report; unknown outcomes stay null."""
    payload = {
        "report_type": report_type.value,
        "business_date": day.isoformat(),
        "partial": True,
        "reason": (
            f"no {report_type.value} report for {day.isoformat()}; "
            f"showing the predictions of {run.report_type.value} run {run.run_id}"
        ),
        "source_run_id": run.run_id,
        "accuracy": None,
        "predictions": [
            {
                "symbol": p.symbol,
                "direction": p.direction.value,
                "confidence": p.confidence,
                "sentiment_score": p.sentiment_score,
                "articles_count": p.articles_count,
                "model": p.model,
                "status": p.status.value,
                "outcome": None,
            }
            for p in predictions
        ],
    }
    return ReportResponse(
        report_type.value,
        day,
        ReportState.PARTIAL,
        data=orjson.dumps(payload),
        source=Source.FALLBACK,
        business_date=day,
        generated_at=run.executed_at or run.started_at,
        run_id=run.run_id,
        warnings=(*warnings, "partial"),
    )
