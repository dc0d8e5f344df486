"""One process's services, opened once: results core, runner, scheduler and background tasks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from marketbrief.alerts import Alerts
from marketbrief.alerts.deliveries import Deliveries
from marketbrief.calendar import MarketCalendar, utc_now
from marketbrief.config import Settings
from marketbrief.errors import StoreError
from marketbrief.pipeline.feeds import analyst_from, prices_from
from marketbrief.pipeline.ports import Analyst, PriceFeed
from marketbrief.results import Results
from marketbrief.results.usage import USAGE_FLUSH_SECONDS, flush_usage_every
from marketbrief.runs.jobs import JobPolicy
from marketbrief.runs.outcome import RunOutcome
from marketbrief.runs.runner import Runner
from marketbrief.runs.scheduler import Scheduler

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything a process serves from; `start`/`stop` run its background tasks."""

    settings: Settings
    results: Results
    runner: Runner
    scheduler: Scheduler
    alerts: Alerts
    deliveries: Deliveries
    started_at: datetime = field(default_factory=utc_now)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utc_now,
        analyst: Analyst | None = None,
        prices: PriceFeed | None = None,
    ) -> Services:
        """Build every service from settings (nothing connects yet)."""
        calendar = MarketCalendar(settings.slots)
        results = Results.open(settings, calendar=calendar, clock=clock)
        policy = JobPolicy(symbols=settings.symbols, high_confidence=settings.high_confidence)
        runner = Runner(
            results,
            analyst or analyst_from(settings),
            prices or prices_from(settings),
            policy,
            lease=timedelta(seconds=settings.run_lease_seconds),
        )
        scheduler = Scheduler(
            calendar,
            results.store,
            runner,
            catchup=timedelta(hours=settings.catchup_hours),
            run_timeout=timedelta(minutes=settings.run_timeout_minutes),
            clock=clock,
        )
        alerts = Alerts.open(settings, results)
        deliveries = Deliveries.open(settings, results)

        def finished(outcome: RunOutcome) -> None:
            alerts.run_finished(outcome)
            deliveries.run_finished(outcome)

        runner.on_finished = finished
        return cls(settings, results, runner, scheduler, alerts, deliveries)

    @property
    def calendar(self) -> MarketCalendar:
        """The exchange calendar and slot times."""
        return self.results.calendar

    def now(self) -> datetime:
        """Now, as the results core sees it."""
        return self.results.now()

    def start(self, *, scheduler: bool) -> None:
        """Start the outbox replayer, the revision watch, the usage flush, the alerts' watch and
        sender, the deliveries' watch and sender, and, if asked, the scheduler."""
        self._stop.clear()
        store = self.results.store
        self._tasks.append(
            asyncio.create_task(flush_usage_every(store, USAGE_FLUSH_SECONDS, self._stop))
        )
        self._tasks.append(asyncio.create_task(self.results.run_replayer(self._stop)))
        self._tasks.append(asyncio.create_task(self.results.watch_revision(self._stop)))
        self._tasks.append(asyncio.create_task(self.alerts.run(self._stop)))
        self._tasks.append(asyncio.create_task(self.deliveries.run(self._stop)))
        if scheduler:
            self._tasks.append(asyncio.create_task(self.scheduler.run(self._stop)))

    async def stop(self) -> None:
        """Finish background runs, flush the outbox once more, close every backend."""
        self._stop.set()
        await self.runner.drain()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self.results.outbox_depth():
            with contextlib.suppress(StoreError):
                await self.results.replay_outbox()
        await self.alerts.close()
        await self.deliveries.close()
        await self.results.close()
