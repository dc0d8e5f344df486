"""A stored report as a page can show it, whatever shape an older system left it in.

Reports written by marketbrief have one shape; reports imported from the old system may carry
`"accuracy": "75%"`, a list where an object was expected, or `"headlines": 7`. A page renders
what it can and never fails on them: numbers that are not numbers are shown as text or not at
all, and rows that are not objects are left out.
"""

from __future__ import annotations

import math
from typing import Any


def number(value: Any) -> float | None:
    """A finite number, or None for anything else (booleans included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def fraction(value: Any) -> float | None:
    """A number from 0 to 1 (an accuracy, a hit rate), or None."""
    found = number(value)
    return found if found is not None and 0.0 <= found <= 1.0 else None


def percent(value: Any) -> str | None:
    """An accuracy for people: `75.0%`; text an older system stored is shown as it is."""
    found = fraction(value)
    if found is not None:
        return f"{found * 100:.1f}%"
    return value if isinstance(value, str) and value else None


def report_view(data: Any) -> dict[str, Any]:
    """What the report page shows of a payload: its accuracy, its counts and its rows."""
    body = data if isinstance(data, dict) else {}
    counts = body.get("counts")
    return {
        "has_accuracy": "accuracy" in body,
        "accuracy": percent(body.get("accuracy")),
        "counts": counts if isinstance(counts, dict) else None,
        "reason": body.get("reason") if isinstance(body.get("reason"), str) else None,
        "rows": [_row(row) for row in _rows(body)],
    }


def _rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    symbols = body.get("symbols") or body.get("predictions") or []
    if isinstance(symbols, dict):
        return [{"symbol": n, **r} for n, r in symbols.items() if isinstance(r, dict)]
    return [row for row in symbols if isinstance(row, dict)] if isinstance(symbols, list) else []


def _row(row: dict[str, Any]) -> dict[str, Any]:
    headlines = row.get("headlines")
    outcome = row.get("outcome") or row.get("verdict")
    return {
        "symbol": str(row.get("symbol", "")),
        "direction": row.get("direction") if isinstance(row.get("direction"), str) else "",
        "confidence": number(row.get("confidence")),
        "sentiment_score": number(row.get("sentiment_score")),
        "articles_count": number(row.get("articles_count")),
        "outcome": outcome if isinstance(outcome, str) else "",
        "accuracy": percent(row.get("accuracy")),
        "headlines": [str(h) for h in headlines] if isinstance(headlines, list) else [],
    }
