"""The files `marketbrief run` reads for one session, for the tests of whole runs.

News and closes are files the tests write (the `dir:` providers), so every number in the
reports can be checked against a hand-computed expectation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SESSION = "2026-11-24"  # Tuesday; pre-market slot 13:30 UTC, intraday 17:00 UTC
PRE_SLOT_NEWS = "2026-11-24T11:00:00+00:00"  # before the pre-market slot
MIDDAY_NEWS = "2026-11-24T15:00:00+00:00"  # between pre-market and intraday slots
AFTER_SLOTS = "2026-11-24T20:00:00+00:00"  # after both slots: must never be used

BULLISH = [
    "{name} shares surge to a record high after blowout earnings beat estimates",
    "{name} raises guidance as strong demand boosts profit and revenue growth",
    "Analysts upgrade {name}, citing strong gains and robust outlook",
]
BEARISH = [
    "{name} stock plunges after weak guidance and falling sales",
    "{name} hit with lawsuit and regulatory fine; losses widen as shares slump",
    "Analysts downgrade {name} on declining profit and weak demand",
]
NAMES = {"AAPL": "Apple", "MSFT": "Microsoft", "NVDA": "Nvidia", "TSLA": "Tesla", "SPY": "S&P 500"}
# Morning calls: AAPL up, MSFT down, NVDA up, TSLA down. Closes: AAPL rises (correct), MSFT
# falls (correct), NVDA falls (wrong), TSLA falls (correct): 3 correct of 4 scored = 0.75.
MOOD = {"AAPL": BULLISH, "MSFT": BEARISH, "NVDA": BULLISH, "TSLA": BEARISH, "SPY": BULLISH}
CLOSES = {
    "AAPL": (100.0, 102.0),
    "MSFT": (200.0, 196.0),
    "NVDA": (50.0, 49.0),
    "TSLA": (300.0, 291.0),
    "SPY": (500.0, 505.0),
}


def session_news(folder: Path) -> Path:
    """Per symbol: three pre-slot headlines of its mood, one midday, nine late opposite ones."""
    folder.mkdir()
    for symbol, headlines in MOOD.items():
        name = NAMES[symbol]
        items: list[dict[str, Any]] = [
            {"title": h.format(name=name), "source": "test wire", "published_at": PRE_SLOT_NEWS}
            for h in headlines
        ]
        items.append(
            {
                "title": f"{name} steady in midday trading, strong gains hold",
                "source": "wire",
                "published_at": MIDDAY_NEWS,
            }
        )
        # Published after every slot of the day, with the opposite mood: a backfill of the
        # day must never see it.
        opposite = BEARISH if headlines is BULLISH else BULLISH
        items += [
            {"title": f"LATE: {h.format(name=name)}", "published_at": AFTER_SLOTS}
            for h in opposite * 3
        ]
        (folder / f"{symbol}.json").write_text(json.dumps(items))
    return folder


def session_prices(folder: Path) -> Path:
    """Closes for the Monday before SESSION and for SESSION."""
    folder.mkdir()
    for symbol, (before, after) in CLOSES.items():
        (folder / f"{symbol}.csv").write_text(
            "Date,Open,High,Low,Close,Volume\n"
            f"2026-11-23,{before},{before},{before},{before},1000\n"
            f"2026-11-24,{after},{after},{after},{after},1000\n"
        )
    return folder
