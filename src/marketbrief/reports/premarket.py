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
    """The pre-market payload; SPY is reported apart as the market pulse."""
    details = details or {}
    sources = news_sources or {}
    portfolio = [p for p in predictions if p.symbol != MARKET_PULSE]
    pulse = next((p for p in predictions if p.symbol == MARKET_PULSE), None)
    rows = []
    for prediction in portfolio:
        row = prediction_row(prediction, details.get(prediction.symbol))
        row["news_source"] = sources.get(prediction.symbol)
        rows.append(row)
    usable = [p for p in portfolio if is_usable(p)]
    high = [p for p in usable if p.confidence is not None and p.confidence >= high_confidence]
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
            prediction_row(pulse, details.get(MARKET_PULSE)) if pulse is not None else None
        ),
    }
