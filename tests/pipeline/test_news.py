"""News providers, gathering and the outbound-HTTP module, against files and a loopback server.

Nothing here leaves the machine: remote providers are pointed at a ThreadingHTTPServer on
127.0.0.1 that serves the recorded-looking files under tests/data (the `loopback` fixture of
tests/support/loopback.py, also used by the sentiment, price and LLM run tests).
"""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime

import pytest

from marketbrief.errors import ConfigError, ProviderError
from marketbrief.pipeline import http
from marketbrief.pipeline.news import (
    Article,
    DirectoryNews,
    FeedNews,
    FinnhubNews,
    NewsProvider,
    gather_news,
    providers_from_spec,
    yahoo,
)
from tests.support.loopback import Loopback
from tests.support.paths import DATA, SINCE, UNTIL


def _titles(articles: list[Article]) -> list[str]:
    return [a.title for a in articles]


# --- marketbrief.pipeline.http ---------------------------------------------------------


async def test_fetch_returns_the_body_and_identifies_marketbrief(loopback: Loopback) -> None:
    url = loopback.serve("/ok", b"hello")
    assert await http.fetch(url, params={"a": "1"}, timeout=2) == b"hello"
    assert loopback.seen[0].headers["user-agent"].startswith("marketbrief/")
    assert loopback.seen[0].query == {"a": ["1"]}


async def test_fetch_turns_http_500_into_a_provider_error_naming_the_status(
    loopback: Loopback,
) -> None:
    url = loopback.serve("/boom", b"oops", status=500)
    with pytest.raises(ProviderError, match="HTTP 500"):
        await http.fetch(url, timeout=2)


async def test_fetch_gives_up_at_its_timeout(loopback: Loopback) -> None:
    url = loopback.serve("/slow", b"late", delay=60)  # stalls until the test ends
    with pytest.raises(ProviderError, match=r"timed out after 1s"):
        await http.fetch(url, timeout=1.0)


async def test_fetch_reports_a_refused_connection() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ProviderError, match=f"127.0.0.1:{port}"):
        await http.fetch(f"http://127.0.0.1:{port}/x", timeout=2)


@pytest.mark.parametrize("send_length", [True, False])
async def test_fetch_refuses_a_body_over_the_size_cap(
    loopback: Loopback, send_length: bool
) -> None:
    url = loopback.serve("/big", b"x" * 5000, send_length=send_length)
    with pytest.raises(ProviderError, match="exceeds 1000 bytes"):
        await http.fetch(url, timeout=2, max_bytes=1000)


async def test_errors_never_carry_the_query_string_where_keys_live(loopback: Loopback) -> None:
    url = loopback.serve("/secret", b"no", status=403)
    with pytest.raises(ProviderError) as caught:
        await http.fetch(url, params={"token": "sekrit-key"}, timeout=2)
    assert "sekrit-key" not in str(caught.value)


async def test_fetch_json_refuses_a_body_that_is_not_json(loopback: Loopback) -> None:
    url = loopback.serve("/html", b"<html>rate limited</html>")
    with pytest.raises(ProviderError, match="not JSON"):
        await http.fetch_json(url, timeout=2)


# --- providers --------------------------------------------------------------------------------


async def test_directory_json_keeps_only_what_was_knowable_at_the_run() -> None:
    articles = await DirectoryNews(DATA / "news").fetch("AAPL", SINCE, UNTIL)
    assert _titles(articles) == [
        "Apple to hold annual developer conference June 10",  # exactly at `until`: kept
        "Apple shares jump after iPhone sales top Wall Street estimates",
        "Apple raises dividend by 4% and expands buyback",  # -05:00 offset, converted
    ]
    assert all(a.published_at.tzinfo is UTC for a in articles)
    assert articles[2].published_at == datetime(2025, 1, 7, 2, 15, tzinfo=UTC)
    assert articles[2].source == f"dir:{DATA / 'news'}"  # no source given: the provider


async def test_directory_rss_feed_is_parsed_windowed_and_stripped_of_markup() -> None:
    articles = await DirectoryNews(DATA / "news").fetch("MSFT", SINCE, UNTIL)
    assert _titles(articles) == [
        "Microsoft beats quarterly profit expectations as Azure growth accelerates",
        "Microsoft shares trade in narrow range ahead of Fed minutes",
    ]
    assert articles[0].summary == "Cloud revenue rose 31% & margins widened."
    assert articles[0].source == "Replay Markets: MSFT"
    assert articles[1].published_at == datetime(2025, 1, 7, 1, 40, tzinfo=UTC)


async def test_directory_atom_feed_uses_published_then_updated_dates() -> None:
    articles = await DirectoryNews(DATA / "news").fetch("NVDA", SINCE, UNTIL)
    assert _titles(articles) == [
        "Nvidia raises full-year revenue forecast on surging data-center demand",
        "Nvidia falls after U.S. tightens export curbs on AI chips to China",
    ]
    assert articles[1].published_at == datetime(2025, 1, 6, 21, 0, tzinfo=UTC)


async def test_directory_without_the_symbols_file_has_no_articles() -> None:
    assert await DirectoryNews(DATA / "news").fetch("GOOGL", SINCE, UNTIL) == []


@pytest.mark.parametrize(
    ("symbol", "problem"),
    [
        ("AAPL", "item 1 published_at must be ISO-8601 with a UTC offset"),
        ("TSLA", "malformed feed"),
        ("MSFT", "expected a JSON array"),
    ],
)
async def test_malformed_directory_files_raise_provider_errors_naming_the_file(
    symbol: str, problem: str
) -> None:
    with pytest.raises(ProviderError, match=problem) as caught:
        await DirectoryNews(DATA / "news_bad").fetch(symbol, SINCE, UNTIL)
    assert symbol in str(caught.value)


async def test_a_symbol_cannot_escape_the_news_directory() -> None:
    with pytest.raises(ProviderError, match="not a ticker"):
        await DirectoryNews(DATA / "news").fetch("../news/AAPL", SINCE, UNTIL)


async def test_rss_provider_puts_the_symbol_in_the_url(loopback: Loopback) -> None:
    loopback.serve_file("/feeds/AAPL.rss", "feeds/yahoo_AAPL.xml")
    provider = FeedNews(loopback.url("/feeds/{symbol}.rss"))
    articles = await provider.fetch("AAPL", SINCE, UNTIL)
    assert provider.name == f"rss:{loopback.url('/feeds/{symbol}.rss')}"
    assert _titles(articles) == [
        "Apple shares jump after iPhone sales top Wall Street estimates",
        "Apple to hold annual developer conference June 10",
    ]
    assert articles[0].url is not None
    assert articles[0].url.startswith("https://finance.yahoo.com/news/")


async def test_yahoo_asks_for_the_symbols_headline_feed(loopback: Loopback) -> None:
    loopback.serve_file("/rss/2.0/headline", "feeds/yahoo_AAPL.xml")
    provider = yahoo(url=loopback.url("/rss/2.0/headline?s={symbol}&region=US&lang=en-US"))
    articles = await provider.fetch("AAPL", SINCE, UNTIL)
    assert provider.name == "yahoo"
    assert loopback.seen[0].query == {"s": ["AAPL"], "region": ["US"], "lang": ["en-US"]}
    assert "Apple shares slide as China iPhone sales plunge" not in _titles(articles)
    assert len(articles) == 2


async def test_finnhub_asks_a_day_wider_and_keeps_exactly_the_window(loopback: Loopback) -> None:
    loopback.serve_file("/api/v1/company-news", "feeds/finnhub_AAPL.json")
    provider = FinnhubNews("test-key", base_url=loopback.url("/api/v1"))
    articles = await provider.fetch("aapl", SINCE, UNTIL)
    assert loopback.seen[0].query == {
        "symbol": ["AAPL"],
        "from": ["2025-01-05"],
        "to": ["2025-01-08"],
        "token": ["test-key"],
    }
    assert _titles(articles) == [
        "Apple shares jump after iPhone sales top Wall Street estimates",
        "Apple raises dividend by 4% and expands buyback",
    ]
    assert articles[0].source == "Yahoo"
    assert articles[1].summary == ""


async def test_finnhub_item_without_a_datetime_is_a_provider_error(loopback: Loopback) -> None:
    loopback.serve("/api/v1/company-news", json.dumps([{"headline": "No time"}]))
    provider = FinnhubNews("k", base_url=loopback.url("/api/v1"))
    with pytest.raises(ProviderError, match="item 0 has no valid epoch-seconds datetime"):
        await provider.fetch("AAPL", SINCE, UNTIL)


# --- gather_news ------------------------------------------------------------------------------


class _Counting:
    """A provider that records its calls and answers a fixed list."""

    def __init__(self, name: str, articles: list[Article]) -> None:
        self.name = name
        self.articles = articles
        self.calls = 0

    async def fetch(self, symbol: str, since: datetime, until: datetime) -> list[Article]:
        self.calls += 1
        return self.articles


async def test_first_non_empty_provider_wins_and_later_ones_are_never_asked(
    loopback: Loopback,
) -> None:
    loopback.serve("/down/AAPL.xml", b"", status=500)
    failing = FeedNews(loopback.url("/down/{symbol}.xml"))
    empty = DirectoryNews(DATA / "prices")  # a real directory with no news files in it
    winner = DirectoryNews(DATA / "news")
    later = _Counting("later", [])
    providers: list[NewsProvider] = [failing, empty, winner, later]

    result = await gather_news(providers, "AAPL", SINCE, UNTIL, timeout=2)

    assert result.provider == winner.name
    assert len(result.articles) == 3
    assert result.empty == [empty.name]
    assert result.failures == [
        {"provider": failing.name, "symbol": "AAPL", "reason": result.failures[0]["reason"]}
    ]
    assert "HTTP 500" in result.failures[0]["reason"]
    assert later.calls == 0


async def test_every_failure_is_recorded_with_provider_symbol_and_reason(
    loopback: Loopback,
) -> None:
    loopback.serve("/slow/TSLA.xml", b"<rss/>", delay=60)  # stalls until the test ends
    loopback.serve("/api/v1/company-news", b"[]")
    slow = FeedNews(loopback.url("/slow/{symbol}.xml"))
    bad = DirectoryNews(DATA / "news_bad")
    finnhub = FinnhubNews("k", base_url=loopback.url("/api/v1"))

    result = await gather_news([slow, bad, finnhub], "TSLA", SINCE, UNTIL, timeout=2.0)

    assert result.articles == []
    assert result.provider is None
    assert [f["provider"] for f in result.failures] == [slow.name, bad.name]
    assert all(f["symbol"] == "TSLA" for f in result.failures)
    assert result.failures[0]["reason"] == "timed out after 2s"
    assert "malformed feed" in result.failures[1]["reason"]
    assert result.empty == ["finnhub"]  # answered, with nothing: not a failure


async def test_a_provider_bug_is_recorded_not_raised() -> None:
    class Broken:
        name = "broken"

        async def fetch(self, symbol: str, since: datetime, until: datetime) -> list[Article]:
            raise KeyError("headline")

    result = await gather_news([Broken()], "AAPL", SINCE, UNTIL, timeout=1)
    assert result.failures == [
        {"provider": "broken", "symbol": "AAPL", "reason": "unexpected KeyError: 'headline'"}
    ]


async def test_an_article_after_until_never_appears_whatever_the_provider(
    loopback: Loopback,
) -> None:
    loopback.serve_file("/api/v1/company-news", "feeds/finnhub_AAPL.json")
    loopback.serve_file("/y", "feeds/yahoo_AAPL.xml")
    providers: list[NewsProvider] = [
        DirectoryNews(DATA / "news"),
        yahoo(url=loopback.url("/y?s={symbol}")),
        FinnhubNews("k", base_url=loopback.url("/api/v1")),
    ]
    for provider in providers:
        result = await gather_news([provider], "AAPL", SINCE, UNTIL, timeout=2)
        assert result.articles
        assert all(SINCE < a.published_at <= UNTIL for a in result.articles)


# --- providers_from_spec ----------------------------------------------------------------------


def test_spec_builds_providers_in_the_order_given() -> None:
    spec = f"dir:{DATA / 'news'}, rss:https://feeds.example/{{symbol}}.xml ,yahoo,finnhub"
    providers = providers_from_spec(spec, finnhub_key="k")
    assert [p.name for p in providers] == [
        f"dir:{DATA / 'news'}",
        "rss:https://feeds.example/{symbol}.xml",
        "yahoo",
        "finnhub",
    ]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "names no provider"),
        ("bloomberg", "unknown news provider 'bloomberg'"),
        ("dir:/no/such/folder", "/no/such/folder is not a directory"),
        ("rss:https://feeds.example/all.xml", "containing {symbol}"),
        ("rss:ftp://feeds.example/{symbol}", "expected rss:http"),
        ("yahoo,finnhub", "'finnhub' needs a Finnhub API key"),
    ],
)
def test_a_bad_spec_is_a_config_error_naming_the_problem(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        providers_from_spec(spec, finnhub_key=None)


async def test_a_window_without_time_zones_is_refused_before_any_provider_runs() -> None:
    provider = _Counting("any", [])
    with pytest.raises(ValueError, match="timezone-aware"):
        await gather_news([provider], "AAPL", SINCE.replace(tzinfo=None), UNTIL, timeout=1)
    assert provider.calls == 0
