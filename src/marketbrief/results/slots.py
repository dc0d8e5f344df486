"""Expected versus actual, per slot: what the calendar expected and what the runs did.

One vocabulary for the schedule grid (API, CLI, dashboard), for completeness (`verify --days`)
and for the scheduler's catch-up: a slot whose time (plus grace) has passed with no run is
`missed`. The expected slots come from the exchange calendar, never from what runs happen to
exist, so a scheduler that silently stopped shows up at once as missed slots.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from marketbrief.calendar import NEW_YORK, MarketCalendar, business_date, iso_instant
from marketbrief.models import PUBLISHABLE, ReportType, Run, RunStatus
from marketbrief.store.base import ScheduleStart

MISSED = "missed"
MISSED_LOOKBACK = timedelta(days=7)
"""How far back the scheduler looks for slots that never ran."""


def schedule_floor(calendar: MarketCalendar, start: ScheduleStart) -> datetime | None:
    """The instant the schedule began: the earlier of the service's first start and the
    earliest slot any run is for (a backfilled history counts from its first slot).

    None means nothing ever began: no scheduler started and no run exists, so no slot was due.
    """
    floors = [start.started_at] if start.started_at is not None else []
    for report_type, day in start.first_runs:
        instant = calendar.slot_instant(report_type, day)
        # A run on a day without its slot (an import) counts from that day's start.
        floors.append(instant or datetime.combine(day, time(), NEW_YORK).astimezone(UTC))
    return min(floors) if floors else None


@dataclass(frozen=True, slots=True)
class Slot:
    """One report slot: the type, the business date it is for, and its instant."""

    report_type: ReportType
    day: date
    instant: datetime


_STATUS = {
    RunStatus.SUCCESS: "ok",
    RunStatus.PARTIAL: "partial",
    RunStatus.FAILED: "failed",
    RunStatus.RUNNING: "running",
}


@dataclass(frozen=True, slots=True)
class SlotView:
    """One expected slot and what actually happened to it."""

    report_type: ReportType
    day: date
    scheduled_at: datetime
    status: str
    run: Run | None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        run = self.run
        lateness = None
        if run is not None:
            lateness = round((run.started_at - self.scheduled_at).total_seconds(), 3)
        return {
            "date": self.day.isoformat(),
            "report_type": self.report_type.value,
            "scheduled_at": iso_instant(self.scheduled_at),
            "status": self.status,
            "run_id": run.run_id if run else None,
            "job_id": run.id if run else None,
            "trigger_source": run.trigger_source.value if run else None,
            "started_at": iso_instant(run.started_at) if run else None,
            "lateness_seconds": lateness,
        }


def window(calendar: MarketCalendar, now: datetime, days: int) -> tuple[date, date]:
    """The first and last business date of a `days`-session view ending today."""
    today = business_date(now)
    end = today
    start = calendar.sessions_before(today, max(days - 1, 0))
    return min(start, end - timedelta(days=6)), end


def build_schedule(
    calendar: MarketCalendar,
    runs: Iterable[Run],
    now: datetime,
    start: date,
    end: date,
    *,
    grace: timedelta = timedelta(minutes=30),
    began: datetime | None = None,
) -> list[SlotView]:
    """Every slot from start to end (inclusive), newest first, matched with its run.

    A slot before the schedule `began` (None: no floor) without a run was never due: it is left
    out, not missed.
    """
    by_slot: dict[tuple[ReportType, date], Run] = {}
    for run in sorted(runs, key=lambda r: r.id):
        key = (run.report_type, run.scheduled_date)
        held = by_slot.get(key)
        # The newest run that produced a report speaks for the slot; else the newest run.
        if held is None or run.status in PUBLISHABLE or held.status not in PUBLISHABLE:
            by_slot[key] = run
    views: list[SlotView] = []
    day = start
    while day <= end:
        for report_type in ReportType:
            instant = calendar.slot_instant(report_type, day)
            if instant is None:
                continue
            found = by_slot.get((report_type, day))
            if found is None and began is not None and instant < began:
                continue
            if found is not None:
                status = _STATUS[found.status]
            elif now < instant + grace:
                status = "pending"
            else:
                status = MISSED
            views.append(SlotView(report_type, day, instant, status, found))
        day += timedelta(days=1)
    return sorted(views, key=lambda v: v.scheduled_at, reverse=True)


@dataclass(frozen=True, slots=True)
class CatchUpPlan:
    """Slots to run now as catch-up, and older ones that stay missed."""

    to_run: list[Slot]
    missed: list[Slot]


def plan_catch_up(
    calendar: MarketCalendar,
    now: datetime,
    window: timedelta,
    has_run: Callable[[Slot], bool],
    began: datetime | None = None,
) -> CatchUpPlan:
    """Missed slots younger than `window` run once; older ones are reported as missed.

    Only slots after the schedule `began` count (every slot of the lookback when None).
    """
    to_run: list[Slot] = []
    missed: list[Slot] = []
    for report_type, day, instant in calendar.slots_between(now - MISSED_LOOKBACK, now):
        if began is not None and instant < began:
            continue  # the schedule had not begun: this slot was never due
        slot = Slot(report_type, day, instant)
        if has_run(slot):
            continue
        (to_run if now - instant <= window else missed).append(slot)
    return CatchUpPlan(to_run, missed)


@dataclass(frozen=True, slots=True)
class SlotCheck:
    """One expected slot: `ok`, or `missed`, `failed` or `running` without a report."""

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
        newest[(run.report_type, run.scheduled_date)] = run
    checks = []
    for kind, day, instant in expected:
        found = newest.get((kind, day))
        if (kind, day) in reported:
            status = "ok"
        elif found is not None and found.status in (RunStatus.FAILED, RunStatus.RUNNING):
            status = found.status.value
        else:
            status = MISSED
        checks.append(SlotCheck(kind, day, instant, status, found.run_id if found else None))
    return checks
