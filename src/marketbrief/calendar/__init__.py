"""New York business dates, NYSE sessions and report slots (pure: no I/O, no host clock).

The business date is the America/New_York date of an instant, computed in that zone, so a
reader and a writer agree on "today" at every UTC instant. Dates stay `date`s and instants stay
aware UTC `datetime`s: a date-only string is never pushed through a time-zone conversion.
Sessions, holidays and early closes come from exchange_calendars' XNYS (worked out in a child
process by `xnys.py`), never from the host clock or zone, and every slot is a New York
wall-clock time converted to UTC per day, so a daylight-saving change never moves a slot
against the market.
"""

from __future__ import annotations

import bisect
import re
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cache, lru_cache
from zoneinfo import ZoneInfo

from marketbrief.calendar import xnys
from marketbrief.config import Slots
from marketbrief.errors import InvalidInput
from marketbrief.models import ReportType

NEW_YORK = ZoneInfo("America/New_York")
COVERAGE_START = date(2000, 1, 1)
# Report types in the order they fall within a day; breaks ties between equal instants.
_ORDER = {t: i for i, t in enumerate(ReportType)}
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_WEEK = re.compile(r"([0-9]{4})-W([0-9]{2})")
_SUNDAY = 6  # date.weekday()
_build_lock = threading.Lock()


def business_date(instant: datetime) -> date:
    """Return the America/New_York date of an aware instant."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"business_date needs a timezone-aware instant, got {instant!r}")
    return instant.astimezone(NEW_YORK).date()


def utc_now() -> datetime:
    """Return the current instant as an aware UTC datetime."""
    return datetime.now(UTC)


def utc_day(instant: datetime) -> date:
    """The UTC date of an aware instant: for what counts by UTC days (a cloud database's
    billing day, the store's usage), never a business date (that is `business_date`)."""
    return instant.astimezone(UTC).date()


def parse_date(value: str) -> date:
    """Parse a strict YYYY-MM-DD string into a date, or raise InvalidInput."""
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise InvalidInput(f"invalid date {value!r}; expected YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"invalid date {value!r}: {exc}") from None


def week_key(day: date) -> str:
    """Return the ISO week key of a date, e.g. "2026-W48"."""
    iso = day.isocalendar()
    return f"{iso.year:04d}-W{iso.week:02d}"


def week_window(key: str) -> tuple[date, date]:
    """Return the (Monday, Sunday) of an ISO week key, or raise InvalidInput."""
    match = _WEEK.fullmatch(key) if isinstance(key, str) else None
    if match is None:
        raise InvalidInput(f"invalid week {key!r}; expected YYYY-Www, e.g. 2026-W48")
    try:
        monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError as exc:
        raise InvalidInput(f"invalid week {key!r}: {exc}") from None
    return monday, monday + timedelta(days=6)


@dataclass(frozen=True, slots=True)
class _Table:
    """XNYS sessions as plain Python values, so lookups never touch pandas."""

    first: date
    last: date
    sessions: tuple[date, ...]
    times: dict[date, tuple[datetime, datetime]]
    early: frozenset[date]


@cache
def _table(start: date, end: date) -> _Table:
    # Building the calendar takes a noticeable fraction of a second: do it once per process.
    with _build_lock:
        times, early = xnys.sessions(start, end)
    return _Table(start, end, tuple(sorted(times)), times, early)


def _coverage_end() -> date:
    # Coverage reaches about two years ahead; only the span, never a weekday, uses the clock.
    return date(utc_now().year + 2, 12, 31)


class MarketCalendar:
    """NYSE sessions and marketbrief's report slots, in New York time, as UTC instants."""

    def __init__(self, slots: Slots | None = None) -> None:
        self.slots = slots if slots is not None else Slots()
        self._t = _table(COVERAGE_START, _coverage_end())

    def covers(self, day: date) -> bool:
        """Whether `day` is inside the calendar's coverage."""
        return self._t.first <= day <= self._t.last

    def check(self, day: date) -> None:
        """Raise InvalidInput naming `day` when it is outside the calendar's coverage."""
        if not self.covers(day):
            raise InvalidInput(
                f"{day.isoformat()} is outside the calendar's coverage "
                f"({self._t.first.isoformat()} to {self._t.last.isoformat()})"
            )

    def is_session(self, day: date) -> bool:
        """Whether NYSE trades on `day`."""
        self.check(day)
        return day in self._t.times

    def is_early_close(self, day: date) -> bool:
        """Whether `day` is a session that closes early (e.g. the day after Thanksgiving)."""
        self.check(day)
        return day in self._t.early

    def session_open(self, day: date) -> datetime:
        """Return the open of session `day` as an aware UTC instant."""
        return self._times(day)[0]

    def session_close(self, day: date) -> datetime:
        """Return the close of session `day` as an aware UTC instant."""
        return self._times(day)[1]

    def _times(self, day: date) -> tuple[datetime, datetime]:
        if not self.is_session(day):
            raise InvalidInput(f"{day.isoformat()} is not an NYSE session")
        return self._t.times[day]

    def previous_session(self, day: date) -> date:
        """Return the last session strictly before `day`."""
        self.check(day)
        i = bisect.bisect_left(self._t.sessions, day)
        return self._at(i - 1, day)

    def next_session(self, day: date) -> date:
        """Return the first session strictly after `day`."""
        self.check(day)
        return self._at(bisect.bisect_right(self._t.sessions, day), day)

    def session_on_or_before(self, day: date) -> date:
        """Return `day` if it is a session, else the last session before it."""
        return self.sessions_before(day, 0)

    def sessions_before(self, day: date, count: int) -> date:
        """Return the session `count` sessions before session_on_or_before(`day`)."""
        if count < 0:
            raise InvalidInput(f"count must be zero or positive, got {count}")
        self.check(day)
        i = bisect.bisect_right(self._t.sessions, day) - 1
        return self._at(i - count, day)

    def _at(self, index: int, day: date) -> date:
        if not 0 <= index < len(self._t.sessions):
            raise InvalidInput(f"no such session near {day.isoformat()} within coverage")
        return self._t.sessions[index]

    def sessions_between(self, start: date, end: date) -> list[date]:
        """Return the sessions from `start` to `end`, both inclusive, in order."""
        self.check(start)
        self.check(end)
        lo = bisect.bisect_left(self._t.sessions, start)
        hi = bisect.bisect_right(self._t.sessions, end)
        return list(self._t.sessions[lo:hi])

    def weekly_sessions(self, sunday: date) -> list[date]:
        """Return the sessions of the ISO week (Monday to Saturday) that `sunday` closes."""
        if sunday.weekday() != _SUNDAY:
            raise InvalidInput(f"{sunday.isoformat()} is not a Sunday")
        return self.sessions_between(sunday - timedelta(days=6), sunday - timedelta(days=1))

    def has_slot(self, report_type: ReportType, day: date) -> bool:
        """Whether `report_type` has a slot on `day`."""
        return self.slot_instant(report_type, day) is not None

    def slot_instant(self, report_type: ReportType, day: date) -> datetime | None:
        """Return the UTC instant of `report_type`'s slot on `day`, or None if it has none."""
        if report_type is ReportType.WEEKLY:
            if day.weekday() != _SUNDAY or not self.weekly_sessions(day):
                return None
            return _new_york(day, self.slots.weekly)
        if not self.is_session(day):
            return None
        if report_type is ReportType.PRE_MARKET:
            return _new_york(day, self.slots.pre_market)
        if report_type is ReportType.INTRADAY:
            return _new_york(day, self.slots.intraday)
        # End-of-day follows the real close, so early closes move it to 13:05 ET.
        return self._t.times[day][1] + timedelta(minutes=self.slots.close_offset_minutes)

    def slots_between(
        self, start: datetime, end: datetime
    ) -> list[tuple[ReportType, date, datetime]]:
        """Return every slot with start < instant <= end, sorted by instant."""
        first, last = business_date(start), business_date(end)
        # A slot's New York date is never after its day; a long close offset may push it later.
        day = max(
            first - timedelta(days=1 + self.slots.close_offset_minutes // 1440), COVERAGE_START
        )
        found: list[tuple[ReportType, date, datetime]] = []
        while day <= last:
            for report_type in ReportType:
                instant = self.slot_instant(report_type, day)
                if instant is not None and start < instant <= end:
                    found.append((report_type, day, instant))
            day += timedelta(days=1)
        found.sort(key=lambda slot: (slot[2], slot[1], _ORDER[slot[0]]))
        return found

    def next_slot(self, after: datetime) -> tuple[ReportType, date, datetime]:
        """Return the first slot strictly after `after`."""
        start = after
        while business_date(start) <= self._t.last:
            # Look a week at a time: even the longest closures leave a slot within a few weeks.
            end = start + timedelta(days=7)
            found = self.slots_between(start, end)
            if found:
                return found[0]
            start = end
        raise InvalidInput(f"no slot after {after.isoformat()} within the calendar's coverage")

    def check_due(self, report_type: ReportType, day: date, now: datetime) -> None:
        """Raise InvalidInput when `day` is after the latest `report_type` date that can run at
        `now`: a date after today's New York business date, or a Sunday whose week is not over.

        The one rule for `run`, `backfill` and `POST /jobs/trigger`, checked before anything is
        written.
        """
        current = self.default_report_date(report_type, now)
        if day > current:
            raise InvalidInput(
                f"{day.isoformat()} is in the future: the latest {report_type.value} report "
                f"that can run now is for {current.isoformat()}"
            )

    def default_report_date(self, report_type: ReportType, now: datetime) -> date:
        """Return the date a reader means by "today's" `report_type` at instant `now`."""
        today = business_date(now)
        if report_type is not ReportType.WEEKLY:
            return self.session_on_or_before(today)
        sunday = today - timedelta(days=(today.weekday() - _SUNDAY) % 7)
        while not self.has_slot(ReportType.WEEKLY, sunday):
            sunday -= timedelta(days=7)
        return sunday


def _new_york(day: date, at: time) -> datetime:
    # zoneinfo picks the right offset for each day, so slots stay on New York wall time.
    return datetime.combine(day, at, tzinfo=NEW_YORK).astimezone(UTC)


def iso_instant(value: datetime | None) -> str | None:
    """The one text form of an instant: UTC, ISO-8601, with a Z."""
    if value is None:
        return None
    # Equal instants in other zones hash alike: the zone is part of the key.
    return _iso(value, value.tzinfo)


@lru_cache(maxsize=4096)
def _iso(value: datetime, _zone: tzinfo | None) -> str:
    # A served report names its instant on every answer: formatted once, looked up after.
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_instant(text: str) -> datetime:
    """An aware instant from ISO 8601 text (`verify --now`), or InvalidInput."""
    try:
        instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"invalid instant {text!r}; expected ISO 8601 with an offset") from None
    if instant.tzinfo is None:
        raise InvalidInput(f"instant {text!r} needs an offset, e.g. 2026-11-24T21:00:00Z")
    return instant
