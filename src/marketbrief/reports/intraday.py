"""The intraday check: has the midday news confirmed or reversed the morning's outlook?"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from marketbrief.calendar import NEW_YORK, iso_instant
from marketbrief.models import Direction, Prediction
from marketbrief.reports.common import is_usable, prediction_row


def compare(morning: Prediction | None, midday: Prediction | None) -> dict[str, Any]:
    """consistent | reversed | incomplete for one symbol, with the confidence change."""
    if morning is None or midday is None or not is_usable(morning) or not is_usable(midday):
        return {"verdict": "incomplete", "confidence_change": None}
    assert morning.confidence is not None
    assert midday.confidence is not None
    change = round(midday.confidence - morning.confidence, 4)
    if morning.direction is midday.direction:
        verdict = "consistent"
    elif Direction.NEUTRAL in (morning.direction, midday.direction):
        # Moving to or from neutral is a change of conviction, not a reversal of direction.
        verdict = "consistent" if midday.direction is Direction.NEUTRAL else "reversed"
    else:
        verdict = "reversed"
    return {"verdict": verdict, "confidence_change": change}


def build_intraday(
    day: date,
    midday: Sequence[Prediction],
    *,
    pre_market_run_id: str | None,
    pre_market: Sequence[Prediction],
    since: datetime,
    until: datetime,
    details: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The intraday payload; without a pre-market run it is partial, saying why."""
    details = details or {}
    morning = {p.symbol: p for p in pre_market}
    rows = []
    for prediction in midday:
        before = morning.get(prediction.symbol)
        rows.append(
            {
                **prediction_row(prediction, details.get(prediction.symbol)),
                "pre_market": _morning(before),
                **compare(before, prediction),
                "changed": _changed(before, prediction),
            }
        )
    judged = [r for r in rows if r["verdict"] != "incomplete"]
    consistent = sum(r["verdict"] == "consistent" for r in judged)
    changes = [
        {
            "symbol": r["symbol"],
            "from": r["pre_market"]["direction"],
            "to": r["direction"],
            "verdict": r["verdict"],
        }
        for r in rows
        if r["changed"]
    ]
    partial_reason = None
    if pre_market_run_id is None:
        partial_reason = f"no successful pre-market run for {day.isoformat()}"
    return {
        "report_type": "intraday",
        "business_date": day.isoformat(),
        "news_window": {"since": iso_instant(since), "until": iso_instant(until)},
        "pre_market_run_id": pre_market_run_id,
        "partial": partial_reason is not None,
        "partial_reason": partial_reason,
        "consistency": {
            "compared": len(judged),
            "consistent": consistent,
            "reversed": len(judged) - consistent,
            "incomplete": len(rows) - len(judged),
            "ratio": round(consistent / len(judged), 4) if judged else None,
            "changed": len(changes),
        },
        "changes": changes,
        "symbols": rows,
    }


def _morning(before: Prediction | None) -> dict[str, Any] | None:
    """The morning's call as the intraday row carries it."""
    if before is None:
        return None
    return {
        "direction": before.direction.value,
        "confidence": before.confidence,
        "sentiment_score": before.sentiment_score,
        "articles_count": before.articles_count,
        "status": before.status.value,
    }


def _changed(morning: Prediction | None, midday: Prediction | None) -> bool:
    """Whether the call moved: both usable, and the midday direction differs from the morning's
    (to or from neutral included)."""
    if morning is None or midday is None or not is_usable(morning) or not is_usable(midday):
        return False
    return morning.direction is not midday.direction


def quiet_note(since: datetime) -> str:
    """What a quiet window says: `no new news since 08:30` (New York time of its start)."""
    return f"no new news since {since.astimezone(NEW_YORK):%H:%M}"


def build_quiet_intraday(
    day: date,
    *,
    pre_market_run_id: str,
    pre_market: Sequence[Prediction],
    since: datetime,
    until: datetime,
) -> dict[str, Any]:
    """The intraday payload when no symbol had a headline since the morning: the morning's
    calls stand, said plainly; a quiet window is news, not a failure."""
    note = quiet_note(since)
    rows = [
        {
            **prediction_row(p),
            "pre_market": _morning(p),
            "verdict": "unchanged",
            "confidence_change": None,
            "changed": False,
        }
        for p in pre_market
    ]
    return {
        "report_type": "intraday",
        "business_date": day.isoformat(),
        "news_window": {"since": iso_instant(since), "until": iso_instant(until)},
        "pre_market_run_id": pre_market_run_id,
        "partial": False,
        "partial_reason": None,
        "quiet": True,
        "note": note,
        "warnings": [f"no_new_news: {note}; the morning's calls stand"],
        "consistency": {
            "compared": 0,
            "consistent": 0,
            "reversed": 0,
            "incomplete": 0,
            "ratio": None,
            "changed": 0,
        },
        "changes": [],
        "symbols": rows,
    }
