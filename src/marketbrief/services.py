"""One process's services, opened once: results core, runner, scheduler and background tasks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from marketbrief.calendar import MarketCalendar, utc_now
from marketbrief.config import Settings
from marketbrief.errors import CacheError, StoreError
from marketbrief.pipeline.feeds import analyst_from, prices_from
from marketbrief.results import Results
from marketbrief.runs.jobs import Analyst, PriceFeed
from marketbrief.runs.runner import Runner
from marketbrief.runs.scheduler import Scheduler
from marketbrief.store.base import Store
from marketbrief.web.security import TokenBucket

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything a process serves from; `start`/`stop` run its background tasks."""

    settings: Settings
    results: Results
    runner: Runner
    scheduler: Scheduler
    trigger_limit: TokenBucket
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
        runner = Runner(results, analyst or analyst_from(settings), prices or prices_from(settings))
        scheduler = Scheduler(
            calendar,
            results.deps.store,
            runner,
            catchup=timedelta(hours=settings.catchup_hours),
            run_timeout=timedelta(minutes=settings.run_timeout_minutes),
            clock=clock,
        )
        limit = TokenBucket(settings.trigger_rate_per_second, float(settings.trigger_burst))
        return cls(settings, results, runner, scheduler, limit)

    @property
    def store(self) -> Store:
        """The source of truth."""
        return self.results.deps.store

    @property
    def calendar(self) -> MarketCalendar:
        """The exchange calendar and slot times."""
        return self.results.deps.calendar

    @property
    def clock(self) -> Callable[[], datetime]:
        """Now, as the results core sees it."""
        return self.results.deps.clock

    def start(self, *, scheduler: bool) -> None:
        """Start the outbox replayer and, if asked, the scheduler."""
        self._stop.clear()
        self._tasks.append(asyncio.create_task(self.results.run_replayer(self._stop)))
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
        if self.results.deps.outbox.depth():
            with contextlib.suppress(StoreError):
                await self.results.replay_outbox()
        await self.results.close()

    async def readiness(self) -> dict[str, Any]:
        """Store, cache and outbox health; ready means the store answers."""
        deps = self.results.deps
        store: dict[str, Any] = {"ok": True, "dialect": deps.store.dialect}
        try:
            await deps.in_store(deps.store.ping)
        except StoreError as error:
            store = {"ok": False, "dialect": deps.store.dialect, "error": str(error)}
        cache: dict[str, Any] = {"enabled": deps.cache is not None}
        if deps.cache is not None:
            cache["backend"] = deps.cache.name
            try:
                await deps.cache.ping()
                cache["ok"] = True
            except CacheError as error:
                cache.update(ok=False, error=str(error))
        return {
            "ready": bool(store["ok"]),
            "store": store,
            "cache": cache,
            "outbox": {"depth": deps.outbox.depth(), "rejected": len(deps.outbox.rejected())},
            "switches": {
                "store_writes": deps.settings.store_writes,
                "store_reads": deps.settings.store_reads,
                "cache": deps.settings.cache_enabled,
            },
        }
