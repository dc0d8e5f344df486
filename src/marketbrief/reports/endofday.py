"""The end-of-day summary: the morning's calls scored against the close.

Every directional (up or down), usable call with a close is judged `right` or `wrong` by the
sign of the close-to-close move (a flat close is wrong for both directions); the rest are
`unscored`, saying why (`no usable call`, `neutral call`, `no price`). The day's hit rate is
given twice, as "k of n": over all judged calls, and over the high-confidence ones (at or above
the threshold; a judged call below it says `below threshold`). No price is ever guessed.

The older keys keep their meaning: `outcome` (correct | wrong | pending | unscored) and
`scored` / `correct` / `wrong` / `pending` / `accuracy` count only the high-confidence calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from marketbrief.models import Direction, Prediction
from marketbrief.pipeline.ports import Move
from marketbrief.reports.common import is_usable

TOP_MOVERS = 3
NO_CALL, NEUTRAL, NO_PRICE, BELOW = "no usable call", "neutral call", "no price", "below threshold"


def outcome(prediction: Prediction, move: Move | None, threshold: float) -> str:
    """correct | wrong | pending | unscored for one prediction (high-confidence calls only)."""
    if (
        not is_usable(prediction)
        or prediction.direction is Direction.NEUTRAL
        or prediction.confidence is None
        or prediction.confidence < threshold
    ):
        return "unscored"
    if move is None or move.change_pct is None:
        return "pending"
    return "correct" if _hit(prediction, move.change_pct) else "wrong"


def judged(prediction: Prediction, move: Move | None, threshold: float) -> tuple[str, str | None]:
    """right | wrong | unscored for any call, with why it is unscored or not high-confidence."""
    if not is_usable(prediction):
        return "unscored", NO_CALL
    if prediction.direction is Direction.NEUTRAL:
        return "unscored", NEUTRAL
    if move is None or move.change_pct is None:
        return "unscored", NO_PRICE
    result = "right" if _hit(prediction, move.change_pct) else "wrong"
    high = prediction.confidence is not None and prediction.confidence >= threshold
    return result, None if high else BELOW


def _hit(prediction: Prediction, change_pct: float) -> bool:
    if prediction.direction is Direction.UP:
        return change_pct > 0
    return change_pct < 0


def accuracy(correct: int, scored: int) -> float | None:
    """correct / scored, or None when nothing was scored (never a made-up number)."""
    return round(correct / scored, 4) if scored else None


def hit_rate(hits: int, calls: int) -> dict[str, Any]:
    """ "k of n" as numbers: hits, calls and their ratio (None for 0 of 0)."""
    return {"hits": hits, "calls": calls, "rate": accuracy(hits, calls)}


def _price_row(prediction: Prediction, move: Move | None, threshold: float) -> dict[str, Any]:
    result, why = judged(prediction, move, threshold)
    return {
        "symbol": prediction.symbol,
        "direction": prediction.direction.value,
        "confidence": prediction.confidence,
        "sentiment_score": prediction.sentiment_score,
        "articles_count": prediction.articles_count,
        "model": prediction.model,
        "high_confidence": prediction.confidence is not None and prediction.confidence >= threshold,
        "close": move.close if move else None,
        "previous_close": move.previous_close if move else None,
        "change_pct": move.change_pct if move else None,
        "outcome": outcome(prediction, move, threshold),
        "result": result,
        "why": why,
    }


def build_end_of_day(
    day: date,
    predictions: Sequence[Prediction],
    moves: Mapping[str, Move],
    *,
    pre_market_run_id: str,
    threshold: float,
    pulse: Prediction | None = None,
) -> dict[str, Any]:
    """The end-of-day payload; `pulse` (SPY's morning call) is reported apart."""
    rows = [_price_row(p, moves.get(p.symbol), threshold) for p in predictions]
    models: dict[str, dict[str, int]] = {}
    for row in rows:
        if row["outcome"] in ("correct", "wrong"):
            stats = models.setdefault(row["model"], {"scored": 0, "correct": 0})
            stats["scored"] += 1
            stats["correct"] += row["outcome"] == "correct"
    scored = [r for r in rows if r["outcome"] in ("correct", "wrong")]
    correct = sum(r["outcome"] == "correct" for r in scored)
    calls = [r for r in rows if r["result"] != "unscored"]
    high = [r for r in calls if r["high_confidence"]]
    movers = sorted(
        (r for r in rows if r["change_pct"] is not None),
        key=lambda r: abs(r["change_pct"]),
        reverse=True,
    )[:TOP_MOVERS]
    return {
        "report_type": "end-of-day",
        "business_date": day.isoformat(),
        "pre_market_run_id": pre_market_run_id,
        "confidence_threshold": threshold,
        "scored": len(scored),
        "correct": correct,
        "wrong": len(scored) - correct,
        "pending": sum(r["outcome"] == "pending" for r in rows),
        "accuracy": accuracy(correct, len(scored)),
        "hit_rate": {
            "all": hit_rate(sum(r["result"] == "right" for r in calls), len(calls)),
            "high_confidence": {
                **hit_rate(sum(r["result"] == "right" for r in high), len(high)),
                "threshold": threshold,
            },
        },
        "unscored": {
            why: sum(r["result"] == "unscored" and r["why"] == why for r in rows)
            for why in (NEUTRAL, NO_PRICE, NO_CALL)
        },
        "symbols": rows,
        "top_movers": [
            {
                "symbol": r["symbol"],
                "change_pct": r["change_pct"],
                "close": r["close"],
                "direction": r["direction"],
                "outcome": r["outcome"],
                "result": r["result"],
            }
            for r in movers
        ],
        "market_pulse": (
            _price_row(pulse, moves.get(pulse.symbol), threshold) if pulse is not None else None
        ),
        "models": {
            name: {**stats, "accuracy": accuracy(stats["correct"], stats["scored"])}
            for name, stats in sorted(models.items())
        },
    }
