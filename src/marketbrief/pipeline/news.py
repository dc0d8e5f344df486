"""News: articles, the providers that find them, and gathering them for one symbol.

Providers are tried in order and the first one with articles in the window wins. Every failure
(timeout, HTTP error, malformed file or feed) is recorded as {"provider", "symbol", "reason"}
and the next provider is tried; nothing a provider does can crash a run. A provider that
answers with no articles is not a failure: its name goes to NewsResult.empty, so a run can say
"no articles" without counting a failed provider.

Point in time: only articles with since < published_at <= until are ever returned, so a
backfilled run sees only what was knowable at its scheduled instant.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any, Protocol

import feedparser

from marketbrief.errors import ConfigError, ProviderError
from marketbrief.pipeline import http
from marketbrief.pipeline.fallback import first_non_empty
from marketbrief.pipeline.specs import parse_providers
from marketbrief.pipeline.text import safe_text

YAHOO_URL = "https://feeds.finance.yahoo.com/rss/2.0/headline?s={symbol}&region=US&lang=en-US"
FINNHUB_URL = "https://finnhub.io/api/v1"
DEFAULT_TIMEOUT = 10.0
_SYMBOL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,14}$")
_TAG = re.compile(r"<[^>]+>")
# Encoding complaints leave a feed readable; anything else means the XML itself is broken.
_BENIGN = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)


@dataclass(frozen=True, slots=True)
class Article:
    """One news item; published_at is an aware UTC instant."""

    title: str
    summary: str
    source: str
    url: str | None
    published_at: datetime

    def __post_init__(self) -> None:
        # Whatever provider made it, an article's text is safe to store and serve.
        for name in ("title", "summary", "source"):
            object.__setattr__(self, name, safe_text(getattr(self, name)))
        if self.url is not None:
            object.__setattr__(self, "url", safe_text(self.url))


class NewsProvider(Protocol):
    """Finds the articles about one symbol published in (since, until]."""

    name: str

    async def fetch(self, symbol: str, since: datetime, until: datetime) -> list[Article]:
        """Return the symbol's articles with since < published_at <= until, newest first."""
        ...


@dataclass(frozen=True, slots=True)
class NewsResult:
    """What gather_news found for one symbol and which providers failed or had nothing."""

    symbol: str
    articles: list[Article]
    provider: str | None
    failures: list[dict[str, str]] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)


class DirectoryNews:
    """Replayable news from PATH/<SYMBOL>.json (a JSON array) and PATH/<SYMBOL>.xml (a feed)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = f"dir:{path}"

    async def fetch(self, symbol: str, since: datetime, until: datetime) -> list[Article]:
        """Read the symbol's files; a malformed file raises ProviderError naming it."""
        return await asyncio.to_thread(self._read, safe_symbol(symbol), since, until)

    def _read(self, symbol: str, since: datetime, until: datetime) -> list[Article]:
        articles: list[Article] = []
        # Not with_suffix(): a symbol such as BRK.B already has a "suffix".
        json_file, feed_file = self.path / f"{symbol}.json", self.path / f"{symbol}.xml"
        if json_file.is_file():
            articles += parse_json_items(json_file.read_bytes(), str(json_file), self.name)
        if feed_file.is_file():
            articles += parse_feed(feed_file.read_bytes(), str(feed_file), self.name)
        return window(articles, since, until)


class FeedNews:
    """An RSS or Atom feed per symbol: `{symbol}` in the URL is replaced by the symbol."""

    def __init__(self, url: str, *, name: str | None = None, timeout: float = DEFAULT_TIMEOUT):
        self.url = url
        self.name = name or f"rss:{http.redact(url)}"
        self.timeout = timeout

    async def fetch(self, symbol: str, since: datetime, until: datetime) -> list[Article]:
        """Download and parse the symbol's feed."""
        url = self.url.replace("{symbol}", safe_symbol(symbol))
        body = await http.fetch(url, timeout=self.timeout)
        return window(parse_feed(body, http.redact(url), self.name), since, until)


def yahoo(*, url: str = YAHOO_URL, timeout: float = DEFAULT_TIMEOUT) -> FeedNews:
    """Yahoo Finance's public per-symbol headline feed (no key)."""
    return FeedNews(url, name="yahoo", timeout=timeout)


class FinnhubNews:
    """Finnhub's company-news API (needs a key)."""

    name = "finnhub"

    def __init__(self, key: str, *, base_url: str = FINNHUB_URL, timeout: float = DEFAULT_TIMEOUT):
        self._key = key
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    async def fetch(self, symbol: str, since: datetime, until: datetime) -> list[Article]:
        """Ask for the dates around the window, then keep exactly the window."""
        # The API takes whole dates in an unstated zone: ask a day wider on each side.
        params = {
            "symbol": safe_symbol(symbol).upper(),
            "from": (since.astimezone(UTC).date() - timedelta(days=1)).isoformat(),
            "to": (until.astimezone(UTC).date() + timedelta(days=1)).isoformat(),
            "token": self._key,
        }
        url = f"{self.base_url}/company-news"
        data = await http.fetch_json(url, params=params, timeout=self.timeout)
        if not isinstance(data, list):
            raise ProviderError(f"{http.redact(url)}: expected a JSON array of news items")
        articles = [_finnhub_item(item, i, self.name) for i, item in enumerate(data)]
        return window(articles, since, until)


def providers_from_spec(
    spec: str, *, finnhub_key: str | None, timeout: float = DEFAULT_TIMEOUT
) -> list[NewsProvider]:
    """Parse a MARKETBRIEF_NEWS-style list: `dir:PATH`, `rss:URL`, `yahoo`, `finnhub`."""
    providers: list[NewsProvider] = []
    for entry in parse_providers(spec, "news"):
        if entry.kind == "dir" and entry.arg:
            providers.append(DirectoryNews(entry.directory("news")))
        elif entry.kind == "rss" and entry.arg:
            if not entry.arg.startswith(("http://", "https://")) or "{symbol}" not in entry.arg:
                expected = "expected rss:http(s)://... containing {symbol}"
                raise ConfigError(f"news provider {entry.text!r}: {expected}")
            providers.append(FeedNews(entry.arg, timeout=timeout))
        elif entry.text == "yahoo":
            providers.append(yahoo(timeout=timeout))
        elif entry.text == "finnhub":
            if not finnhub_key:
                raise ConfigError("news provider 'finnhub' needs a Finnhub API key")
            providers.append(FinnhubNews(finnhub_key, timeout=timeout))
        else:
            raise ConfigError(
                f"unknown news provider {entry.text!r}; "
                "expected dir:PATH, rss:URL, yahoo or finnhub"
            )
    return providers


async def gather_news(
    providers: Sequence[NewsProvider],
    symbol: str,
    since: datetime,
    until: datetime,
    *,
    timeout: float,
) -> NewsResult:
    """Try each provider in order under `timeout`; the first with articles wins."""
    if since.utcoffset() is None or until.utcoffset() is None:
        raise ValueError("since and until must be timezone-aware instants")
    found = await first_non_empty(
        providers, lambda p: p.fetch(symbol, since, until), symbol, timeout=timeout
    )
    return NewsResult(symbol, found.items, found.provider, found.failures, found.empty)


def window(articles: list[Article], since: datetime, until: datetime) -> list[Article]:
    """Keep articles with since < published_at <= until, newest first, one per title."""
    seen: set[str] = set()
    kept: list[Article] = []
    for article in sorted(articles, key=lambda a: a.published_at, reverse=True):
        key = article.title.casefold()
        if since < article.published_at <= until and key not in seen:
            seen.add(key)
            kept.append(article)
    return kept


def parse_json_items(body: bytes, where: str, source: str) -> list[Article]:
    """Parse a JSON array of {title, summary?, source?, url?, published_at} items."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ProviderError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(data, list):
        raise ProviderError(f"{where}: expected a JSON array of articles")
    articles = []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise ProviderError(f"{where}: item {i} is not an object")
        published = item.get("published_at")
        try:
            when = datetime.fromisoformat(published) if isinstance(published, str) else None
        except ValueError:
            when = None
        if when is None or when.utcoffset() is None:
            raise ProviderError(
                f"{where}: item {i} published_at must be ISO-8601 with a UTC offset, "
                f"got {published!r}"
            )
        articles.append(_article(item, i, where, source, when.astimezone(UTC)))
    return articles


def parse_feed(body: bytes, where: str, source: str) -> list[Article]:
    """Parse an RSS or Atom feed; entries without a date are skipped (they cannot be placed)."""
    # A stream, never a string: feedparser fetches strings that look like URLs.
    parsed = feedparser.parse(io.BytesIO(body))
    problem = parsed.get("bozo_exception")
    if parsed.get("bozo") and not isinstance(problem, _BENIGN):
        # Strict on purpose: a truncated download would otherwise pass as a shorter feed.
        raise ProviderError(f"{where}: malformed feed ({problem})")
    if not parsed.get("version") and not parsed.entries:
        raise ProviderError(f"{where}: not an RSS or Atom feed")
    feed_title = _text(parsed.feed.get("title")) or source
    articles = []
    for entry in parsed.entries:
        stamp = entry.get("published_parsed") or entry.get("updated_parsed")
        title = _text(entry.get("title"))
        if stamp is None or not title:
            continue
        year, month, day, hour, minute, second = stamp[:6]
        when = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        summary = _text(entry.get("summary"))
        link = entry.get("link")
        url = link if isinstance(link, str) and link else None
        articles.append(Article(title, summary, feed_title, url, when))
    return articles


def _finnhub_item(item: Any, i: int, source: str) -> Article:
    stamp = item.get("datetime") if isinstance(item, dict) else None
    if not isinstance(stamp, int) or isinstance(stamp, bool) or stamp <= 0:
        raise ProviderError(f"finnhub: item {i} has no valid epoch-seconds datetime")
    item = {**item, "title": item.get("headline")}
    return _article(item, i, "finnhub", source, datetime.fromtimestamp(stamp, UTC))


def _article(item: dict[str, Any], i: int, where: str, source: str, when: datetime) -> Article:
    title = item.get("title")
    if not isinstance(title, str) or not title.strip():
        raise ProviderError(f"{where}: item {i} has no title")
    for key in ("summary", "source", "url"):
        if item.get(key) is not None and not isinstance(item[key], str):
            raise ProviderError(f"{where}: item {i} {key} must be a string")
    return Article(
        title=title.strip(),
        summary=_text(item.get("summary")),
        source=item.get("source") or source,
        url=item.get("url") or None,
        published_at=when,
    )


def _text(value: Any) -> str:
    """Plain text from a feed field: tags dropped, entities decoded, spaces collapsed."""
    if not isinstance(value, str):
        return ""
    return " ".join(unescape(_TAG.sub(" ", value)).split())


def safe_symbol(symbol: str) -> str:
    """Return `symbol` if it is a plain ticker, else raise ProviderError.

    The symbol becomes part of a file name or a URL: refuse anything that could escape it.
    """
    if not _SYMBOL.match(symbol):
        raise ProviderError(f"{symbol!r} is not a ticker symbol")
    return symbol
