"""The demo's sample files: `dir:` news and prices for dates relative to today.

Made from what ships in `data/`: `headlines.json`, a pool of original headlines written for the
demo (strongly worded up and down ones, and neutral ones), and `symbols.csv`, a plausible close,
daily move and volume per symbol. Every symbol-session gets a tone, drawn from a generator
seeded by the symbol and the date (so a date always gets the same story):

- mostly a strong day: a dozen unanimous headlines, now and then with one neutral among them,
  in the pre-market window; such a call is confident enough to be scored;
- sometimes a mixed day (up and down headlines) or a neutral one: a call below any sensible
  threshold, or a neutral call, which the end-of-day report leaves unscored;
- the close moves with a strong call about two times in three and against it otherwise, so
  the measured accuracy is honest, never 100%.

News goes where each run reads it: the pre-market window (the previous session's close to the
pre-market slot) and the intraday window (the pre-market slot to the intraday slot), via the
same `news_window` the runs use. Portfolio symbols are written as JSON arrays (`<SYMBOL>.json`,
`published_at` with its New York UTC offset), SPY as an RSS 2.0 feed (`SPY.xml`), prices as
`Date,Open,High,Low,Close,Volume` CSV (`<SYMBOL>.csv`). Every headline names its source
`demo sample` and says in its summary that it is not real news. The files run through today's
whole session; a run still reads only its own window, so none sees a headline dated after it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.utils import format_datetime
from importlib.resources import files
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from marketbrief.calendar import NEW_YORK, MarketCalendar
from marketbrief.errors import InvalidInput
from marketbrief.models import ReportType
from marketbrief.pipeline.prices import HEADER
from marketbrief.reports.premarket import MARKET_PULSE
from marketbrief.runs.jobs import news_window

SOURCE = "demo sample"
SUMMARY = "A sample headline written for marketbrief's offline demo: not real news."
FEED_TITLE = "demo sample: market news (not real news)"
MARKER = "MARKETBRIEF-DEMO.txt"
STRONG_HEADLINES = 12  # unanimous and strong: 12 / (12 + 2) evidence, well above 0.7
AGREE = 0.65  # how often the close moves the way a strong call said
LOOKBACK_SESSIONS = 5  # price rows before the first session, for its previous close
_STRONG, _MIXED = 0.72, 0.86  # tone thresholds: strong below 0.72, mixed below 0.86, else neutral
_MARGIN = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Profile:
    """A symbol's plausible price level, typical daily move (percent) and volume."""

    symbol: str
    close: float
    move_pct: float
    volume: int


@dataclass(frozen=True, slots=True)
class Headline:
    """One sample headline and when it was published (an aware instant)."""

    title: str
    published_at: datetime


@dataclass(frozen=True, slots=True)
class SessionStory:
    """One symbol's session: the morning's tone, its headlines and how the close moved."""

    symbol: str
    day: date
    tone: str  # up | down | mixed | neutral
    headlines: list[Headline]
    change_pct: float


@dataclass(frozen=True, slots=True)
class SampleFiles:
    """What `write_sample` wrote."""

    directory: Path
    news: Path
    prices: Path
    symbols: tuple[str, ...]
    first: date
    last: date
    sessions: int
    headlines: int

    @property
    def news_spec(self) -> str:
        """The MARKETBRIEF_NEWS value that reads these files."""
        return f"dir:{self.news}"

    @property
    def prices_spec(self) -> str:
        """The MARKETBRIEF_PRICES value that reads these files."""
        return f"dir:{self.prices}"


def headline_pool() -> dict[str, dict[str, list[str]]]:
    """The shipped headlines: {"company" | "market": {"up" | "down" | "neutral": [...]}}."""
    data = json.loads((files("marketbrief.demo") / "data" / "headlines.json").read_text())
    return {group: data[group] for group in ("company", "market")}


def profiles() -> dict[str, Profile]:
    """The shipped price profiles, by symbol."""
    text = (files("marketbrief.demo") / "data" / "symbols.csv").read_text()
    return {
        row["Symbol"]: Profile(
            row["Symbol"], float(row["Close"]), float(row["DailyMovePct"]), int(row["Volume"])
        )
        for row in csv.DictReader(io.StringIO(text))
    }


def profile_for(symbol: str, known: dict[str, Profile]) -> Profile:
    """The shipped profile, or a plausible one derived from the ticker for any other symbol."""
    if symbol in known:
        return known[symbol]
    digest = int.from_bytes(hashlib.sha256(symbol.encode()).digest()[:4], "big")
    return Profile(symbol, 20.0 + digest % 38000 / 100, 1.5, 2_000_000 + digest % 8_000_000)


def _rng(symbol: str, day: date) -> random.Random:
    return random.Random(f"marketbrief-demo:{symbol}:{day.isoformat()}")  # noqa: S311 - sample data


def _spread(
    rng: random.Random, titles: list[str], start: datetime, end: datetime
) -> list[Headline]:
    """Place each title at its own minute strictly inside (start, end)."""
    first, last = start + _MARGIN, end - _MARGIN
    if last <= first:
        first, last = start + timedelta(seconds=1), end
    span = int((last - first).total_seconds() // 60)
    minutes = sorted(rng.sample(range(span + 1), min(len(titles), span + 1)))
    return [
        Headline(title, first + timedelta(minutes=m))
        for title, m in zip(titles, minutes, strict=False)
    ]


def story(
    calendar: MarketCalendar,
    symbol: str,
    day: date,
    pool: dict[str, dict[str, list[str]]],
    profile: Profile,
) -> SessionStory:
    """One symbol's session `day` (a session): tone, headlines in both windows, the move."""
    rng = _rng(symbol, day)
    lines = pool["market" if symbol == MARKET_PULSE else "company"]

    def pick(tone: str, n: int) -> list[str]:
        return [t.format(symbol=symbol) for t in rng.sample(lines[tone], min(n, len(lines[tone])))]

    draw = rng.random()
    if draw < _STRONG:
        tone = rng.choice(("up", "down"))
        titles = pick(tone, STRONG_HEADLINES) + (pick("neutral", 1) if rng.random() < 0.3 else [])
    elif draw < _MIXED:
        tone = "mixed"
        titles = pick("up", 4) + pick("down", 3) + pick("neutral", 2)
    else:
        tone = "neutral"
        titles = pick("neutral", 5)
    since = news_window(calendar, ReportType.PRE_MARKET, day)
    morning = calendar.slot_instant(ReportType.PRE_MARKET, day)
    midday = calendar.slot_instant(ReportType.INTRADAY, day)
    assert morning is not None  # `day` is a session: it has both slots
    assert midday is not None
    headlines = _spread(rng, titles, since, morning)
    if midday > morning:  # every symbol has news since the morning: the intraday run is whole
        strong = tone if tone in ("up", "down") else rng.choice(("up", "down"))
        later = strong if rng.random() < 0.65 else ("down" if strong == "up" else "up")
        unused = [t for t in pick(later, 99) if t not in titles]
        unused = unused or [t for t in pick("neutral", 99) if t not in titles]
        fresh = unused[: rng.randint(2, 4)]
        headlines += _spread(rng, fresh, news_window(calendar, ReportType.INTRADAY, day), midday)
    size = max(0.15, min(abs(rng.gauss(0, profile.move_pct)), 3.5 * profile.move_pct))
    if tone in ("up", "down"):
        agrees = rng.random() < AGREE
        sign = 1 if (tone == "up") == agrees else -1
    else:
        sign = rng.choice((1, -1))
    return SessionStory(symbol, day, tone, headlines, round(sign * size, 3))


def price_rows(
    profile: Profile, days: list[tuple[date, float]], rng: random.Random
) -> list[list[str]]:
    """`Date,Open,High,Low,Close,Volume` rows for (session, change %) pairs, oldest first."""
    rows, previous = [], profile.close
    for day, change in days:
        close = round(previous * (1 + change / 100), 2)
        if close == round(previous, 2):  # a rounded-away move would read as a flat close
            close = round(previous + (0.01 if change > 0 else -0.01), 2)
        opened = round(previous * (1 + rng.gauss(0, profile.move_pct / 3) / 100), 2)
        high = round(max(opened, close) * (1 + rng.random() * profile.move_pct / 200), 2)
        low = round(min(opened, close) * (1 - rng.random() * profile.move_pct / 200), 2)
        volume = int(profile.volume * (0.7 + 0.6 * rng.random()))
        prices = (f"{value:.2f}" for value in (opened, high, low, close))
        rows.append([day.isoformat(), *prices, str(volume)])
        previous = close
    return rows


def news_json(headlines: list[Headline]) -> bytes:
    """A `dir:` news JSON array, newest first, `published_at` in New York time with its offset."""
    items: list[dict[str, Any]] = [
        {
            "title": h.title,
            "summary": SUMMARY,
            "source": SOURCE,
            "published_at": h.published_at.astimezone(NEW_YORK).isoformat(timespec="seconds"),
        }
        for h in sorted(headlines, key=lambda h: h.published_at, reverse=True)
    ]
    return json.dumps(items, indent=2, ensure_ascii=False).encode() + b"\n"


def news_rss(symbol: str, headlines: list[Headline]) -> bytes:
    """A `dir:` news RSS 2.0 feed, newest first; the feed's title becomes each item's source."""
    items = "".join(
        "    <item>\n"
        f"      <title>{escape(h.title)}</title>\n"
        f"      <description>{escape(SUMMARY)}</description>\n"
        f"      <pubDate>{format_datetime(h.published_at)}</pubDate>\n"
        "    </item>\n"
        for h in sorted(headlines, key=lambda h: h.published_at, reverse=True)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0">\n  <channel>\n'
        f"    <title>{escape(FEED_TITLE)}</title>\n"
        f"    <description>{escape(SUMMARY)} ({escape(symbol)})</description>\n"
        f"{items}  </channel>\n</rss>\n"
    ).encode()


def prepare(directory: Path) -> tuple[Path, Path]:
    """Make (or reuse) the demo's folder: refuse one that holds anything the demo did not write."""
    if directory.exists():
        if not directory.is_dir():
            raise InvalidInput(f"{directory} is not a directory")
        names = {p.name for p in directory.iterdir()}
        if names and MARKER not in names:
            raise InvalidInput(
                f"{directory} already holds files that marketbrief demo did not write; "
                "choose another --files directory"
            )
    news, prices = directory / "news", directory / "prices"
    for folder, patterns in ((news, ("*.json", "*.xml")), (prices, ("*.csv",))):
        folder.mkdir(parents=True, exist_ok=True)
        for pattern in patterns:
            for old in folder.glob(pattern):
                old.unlink()
    (directory / MARKER).write_text(
        "Sample news and prices written by `marketbrief demo` (not real news or prices).\n"
        "Safe to delete; the demo writes them again.\n"
    )
    return news, prices


def write_sample(
    directory: Path,
    calendar: MarketCalendar,
    symbols: tuple[str, ...],
    first: date,
    last: date,
) -> SampleFiles:
    """Write news and prices for every session from `first` to `last` into `directory`."""
    news, prices = prepare(directory)
    pool, known = headline_pool(), profiles()
    sessions = calendar.sessions_between(first, last)
    if not sessions:
        raise InvalidInput(f"no session between {first.isoformat()} and {last.isoformat()}")
    before = calendar.sessions_between(calendar.sessions_before(first, LOOKBACK_SESSIONS), first)
    everyone = tuple(dict.fromkeys([*symbols, MARKET_PULSE]))  # SPY is always read: always written
    count = 0
    for symbol in everyone:
        profile = profile_for(symbol, known)
        stories = [story(calendar, symbol, day, pool, profile) for day in sessions]
        headlines = [h for s in stories for h in s.headlines]
        count += len(headlines)
        if symbol == MARKET_PULSE:
            (news / f"{symbol}.xml").write_bytes(news_rss(symbol, headlines))
        else:
            (news / f"{symbol}.json").write_bytes(news_json(headlines))
        walk = _rng(symbol, first - timedelta(days=1))
        moves = [(d, walk.gauss(0, profile.move_pct)) for d in before if d < first]
        moves += [(s.day, s.change_pct) for s in stories]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(price_rows(profile, moves, walk))
        (prices / f"{symbol}.csv").write_text(out.getvalue())
    return SampleFiles(directory, news, prices, tuple(everyone), first, last, len(sessions), count)
