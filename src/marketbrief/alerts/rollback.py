"""Automatic rollback: a crossed rollback trigger turns this process's store reads off.

Where `MARKETBRIEF_AUTO_ROLLBACK=on`, the watch that opens or holds a `rollback_trigger`
incident, or finds a `corruption` incident open (recorded by `marketbrief verify`, which runs in
its own process), flips `Results.switches` (reports are served from the cache). The switch stays
off until an operator runs `marketbrief rollback clear`, which reaches every serving process
through the store: it records a `rollback_cleared` incident (opened and resolved at once, so it
stays in the incidents list as the log of who cleared what), and each process's next watch pass
that finds a mark newer than the incident that flipped it turns reads back on. A trigger still
crossed after the clear does not flip it again: only a new crossing (an incident opened after
the clear) does.
"""

from __future__ import annotations

import logging
from datetime import datetime

from marketbrief.alerts.checks import CORRUPTION, ROLLBACK_TRIGGER
from marketbrief.results.switches import Switches
from marketbrief.store.base import Incident, IncidentReport
from marketbrief.store.gateway import Store

log = logging.getLogger(__name__)

ROLLBACK_CLEARED = "rollback_cleared"
CLEARED_SUBJECT = "operator"
MARK_LOOKBACK = 200  # newest incidents searched for the operator's mark
TRIGGER_KINDS = (ROLLBACK_TRIGGER, CORRUPTION)
"""The incidents that roll back: the plan's three triggers (corruption is `verify`'s own)."""


async def clear(store: Store, now: datetime, by: str) -> tuple[Incident, list[Incident]]:
    """Record an operator's clear; returns the mark and the rollback incidents still open."""
    still_open = await rollback_incidents(store, open_only=True)
    report = IncidentReport(
        kind=ROLLBACK_CLEARED,
        subject=CLEARED_SUBJECT,
        summary=f"rollback cleared by operator {by}: store reads back on in every process",
        since=now,
    )
    opened = await store.open_incident(report, now)
    mark = await store.resolve_incident(ROLLBACK_CLEARED, CLEARED_SUBJECT, now) or opened
    log.warning("%s (open rollback triggers: %d)", report.summary, len(still_open))
    return mark, still_open


async def rollback_incidents(store: Store, *, open_only: bool) -> list[Incident]:
    """The newest rollback-trigger incidents and operator clears."""
    found = await store.incidents(open_only=open_only, limit=MARK_LOOKBACK)
    kinds = TRIGGER_KINDS if open_only else (*TRIGGER_KINDS, ROLLBACK_CLEARED)
    return [i for i in found if i.kind in kinds]


class AutoRollback:
    """This process's part: flip on a held trigger, restore on an operator's newer clear."""

    def __init__(self, switches: Switches, store: Store, *, enabled: bool) -> None:
        self.switches = switches
        self.store = store
        self.enabled = enabled
        self.flipped_by: Incident | None = None
        self.last_clear = 0
        """The id of the operator's clear this process last obeyed: only a trigger incident
        opened after it (a new crossing) turns reads off again."""

    async def cleared(self) -> None:
        """Turn reads back on if an operator cleared since the incident that turned them off."""
        if self.flipped_by is None:
            return
        found = await self.store.incidents(limit=MARK_LOOKBACK)
        marks = [i for i in found if i.kind == ROLLBACK_CLEARED and i.id > self.flipped_by.id]
        if marks:
            self.switches.restore(marks[0].opened_at)
            self.flipped_by, self.last_clear = None, marks[0].id

    def held(self, incidents: list[Incident], now: datetime) -> None:
        """The rollback-trigger and corruption incidents this pass opened, held or found open."""
        fresh = [i for i in incidents if i.id > self.last_clear]
        if not self.enabled or self.flipped_by is not None or not fresh:
            return
        # The newest: an operator's clear must come after it to turn reads back on.
        newest = max(fresh, key=lambda i: i.id)
        trigger = newest.subject if newest.kind == ROLLBACK_TRIGGER else newest.kind
        self.switches.roll_back(trigger, now)
        self.flipped_by = newest
