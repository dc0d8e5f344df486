"""Incidents in SQL: opened once, repeated by compare-and-set, resolved once, across processes.

Mixed into `SQLStore`. The store decides which process tells people, never a lock held in one
process: the partial unique index `uq_incidents_open` lets one insert of an open (kind,
subject) succeed; a repeat is claimed by an UPDATE that applies only while `last_notified_at`
is still older than the repeat interval; a resolve is an UPDATE of the open row, and only the
process whose UPDATE returns the row sends the "resolved" message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from marketbrief.store.base import Incident, IncidentReport
from marketbrief.store.batch import Step
from marketbrief.store.engine import Engines, insert_with_conflicts
from marketbrief.store.schema import incidents

OPEN = incidents.c.resolved_at.is_(None)


def incident(row: Any, *, claimed: bool = False) -> Incident:
    """An incidents row as the value the port returns."""
    return Incident(
        id=int(row.id),
        kind=row.kind,
        subject=row.subject,
        summary=row.summary,
        report_type=row.report_type,
        business_date=row.business_date,
        link=row.link,
        since=row.since,
        opened_at=row.opened_at,
        last_notified_at=row.last_notified_at,
        notify_count=int(row.notify_count),
        resolved_at=row.resolved_at,
        claimed=claimed,
    )


class IncidentWrites:
    """Open, repeat, resolve and list incidents."""

    _engines: Engines
    dialect: str

    def open_incident(self, report: IncidentReport, now: datetime) -> Incident:
        """Open the incident for (kind, subject) unless one is open; claimed=True if this did."""
        values = {
            "kind": report.kind,
            "subject": report.subject,
            "summary": report.summary,
            "report_type": report.report_type,
            "business_date": report.business_date,
            "link": report.link,
            "since": report.since,
            "opened_at": now,
            "last_notified_at": now,
            "notify_count": 1,
        }
        insert = (
            insert_with_conflicts(self.dialect, incidents)
            .values(values)
            .on_conflict_do_nothing(index_elements=["kind", "subject"], index_where=OPEN)
            .returning(incidents.c.id)
        )
        the_open_one = sa.select(incidents).where(
            incidents.c.kind == report.kind, incidents.c.subject == report.subject, OPEN
        )
        done = self._engines.batch([Step(insert), Step(the_open_one)])
        row = done[1].first()
        assert row is not None  # inserted now, or the open one the insert gave way to
        return incident(row, claimed=done[0].first() is not None)

    def claim_repeat(self, incident_id: int, due_before: datetime, now: datetime) -> bool:
        """Take the next repeat of an open incident last told before `due_before` (CAS)."""
        update = (
            sa.update(incidents)
            .where(
                incidents.c.id == incident_id,
                OPEN,
                incidents.c.last_notified_at <= due_before,
            )
            .values(last_notified_at=now, notify_count=incidents.c.notify_count + 1)
            .returning(incidents.c.id)
        )
        with self._engines.write() as connection:
            return connection.execute(update).first() is not None

    def resolve_incident(self, kind: str, subject: str, now: datetime) -> Incident | None:
        """Close the open incident for (kind, subject); the row only for the process that did."""
        update = (
            sa.update(incidents)
            .where(incidents.c.kind == kind, incidents.c.subject == subject, OPEN)
            .values(resolved_at=now)
            .returning(*incidents.c)
        )
        with self._engines.write() as connection:
            row = connection.execute(update).first()
        return incident(row, claimed=True) if row is not None else None

    def incidents(self, *, open_only: bool = False, limit: int = 50) -> list[Incident]:
        """The newest incidents first (only the open ones if asked)."""
        query = sa.select(incidents).order_by(incidents.c.id.desc()).limit(limit)
        if open_only:
            query = query.where(OPEN)
        with self._engines.read() as connection:
            found = connection.execute(query).all()
        return [incident(row) for row in found]
