"""The pipeline behind the runner's two ports, built from settings.

`PipelineAnalyst` fetches each symbol's news (providers in order, first non-empty wins) and
scores it with the lexicon, or with an LLM as primary and the lexicon as second opinion.
`PipelinePrices` finds each symbol's close on a day and the close before it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from marketbrief.config import PREFIX, Settings
from marketbrief.errors import ConfigError
from marketbrief.pipeline.analysis import analyse_symbol
from marketbrief.pipeline.llm import LLMModel
from marketbrief.pipeline.models import headline_model
from marketbrief.pipeline.news import NewsProvider, NewsResult, gather_news, providers_from_spec
from marketbrief.pipeline.ports import Analysis, Move, PriceResult
from marketbrief.pipeline.prices import PriceProvider, first_closes, price_providers_from_spec
from marketbrief.pipeline.sentiment import SentimentModel

T = TypeVar("T")
CONCURRENCY = 4


@dataclass(frozen=True, slots=True)
class Fetched:
    """Each symbol's news for one window."""

    news: dict[str, NewsResult]


class PipelineAnalyst:
    """News providers and sentiment models, as the runner's Analyst."""

    def __init__(
        self,
        providers: Sequence[NewsProvider],
        models: Sequence[SentimentModel],
        *,
        timeout: float,
    ) -> None:
        self.providers = list(providers)
        self.models = list(models)
        self.timeout = timeout

    async def fetch_news(self, symbols: Sequence[str], since: datetime, until: datetime) -> Fetched:
        """Each symbol's articles in (since, until], a few symbols at a time."""
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(symbol: str) -> NewsResult:
            async with gate:
                return await gather_news(self.providers, symbol, since, until, timeout=self.timeout)

        found = await asyncio.gather(*(one(s) for s in symbols))
        return Fetched({result.symbol: result for result in found})

    async def analyse(self, fetched: Fetched) -> Analysis:
        """Score every symbol's articles; failures are recorded, never defaulted."""
        analyses = await asyncio.gather(
            *(analyse_symbol(s, news.articles, self.models) for s, news in fetched.news.items())
        )
        return Analysis(
            predictions=[a.prediction for a in analyses],
            details={a.prediction.symbol: a.detail for a in analyses},
            sources={s: news.provider for s, news in fetched.news.items()},
            failures=[f for news in fetched.news.values() for f in news.failures],
            fallbacks=sum(a.fallback for a in analyses),
        )


class PipelinePrices:
    """Price providers, as the runner's PriceFeed."""

    def __init__(self, providers: Sequence[PriceProvider], *, timeout: float) -> None:
        self.providers = list(providers)
        self.timeout = timeout

    async def moves(self, symbols: Sequence[str], day: date) -> PriceResult:
        """Each symbol's close on `day` against the previous close; absent prices stay absent.

        Providers look back for the previous close themselves, so only `day` is asked for.
        """
        found = await asyncio.gather(
            *(first_closes(self.providers, s, day, day, timeout=self.timeout) for s in symbols)
        )
        moves: dict[str, Move] = {}
        closes: list[dict[str, Any]] = []
        failures: list[dict[str, Any]] = []
        for symbol, (series, failed) in zip(symbols, found, strict=True):
            failures.extend(failed)
            for close in series:
                closes.append(
                    {
                        "symbol": close.symbol,
                        "close_date": close.close_date,
                        "close": close.close,
                        "previous_close": close.previous_close,
                        "change_pct": close.change_pct,
                        "source": close.source,
                    }
                )
                if close.close_date == day:
                    moves[symbol] = Move(close.close, close.previous_close, close.change_pct)
        return PriceResult(moves=moves, closes=closes, failures=failures)


def analyst_from(settings: Settings) -> PipelineAnalyst:
    """The configured news providers and models (LLM primary when configured)."""
    providers = _named(
        "NEWS",
        lambda: providers_from_spec(
            settings.news,
            finnhub_key=settings.finnhub_key,
            timeout=settings.provider_timeout_seconds,
        ),
    )
    models = models_from(settings)
    return PipelineAnalyst(providers, models, timeout=settings.provider_timeout_seconds)


def models_from(settings: Settings) -> list[SentimentModel]:
    """The configured headline model, behind the LLM as primary when one is configured."""
    local = _named(
        "LEXICON",
        lambda: headline_model(settings.lexicon) if settings.lexicon else headline_model(),
    )
    if not settings.llm_url:
        return [local]
    return [llm_from(settings), local]


def llm_from(settings: Settings) -> LLMModel:
    """The configured LLM model; ConfigError when the endpoint or the model name is missing."""
    if not settings.llm_url:
        raise ConfigError(f"{PREFIX}LLM_URL must be set to use the LLM model")
    if not settings.llm_model:
        raise ConfigError(f"{PREFIX}LLM_MODEL must be set when {PREFIX}LLM_URL is")
    return LLMModel(
        settings.llm_url,
        settings.llm_model,
        api_key=settings.llm_key,
        timeout=settings.provider_timeout_seconds,
    )


def prices_from(settings: Settings) -> PipelinePrices:
    """The configured price providers."""
    providers = _named(
        "PRICES",
        lambda: price_providers_from_spec(
            settings.prices, timeout=settings.provider_timeout_seconds
        ),
    )
    return PipelinePrices(providers, timeout=settings.provider_timeout_seconds)


def check_providers(settings: Settings) -> None:
    """Build the configured providers and models once, so a bad setting stops a command at
    start-up (ConfigError naming the variable) instead of failing its first run."""
    analyst_from(settings)
    prices_from(settings)


def _named(variable: str, build: Callable[[], T]) -> T:
    try:
        return build()
    except ConfigError as error:
        raise ConfigError(f"{PREFIX}{variable}: {error}") from None
