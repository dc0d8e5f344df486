"""How each report type's current date has been served: since when it has been stale or down.

The read path answers honestly (`stale`, `unavailable`); this remembers, per report type, since
when the answers for its current business date have been one of those, so the watch can tell
people once it has lasted too long. Only what was really served counts: nothing here reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from marketbrief.models import ReportType

BAD_STATES = frozenset({"stale", "unavailable"})


@dataclass(frozen=True, slots=True)
class BadServing:
    """A report type whose current date has been answered `state` since `since`."""

    report_type: ReportType
    day: date
    state: str
    since: datetime


class ServedStates:
    """The first bad answer of each report type's current date, until a good one."""

    def __init__(self) -> None:
        self._bad: dict[ReportType, BadServing] = {}

    def concerns(self, report_type: ReportType, state: str) -> bool:
        """Whether an answer in `state` could change what is held: a bad one, or any answer
        while the type is held bad (a good answer with nothing held changes nothing)."""
        return state in BAD_STATES or report_type in self._bad

    def served(self, report_type: ReportType, day: date, state: str, now: datetime) -> None:
        """Record one answer for the report type's current business date."""
        held = self._bad.get(report_type)
        if state not in BAD_STATES:
            if held is not None and held.day <= day:
                del self._bad[report_type]
            return
        if held is None or held.day != day:
            self._bad[report_type] = BadServing(report_type, day, state, now)

    def bad(self) -> list[BadServing]:
        """Every report type served stale or unavailable now, and since when."""
        return list(self._bad.values())
