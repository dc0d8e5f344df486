"""What a run stores, made up: 20 KB report payloads, six predictions, whole completions."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson

from marketbrief.models import (
    Completion,
    Direction,
    Prediction,
    PredictionStatus,
    ReportType,
    RunStatus,
    TriggerSource,
    version_of,
)

PAYLOAD_BYTES = 20 * 1024
REPORT_DAY = date(2026, 11, 24)  # a Tuesday session: the report every read benchmark asks for
SYMBOLS = ("AAPL", "MSFT", "GOOGL", "TSLA", "NVDA", "SPY")
# Three daily reports for each weekly one, in the order a day's runs start.
TYPE_CYCLE = (
    "pre-market",
    "intraday",
    "end-of-day",
    "pre-market",
    "intraday",
    "end-of-day",
    "weekly",
)


def report_payload(report_type: str, day: date, size: int = PAYLOAD_BYTES) -> bytes:
    """A realistic report of about `size` bytes of JSON: per-symbol signals with headlines."""
    rng = random.Random(f"{report_type}:{day.isoformat()}")
    words = [
        *("shares", "rally", "after", "earnings", "beat", "estimates", "guidance", "raised"),
        *("analysts", "upgrade", "stock", "slides", "on", "weak", "demand", "outlook"),
        *("regulators", "probe", "supply", "chain", "margins"),
    ]
    symbols: dict[str, Any] = {}
    for symbol in SYMBOLS:
        symbols[symbol] = {
            "direction": rng.choice(["up", "down", "neutral"]),
            "confidence": round(rng.uniform(0.3, 0.95), 4),
            "sentiment_score": round(rng.uniform(-1, 1), 4),
            "articles_count": 0,
            "model": "vader+henry+sentibignomics",
            "status": "success",
            "headlines": [],
        }
    body: dict[str, Any] = {
        "report_type": report_type,
        "business_date": day.isoformat(),
        "symbols": symbols,
        "summary": {
            "analysed": len(SYMBOLS),
            "usable": len(SYMBOLS),
            "high_confidence": sum(s["confidence"] >= 0.7 for s in symbols.values()),
            "market_pulse": symbols["SPY"]["direction"],
        },
    }
    if report_type in ("end-of-day", "weekly"):
        body["accuracy"] = round(rng.uniform(0.4, 0.8), 4)
    n = 0
    while len(orjson.dumps(body)) < size - 200:
        symbol = SYMBOLS[n % len(SYMBOLS)]
        record = symbols[symbol]
        record["headlines"].append(
            {
                "title": f"{symbol} " + " ".join(rng.choices(words, k=9)),
                "source": rng.choice(["Reuters", "Bloomberg", "AP", "MarketWatch"]),
                "published_at": f"{day.isoformat()}T{11 + n % 3:02d}:{n % 60:02d}:00Z",
                "sentiment": round(rng.uniform(-1, 1), 4),
            }
        )
        record["articles_count"] = len(record["headlines"])
        n += 1
    return orjson.dumps(body)


def predictions() -> tuple[Prediction, ...]:
    """Six successful predictions, one per symbol (as the runner stores them)."""
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
        for i, symbol in enumerate(SYMBOLS)
    )


def completion(n: int, payload: bytes, *, day: date = REPORT_DAY) -> Completion:
    """The n-th completion of a write benchmark: a never-claimed run with a 20 KB report.

    Like tests/support/factories.standalone_completion: `finish_run` inserts the run row, the
    snapshot and six predictions and moves the latest pointer, all in one transaction. Start
    instants grow with n, and so do their versions (start instants in microseconds, as an outbox
    file written before the store issued versions carries), so every completion is newer than
    the last and really moves the pointer.
    """
    kind = ReportType(TYPE_CYCLE[n % 3])
    started = datetime.now(UTC)
    return Completion(
        run_id=f"{day.isoformat()}_{kind.value}_{uuid.uuid4().hex}",
        report_type=kind,
        scheduled_date=day,
        trigger_source=TriggerSource.MANUAL,
        started_at=started,
        executed_at=started + timedelta(seconds=1),
        status=RunStatus.SUCCESS,
        content=payload,
        version=version_of(started),
        metadata={"symbols": len(SYMBOLS)},
        predictions=predictions(),
        symbols_processed=len(SYMBOLS),
        symbols_successful=len(SYMBOLS),
    )
