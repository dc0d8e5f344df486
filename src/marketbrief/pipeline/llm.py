"""An optional LLM sentiment model behind any OpenAI-compatible chat endpoint.

It asks for one JSON object {"sentiment", "direction", "confidence", "score"}: the headlines'
sentiment (what a language model reads best) as well as the price direction it expects. The
answer is validated strictly: sentiment, when given, is exactly positive, negative or neutral
(it goes to the score's detail; an endpoint that leaves it out records None); direction is
exactly up, down or neutral; confidence a number in [0, 1]; score a number in [-1, 1] whose
sign does not contradict the direction. Anything else (HTTP error, timeout,
prose instead of JSON, a missing or out-of-range field) is a failed score with confidence None
and the reason, never a guessed number.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from marketbrief.errors import ProviderError
from marketbrief.models import Direction
from marketbrief.pipeline import http
from marketbrief.pipeline.news import Article
from marketbrief.pipeline.sentiment import ModelScore, failure
from marketbrief.pipeline.text import safe_value

DEFAULT_TIMEOUT = 30.0
MAX_ARTICLES = 20
_SUMMARY_CHARS = 280
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)

SENTIMENTS = ("positive", "negative", "neutral")
SYSTEM_PROMPT = (
    "You are an equity analyst. Read the news headlines about one stock. First judge their "
    "sentiment for the stock's investors: positive, negative or neutral. Then judge the likely "
    "direction of its price over the next trading session. Answer with one JSON object and "
    'nothing else: {"sentiment": "positive" | "negative" | "neutral", '
    '"direction": "up" | "down" | "neutral", "confidence": number from 0 to 1, '
    '"score": number from -1 (very bearish) to 1 (very bullish)}.'
)


@dataclass(frozen=True, slots=True)
class LLMAnswer:
    """A validated answer: the expected direction, its confidence and score, the sentiment."""

    direction: Direction
    confidence: float
    score: float
    sentiment: str | None


class LLMModel:
    """A SentimentModel asking a chat-completions endpoint (`POST {url}/chat/completions`)."""

    def __init__(
        self,
        url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_articles: int = MAX_ARTICLES,
    ) -> None:
        self.url = url.rstrip("/")
        self.model = model
        self.name = f"llm:{model}"
        self._api_key = api_key
        self.timeout = timeout
        self.max_articles = max_articles

    async def score(self, symbol: str, articles: list[Article]) -> ModelScore:
        """Ask the endpoint about the newest articles; every failure is confidence None."""
        if not articles:
            return failure(self.name, "no articles to score")
        used = articles[: self.max_articles]
        payload = {
            "model": self.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": prompt(symbol, used)},
            ],
        }
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        try:
            answer = await http.post_json(
                f"{self.url}/chat/completions", payload, headers=headers, timeout=self.timeout
            )
            parsed = parse_answer(answer)
        except ProviderError as exc:
            return failure(self.name, str(exc))
        detail = {"articles": len(used), "sentiment": parsed.sentiment}
        return ModelScore(
            self.name, parsed.score, parsed.direction, parsed.confidence, None, detail
        )


def prompt(symbol: str, articles: list[Article]) -> str:
    """The user message: the symbol and its dated headlines, newest first."""
    lines = [f"Stock: {symbol}"] if symbol else []
    lines.append("Headlines, newest first:")
    for i, article in enumerate(articles, 1):
        stamp = article.published_at.strftime("%Y-%m-%d %H:%M UTC")
        line = f"{i}. [{stamp}] {article.title}"
        if article.summary:
            line += f" - {article.summary[:_SUMMARY_CHARS]}"
        lines.append(line)
    return "\n".join(lines)


def parse_answer(answer: Any) -> LLMAnswer:
    """Validate a chat-completions answer (see the module docstring)."""
    try:
        content = answer["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise ProviderError("LLM answer has no choices[0].message.content") from None
    if not isinstance(content, str):
        raise ProviderError("LLM answer content is not text")
    text = content.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    try:
        data = safe_value(json.loads(text))
    except ValueError:
        raise ProviderError(f"LLM answer is not a JSON object: {content[:120]!r}") from None
    if not isinstance(data, dict):
        raise ProviderError(f"LLM answer is not a JSON object: {content[:120]!r}")
    sentiment = data.get("sentiment")
    if sentiment is not None and sentiment not in SENTIMENTS:
        raise ProviderError(
            f"LLM sentiment must be positive, negative or neutral, got {sentiment!r}"
        )
    raw_direction = data.get("direction")
    if raw_direction not in ("up", "down", "neutral"):
        raise ProviderError(f"LLM direction must be up, down or neutral, got {raw_direction!r}")
    direction = Direction(raw_direction)
    confidence = _number(data, "confidence", 0.0, 1.0)
    score = _number(data, "score", -1.0, 1.0)
    if (direction is Direction.UP and score < 0) or (direction is Direction.DOWN and score > 0):
        raise ProviderError(f"LLM score {score} contradicts direction {direction.value}")
    return LLMAnswer(direction, confidence, score, sentiment)


def _number(data: dict[str, Any], key: str, low: float, high: float) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProviderError(f"LLM {key} must be a number, got {value!r}")
    if not low <= value <= high:
        raise ProviderError(f"LLM {key} {value} is outside [{low:g}, {high:g}]")
    return float(value)
