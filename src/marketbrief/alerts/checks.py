"""What is wrong right now, as incident reports: pure functions of what the service records.

Each check returns the conditions that hold (to be opened or repeated) and the subjects known
to be fine (to be resolved). A slot is judged from the schedule grid (expected versus actual,
from the exchange calendar, not from the scheduler that may have failed to fire): a slot whose
newest run failed is `run_failed`; one with no run by its time plus the grace is `slot_missed`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from marketbrief.calendar import iso_instant, parse_date, parse_instant
from marketbrief.store.base import IncidentReport

RUN_FAILED = "run_failed"
SLOT_MISSED = "slot_missed"
OUTBOX_STUCK = "outbox_stuck"
REPORT_STALE = "report_stale"
CORRUPTION = "corruption"
ROLLBACK_TRIGGER = "rollback_trigger"
GOOD_SLOT = frozenset({"ok", "partial", "running", "pending"})


@dataclass(frozen=True, slots=True)
class Links:
    """Dashboard addresses under MARKETBRIEF_PUBLIC_URL."""

    base: str

    def report(self, report_type: str, day: str) -> str:
        """The report page of one business date."""
        return f"{self.base}/reports/{report_type}?date={day}"

    def job(self, ref: str | int) -> str:
        """A run's page."""
        return f"{self.base}/jobs/{ref}"

    def status(self) -> str:
        """The status page."""
        return f"{self.base}/status"


@dataclass(frozen=True, slots=True)
class Reading:
    """One rollback trigger as this process measures it: `crossed` True or False, or None
    when there is nothing to measure (no writes, no history requests in the window)."""

    name: str
    crossed: bool | None
    summary: str


@dataclass(slots=True)
class Findings:
    """Conditions that hold now, and (kind, subject) pairs known to be fine now."""

    holding: list[IncidentReport] = field(default_factory=list)
    fine: set[tuple[str, str]] = field(default_factory=set)


def slot_subject(report_type: str, day: str) -> str:
    """The subject of a slot's incidents: `pre-market/2026-12-01`."""
    return f"{report_type}/{day}"


def failed_run(
    report_type: str,
    day: str,
    run_id: str,
    since: datetime,
    links: Links,
    errors: list[Any] | None = None,
) -> IncidentReport:
    """A slot whose newest run ended failed."""
    reason = ""
    if errors:
        first = errors[0]
        text = (first.get("error") or first.get("message")) if isinstance(first, dict) else first
        reason = f": {str(text)[:200]}"
    return IncidentReport(
        kind=RUN_FAILED,
        subject=slot_subject(report_type, day),
        summary=f"the {report_type} run {run_id} for {day} ended failed{reason}",
        since=since,
        report_type=report_type,
        business_date=parse_date(day),
        link=links.job(run_id),
    )


def slots(
    grid: list[dict[str, Any]], now: datetime, grace: timedelta, lookback: timedelta, links: Links
) -> Findings:
    """Failed and missed slots of the schedule grid (missed ones only within `lookback`)."""
    found = Findings()
    for slot in grid:
        kind, day, status = slot["report_type"], slot["date"], slot["status"]
        subject = slot_subject(kind, day)
        scheduled = parse_instant(slot["scheduled_at"])
        if status == "failed":
            since = parse_instant(slot["started_at"]) if slot["started_at"] else scheduled
            found.holding.append(failed_run(kind, day, slot["run_id"], since, links))
            found.fine.add((SLOT_MISSED, subject))
        elif status == "missed":
            if now - scheduled <= lookback:
                found.holding.append(
                    IncidentReport(
                        kind=SLOT_MISSED,
                        subject=subject,
                        summary=(
                            f"no {kind} run for {day}: its slot at {iso_instant(scheduled)} "
                            f"passed {int(grace.total_seconds() // 60)} minutes of grace "
                            "without one"
                        ),
                        since=scheduled + grace,
                        report_type=kind,
                        business_date=parse_date(day),
                        link=links.report(kind, day),
                    )
                )
        elif status in GOOD_SLOT:
            found.fine.update({(RUN_FAILED, subject), (SLOT_MISSED, subject)})
    return found


def outbox(since: datetime | None, now: datetime, limit: timedelta, links: Links) -> Findings:
    """The outbox holding a write for longer than `limit`."""
    found = Findings()
    if since is not None and now - since > limit:
        found.holding.append(
            IncidentReport(
                kind=OUTBOX_STUCK,
                subject="outbox",
                summary=(
                    "the outbox has held a completed run for more than "
                    f"{int(limit.total_seconds() // 60)} minutes: the store is not taking "
                    "writes (see /status, store.writes)"
                ),
                since=since,
                link=links.status(),
            )
        )
    elif since is None:
        found.fine.add((OUTBOX_STUCK, "outbox"))
    return found


def stale(
    report_type: str,
    day: str,
    state: str,
    since: datetime,
    now: datetime,
    limit: timedelta,
    links: Links,
) -> Findings:
    """A report answered `stale` or `unavailable` since `since`, for longer than `limit`."""
    found = Findings()
    if now - since > limit:
        found.holding.append(
            IncidentReport(
                kind=REPORT_STALE,
                subject=report_type,
                summary=(
                    f"the {report_type} report for {day} has been served {state} for more "
                    f"than {int(limit.total_seconds() // 60)} minutes"
                ),
                since=since,
                report_type=report_type,
                business_date=parse_date(day),
                link=links.report(report_type, day),
            )
        )
    return found


def corruption(problems: list[str], now: datetime, links: Links) -> IncidentReport:
    """`verify` found the store's schema or data damaged."""
    shown = "; ".join(problems[:5]) + (
        f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    )
    return IncidentReport(
        kind=CORRUPTION,
        subject="store",
        summary=f"marketbrief verify found {len(problems)} problem(s): {shown}",
        since=now,
        link=links.status(),
    )


def rollback(readings: list[Reading], now: datetime, links: Links) -> Findings:
    """The plan's rollback triggers: a crossed one holds; one measured and back within its
    threshold is fine; one not measured leaves its incident as it is."""
    found = Findings()
    for reading in readings:
        if reading.crossed:
            found.holding.append(rollback_trigger(reading.name, reading.summary, now, links))
        elif reading.crossed is False:
            found.fine.add((ROLLBACK_TRIGGER, reading.name))
    return found


def rollback_trigger(name: str, summary: str, now: datetime, links: Links) -> IncidentReport:
    """A rollback trigger of the migration plan crossed (subject: the trigger's name)."""
    return IncidentReport(
        kind=ROLLBACK_TRIGGER,
        subject=name,
        summary=f"rollback trigger crossed: {summary}",
        since=now,
        link=links.status(),
    )
