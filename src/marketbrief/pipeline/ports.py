"""The pipeline's two ports, as the runner sees them, and the results they hand back.

`Analyst` fetches news for a window and scores it; `PriceFeed` finds daily closes. Both are
implemented in `feeds.py` from the settings, and by tests with local files or loopback servers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from marketbrief.models import Prediction


@dataclass(frozen=True, slots=True)
class Move:
    """One symbol's close on the day and the one before it."""

    close: float
    previous_close: float | None
    change_pct: float | None


@dataclass(frozen=True, slots=True)
class Analysis:
    """Per-symbol predictions from a news window, with per-model detail and recorded failures."""

    predictions: list[Prediction]
    details: dict[str, dict[str, Any]] = field(default_factory=dict)
    sources: dict[str, str | None] = field(default_factory=dict)
    failures: list[dict[str, Any]] = field(default_factory=list)
    fallbacks: int = 0


class Analyst(Protocol):
    """Fetches news for a window and scores it (the pipeline's port)."""

    async def fetch_news(self, symbols: Sequence[str], since: datetime, until: datetime) -> Any: ...

    async def analyse(self, fetched: Any) -> Analysis: ...


@dataclass(frozen=True, slots=True)
class PriceResult:
    """Each symbol's move on a day, the closes to keep, and what failed."""

    moves: dict[str, Move]
    closes: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)


class PriceFeed(Protocol):
    """Daily closes (the pipeline's port)."""

    async def moves(self, symbols: Sequence[str], day: date) -> PriceResult: ...
