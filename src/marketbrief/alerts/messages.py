"""What an alert says: what, which report and business date, since when, and where to look."""

from __future__ import annotations

from datetime import datetime

from marketbrief.alerts.channels import Message
from marketbrief.calendar import iso_instant
from marketbrief.store.base import Incident

TITLES = {
    "run_failed": "run failed",
    "slot_missed": "slot missed",
    "outbox_stuck": "outbox holding writes",
    "report_stale": "report served stale",
    "corruption": "store corruption",
    "rollback_trigger": "rollback trigger",
}
PREFIX = "[marketbrief]"


def _lines(incident: Incident) -> list[str]:
    lines = [f"What: {incident.summary}"]
    if incident.report_type is not None:
        day = incident.business_date.isoformat() if incident.business_date else "-"
        lines.append(f"Report: {incident.report_type}, business date {day}")
    lines.append(f"Since: {iso_instant(incident.since)}")
    if incident.link:
        lines.append(f"Dashboard: {incident.link}")
    return lines


def _headline(incident: Incident) -> str:
    return f"{TITLES.get(incident.kind, incident.kind)}: {incident.subject}"


def opened(incident: Incident) -> Message:
    """The first alert of an incident."""
    return Message(f"{PREFIX} {_headline(incident)}", "\n".join(_lines(incident)))


def repeated(incident: Incident, count: int) -> Message:
    """A reminder that an incident is still open."""
    lines = [*_lines(incident), f"Still open: reminder {count - 1}."]
    return Message(f"{PREFIX} still: {_headline(incident)}", "\n".join(lines))


def resolved(incident: Incident, at: datetime) -> Message:
    """The message that closes an incident."""
    lines = [*_lines(incident), f"Resolved: {iso_instant(at)}"]
    return Message(f"{PREFIX} resolved: {_headline(incident)}", "\n".join(lines))


def test_message(at: datetime) -> Message:
    """What `marketbrief notify test` sends."""
    return Message(
        f"{PREFIX} test notification",
        f"A test from marketbrief at {iso_instant(at)}: this channel receives alerts.",
    )
