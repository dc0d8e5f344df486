"""The one door to reports and run history: `Results`.

`Results.open(settings)` builds the store, the cache (unless MARKETBRIEF_CACHE=off), the outbox
and the calendar. The web pages, the CLI and the runner reach reports and runs through this
object only; if a face needs something it does not offer, the door lacks a method.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import anyio.to_thread

from marketbrief.cache import from_url, keys
from marketbrief.calendar import MarketCalendar, business_date, iso_instant, utc_now
from marketbrief.config import Settings
from marketbrief.errors import CacheError, StoreError, StoreUnavailable
from marketbrief.models import Completion, Outcome, ReportType, Run, RunDetail
from marketbrief.results.counters import Counters
from marketbrief.results.deps import Deps
from marketbrief.results.envelope import ReportResponse
from marketbrief.results.history import history_page, page_now
from marketbrief.results.near import near_cache, near_pages
from marketbrief.results.outbox import Outbox, ReplayReport
from marketbrief.results.policy import Policy
from marketbrief.results.publisher import Publisher
from marketbrief.results.reader import Reader
from marketbrief.results.rehydrate import DEFAULT_REHYDRATE_DAYS, Warmed, rehydrate
from marketbrief.results.serving import ServedStates
from marketbrief.results.slots import Completeness, assess, build_schedule, schedule_floor
from marketbrief.results.slots import window as schedule_window
from marketbrief.results.trend import session_trend
from marketbrief.results.usage import usage_report
from marketbrief.store import SQLStore, Store, StoreHealth
from marketbrief.store.base import HistoryQuery, run_key
from marketbrief.store.postgres import PgTimeouts

log = logging.getLogger(__name__)


def open_gateway(settings: Settings, clock: Callable[[], datetime]) -> Store:
    """The store the settings name, with their timeouts and breaker."""
    backend = SQLStore(
        settings.database_url,
        pg_timeouts=PgTimeouts(
            connect_seconds=settings.store_connect_timeout_seconds,
            statement_seconds=settings.store_statement_timeout_seconds,
            pool_seconds=settings.store_pool_timeout_seconds,
        ),
        clock=clock,
        d1_token=settings.d1_token,
        d1_api_url=settings.d1_api_url,
    )
    return Store(
        backend,
        clock=clock,
        read_timeout=settings.store_read_timeout_seconds,
        breaker_cooldown=settings.store_breaker_seconds,
        # On D1 each statement is a billed, rate-limited call: run-state reads are kept for the
        # revision check interval (store/memo.py).
        memo_seconds=settings.revision_check_seconds if backend.d1_usage is not None else 0.0,
    )


class Results:
    """One process's reports and run history: written, kept and read."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self._publisher = Publisher(deps)
        self._reader = Reader(deps)
        self.served = ServedStates()
        self.switches = deps.switches  # store reads now: the settings', or off by a rollback

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
        cache = from_url(
            settings.cache_url,
            prefix=settings.cache_prefix,
            timeout=settings.cache_timeout_seconds,
            breaker_cooldown=settings.cache_breaker_seconds,
        )
        near_terms = (
            cache.name if settings.cache_enabled else None,
            settings.near_cache_entries,
            settings.revision_check_seconds,
        )
        return cls(
            Deps(
                store=store or open_gateway(settings, clock),
                cache=cache if settings.cache_enabled else None,
                near=near_cache(*near_terms),
                near_pages=near_pages(*near_terms),
                outbox=Outbox(settings.outbox_dir),
                calendar=calendar or MarketCalendar(settings.slots),
                policy=Policy.from_settings(settings),
                clock=clock,
            )
        )

    # -- what the runner and the faces share --------------------------------------------------

    @property
    def store(self) -> Store:
        """The source of truth (the runner claims and records stages through it)."""
        return self.deps.store

    @property
    def calendar(self) -> MarketCalendar:
        """The exchange calendar and slot times."""
        return self.deps.calendar

    @property
    def counters(self) -> Counters:
        """What this process's results core has done (for /metrics and /status)."""
        return self.deps.counters

    @property
    def health(self) -> StoreHealth:
        """Whether the store answered the last time this process asked."""
        return self.deps.store.health

    def now(self) -> datetime:
        """Now, as the results core sees it."""
        return self.deps.clock()

    # -- reports ------------------------------------------------------------------------------

    async def publish(self, completion: Completion) -> Outcome:
        """The write path: acknowledged only after a store commit or an outbox fsync."""
        return await self._publisher.publish(completion)

    async def get_report(self, report_type: ReportType, day: date | None = None) -> ReportResponse:
        """The read path: always an honest answer, never an exception for a store outage."""
        answer = await self._reader.get_report(report_type, day)
        self._note_served(report_type, answer)
        return answer

    @property
    def answers_now(self) -> bool:
        """Whether `answer_now` and `history_now` can ever answer: not with the cache off, where
        every answer is a read."""
        return self.deps.cache is not None

    def answer_now(self, report_type: ReportType, day: date | None = None) -> ReportResponse | None:
        """`get_report`'s answer if it is a clean cache hit found without awaiting anything (the
        same answer, counted the same way), else None: then ask `get_report`."""
        answer = self._reader.answer_now(report_type, day)
        if answer is not None:
            self._note_served(report_type, answer)
        return answer

    def _note_served(self, report_type: ReportType, answer: ReportResponse) -> None:
        if self.served.concerns(report_type, answer.state.value):
            now = self.deps.clock()
            if answer.requested_date == self.deps.calendar.default_report_date(report_type, now):
                self.served.served(report_type, answer.requested_date, answer.state.value, now)

    async def has_report(self, report_type: ReportType, day: date) -> bool:
        """Whether the store serves a report for (type, date)."""
        return await self.deps.store.latest_snapshot(report_type, day) is not None

    async def trend(self, report_type: ReportType, sessions: int) -> list[dict[str, Any]]:
        """Each of the last `sessions` sessions' hit rate, oldest first (see `trend`)."""
        return await session_trend(self.deps, business_date(self.now()), report_type, sessions)

    # -- run history --------------------------------------------------------------------------

    async def history(self, query: HistoryQuery) -> bytes:
        """One page of run history as JSON bytes (through the hot cache)."""
        return await history_page(self.deps, query)

    def history_now(self, query: HistoryQuery) -> bytes | None:
        """`history`'s page if this process holds it, current, without awaiting anything."""
        return page_now(self.deps, query)

    async def run(self, ref: str | int) -> RunDetail | None:
        """One run in full, by integer id or run_id (None for what no run can match)."""
        key = run_key(ref)
        return None if key is None else await self.deps.store.get_run(key)

    async def latest_run(self, report_type: ReportType | None = None) -> Run | None:
        """The most recently started run, optionally of one type."""
        return await self.deps.store.latest_run(report_type)

    async def run_counts(self) -> dict[tuple[str, str], int]:
        """How many runs there are by (type, status)."""
        return await self.deps.store.run_counts()

    # -- expected versus actual ---------------------------------------------------------------

    async def schedule(self, days: int) -> dict[str, Any]:
        """Every slot of the last `days` sessions and what happened to it."""
        now = self.now()
        start, end = schedule_window(self.deps.calendar, now, days)
        runs = await self.deps.store.runs_between(start, end)
        grace = self.deps.policy.pending_grace
        began = await self.schedule_began()
        slots = build_schedule(
            self.deps.calendar, runs, now, start, end, grace=grace, began=began or now
        )
        counts: dict[str, int] = {}
        for slot in slots:
            counts[slot.status] = counts.get(slot.status, 0) + 1
        return {
            "from": start.isoformat(),
            "to": end.isoformat(),
            "schedule_began": iso_instant(began),
            "counts": counts,
            "slots": [s.as_dict() for s in slots],
        }

    async def begin_schedule(self) -> None:
        """Record now as when the schedule began, unless a service started here before (a store
        that cannot take it now is told by the next process that starts)."""
        with contextlib.suppress(StoreError):
            await self.deps.store.begin_schedule(self.now())

    async def schedule_began(self) -> datetime | None:
        """When the schedule began (first service start or earliest run's slot), or None."""
        return schedule_floor(self.deps.calendar, await self.deps.store.schedule_start())

    async def completeness(self, now: datetime, days: int) -> Completeness:
        """Whether every slot of the `days` days up to `now` (minus the grace) has a report."""
        since, until = now - timedelta(days=days), now - self.deps.policy.pending_grace
        expected = self.deps.calendar.slots_between(since, until) if until > since else []
        # Nothing before the schedule began was due (and nothing at all when it never began).
        began = await self.schedule_began() or now
        expected = [slot for slot in expected if slot[2] >= began]
        if not expected:
            return Completeness(days, since, until, [])
        first, last = min(d for _, d, _ in expected), max(d for _, d, _ in expected)
        reported = {(t, d) for t, d in await self.deps.store.latest_keys() if first <= d <= last}
        runs = await self.deps.store.runs_between(first, last)
        return Completeness(days, since, until, assess(expected, reported, runs))

    # -- the cache and the outbox -------------------------------------------------------------

    async def rehydrate(
        self,
        report_type: ReportType | None = None,
        day: date | None = None,
        *,
        days: int = DEFAULT_REHYDRATE_DAYS,
        purge: bool = False,
    ) -> list[Warmed]:
        """Replace cache entries with the store's latest reports (purging poisoned ones)."""
        return await rehydrate(self.deps, report_type, day, days=days, purge=purge)

    async def cached_version(self, report_type: ReportType, day: date) -> int | None:
        """The version of the report the cache holds for (type, date); None if none or no cache.

        Every cached version was issued by the store (or is an outboxed run's, above one the
        store issued), so a run that starts now started after it.
        """
        cache = self.deps.cache
        if cache is None:
            return None
        try:
            entry = await cache.get(keys.report_key(report_type.value, day))
        except CacheError:
            return None
        return entry.version if entry is not None else None

    async def spool(self, completion: Completion) -> None:
        """Keep a completion in the outbox only (fsync'd); OutboxError when it cannot."""
        await anyio.to_thread.run_sync(self.deps.outbox.append, completion)

    def outbox_depth(self) -> int:
        """How many completions wait in the outbox."""
        return self.deps.outbox.depth()

    def outbox_since(self) -> datetime | None:
        """When the oldest completion waiting in the outbox was spooled (None when empty)."""
        for path in self.deps.outbox.pending():
            with contextlib.suppress(FileNotFoundError):  # replayed since the listing
                return datetime.fromtimestamp(path.stat().st_mtime, UTC)
        return None

    async def replay_outbox(self) -> ReplayReport:
        """Move spooled completions into the store, then republish them as persisted."""
        d = self.deps
        if not d.policy.store_writes:
            return ReplayReport(remaining=d.outbox.depth())
        report = await d.outbox.replay(d.store.finish_run)
        for completion, result in report.stored:
            d.counters.replayed += 1
            await self._publisher.publish_to_cache(completion, result)
        return report

    async def run_replayer(self, stop: asyncio.Event) -> None:
        """Until `stop` is set: replay the outbox; re-check a store believed down or unwritable."""
        d = self.deps
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), d.policy.outbox_replay_seconds)
            try:
                if d.outbox.depth():
                    await self.replay_outbox()
                elif d.store.health.writes_down and d.policy.store_writes:
                    # Nothing to replay, yet only a write can tell that writes work again.
                    await d.store.ping_writes()
                elif d.store.health.is_down:
                    await d.store.ping()
            except StoreUnavailable:
                pass
            except Exception:  # a replayer that dies silently would lose nothing but stall all
                log.exception("outbox replay failed; will retry")

    async def watch_revision(self, stop: asyncio.Event) -> None:
        """Until `stop` is set: keep the store revision readers validate against current."""
        await self.deps.revisions.run(stop)

    async def usage(self, days: int) -> dict[str, Any]:
        """Rows and bytes per table, runs and store usage per day, growth a year ahead."""
        return await usage_report(self.deps.store, days, self.now())

    # -- health -------------------------------------------------------------------------------

    async def readiness(self) -> dict[str, Any]:
        """Store, cache and outbox health; ready means the store answers and takes writes."""
        d = self.deps
        store: dict[str, Any] = {"ok": True, "dialect": d.store.dialect}
        try:
            await d.store.ping()
        except StoreError as error:
            store = {"ok": False, "dialect": d.store.dialect, "error": str(error)}
            down_since = d.store.health.down_since
            store["down_since"] = iso_instant(down_since)
        # A read answering says nothing about writes (a read-only filesystem answers them all):
        # the last write decides, and the replayer keeps writing until one succeeds.
        health = d.store.health
        store["writes"] = {"ok": not health.writes_down}
        if health.writes_down:
            store["ok"] = False
            store["writes"].update(
                down_since=iso_instant(health.writes_down_since),
                error=health.last_write_error,
            )
            store.setdefault("error", f"store writes failing: {health.last_write_error}")
        cache: dict[str, Any] = {"enabled": d.cache is not None}
        if d.cache is not None:
            cache["backend"] = d.cache.name
            try:
                await d.cache.ping()
                cache["ok"] = True
            except CacheError as error:
                cache.update(ok=False, error=str(error))
            stats = await d.cache.stats()
            cache["stats"] = {
                "entries": stats.entries,
                "bytes": stats.bytes,
                "evictions": stats.evictions,
                "refused": stats.refused,
            }
        return {
            "ready": bool(store["ok"]),
            "store": store,
            "cache": cache,
            "outbox": {"depth": d.outbox.depth(), "rejected": len(d.outbox.rejected())},
            "switches": {
                "store_writes": d.policy.store_writes,
                **d.switches.record(),
                "cache": d.cache is not None,
            },
        }

    async def close(self) -> None:
        """Release the cache client and the store's connections."""
        await self.deps.revisions.close()
        if self.deps.cache is not None:
            with contextlib.suppress(CacheError):
                await self.deps.cache.close()
        await self.deps.store.close()
