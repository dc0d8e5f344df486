"""A model that scores each headline on its own, and how a symbol's headlines add up.

Every local model (a lexicon, the finance rules, the learned linear model) is a text scorer
giving each headline a score in [-1, 1]; its neutral band says where a score stops meaning
anything. A symbol's score is the mean of its articles' scores; its confidence is

    confidence = agreement * evidence * (0.5 + 0.5 * strength)

    agreement = share of articles whose own direction matches the symbol's direction
    evidence  = n / (n + 2) for n articles (1 -> 0.33, 4 -> 0.67, 10 -> 0.83)
    strength  = min(1, |mean| / 0.5) for up or down; 1 - |mean| / band for neutral

so one headline never yields more than 0.33, and only many agreeing, strongly worded headlines
approach 0.83. It is a measure of how much the evidence says, not a calibrated probability.
"""

from __future__ import annotations

from collections.abc import Callable

from marketbrief.models import Direction
from marketbrief.pipeline.news import Article
from marketbrief.pipeline.sentiment import NEUTRAL_BAND, ModelScore, direction_of, failure

_STRONG = 0.5


class HeadlineModel:
    """A SentimentModel that scores each headline with a text scorer and aggregates them."""

    def __init__(
        self, name: str, score_text: Callable[[str], float], band: float = NEUTRAL_BAND
    ) -> None:
        self.name = name
        self.score_text = score_text
        self.band = band

    def direction(self, text: str) -> Direction:
        """The direction this model reads in one text."""
        return direction_of(self.score_text(text), self.band)

    async def score(self, symbol: str, articles: list[Article]) -> ModelScore:
        """Score every headline and aggregate them (see the module docstring)."""
        if not articles:
            return failure(self.name, "no articles to score")
        try:
            scores = [self.score_text(article.title) for article in articles]
        except Exception as exc:  # a scorer bug fails this model, never the run
            return failure(self.name, f"unexpected {type(exc).__name__}: {exc}")
        return aggregate(self.name, scores, self.band)


def aggregate(name: str, scores: list[float], band: float = NEUTRAL_BAND) -> ModelScore:
    """Turn per-article scores in [-1, 1] into one ModelScore with an honest confidence."""
    n = len(scores)
    mean = sum(scores) / n
    direction = direction_of(mean, band)
    agreement = sum(direction_of(s, band) is direction for s in scores) / n
    evidence = n / (n + 2)
    if direction is Direction.NEUTRAL:
        strength = 1 - abs(mean) / band
    else:
        strength = min(1.0, abs(mean) / _STRONG)
    confidence = agreement * evidence * (0.5 + 0.5 * strength)
    detail = {
        "articles": n,
        "agreement": round(agreement, 4),
        "evidence": round(evidence, 4),
        "strength": round(strength, 4),
        "scores": [round(s, 4) for s in scores],
    }
    return ModelScore(name, round(mean, 4), direction, round(confidence, 4), None, detail)
