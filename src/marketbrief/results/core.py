"""The results core: the write path, the read path, rehydration and outbox replay, wired once.

`Results.open(settings)` builds the store, the cache (unless MARKETBRIEF_CACHE=off), the outbox
and the calendar; everything above it (runner, API, CLI) talks to this object only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import anyio.to_thread

from marketbrief.cache import from_url, keys
from marketbrief.calendar import MarketCalendar, business_date, utc_now
from marketbrief.config import Settings
from marketbrief.errors import CacheError, StoreUnavailable
from marketbrief.models import Completion, ReportType
from marketbrief.results.deps import Deps
from marketbrief.results.entries import CachedReport, encode_entry
from marketbrief.results.envelope import ReportResponse
from marketbrief.results.outbox import Outbox, ReplayReport
from marketbrief.results.publisher import Publisher, PublishOutcome
from marketbrief.results.reader import Reader
from marketbrief.store.base import Store
from marketbrief.store.sql import SQLStore

log = logging.getLogger(__name__)
DEFAULT_REHYDRATE_DAYS = 14


@dataclass(frozen=True, slots=True)
class Warmed:
    """One report put back in the cache by `rehydrate`."""

    report_type: str
    business_date: date
    snapshot_id: int
    run_id: str | None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "report_type": self.report_type,
            "business_date": self.business_date.isoformat(),
            "snapshot_id": self.snapshot_id,
            "run_id": self.run_id,
        }


class Results:
    """One process's access to reports: publish, get_report, rehydrate, replay_outbox."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self._publisher = Publisher(deps)
        self._reader = Reader(deps)

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        store: Store | None = None,
        calendar: MarketCalendar | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> Results:
        """Build every backend from settings (nothing connects until first use)."""
        cache = from_url(settings.cache_url, prefix=settings.cache_prefix)
        return cls(
            Deps(
                settings=settings,
                store=store or SQLStore(settings.database_url),
                cache=cache if settings.cache_enabled else None,
                outbox=Outbox(settings.outbox_dir),
                calendar=calendar or MarketCalendar(settings.slots),
                clock=clock,
            )
        )

    async def publish(self, completion: Completion) -> PublishOutcome:
        """The write path: acknowledged only after a store commit or an outbox fsync."""
        return await self._publisher.publish(completion)

    async def get_report(self, report_type: ReportType, day: date | None = None) -> ReportResponse:
        """The read path: always an honest answer, never an exception for a store outage."""
        return await self._reader.get_report(report_type, day)

    async def rehydrate(
        self,
        report_type: ReportType | None = None,
        day: date | None = None,
        *,
        days: int = DEFAULT_REHYDRATE_DAYS,
        purge: bool = False,
    ) -> list[Warmed]:
        """Replace cache entries with the store's latest reports (purging poisoned ones)."""
        d = self.deps
        if d.cache is None:
            return []
        if purge:
            await d.cache.clear()
        found = await d.in_store(d.store.latest_keys, report_type, day)
        if day is None:
            oldest = business_date(d.clock()) - timedelta(days=days)
            found = [(t, when) for t, when in found if when >= oldest]
        warmed: list[Warmed] = []
        for kind, when in found:
            snapshot = await d.in_store(d.store.latest_snapshot, kind, when)
            if snapshot is None:
                continue
            key = keys.report_key(kind.value, when)
            # Delete first: a poisoned entry may carry a version too high to be replaced.
            await d.cache.delete(key)
            await d.cache.set(
                key,
                encode_entry(CachedReport.from_snapshot(snapshot)),
                version=snapshot.version,
                ttl=d.settings.cache_ttl_seconds,
            )
            d.counters.rehydrations += 1
            warmed.append(Warmed(kind.value, when, snapshot.id, snapshot.run_id))
        return warmed

    async def replay_outbox(self) -> ReplayReport:
        """Move spooled completions into the store, then republish them as persisted."""
        d = self.deps
        if not d.settings.store_writes:
            return ReplayReport(remaining=d.outbox.depth())
        report = await anyio.to_thread.run_sync(d.outbox.replay, d.store.finish_run)
        if report.store_unavailable:
            d.health.failed(StoreUnavailable("outbox replay could not reach the store"), d.clock())
        elif report.stored or not report.remaining:
            d.health.answered()
        for completion, result in report.stored:
            d.counters.replayed += 1
            await self._publisher.publish_to_cache(completion, result)
        return report

    async def run_replayer(self, stop: asyncio.Event) -> None:
        """Until `stop` is set: replay the outbox and re-check a store believed down."""
        d = self.deps
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), d.settings.outbox_replay_seconds)
            try:
                if d.outbox.depth():
                    await self.replay_outbox()
                elif d.health.is_down:
                    await d.in_store(d.store.ping)
            except StoreUnavailable:
                pass
            except Exception:  # a replayer that dies silently would lose nothing but stall all
                log.exception("outbox replay failed; will retry")

    async def close(self) -> None:
        """Release the cache client and the store's connections."""
        if self.deps.cache is not None:
            with contextlib.suppress(CacheError):
                await self.deps.cache.close()
        await anyio.to_thread.run_sync(self.deps.store.close)
