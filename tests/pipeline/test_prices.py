"""Daily closes from CSV files and from a Stooq-shaped loopback server: never a guessed number."""

from __future__ import annotations

from datetime import date

import pytest

from marketbrief.errors import ConfigError, ProviderError
from marketbrief.pipeline.prices import (
    Close,
    DirectoryPrices,
    PriceProvider,
    StooqPrices,
    first_closes,
    parse_csv,
    price_providers_from_spec,
)
from tests.support.loopback import Loopback
from tests.support.paths import DATA

JAN_2, JAN_7 = date(2025, 1, 2), date(2025, 1, 7)


async def test_directory_closes_carry_the_previous_close_and_percent_change() -> None:
    closes = await DirectoryPrices(DATA / "prices").closes("AAPL", JAN_2, JAN_7)
    assert [c.close_date for c in closes] == [
        date(2025, 1, 2),
        date(2025, 1, 3),
        date(2025, 1, 6),
        date(2025, 1, 7),
    ]
    first = closes[0]
    # The row before the range still supplies the first previous close.
    assert (first.close, first.previous_close) == (243.85, 250.42)
    assert first.change_pct == pytest.approx((243.85 - 250.42) / 250.42 * 100)
    assert closes[-1].previous_close == 245.00
    assert all(c.source == f"dir:{DATA / 'prices'}" and c.symbol == "AAPL" for c in closes)


async def test_the_first_row_of_the_data_has_no_previous_close() -> None:
    closes = await DirectoryPrices(DATA / "prices").closes("AAPL", date(2024, 12, 1), JAN_2)
    assert closes[0] == Close("AAPL", date(2024, 12, 31), 250.42, None, None, closes[0].source)


async def test_a_symbol_without_a_file_has_no_closes() -> None:
    assert await DirectoryPrices(DATA / "prices").closes("MSFT", JAN_2, JAN_7) == []


async def test_a_day_without_a_row_is_absent_not_filled() -> None:
    closes = await DirectoryPrices(DATA / "prices").closes(
        "AAPL", date(2025, 1, 4), date(2025, 1, 5)
    )
    assert closes == []


@pytest.mark.parametrize(
    ("symbol", "problem"),
    [
        ("AAPL", "line 4: could not convert string to float"),
        ("MSFT", "line 1: expected header Date,Open,High,Low,Close,Volume"),
        ("NVDA", "line 3: 2025-01-02 is not after 2025-01-03"),
    ],
)
async def test_a_malformed_csv_names_the_line(symbol: str, problem: str) -> None:
    with pytest.raises(ProviderError, match=problem):
        await DirectoryPrices(DATA / "prices_bad").closes(symbol, JAN_2, JAN_7)


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("2025-01-02,1,1,1,1", "expected 6 fields, got 5"),
        ("2025/01/02,1,1,1,1,1", "Invalid isoformat"),
        ("2025-01-02,1,1,1,-3,1", "close must be a positive number"),
        ("2025-01-02,1,1,1,nan,1", "close must be a positive number"),
    ],
)
def test_bad_rows_are_errors_never_skipped(row: str, problem: str) -> None:
    body = f"Date,Open,High,Low,Close,Volume\n{row}\n".encode()
    with pytest.raises(ProviderError, match=f"line 2: .*{problem}"):
        parse_csv(body, "X", "test", "X.csv")


def test_blank_lines_and_a_byte_order_mark_are_tolerated() -> None:
    body = b"\xef\xbb\xbfDate,Open,High,Low,Close,Volume\n2025-01-02,1,1,1,10,1\n\n"
    assert [c.close for c in parse_csv(body, "X", "test", "X.csv")] == [10.0]


async def test_stooq_downloads_the_us_listing_with_a_look_back(loopback: Loopback) -> None:
    loopback.serve_file("/q/d/l/", "feeds/stooq_spy.csv", content_type="text/csv")
    closes = await StooqPrices(base_url=loopback.url("/q/d/l/")).closes("SPY", JAN_7, JAN_7)
    assert loopback.seen[0].query == {
        "s": ["spy.us"],
        "i": ["d"],
        "d1": ["20241224"],
        "d2": ["20250107"],
    }
    assert closes == [Close("SPY", JAN_7, 588.63, 595.36, closes[0].change_pct, "stooq")]
    assert closes[0].change_pct == pytest.approx((588.63 - 595.36) / 595.36 * 100)


async def test_stooq_no_data_means_no_closes(loopback: Loopback) -> None:
    loopback.serve("/q/d/l/", b"No data")
    stooq = StooqPrices(base_url=loopback.url("/q/d/l/"))
    assert await stooq.closes("BRK.B", JAN_2, JAN_7) == []
    assert loopback.seen[0].query["s"] == ["brk-b.us"]


async def test_stooq_errors_are_provider_errors(loopback: Loopback) -> None:
    loopback.serve("/q/d/l/", b"Exceeded the daily hits limit")
    with pytest.raises(ProviderError, match="line 1: expected header"):
        await StooqPrices(base_url=loopback.url("/q/d/l/")).closes("SPY", JAN_2, JAN_7)
    loopback.serve("/q/d/l/", b"", status=500)
    with pytest.raises(ProviderError, match="HTTP 500"):
        await StooqPrices(base_url=loopback.url("/q/d/l/")).closes("SPY", JAN_2, JAN_7)


async def test_first_closes_records_failures_and_falls_through(loopback: Loopback) -> None:
    loopback.serve("/slow", b"", delay=60)  # stalls until the test ends
    slow = StooqPrices(base_url=loopback.url("/slow"))
    providers: list[PriceProvider] = [
        slow,
        DirectoryPrices(DATA / "prices_bad"),
        DirectoryPrices(DATA / "prices"),
    ]
    closes, failures = await first_closes(providers, "AAPL", JAN_2, JAN_7, timeout=2.0)
    assert len(closes) == 4
    assert [(f["provider"], f["symbol"]) for f in failures] == [
        ("stooq", "AAPL"),
        (f"dir:{DATA / 'prices_bad'}", "AAPL"),
    ]
    assert failures[0]["reason"] == "timed out after 2s"
    assert "line 4" in failures[1]["reason"]


def test_price_spec_builds_providers_and_refuses_unknown_ones() -> None:
    providers = price_providers_from_spec(f"dir:{DATA / 'prices'},stooq")
    assert [p.name for p in providers] == [f"dir:{DATA / 'prices'}", "stooq"]
    with pytest.raises(ConfigError, match="unknown price provider 'yahoo'"):
        price_providers_from_spec("yahoo")
    with pytest.raises(ConfigError, match="names no provider"):
        price_providers_from_spec(" , ")
