"""Small builders of real records for tests (no fakes: these are what the runner writes)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import orjson

from marketbrief.models import (
    Completion,
    Direction,
    Prediction,
    PredictionStatus,
    ReportType,
    Run,
    RunStatus,
    TriggerSource,
    version_of,
)

SESSION = date(2026, 11, 24)  # a Tuesday session
SYMBOLS = ("AAPL", "MSFT", "GOOGL", "TSLA", "NVDA", "SPY")


def payload(report_type: ReportType, day: date, marker: str = "") -> bytes:
    """A small report payload, as exact JSON bytes."""
    body = {"report_type": report_type.value, "date": day.isoformat(), "marker": marker}
    return orjson.dumps(body)


def predictions(count: int = 6) -> tuple[Prediction, ...]:
    """`count` successful predictions over the default symbols."""
    return tuple(
        Prediction(
            symbol=symbol,
            direction=Direction.UP if i % 2 else Direction.DOWN,
            confidence=0.5 + i / 20,
            sentiment_score=0.1 * i,
            articles_count=3 + i,
            model="vader",
            status=PredictionStatus.SUCCESS,
            headlines=[f"{symbol} headline {i}"],
        )
        for i, symbol in enumerate(SYMBOLS[:count])
    )


def completion_for(
    run: Run,
    *,
    status: RunStatus = RunStatus.SUCCESS,
    content: bytes | None = b"",
    marker: str = "",
    preds: tuple[Prediction, ...] | None = None,
    executed_at: datetime | None = None,
) -> Completion:
    """The completion a claimed run would write."""
    if content == b"":
        content = payload(run.report_type, run.scheduled_date, marker or run.run_id)
    preds = predictions() if preds is None else preds
    return Completion(
        run_id=run.run_id,
        report_type=run.report_type,
        scheduled_date=run.scheduled_date,
        trigger_source=run.trigger_source,
        started_at=run.started_at,
        executed_at=executed_at or run.started_at + timedelta(seconds=3),
        status=status,
        content=content,
        version=run.version,
        metadata={"symbols": len(preds)},
        predictions=preds,
        symbols_processed=len(preds),
        symbols_successful=sum(p.confidence is not None for p in preds),
    )


def standalone_completion(
    report_type: ReportType = ReportType.PRE_MARKET,
    day: date = SESSION,
    *,
    started_at: datetime | None = None,
    run_id: str | None = None,
    trigger: TriggerSource = TriggerSource.MANUAL,
    marker: str = "",
    version: int | None = None,
) -> Completion:
    """A completion whose run was never claimed in the store (as the outbox carries it).

    Its version is `version`, else its start in microseconds (as an outbox file written before
    the store issued versions carries).
    """
    started = started_at or datetime.now(UTC)
    rid = run_id or f"{day.isoformat()}_{report_type.value}_{started.timestamp():.6f}"
    return Completion(
        run_id=rid,
        report_type=report_type,
        scheduled_date=day,
        trigger_source=trigger,
        started_at=started,
        executed_at=started + timedelta(seconds=1),
        status=RunStatus.SUCCESS,
        content=payload(report_type, day, marker or rid),
        version=version_of(started) if version is None else version,
        predictions=predictions(),
        symbols_processed=6,
        symbols_successful=6,
    )
