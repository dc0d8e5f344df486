"""An analyst for tests that drive whole runs: it answers at once, or only once its gate opens."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from marketbrief.pipeline.ports import Analysis
from tests.support.factories import predictions


class Analyst:
    """Answers with `predictions()` at once, or (gated) only once the test sets `gate`.

    `entered` is set when a run has reached its news fetch, so a test can wait for that event.
    """

    def __init__(self, *, gated: bool = False) -> None:
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()
        if not gated:
            self.gate.set()

    async def fetch_news(self, symbols: Sequence[str], since: datetime, until: datetime) -> Any:
        self.entered.set()
        await self.gate.wait()
        return None

    async def analyse(self, fetched: Any) -> Analysis:
        return Analysis(predictions=list(predictions()))
