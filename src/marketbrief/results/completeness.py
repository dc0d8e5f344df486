"""Completeness: did every slot the calendar expected in the last N days produce a report?

The expected slots come from the exchange calendar (`slots_between`), never from what runs
happen to exist, so a scheduler that silently stopped shows up as missing slots (LESSONS 1).
A slot counts as done only when `report_latest` serves a report for it; slots still in the
future or within the grace period after their time are not expected yet.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from marketbrief.calendar import MarketCalendar, iso_instant
from marketbrief.errors import InvalidInput
from marketbrief.models import ReportType, Run, RunStatus
from marketbrief.store.base import Store


@dataclass(frozen=True, slots=True)
class SlotCheck:
    """One expected slot: `ok`, or `missing`, `failed` or `running` without a report."""

    report_type: ReportType
    day: date
    scheduled_at: datetime
    status: str
    run_id: str | None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "report_type": self.report_type.value,
            "date": self.day.isoformat(),
            "scheduled_at": iso_instant(self.scheduled_at),
            "status": self.status,
            "run_id": self.run_id,
        }


@dataclass(frozen=True, slots=True)
class Completeness:
    """Every slot expected from `since` to `until` and whether each has a report."""

    days: int
    since: datetime
    until: datetime
    slots: list[SlotCheck]

    @property
    def gaps(self) -> list[SlotCheck]:
        """The expected slots without a report, oldest first."""
        return [slot for slot in self.slots if slot.status != "ok"]

    @property
    def ok(self) -> bool:
        """Whether every expected slot has a report."""
        return not self.gaps

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form for `verify --days N --json`."""
        return {
            "ok": self.ok,
            "days": self.days,
            "since": iso_instant(self.since),
            "until": iso_instant(self.until),
            "expected": len(self.slots),
            "reported": len(self.slots) - len(self.gaps),
            "gaps": [slot.as_dict() for slot in self.gaps],
        }


def assess(
    expected: Iterable[tuple[ReportType, date, datetime]],
    reported: set[tuple[ReportType, date]],
    runs: Iterable[Run],
) -> list[SlotCheck]:
    """Match expected slots with the reports served and, for the gaps, the newest run (pure)."""
    newest: dict[tuple[ReportType, date], Run] = {}
    for run in sorted(runs, key=lambda r: r.id):
        newest[(run.job_type, run.scheduled_date)] = run
    checks = []
    for kind, day, instant in expected:
        found = newest.get((kind, day))
        if (kind, day) in reported:
            status = "ok"
        elif found is not None and found.status in (RunStatus.FAILED, RunStatus.RUNNING):
            status = found.status.value
        else:
            status = "missing"
        checks.append(SlotCheck(kind, day, instant, status, found.run_id if found else None))
    return checks


def check(
    store: Store, calendar: MarketCalendar, now: datetime, days: int, grace: timedelta
) -> Completeness:
    """Check the slots of the `days` days up to `now` (minus the grace period) against the store."""
    since, until = now - timedelta(days=days), now - grace
    expected = calendar.slots_between(since, until) if until > since else []
    if not expected:
        return Completeness(days, since, until, [])
    first, last = min(d for _, d, _ in expected), max(d for _, d, _ in expected)
    reported = {(t, d) for t, d in store.latest_keys() if first <= d <= last}
    runs = store.runs_between(first, last)
    return Completeness(days, since, until, assess(expected, reported, runs))


def parse_instant(text: str) -> datetime:
    """An aware instant from ISO 8601 text (`verify --now`), or InvalidInput."""
    try:
        instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"invalid instant {text!r}; expected ISO 8601 with an offset") from None
    if instant.tzinfo is None:
        raise InvalidInput(f"instant {text!r} needs an offset, e.g. 2026-11-24T21:00:00Z")
    return instant
