"""Pieces every report builder shares: prediction rows, counts and run validation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from marketbrief.models import Prediction, PredictionStatus, RunStatus


def is_usable(prediction: Prediction) -> bool:
    """A prediction counts when its analysis worked and produced a confidence."""
    return prediction.status is PredictionStatus.SUCCESS and prediction.confidence is not None


def unusable(predictions: Sequence[Prediction]) -> list[dict[str, str]]:
    """Each symbol that produced nothing usable, with its status and the reason."""
    return [
        {
            "symbol": p.symbol,
            "status": p.status.value,
            "reason": p.error or "no confidence",
        }
        for p in predictions
        if not is_usable(p)
    ]


def prediction_row(
    prediction: Prediction, detail: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """One symbol's prediction as it appears in a report, with each model's own opinion."""
    return {**prediction.as_dict(), "models": dict(detail or {})}


@dataclass(frozen=True, slots=True)
class Verdict:
    """What validation decided about a run: never success with nothing in it."""

    status: RunStatus
    reason: str | None
    processed: int
    successful: int
    failed: int


def judge(predictions: Sequence[Prediction]) -> Verdict:
    """success when every symbol is usable, partial when some are, failed when none is."""
    processed = len(predictions)
    usable = sum(is_usable(p) for p in predictions)
    failed = processed - usable
    if usable == 0:
        reason = "no symbol produced a usable analysis" if processed else "no symbols analysed"
        return Verdict(RunStatus.FAILED, reason, processed, usable, failed)
    if failed:
        names = ", ".join(p.symbol for p in predictions if not is_usable(p))
        return Verdict(RunStatus.PARTIAL, f"not usable: {names}", processed, usable, failed)
    return Verdict(RunStatus.SUCCESS, None, processed, usable, failed)
