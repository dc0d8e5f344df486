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
from datetime import datetime
from typing import Any

from marketbrief.models import Direction, Prediction, PredictionStatus
from marketbrief.pipeline.news import Article, NewsProvider, NewsResult, gather_news
from marketbrief.pipeline.sentiment import ModelScore, SentimentModel, combine, failure

MAX_HEADLINES = 5
DEFAULT_CONCURRENCY = 4


@dataclass(frozen=True, slots=True)
class SymbolAnalysis:
    """A symbol's Prediction plus each model's own opinion (`detail`, keyed by model name)."""

    prediction: Prediction
    detail: dict[str, Any] = field(default_factory=dict)
    fallback: bool = False
    news_provider: str | None = None


@dataclass(frozen=True, slots=True)
class AnalysisBatch:
    """Every symbol's analysis, and every news provider failure met on the way."""

    analyses: list[SymbolAnalysis]
    failures: list[dict[str, str]]
    news: dict[str, NewsResult]


async def analyse_symbol(
    symbol: str, articles: list[Article], models: Sequence[SentimentModel]
) -> SymbolAnalysis:
    """Score `articles` with one model, or a primary and a second opinion combined."""
    if not 1 <= len(models) <= 2:
        raise ValueError(f"expected a model or a primary and a second opinion, got {len(models)}")
    names = "+".join(m.name for m in models)
    headlines = [a.title for a in articles[:MAX_HEADLINES]]
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


async def analyse_symbols(
    symbols: Sequence[str],
    news_providers: Sequence[NewsProvider],
    models: Sequence[SentimentModel],
    since: datetime,
    until: datetime,
    *,
    timeout: float,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> AnalysisBatch:
    """Gather each symbol's news in (since, until] and analyse it, a few symbols at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def one(symbol: str) -> tuple[NewsResult, SymbolAnalysis]:
        async with gate:
            news = await gather_news(news_providers, symbol, since, until, timeout=timeout)
            analysis = await analyse_symbol(symbol, news.articles, models)
        return news, _with_provider(analysis, news.provider)

    done = await asyncio.gather(*(one(s) for s in symbols))
    return AnalysisBatch(
        analyses=[analysis for _, analysis in done],
        failures=[f for news, _ in done for f in news.failures],
        news={news.symbol: news for news, _ in done},
    )


async def _score(model: SentimentModel, symbol: str, articles: list[Article]) -> ModelScore:
    try:
        return await model.score(symbol, articles)
    except Exception as exc:  # models answer failures; a bug still costs only this model
        return failure(model.name, f"unexpected {type(exc).__name__}: {exc}")


def _with_provider(analysis: SymbolAnalysis, provider: str | None) -> SymbolAnalysis:
    return SymbolAnalysis(analysis.prediction, analysis.detail, analysis.fallback, provider)
