"""A scenario's inputs: past sessions, and news and prices files for them (dir: providers)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from marketbrief.calendar import MarketCalendar, business_date, utc_now

SYMBOLS = ("AAPL", "MSFT")
_BULLISH = "{s} shares surge to a record high after blowout earnings beat estimates"
_BEARISH = "{s} stock plunges after weak guidance and falling sales"


def past_sessions(count: int) -> list[date]:
    """`count` consecutive past sessions, ending at least a week before today (New York)."""
    calendar = MarketCalendar()
    last = calendar.session_on_or_before(business_date(utc_now()) - timedelta(days=7))
    first = calendar.sessions_before(last, count - 1)
    return calendar.sessions_between(first, last)


def write_inputs(folder: Path, sessions: list[date]) -> tuple[Path, Path]:
    """News (one headline per symbol per session, before its pre-market slot) and closes."""
    news, prices = folder / "news", folder / "prices"
    news.mkdir(parents=True, exist_ok=True)
    prices.mkdir(parents=True, exist_ok=True)
    for i, symbol in enumerate((*SYMBOLS, "SPY")):
        items = [
            {
                "title": (_BULLISH if (i + j) % 2 == 0 else _BEARISH).format(s=symbol),
                "source": "resilience wire",
                "published_at": f"{day.isoformat()}T11:00:00+00:00",
            }
            for j, day in enumerate(sessions)
        ]
        (news / f"{symbol}.json").write_text(json.dumps(items))
        rows = ["Date,Open,High,Low,Close,Volume"]
        rows += [
            f"{d},{100 + j},{100 + j},{100 + j},{100 + j},1000" for j, d in enumerate(sessions)
        ]
        (prices / f"{symbol}.csv").write_text("\n".join(rows) + "\n")
    return news, prices
