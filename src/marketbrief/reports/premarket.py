"""The pre-market briefing: each symbol's outlook from the news since the last close."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from marketbrief.calendar import iso_instant
from marketbrief.models import Prediction
from marketbrief.reports.common import is_usable, prediction_row

MARKET_PULSE = "SPY"


def build_pre_market(
    day: date,
    predictions: Sequence[Prediction],
    *,
    since: datetime,
    until: datetime,
    high_confidence: float,
    details: Mapping[str, Mapping[str, Any]] | None = None,
    news_sources: Mapping[str, str | None] | None = None,
) -> dict[str, Any]:
    """The pre-market payload; SPY is reported apart as the market pulse, and `symbols` lists
    the high-confidence calls first (each row says whether it is one)."""
    details = details or {}
    sources = news_sources or {}
    portfolio = [p for p in predictions if p.symbol != MARKET_PULSE]
    pulse = next((p for p in predictions if p.symbol == MARKET_PULSE), None)
    rows = []
    for prediction in sorted(portfolio, key=lambda p: _rank(p, high_confidence)):
        row = prediction_row(prediction, details.get(prediction.symbol))
        row["news_source"] = sources.get(prediction.symbol)
        row["high_confidence"] = _high(prediction, high_confidence)
        rows.append(row)
    usable = [p for p in portfolio if is_usable(p)]
    high = [p for p in usable if _high(p, high_confidence)]
    return {
        "report_type": "pre-market",
        "business_date": day.isoformat(),
        "news_window": {"since": iso_instant(since), "until": iso_instant(until)},
        "counts": {
            "analysed": len(portfolio),
            "usable": len(usable),
            "high_confidence": len(high),
        },
        "high_confidence_threshold": high_confidence,
        "signals": [{"symbol": p.symbol, "direction": p.direction.value} for p in high],
        "symbols": rows,
        "market_pulse": (
            {
                **prediction_row(pulse, details.get(MARKET_PULSE)),
                "high_confidence": _high(pulse, high_confidence),
            }
            if pulse is not None
            else None
        ),
    }


def _high(prediction: Prediction, threshold: float) -> bool:
    return (
        is_usable(prediction)
        and prediction.confidence is not None
        and prediction.confidence >= threshold
    )


def _rank(prediction: Prediction, threshold: float) -> tuple[int, float, str]:
    """High-confidence calls first, then the other usable ones, then the rest; by confidence,
    highest first, then by symbol."""
    tier = 0 if _high(prediction, threshold) else 1 if is_usable(prediction) else 2
    return tier, -(prediction.confidence or 0.0), prediction.symbol
