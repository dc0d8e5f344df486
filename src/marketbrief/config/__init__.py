"""Settings: every MARKETBRIEF_* variable, read once, typed, frozen, and injected from there."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from marketbrief.config.groups import (
    DEFAULT_CLOSE_OFFSET_MINUTES,
    DEFAULT_SLOTS,
    Alerting,
    HttpServing,
    Slots,
)
from marketbrief.config.stores import D1_API_URL, D1_REVISION_CHECK_SECONDS, database_url_of
from marketbrief.errors import ConfigError
from marketbrief.models import ReportType

T = TypeVar("T")

__all__ = [
    "D1_API_URL",
    "D1_REVISION_CHECK_SECONDS",
    "DEFAULT_CLOSE_OFFSET_MINUTES",
    "DEFAULT_SLOTS",
    "LOG_FORMATS",
    "PREFIX",
    "Alerting",
    "HttpServing",
    "Settings",
    "Slots",
]

PREFIX = "MARKETBRIEF_"
LOG_FORMATS = ("human", "json")
DEFAULT_SYMBOLS = ("AAPL", "MSFT", "GOOGL", "TSLA", "NVDA")
_SYMBOL = re.compile(r"^[A-Z][A-Z0-9.\-]{0,9}$")


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting marketbrief reads; build it once with `Settings.from_env()`."""

    database_url: str = "sqlite:///marketbrief.db"
    d1_token: str | None = None
    d1_api_url: str = D1_API_URL
    cache_url: str = "memory://?max_bytes=67108864"
    cache_prefix: str = "marketbrief:"
    cache_ttl_seconds: int = 7 * 24 * 3600
    outbox_dir: Path = Path("marketbrief-outbox")
    store_writes: bool = True
    store_reads: bool = True
    cache_enabled: bool = True
    max_stale_sessions: int = 3
    pending_grace_minutes: int = 30
    write_retry_seconds: float = 2.0
    outbox_replay_seconds: float = 5.0
    revision_check_seconds: float = 1.0  # D1_REVISION_CHECK_SECONDS on a d1:// store
    near_cache_entries: int = 256  # reports kept in memory in front of Redis (results/near.py)
    store_connect_timeout_seconds: float = 3.0
    store_statement_timeout_seconds: float = 30.0
    store_pool_timeout_seconds: float = 2.0
    store_read_timeout_seconds: float = 1.5
    store_breaker_seconds: float = 5.0
    cache_timeout_seconds: float = 1.0
    cache_breaker_seconds: float = 5.0
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    high_confidence: float = 0.4  # chosen from data: docs/calibration.md
    run_timeout_minutes: int = 30
    run_lease_seconds: float = 120.0
    catchup_hours: int = 6
    slots: Slots = field(default_factory=Slots)
    api_key: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    news: str = "yahoo"
    prices: str = "stooq"
    lexicon: str | None = None
    llm_url: str | None = None
    llm_model: str | None = None
    llm_key: str | None = None
    finnhub_key: str | None = None
    provider_timeout_seconds: float = 10.0
    scheduler_enabled: bool = True
    trigger_rate_per_second: float = 1.0
    trigger_burst: int = 10
    log_format: str = "human"  # one line per event, or JSON lines
    http: HttpServing = field(default_factory=HttpServing)
    alerting: Alerting = field(default_factory=Alerting)

    @property
    def public_url(self) -> str:
        """Where people open the dashboard: MARKETBRIEF_PUBLIC_URL, else this server's address."""
        return self.alerting.public_url or f"http://{self.host}:{self.port}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read every MARKETBRIEF_* variable; a bad value raises ConfigError naming the variable."""
        env = os.environ if env is None else env
        reader = _Reader(env)
        defaults = cls()
        database_url = reader.get("DATABASE_URL", database_url_of, defaults.database_url)
        on_d1 = database_url.startswith("d1:")
        d1_token = reader.get("D1_TOKEN", _nonempty, None)
        if on_d1 and d1_token is None:
            raise ConfigError(f"{PREFIX}D1_TOKEN: a d1:// store needs the API token")
        return cls(
            database_url=database_url,
            d1_token=d1_token,
            d1_api_url=reader.get("D1_API_URL", _http_url, defaults.d1_api_url),
            cache_url=reader.get("CACHE_URL", _cache_url, defaults.cache_url),
            cache_prefix=reader.get("CACHE_PREFIX", _nonempty, defaults.cache_prefix),
            cache_ttl_seconds=reader.get(
                "CACHE_TTL_SECONDS", _positive_int, defaults.cache_ttl_seconds
            ),
            outbox_dir=reader.get("OUTBOX_DIR", lambda v: Path(_nonempty(v)), defaults.outbox_dir),
            store_writes=reader.get("STORE_WRITES", _switch, defaults.store_writes),
            store_reads=reader.get("STORE_READS", _switch, defaults.store_reads),
            cache_enabled=reader.get("CACHE", _switch, defaults.cache_enabled),
            max_stale_sessions=reader.get(
                "MAX_STALE_SESSIONS", _non_negative_int, defaults.max_stale_sessions
            ),
            pending_grace_minutes=reader.get(
                "PENDING_GRACE_MINUTES", _non_negative_int, defaults.pending_grace_minutes
            ),
            write_retry_seconds=reader.get(
                "WRITE_RETRY_SECONDS", _non_negative_float, defaults.write_retry_seconds
            ),
            outbox_replay_seconds=reader.get(
                "OUTBOX_REPLAY_SECONDS", _positive_float, defaults.outbox_replay_seconds
            ),
            revision_check_seconds=reader.get(
                "REVISION_CHECK_SECONDS",
                _non_negative_float,
                D1_REVISION_CHECK_SECONDS if on_d1 else defaults.revision_check_seconds,
            ),
            near_cache_entries=reader.get(
                "NEAR_CACHE_ENTRIES", _non_negative_int, defaults.near_cache_entries
            ),
            store_connect_timeout_seconds=reader.get(
                "STORE_CONNECT_TIMEOUT_SECONDS",
                _positive_float,
                defaults.store_connect_timeout_seconds,
            ),
            store_statement_timeout_seconds=reader.get(
                "STORE_STATEMENT_TIMEOUT_SECONDS",
                _positive_float,
                defaults.store_statement_timeout_seconds,
            ),
            store_pool_timeout_seconds=reader.get(
                "STORE_POOL_TIMEOUT_SECONDS", _positive_float, defaults.store_pool_timeout_seconds
            ),
            store_read_timeout_seconds=reader.get(
                "STORE_READ_TIMEOUT_SECONDS", _positive_float, defaults.store_read_timeout_seconds
            ),
            store_breaker_seconds=reader.get(
                "STORE_BREAKER_SECONDS", _positive_float, defaults.store_breaker_seconds
            ),
            cache_timeout_seconds=reader.get(
                "CACHE_TIMEOUT_SECONDS", _positive_float, defaults.cache_timeout_seconds
            ),
            cache_breaker_seconds=reader.get(
                "CACHE_BREAKER_SECONDS", _positive_float, defaults.cache_breaker_seconds
            ),
            symbols=reader.get("SYMBOLS", _symbols, defaults.symbols),
            high_confidence=reader.get("HIGH_CONFIDENCE", _fraction, defaults.high_confidence),
            run_timeout_minutes=reader.get(
                "RUN_TIMEOUT", _positive_int, defaults.run_timeout_minutes
            ),
            run_lease_seconds=reader.get(
                "RUN_LEASE_SECONDS", _positive_float, defaults.run_lease_seconds
            ),
            catchup_hours=reader.get("CATCHUP_HOURS", _non_negative_int, defaults.catchup_hours),
            slots=Slots(
                pre_market=reader.get("SLOT_PRE_MARKET", _clock, defaults.slots.pre_market),
                intraday=reader.get("SLOT_INTRADAY", _clock, defaults.slots.intraday),
                weekly=reader.get("SLOT_WEEKLY", _clock, defaults.slots.weekly),
                close_offset_minutes=reader.get(
                    "SLOT_CLOSE_OFFSET_MINUTES",
                    _non_negative_int,
                    defaults.slots.close_offset_minutes,
                ),
            ),
            api_key=reader.get("API_KEY", _api_key, None),
            host=reader.get("HOST", _nonempty, defaults.host),
            port=reader.get("PORT", _port, defaults.port),
            news=reader.get("NEWS", _provider_list, defaults.news),
            prices=reader.get("PRICES", _provider_list, defaults.prices),
            lexicon=reader.get("LEXICON", _nonempty, None),
            llm_url=reader.get("LLM_URL", _http_url, None),
            llm_model=reader.get("LLM_MODEL", _nonempty, None),
            llm_key=reader.get("LLM_KEY", _nonempty, None),
            finnhub_key=reader.get("FINNHUB_KEY", _nonempty, None),
            scheduler_enabled=reader.get("SCHEDULER", _switch, defaults.scheduler_enabled),
            trigger_rate_per_second=reader.get(
                "TRIGGER_RATE", _positive_float, defaults.trigger_rate_per_second
            ),
            trigger_burst=reader.get("TRIGGER_BURST", _positive_int, defaults.trigger_burst),
            provider_timeout_seconds=reader.get(
                "PROVIDER_TIMEOUT_SECONDS", _positive_float, defaults.provider_timeout_seconds
            ),
            log_format=reader.get("LOG_FORMAT", _log_format, defaults.log_format),
            http=HttpServing(
                header_timeout_seconds=reader.get(
                    "HTTP_HEADER_TIMEOUT_SECONDS",
                    _positive_float,
                    defaults.http.header_timeout_seconds,
                ),
                keep_alive_seconds=reader.get(
                    "HTTP_KEEP_ALIVE_SECONDS", _positive_int, defaults.http.keep_alive_seconds
                ),
                max_connections=reader.get(
                    "HTTP_MAX_CONNECTIONS", _positive_int, defaults.http.max_connections
                ),
                access_log=reader.get("ACCESS_LOG", _switch, defaults.http.access_log),
                log_throttle_seconds=reader.get(
                    "LOG_THROTTLE_SECONDS", _positive_float, defaults.http.log_throttle_seconds
                ),
            ),
            alerting=Alerting(
                notify=reader.get("NOTIFY", _channel_urls, (), secret=True),
                repeat_minutes=reader.get(
                    "NOTIFY_REPEAT_MINUTES", _positive_int, defaults.alerting.repeat_minutes
                ),
                public_url=reader.get("PUBLIC_URL", _public_url, None),
                watch_seconds=reader.get(
                    "WATCH_SECONDS", _positive_float, defaults.alerting.watch_seconds
                ),
                outbox_minutes=reader.get(
                    "ALERT_OUTBOX_MINUTES", _positive_int, defaults.alerting.outbox_minutes
                ),
                stale_minutes=reader.get(
                    "ALERT_STALE_MINUTES", _positive_int, defaults.alerting.stale_minutes
                ),
                deliver=reader.get("DELIVER", _channel_urls, (), secret=True),
                deliver_types=reader.get(
                    "DELIVER_TYPES", _report_types, defaults.alerting.deliver_types
                ),
                auto_rollback=reader.get("AUTO_ROLLBACK", _switch, defaults.alerting.auto_rollback),
            ),
        )


class _Reader:
    """Parses one variable at a time and names it when the value is bad."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def get(self, name: str, parse: Callable[[str], T], default: T, *, secret: bool = False) -> T:
        raw = self._env.get(PREFIX + name)
        if raw is None or raw.strip() == "":
            return default
        try:
            return parse(raw.strip())
        except (ValueError, TypeError) as exc:
            # A value that may hold credentials (channel URLs) is never echoed.
            shown = PREFIX + name if secret else f"{PREFIX}{name}={raw!r}"
            raise ConfigError(f"{shown} is invalid: {exc}") from None


def _nonempty(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    return value


def _cache_url(value: str) -> str:
    if urlsplit(value).scheme not in ("memory", "redis", "rediss"):
        raise ValueError("expected memory://?max_bytes=N or redis://HOST:PORT/DB")
    return value


def _switch(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("on", "true", "1", "yes"):
        return True
    if lowered in ("off", "false", "0", "no"):
        return False
    raise ValueError("expected on or off")


def _positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError("must be a positive whole number")
    return number


def _non_negative_int(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError("must be zero or a positive whole number")
    return number


def _positive_float(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise ValueError("must be a positive number")
    return number


def _non_negative_float(value: str) -> float:
    number = float(value)
    if not number >= 0:
        raise ValueError("must be zero or a positive number")
    return number


def _fraction(value: str) -> float:
    number = float(value)
    if not 0 <= number <= 1:
        raise ValueError("must be between 0 and 1")
    return number


def _symbols(value: str) -> tuple[str, ...]:
    symbols = tuple(dict.fromkeys(s.strip().upper() for s in value.split(",") if s.strip()))
    if not symbols:
        raise ValueError("must name at least one symbol")
    for symbol in symbols:
        if not _SYMBOL.match(symbol):
            raise ValueError(f"{symbol!r} is not a ticker symbol")
    return symbols


def _clock(value: str) -> time:
    hours, _, minutes = value.partition(":")
    parsed = time(int(hours), int(minutes))
    return parsed


def _provider_list(value: str) -> str:
    if not [item for item in value.split(",") if item.strip()]:
        raise ValueError("must name at least one provider")
    return value


def _log_format(value: str) -> str:
    if value.lower() not in LOG_FORMATS:
        raise ValueError(f"expected {' or '.join(LOG_FORMATS)}")
    return value.lower()


def _http_url(value: str) -> str:
    if urlsplit(value).scheme not in ("http", "https"):
        raise ValueError("expected an http:// or https:// URL")
    return value


def _api_key(value: str) -> str:
    if len(value) < 16:
        raise ValueError("must be at least 16 characters")
    return value


def _port(value: str) -> int:
    number = int(value)
    if not 0 < number < 65536:
        raise ValueError("must be a TCP port (1-65535)")
    return number


def _channel_urls(value: str) -> tuple[str, ...]:
    urls = tuple(dict.fromkeys(u.strip() for u in value.split(",") if u.strip()))
    if not urls:
        raise ValueError("must name at least one channel URL")
    import apprise  # only when channels are configured: the library takes a while to load

    for number, url in enumerate(urls, 1):
        if apprise.Apprise.instantiate(url) is None:
            scheme = urlsplit(url).scheme or "(none)"
            raise ValueError(
                f"channel {number} (scheme {scheme}) is not a notification URL Apprise can "
                "send to, e.g. json://HOST:PORT/PATH, mailto://HOST:PORT?from=A&to=B"
            )
    return urls


def _report_types(value: str) -> tuple[str, ...]:
    valid = tuple(t.value for t in ReportType)
    types = tuple(dict.fromkeys(t.strip() for t in value.split(",") if t.strip()))
    if not types or any(t not in valid for t in types):
        raise ValueError(f"must list report types among {', '.join(valid)}")
    return types


def _public_url(value: str) -> str:
    return _http_url(value).rstrip("/")
