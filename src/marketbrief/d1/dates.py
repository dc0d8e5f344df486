"""The business dates the old system got wrong, and the date each run really had.

Two faults of the old Worker are known, and only those are corrected:

- its date normaliser pushed date-only strings through a time-zone conversion and shifted them
  back a day, so a run is dated the day before it ran, on a day that has no slot for its report
  type (a Sunday for a Monday pre-market run, a market holiday for the next session's run);
- evening manual runs took the UTC date, a day after their New York date.

`corrected` tells whether a stored date is one of those, from the run's own start instant (or a
row's creation) in New York; any other disagreement is left as stored (a late run, a backfill).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from marketbrief.calendar import MarketCalendar, business_date
from marketbrief.errors import InvalidInput
from marketbrief.models import ReportType

ONE_DAY = timedelta(days=1)
SHIFTED = "shifted back a day by the old date normaliser"
UTC_DATE = "the UTC date of an evening run"


def corrected(
    calendar: MarketCalendar, kind: ReportType, stored: date, instant: datetime
) -> tuple[date, str] | None:
    """(the New York date, why) when `stored` is a known fault for a row made at `instant`."""
    try:
        ny = business_date(instant)
    except OverflowError:
        return None
    if stored == ny:
        return None
    if stored == instant.astimezone(UTC).date() and stored == ny + ONE_DAY:
        return ny, UTC_DATE
    if stored == ny - ONE_DAY and _slotless(calendar, kind, stored, ny):
        return ny, SHIFTED
    return None


def _slotless(calendar: MarketCalendar, kind: ReportType, stored: date, ny: date) -> bool:
    """Whether `stored` has no slot for `kind` and `ny` has one (both within coverage)."""
    try:
        calendar.check(stored)
        calendar.check(ny)
    except InvalidInput:
        return False
    return not calendar.has_slot(kind, stored) and calendar.has_slot(kind, ny)
