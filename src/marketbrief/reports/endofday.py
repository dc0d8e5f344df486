"""The end-of-day summary: the morning's confident calls scored against the close.

A call is scored when it is non-neutral, usable and at or above the confidence threshold. It is
correct when the close-to-close move has its sign, wrong otherwise (a flat close is wrong for
both directions), and pending while the close is unknown: no price is ever guessed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from marketbrief.models import Direction, Prediction
from marketbrief.pipeline.ports import Move
from marketbrief.reports.common import is_usable

TOP_MOVERS = 3


def outcome(prediction: Prediction, move: Move | None, threshold: float) -> str:
    """correct | wrong | pending | unscored for one prediction."""
    if (
        not is_usable(prediction)
        or prediction.direction is Direction.NEUTRAL
        or prediction.confidence is None
        or prediction.confidence < threshold
    ):
        return "unscored"
    if move is None or move.change_pct is None:
        return "pending"
    went_up = move.change_pct > 0
    went_down = move.change_pct < 0
    called_up = prediction.direction is Direction.UP
    return "correct" if (went_up and called_up) or (went_down and not called_up) else "wrong"


def accuracy(correct: int, scored: int) -> float | None:
    """correct / scored, or None when nothing was scored (never a made-up number)."""
    return round(correct / scored, 4) if scored else None


def build_end_of_day(
    day: date,
    predictions: Sequence[Prediction],
    moves: Mapping[str, Move],
    *,
    pre_market_run_id: str,
    threshold: float,
) -> dict[str, Any]:
    """The end-of-day payload."""
    rows: list[dict[str, Any]] = []
    models: dict[str, dict[str, int]] = {}
    for prediction in predictions:
        move = moves.get(prediction.symbol)
        result = outcome(prediction, move, threshold)
        rows.append(
            {
                "symbol": prediction.symbol,
                "direction": prediction.direction.value,
                "confidence": prediction.confidence,
                "model": prediction.model,
                "close": move.close if move else None,
                "previous_close": move.previous_close if move else None,
                "change_pct": move.change_pct if move else None,
                "outcome": result,
            }
        )
        if result in ("correct", "wrong"):
            stats = models.setdefault(prediction.model, {"scored": 0, "correct": 0})
            stats["scored"] += 1
            stats["correct"] += result == "correct"
    scored = [r for r in rows if r["outcome"] in ("correct", "wrong")]
    correct = sum(r["outcome"] == "correct" for r in scored)
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
        "symbols": rows,
        "top_movers": [
            {"symbol": r["symbol"], "change_pct": r["change_pct"], "outcome": r["outcome"]}
            for r in movers
        ],
        "models": {
            name: {**stats, "accuracy": accuracy(stats["correct"], stats["scored"])}
            for name, stats in sorted(models.items())
        },
    }
