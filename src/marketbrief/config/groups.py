"""The nested groups of `Settings` (slots, HTTP serving, alerting): plain typed data.

`marketbrief.config` parses the environment into them and re-exports them (a package so
that the settings keep to one noun at the top level and to small modules).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

from marketbrief.models import ReportType

DEFAULT_SLOTS: dict[ReportType, time] = {
    ReportType.PRE_MARKET: time(8, 30),
    ReportType.INTRADAY: time(12, 0),
    ReportType.WEEKLY: time(10, 0),
}
DEFAULT_CLOSE_OFFSET_MINUTES = 5


@dataclass(frozen=True, slots=True)
class Slots:
    """Report slot times in New York; end-of-day is the session's close plus an offset."""

    pre_market: time = DEFAULT_SLOTS[ReportType.PRE_MARKET]
    intraday: time = DEFAULT_SLOTS[ReportType.INTRADAY]
    weekly: time = DEFAULT_SLOTS[ReportType.WEEKLY]
    close_offset_minutes: int = DEFAULT_CLOSE_OFFSET_MINUTES


@dataclass(frozen=True, slots=True)
class HttpServing:
    """How `serve` bounds its connections and what it logs."""

    header_timeout_seconds: float = 10.0
    keep_alive_seconds: int = 5
    max_connections: int = 1000
    access_log: bool = False
    log_throttle_seconds: float = 10.0


@dataclass(frozen=True, slots=True)
class Alerting:
    """Who is told when the service watches itself and finds something wrong, and when."""

    notify: tuple[str, ...] = ()
    repeat_minutes: int = 60
    public_url: str | None = None
    watch_seconds: float = 60.0
    outbox_minutes: int = 15
    stale_minutes: int = 60
    deliver: tuple[str, ...] = ()  # reports sent once when published fresh, and which types
    deliver_types: tuple[str, ...] = ("pre-market", "end-of-day")
    auto_rollback: bool = False  # a crossed rollback trigger turns store reads off
