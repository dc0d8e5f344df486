"""The port every sentiment model speaks, and how a primary and a second opinion combine.

A model never invents a confidence: a model that failed answers confidence None with the
reason in `error`, never a default number: absent data stays absent.

combine(primary, second), both confidences in [0, 1], p the primary's and s the second's:

- same direction:          c = 1 - (1 - p) * (1 - s / 2)   (moves p halfway-weighted toward 1)
- up against down:         c = p * (1 - s / 2)             (a confident contradiction halves p)
- neutral against up/down: c = p * (1 - s / 4)             (a weaker contradiction)

The primary's direction and score are kept; both opinions go to `detail`. When the primary
failed, the result is the second opinion's, flagged: detail["fallback"] is True and
detail["primary_error"] says why, so the run can count and show a fallback. When the second
failed, the primary stands unchanged. When both failed, confidence is None.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from marketbrief.models import Direction
from marketbrief.pipeline.news import Article

# VADER's own convention for a compound score that says nothing either way.
NEUTRAL_BAND = 0.05


@dataclass(frozen=True, slots=True)
class ModelScore:
    """One model's opinion on one symbol; confidence None means the model failed."""

    model: str
    score: float | None
    direction: Direction
    confidence: float | None
    error: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """Whether the model produced no usable opinion."""
        return self.confidence is None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view for reports and run records."""
        return {
            "model": self.model,
            "score": self.score,
            "direction": self.direction.value,
            "confidence": self.confidence,
            "error": self.error,
            "detail": self.detail,
        }


class SentimentModel(Protocol):
    """Scores a symbol from its articles."""

    name: str

    async def score(self, symbol: str, articles: list[Article]) -> ModelScore:
        """Return this model's opinion; failures come back as confidence None, never raised."""
        ...


def failure(model: str, reason: str) -> ModelScore:
    """The score of a model that could not give an opinion."""
    return ModelScore(model, None, Direction.NEUTRAL, None, reason)


def direction_of(score: float, band: float = NEUTRAL_BAND) -> Direction:
    """up above +band, down below -band, neutral in between."""
    if score > band:
        return Direction.UP
    if score < -band:
        return Direction.DOWN
    return Direction.NEUTRAL


def combine(primary: ModelScore, second: ModelScore) -> ModelScore:
    """Merge a primary opinion with a second one (see the module docstring for the math)."""
    detail: dict[str, Any] = {"primary": primary.as_dict(), "second": second.as_dict()}
    name = f"{primary.model}+{second.model}"
    if primary.confidence is None:
        if second.confidence is None:
            reason = f"{primary.model}: {primary.error}; {second.model}: {second.error}"
            return ModelScore(name, None, Direction.NEUTRAL, None, reason, detail)
        detail |= {"fallback": True, "primary_error": primary.error}
        return ModelScore(
            f"{second.model} (fallback from {primary.model})",
            second.score,
            second.direction,
            second.confidence,
            None,
            detail,
        )
    if second.confidence is None:
        detail["second_error"] = second.error
        return ModelScore(name, primary.score, primary.direction, primary.confidence, None, detail)
    p, s = primary.confidence, second.confidence
    if primary.direction is second.direction:
        confidence, agreement = 1 - (1 - p) * (1 - s / 2), "agree"
    elif Direction.NEUTRAL in (primary.direction, second.direction):
        confidence, agreement = p * (1 - s / 4), "partly disagree"
    else:
        confidence, agreement = p * (1 - s / 2), "disagree"
    detail["agreement"] = agreement
    return ModelScore(name, primary.score, primary.direction, round(confidence, 4), None, detail)
