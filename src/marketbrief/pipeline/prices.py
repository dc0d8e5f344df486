"""Daily closes: the providers that have them, parsed from `Date,Open,High,Low,Close,Volume` CSV.

previous_close and change_pct (percent) come from the row before in the same data, and are None
for its first row. No number is ever made up: a day with no row has no Close, and a malformed
row is a ProviderError naming its line, never a skipped or guessed value.
"""

from __future__ import annotations

import asyncio
import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Protocol

from marketbrief.errors import ConfigError, ProviderError
from marketbrief.pipeline import http
from marketbrief.pipeline.fallback import first_non_empty
from marketbrief.pipeline.news import safe_symbol
from marketbrief.pipeline.specs import parse_providers

STOOQ_URL = "https://stooq.com/q/d/l/"
DEFAULT_TIMEOUT = 10.0
HEADER = ["Date", "Open", "High", "Low", "Close", "Volume"]
# Enough calendar days before `start` to hold the previous session, even around long closures.
_LOOKBACK = timedelta(days=14)


@dataclass(frozen=True, slots=True)
class Close:
    """One symbol's close on one session; change_pct is in percent (1.5 means +1.5%)."""

    symbol: str
    close_date: date
    close: float
    previous_close: float | None
    change_pct: float | None
    source: str


class PriceProvider(Protocol):
    """Finds a symbol's daily closes."""

    name: str

    async def closes(self, symbol: str, start: date, end: date) -> list[Close]:
        """Return the closes with start <= close_date <= end, oldest first."""
        ...


class DirectoryPrices:
    """Replayable closes from PATH/<SYMBOL>.csv; a missing file means no closes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = f"dir:{path}"

    async def closes(self, symbol: str, start: date, end: date) -> list[Close]:
        """Read and parse the symbol's CSV file."""
        file = self.path / f"{safe_symbol(symbol)}.csv"
        body = await asyncio.to_thread(_read_if_present, file)
        if body is None:
            return []
        return between(parse_csv(body, symbol, self.name, str(file)), start, end)


class StooqPrices:
    """Stooq's keyless daily CSV download (US listings: `<symbol>.us`)."""

    name = "stooq"

    def __init__(self, *, base_url: str = STOOQ_URL, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.base_url = base_url
        self.timeout = timeout

    async def closes(self, symbol: str, start: date, end: date) -> list[Close]:
        """Download the range (plus a look-back for the first previous close) and parse it."""
        ticker = safe_symbol(symbol).lower().replace(".", "-") + ".us"
        params = {
            "s": ticker,
            "i": "d",
            "d1": (start - _LOOKBACK).strftime("%Y%m%d"),
            "d2": end.strftime("%Y%m%d"),
        }
        body = await http.fetch(self.base_url, params=params, timeout=self.timeout)
        if body.strip() in (b"", b"No data"):
            return []
        return between(parse_csv(body, symbol, self.name, f"stooq {ticker}"), start, end)


def parse_csv(body: bytes, symbol: str, source: str, where: str) -> list[Close]:
    """Parse daily OHLCV CSV into Closes, oldest first; a bad row names its line."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ProviderError(f"{where}: not UTF-8 text ({exc})") from None
    rows = csv.reader(io.StringIO(text))
    header = [cell.strip() for cell in next(rows, [])]
    if header != HEADER:
        raise ProviderError(f"{where} line 1: expected header {','.join(HEADER)}, got {header}")
    closes: list[Close] = []
    previous: Close | None = None
    for row in rows:
        line = rows.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(HEADER):
            raise ProviderError(f"{where} line {line}: expected 6 fields, got {len(row)}")
        try:
            day = date.fromisoformat(row[0].strip())
            value = float(row[4])
        except ValueError as exc:
            raise ProviderError(f"{where} line {line}: {exc}") from None
        if not math.isfinite(value) or value <= 0:
            raise ProviderError(f"{where} line {line}: close must be a positive number")
        if previous is not None and day <= previous.close_date:
            raise ProviderError(f"{where} line {line}: {day} is not after {previous.close_date}")
        prior = previous.close if previous else None
        change = (value - prior) / prior * 100 if prior else None
        previous = Close(symbol, day, value, prior, change, source)
        closes.append(previous)
    return closes


def between(closes: list[Close], start: date, end: date) -> list[Close]:
    """Keep closes with start <= close_date <= end."""
    return [c for c in closes if start <= c.close_date <= end]


def price_providers_from_spec(
    spec: str, *, timeout: float = DEFAULT_TIMEOUT
) -> list[PriceProvider]:
    """Parse a comma-separated list of price providers: `dir:PATH`, `stooq`."""
    providers: list[PriceProvider] = []
    for entry in parse_providers(spec, "price"):
        if entry.kind == "dir" and entry.arg:
            providers.append(DirectoryPrices(entry.directory("price")))
        elif entry.text == "stooq":
            providers.append(StooqPrices(timeout=timeout))
        else:
            raise ConfigError(f"unknown price provider {entry.text!r}; expected dir:PATH or stooq")
    return providers


async def first_closes(
    providers: Sequence[PriceProvider], symbol: str, start: date, end: date, *, timeout: float
) -> tuple[list[Close], list[dict[str, str]]]:
    """Try providers in order under `timeout`; the first with closes wins; failures recorded."""
    found = await first_non_empty(
        providers, lambda p: p.closes(symbol, start, end), symbol, timeout=timeout
    )
    return found.items, found.failures


def _read_if_present(file: Path) -> bytes | None:
    try:
        return file.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ProviderError(f"{file}: {exc}") from None
