"""From news to predictions: one symbol's analysis, and a whole symbol list's.

A symbol with no articles is `skipped`; a symbol whose model(s) failed is `failed` with
confidence None; a symbol whose primary model failed but whose second opinion worked is
`success` with `fallback` set and the primary's reason in Prediction.error, so a run can count
fallbacks (job_executions.symbols_fallback) and show why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from marketbrief.models import Direction, Prediction, PredictionStatus
from marketbrief.pipeline.news import Article
from marketbrief.pipeline.sentiment import ModelScore, SentimentModel, combine, failure

MAX_HEADLINES = 5


@dataclass(frozen=True, slots=True)
class SymbolAnalysis:
    """A symbol's Prediction plus each model's own opinion (`detail`, keyed by model name)."""

    prediction: Prediction
    detail: dict[str, Any] = field(default_factory=dict)
    fallback: bool = False


async def analyse_symbol(
    symbol: str, articles: list[Article], models: Sequence[SentimentModel]
) -> SymbolAnalysis:
    """Score `articles` with one model, or a primary and a second opinion combined."""
    if not 1 <= len(models) <= 2:
        raise ValueError(f"expected a model or a primary and a second opinion, got {len(models)}")
    names = "+".join(m.name for m in models)
    headlines = [headline(a) for a in articles[:MAX_HEADLINES]]
    if not articles:
        skipped = Prediction(
            symbol, Direction.NEUTRAL, None, None, 0, names, PredictionStatus.SKIPPED, "no articles"
        )
        return SymbolAnalysis(skipped)
    scores = await asyncio.gather(*(_score(m, symbol, articles) for m in models))
    result = scores[0] if len(scores) == 1 else combine(scores[0], scores[1])
    detail: dict[str, Any] = {s.model: s.as_dict() for s in scores}
    if len(scores) == 2:
        detail["combined"] = {
            key: result.detail[key]
            for key in ("agreement", "fallback", "primary_error", "second_error")
            if key in result.detail
        }
    fallback = bool(result.detail.get("fallback"))
    if result.confidence is None:
        status, error = PredictionStatus.FAILED, result.error
    elif fallback:
        status = PredictionStatus.SUCCESS
        error = f"fallback to {scores[1].model}: {result.detail.get('primary_error')}"
    else:
        status, error = PredictionStatus.SUCCESS, None
    prediction = Prediction(
        symbol=symbol,
        direction=result.direction,
        confidence=result.confidence,
        sentiment_score=result.score,
        articles_count=len(articles),
        model=result.model,
        status=status,
        error=error,
        headlines=headlines,
    )
    return SymbolAnalysis(prediction, detail, fallback)


def headline(article: Article) -> dict[str, Any]:
    """One headline as a report shows it: its title, source, time and link."""
    return {
        "title": article.title,
        "source": article.source,
        "published_at": article.published_at.isoformat(),
        "url": article.url,
    }


async def _score(model: SentimentModel, symbol: str, articles: list[Article]) -> ModelScore:
    try:
        return await model.score(symbol, articles)
    except Exception as exc:  # models answer failures; a bug still costs only this model
        return failure(model.name, f"unexpected {type(exc).__name__}: {exc}")
