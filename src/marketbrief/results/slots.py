"""Expected versus actual, per session and slot: a silent outage shows at a glance (LESSONS 1)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from marketbrief.calendar import MarketCalendar, business_date, iso_instant
from marketbrief.models import PUBLISHABLE, ReportType, Run, RunStatus

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
) -> list[SlotView]:
    """Every slot from start to end (inclusive), newest first, matched with its run."""
    by_slot: dict[tuple[ReportType, date], Run] = {}
    for run in sorted(runs, key=lambda r: r.id):
        key = (run.job_type, run.scheduled_date)
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
            if found is not None:
                status = _STATUS[found.status]
            elif now < instant + grace:
                status = "pending"
            else:
                status = "missed"
            views.append(SlotView(report_type, day, instant, status, found))
        day += timedelta(days=1)
    return sorted(views, key=lambda v: v.scheduled_at, reverse=True)
