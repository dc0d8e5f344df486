"""`Alerts`: the service watching itself, and the one door to its incidents.

Every serving process runs the same watch (`run`): each pass reads the schedule grid, the
outbox and the reports being served, and turns what it finds into incidents. The store
decides which process tells people (`Store.open_incident`, `claim_repeat`,
`resolve_incident`), so N processes noticing one missed slot send one alert, and nothing
depends on the scheduler that failed to fire. Messages go to the background `Sender`, so a
channel that is down never slows a run or a request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from marketbrief.alerts import checks, messages
from marketbrief.alerts.channels import Channel, channels_from
from marketbrief.alerts.checks import Findings, Links, Reading
from marketbrief.alerts.rollback import AutoRollback
from marketbrief.alerts.sender import Sender
from marketbrief.calendar import iso_instant
from marketbrief.config import Settings
from marketbrief.errors import StoreError
from marketbrief.models import ReportType, RunStatus
from marketbrief.results import Results
from marketbrief.runs.outcome import RunOutcome
from marketbrief.store.base import Incident, IncidentReport

log = logging.getLogger(__name__)

DEADMAN_LOOKBACK = timedelta(hours=24)
"""Missed slots older than this are shown in the grid and by `verify --days`, not alerted."""
FLUSH_SECONDS = 10.0
OPEN_LIMIT = 1000  # open incidents read per watch pass to resolve (one per slot and condition)
SLOT_KINDS = (checks.RUN_FAILED, checks.SLOT_MISSED)


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    """When to tell, how often to remind, and where the dashboard is."""

    public_url: str
    repeat: timedelta = timedelta(minutes=60)
    watch_every: timedelta = timedelta(seconds=60)
    outbox_after: timedelta = timedelta(minutes=15)
    stale_after: timedelta = timedelta(minutes=60)
    grace: timedelta = timedelta(minutes=30)
    auto_rollback: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> AlertPolicy:
        """The policy the settings spell."""
        a = settings.alerting
        return cls(
            public_url=settings.public_url,
            repeat=timedelta(minutes=a.repeat_minutes),
            watch_every=timedelta(seconds=a.watch_seconds),
            outbox_after=timedelta(minutes=a.outbox_minutes),
            stale_after=timedelta(minutes=a.stale_minutes),
            grace=timedelta(minutes=settings.pending_grace_minutes),
            auto_rollback=a.auto_rollback,
        )


class Alerts:
    """Opens, repeats and resolves incidents, and hands their messages to the sender."""

    def __init__(
        self,
        results: Results,
        channels: list[Channel],
        policy: AlertPolicy,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.results = results
        self.store = results.store
        self.policy = policy
        self.links = Links(policy.public_url)
        self.sender = Sender(channels)
        self.clock = clock or results.now
        self._pending: set[asyncio.Task[None]] = set()
        self.rollback = AutoRollback(results.switches, self.store, enabled=policy.auto_rollback)
        self.readings: Callable[[datetime], list[Reading]] | None = None
        """The rollback triggers as measured, when this process measures them (the web app
        sets it: the request histogram lives there)."""

    @classmethod
    def open(cls, settings: Settings, results: Results) -> Alerts:
        """Alerts over the configured channels (none configured: incidents are only listed)."""
        channels = channels_from(settings.alerting.notify)
        return cls(results, channels, AlertPolicy.from_settings(settings))

    @property
    def channels(self) -> list[Channel]:
        """The configured channels, in order."""
        return [lane.channel for lane in self.sender.lanes]

    def channel_records(self) -> list[dict[str, Any]]:
        """Each channel (secrets masked) and what its sender did in this process."""
        return [
            {
                "channel": lane.channel.number,
                "url": lane.channel.shown,
                "sent": lane.counts.sent,
                "failures": lane.counts.failures,
                "dropped": lane.counts.dropped,
                "waiting": lane.queue.qsize(),
            }
            for lane in self.sender.lanes
        ]

    # -- incidents --------------------------------------------------------------------------

    async def notice(self, report: IncidentReport) -> Incident:
        """Open the incident, or remind of it once its repeat is due; send if this process won."""
        now = self.clock()
        incident = await self.store.open_incident(report, now)
        if incident.claimed:
            log.warning("alert: %s %s: %s", report.kind, report.subject, report.summary)
            self.sender.submit(messages.opened(incident))
            return incident
        due_before = now - self.policy.repeat
        if incident.last_notified_at <= due_before and await self.store.claim_repeat(
            incident.id, due_before, now
        ):
            self.sender.submit(messages.repeated(incident, incident.notify_count + 1))
        return incident

    async def clear(self, kind: str, subject: str) -> Incident | None:
        """Resolve the open incident, if any; the one process that closes it says so."""
        now = self.clock()
        closed = await self.store.resolve_incident(kind, subject, now)
        if closed is not None:
            log.warning("resolved: %s %s", kind, subject)
            self.sender.submit(messages.resolved(closed, now))
        return closed

    async def incidents(self, *, open_only: bool = False, limit: int = 50) -> list[dict[str, Any]]:
        """The newest incidents, JSON-ready (for /status and GET /api/v1/alerts)."""
        return [_record(i) for i in await self.store.incidents(open_only=open_only, limit=limit)]

    # -- what is noticed --------------------------------------------------------------------

    def run_finished(self, outcome: RunOutcome) -> None:
        """The runner's hook: alert on a failed run, resolve on a good one (in the background)."""
        if outcome.completion is None:
            return
        task = asyncio.get_running_loop().create_task(self._after_run(outcome))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _after_run(self, outcome: RunOutcome) -> None:
        kind, day = outcome.report_type.value, outcome.scheduled_date.isoformat()
        subject = checks.slot_subject(kind, day)
        try:
            if outcome.status is RunStatus.FAILED:
                assert outcome.completion is not None
                if await self.results.has_report(outcome.report_type, outcome.scheduled_date):
                    # A re-run failed, yet an earlier run's report is served: the grid says
                    # ok, and an alert would only flap to "resolved" at the next watch.
                    log.warning("run %s failed; the slot's report stands", outcome.run_id)
                    return
                await self.notice(
                    checks.failed_run(
                        kind,
                        day,
                        outcome.run_id,
                        outcome.completion.executed_at,
                        self.links,
                        list(outcome.errors),
                    )
                )
            else:
                for incident_kind in SLOT_KINDS:
                    await self.clear(incident_kind, subject)
        except StoreError as error:
            log.warning("alert for run %s not recorded: %s", outcome.run_id, error)

    async def check(self) -> None:
        """One watch pass: every condition, opened, repeated or resolved."""
        now = self.clock()
        await self.rollback.cleared()
        findings = [
            await self._slots(now),
            checks.outbox(self.results.outbox_since(), now, self.policy.outbox_after, self.links),
            self._served(now),
        ]
        if self.readings is not None:
            findings.append(checks.rollback(self.readings(now), now, self.links))
        for found in findings:
            held = await self._apply(found)
            self.rollback.held([i for i in held if i.kind == checks.ROLLBACK_TRIGGER], now)
        if self.rollback.enabled:  # verify records corruption from its own process
            listed = await self.store.incidents(open_only=True, limit=OPEN_LIMIT)
            self.rollback.held([i for i in listed if i.kind == checks.CORRUPTION], now)

    async def verified(self, problems: list[str]) -> None:
        """What `verify` found: problems open (or remind of) an incident; a clean one closes it."""
        if problems:
            await self.notice(checks.corruption(problems, self.clock(), self.links))
        else:
            await self.clear(checks.CORRUPTION, "store")

    async def _slots(self, now: datetime) -> Findings:
        grid = await self.results.schedule(days=2)
        return checks.slots(grid["slots"], now, self.policy.grace, DEADMAN_LOOKBACK, self.links)

    def _served(self, now: datetime) -> Findings:
        found = Findings()
        bad = {b.report_type: b for b in self.results.served.bad()}
        for kind in ReportType:
            held = bad.get(kind)
            if held is None:
                found.fine.add((checks.REPORT_STALE, kind.value))
                continue
            day = held.day.isoformat()
            limit = self.policy.stale_after
            found.holding.extend(
                checks.stale(
                    kind.value, day, held.state, held.since, now, limit, self.links
                ).holding
            )
        return found

    async def _apply(self, found: Findings) -> list[Incident]:
        held = [await self.notice(report) for report in found.holding]
        if found.fine:
            listed = await self.store.incidents(open_only=True, limit=OPEN_LIMIT)
            open_now = {(i.kind, i.subject) for i in listed}
            for kind, subject in sorted(found.fine & open_now):
                await self.clear(kind, subject)
        return held

    # -- the background tasks ---------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set: deliver messages, and watch every `watch_every`."""
        sending = asyncio.create_task(self.sender.run(stop))
        try:
            while not stop.is_set():
                # One interval first: a process that just started has served nothing yet.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.policy.watch_every.total_seconds())
                if stop.is_set():
                    break
                try:
                    await self.check()
                except StoreError as error:
                    log.warning("watch pass skipped: %s", error)
                except Exception:  # a watch that dies silently is the failure it exists for
                    log.exception("watch pass failed; will retry")
        finally:
            await sending

    async def settle(self) -> None:
        """Wait until the alerts of the runs finished so far are recorded (and queued)."""
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    async def close(self) -> None:
        """Finish the runs' pending alerts, then try what is waiting once (bounded)."""
        await self.settle()
        await self.sender.flush(FLUSH_SECONDS)


def _record(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.id,
        "kind": incident.kind,
        "subject": incident.subject,
        "summary": incident.summary,
        "report_type": incident.report_type,
        "business_date": incident.business_date.isoformat() if incident.business_date else None,
        "since": iso_instant(incident.since),
        "opened_at": iso_instant(incident.opened_at),
        "last_notified_at": iso_instant(incident.last_notified_at),
        "notifications": incident.notify_count,
        "resolved_at": iso_instant(incident.resolved_at),
        "state": "open" if incident.resolved_at is None else "resolved",
        "link": incident.link,
    }
