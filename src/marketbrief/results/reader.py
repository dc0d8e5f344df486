"""The read path: cache, then the store, then honest fallbacks.

cache hit -> report_latest (single-flight, warms the cache) -> closed (a daily report on a day
without a session, with the next session) -> pending -> stale (age-limited,
labelled with its own date, never cached under the requested date) -> partial from the day's
predictions -> failed or missing. With the store down, a hit is served with a warning and a
miss is `unavailable`: never an error page, never an empty success.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import date, datetime, timedelta

from marketbrief.cache import keys
from marketbrief.calendar import iso_instant
from marketbrief.errors import CacheError, StoreUnavailable
from marketbrief.models import PUBLISHABLE, ReportType, RunStatus
from marketbrief.reports.common import is_usable
from marketbrief.results import answers
from marketbrief.results.deps import Deps
from marketbrief.results.entries import CachedReport, decode_entry, encode_entry
from marketbrief.results.envelope import ReportResponse, ReportState, Source
from marketbrief.results.singleflight import SingleFlight

LOCK_TTL_SECONDS = 5.0
LOCK_WAIT_SECONDS = 2.0
_MAX_VALIDATED = 50_000
_MAX_DECODED = 256  # entries whose decoding is kept (they share the cache's bytes)
_PARTIAL_TYPES = (ReportType.INTRADAY, ReportType.END_OF_DAY)
_PREDICTION_SOURCES = (ReportType.PRE_MARKET, ReportType.INTRADAY)


class Reader:
    """Answers `get_report` for one process."""

    def __init__(self, deps: Deps) -> None:
        self.d = deps
        self._flights: SingleFlight[CachedReport | None] = SingleFlight()
        self._validated: dict[str, tuple[int, int]] = {}
        self._decodings: dict[str, tuple[bytes, CachedReport]] = {}
        self._answers: dict[str, tuple[CachedReport, ReportResponse]] = {}  # clean hits

    async def get_report(self, report_type: ReportType, day: date | None = None) -> ReportResponse:
        """The report of `report_type` for `day` (default: its current business date)."""
        now = self.d.clock()
        if day is not None:
            self.d.calendar.check(day)  # the date asked is the one named when it is not covered
        day = day or self.d.calendar.default_report_date(report_type, now)
        response = await self._answer(report_type, day, now)
        self.d.counters.served(response.state.value)
        return response

    def answer_now(self, report_type: ReportType, day: date | None = None) -> ReportResponse | None:
        """`get_report`'s answer when it is a clean cache hit served before and still standing,
        found without awaiting anything: the very object `get_report` would return, counted as
        it counts it. None whenever answering needs more (a read, a check, a warning): then
        `get_report` answers. The HTTP server asks this before it starts the app
        (web/protocol.py), so a repeated report request costs no task and no framework.
        """
        d = self.d
        if d.cache is None or not d.switches.store_reads:
            return None
        revision = d.revisions.known_now()
        if revision is None or d.health.is_down:
            return None
        if day is None:
            day = d.calendar.default_report_date(report_type, d.clock())
        elif not d.calendar.covers(day):
            return None  # get_report names the date that is not covered
        key = keys.report_key(report_type.value, day)
        seen = self._answers.get(key)
        if seen is None or not self._still_cached(key, seen[0], revision):
            return None
        d.counters.cache_hits += 1
        d.counters.served(seen[1].state.value)
        return seen[1]

    def _still_cached(self, key: str, hit: CachedReport, revision: int) -> bool:
        """Whether the cache would hand `hit` out again now, validated at `revision`; a hit
        found is counted where `_cached` counts it."""
        near = self.d.near
        if near is not None:
            if near.peek(key, revision) is not hit:
                return False
            near.get(key, revision)
            self.d.counters.near_hits += 1
            return True
        local = self.d.local
        entry = local.peek(key) if local is not None else None
        decoded = self._decodings.get(key)
        if (
            local is None
            or entry is None
            or decoded is None
            or decoded[0] is not entry.value
            or decoded[1] is not hit
            or self._validated.get(key) != (revision, entry.version)
        ):
            return False
        local.note_hit(key)
        return True

    async def _answer(self, report_type: ReportType, day: date, now: datetime) -> ReportResponse:
        warnings: list[str] = []
        key = keys.report_key(report_type.value, day)
        if self.d.cache is not None:
            revision = await self.d.revisions.known() if self.d.switches.store_reads else None
            hit = await self._cached(key, report_type, day, revision, warnings)
            if hit is not None:
                return self._served_hit(key, report_type, day, hit, warnings)
        if not self.d.switches.store_reads:
            return answers.unavailable(report_type, day, [*warnings, *self.d.switches.warnings()])
        if self.d.health.refuses():
            # The store is known not to answer: no cache lock, no wait for another process.
            return answers.unavailable(report_type, day, [*warnings, "store_unavailable"])
        try:
            found = await self._flights.run(key, lambda: self._load(key, report_type, day))
            if found is not None:
                return answers.fresh(report_type, day, found, Source.STORE, warnings)
            return await self._fallback(report_type, day, now, warnings)
        except StoreUnavailable:
            return answers.unavailable(report_type, day, [*warnings, "store_unavailable"])

    # -- cache ----------------------------------------------------------------------------------

    async def _cached(
        self,
        key: str,
        report_type: ReportType,
        day: date,
        revision: int | None,
        warnings: list[str],
    ) -> CachedReport | None:
        """The near cache's entry, else the shared cache's (then kept near for the next read)."""
        near = self.d.near
        if near is not None:
            found = near.get(key, revision)
            if found is not None:
                self.d.counters.cache_hits += 1
                self.d.counters.near_hits += 1
                return found
        found = await self._from_cache(key, report_type, day, revision, warnings)
        if found is not None and near is not None:
            near.put(key, revision, found)
        return found

    async def _from_cache(
        self,
        key: str,
        report_type: ReportType,
        day: date,
        revision: int | None,
        warnings: list[str],
    ) -> CachedReport | None:
        assert self.d.cache is not None
        try:
            entry = await self.d.cache.get(key)
        except CacheError:
            self.d.counters.cache_errors += 1
            warnings.append("cache_unavailable")
            return None
        if entry is None:
            self.d.counters.cache_misses += 1
            return None
        cached = self._decoded(key, entry.value, report_type, day)
        if cached is None:
            self.d.counters.malformed_entries += 1
        # A malformed, mismatched or superseded entry is a miss, and is removed: a miss is
        # never content.
        if cached is None or not await self._still_latest(
            key, report_type, day, revision, entry.version, cached.persisted
        ):
            self.d.counters.cache_misses += 1
            with contextlib.suppress(CacheError):
                await self.d.cache.delete(key)
            return None
        self.d.counters.cache_hits += 1
        return cached

    def _decoded(
        self, key: str, value: bytes, report_type: ReportType, day: date
    ) -> CachedReport | None:
        """The entry decoded, once per entry: the in-process cache hands out the very same
        bytes object on every hit, and Redis the same bytes again, so an entry seen before is
        not parsed again (and its answer, and the reply made of it, stay the ones kept)."""
        seen = self._decodings.get(key)
        if seen is not None and (seen[0] is value or seen[0] == value):
            return seen[1]
        cached = decode_entry(value, report_type.value, day)
        if cached is not None:
            if len(self._decodings) >= _MAX_DECODED:
                self._decodings.clear()
            self._decodings[key] = (value, cached)
        return cached

    def _served_hit(
        self, key: str, report_type: ReportType, day: date, hit: CachedReport, warnings: list[str]
    ) -> ReportResponse:
        """The answer for a cache hit: the same object as last time for the same clean hit (the
        web layer then sends the reply it made of it again, `web/replies.py`)."""
        extra = self._hit_warnings(hit, warnings)
        if extra:
            return answers.fresh(report_type, day, hit, Source.CACHE, extra)
        seen = self._answers.get(key)
        if seen is not None and seen[0] is hit:
            return seen[1]
        response = answers.fresh(report_type, day, hit, Source.CACHE, extra)
        if len(self._answers) >= _MAX_DECODED:
            self._answers.clear()
        self._answers[key] = (hit, response)
        return response

    def _hit_warnings(self, hit: CachedReport, warnings: list[str]) -> list[str]:
        extra = list(warnings)
        if self.d.health.is_down:
            extra.append("store_unavailable")
        if not hit.persisted:
            extra.append("not_persisted")
        return extra

    async def _still_latest(
        self,
        key: str,
        report_type: ReportType,
        day: date,
        revision: int | None,
        version: int,
        persisted: bool,
    ) -> bool:
        """After the store changed, check each cached entry once against `report_latest`.

        A persisted entry is valid only while it is exactly the store's latest: a newer report
        (written by a process that could not reach this cache), an older one (after a restore
        or an import) or none at all makes it a miss. An entry cached as not yet persisted is
        valid while the store holds nothing newer; once the store holds its own version (it was
        replayed from the outbox), it is reloaded with its snapshot id and without the warning.
        The check is remembered per store revision and entry version, so an older value that
        comes back in the cache (a lagging replica, an old snapshot) is checked again.
        """
        if revision is None or self._validated.get(key) == (revision, version):
            return True
        try:
            current = await self.d.store.latest_version(report_type, day)
        except StoreUnavailable:
            return True  # serve what we have; the warning says the store is down
        if persisted and current != version:
            return False
        if not persisted and current is not None and current >= version:
            return False
        if len(self._validated) >= _MAX_VALIDATED:
            self._validated.clear()
        self._validated[key] = (revision, version)
        return True

    # -- store ----------------------------------------------------------------------------------

    async def _load(self, key: str, report_type: ReportType, day: date) -> CachedReport | None:
        """One store read for this key in this process; in Redis mode, one across processes."""
        cache = self.d.cache
        lock = keys.report_lock(report_type.value, day) if cache is not None else ""
        token: str | None = None
        if cache is not None:
            try:
                token = await cache.try_lock(lock, LOCK_TTL_SECONDS)
                if token is None:
                    warmed = await self._wait_for_warm(key, report_type, day)
                    if warmed is not None:
                        return warmed
            except CacheError:
                token = None
        try:
            self.d.counters.store_reads += 1
            snapshot = await self.d.store.latest_snapshot(report_type, day)
            if snapshot is None:
                return None
            cached = CachedReport.from_snapshot(snapshot)
            await self._warm(key, cached, snapshot.version)
            return cached
        finally:
            if token is not None and cache is not None:
                with contextlib.suppress(CacheError):
                    await cache.unlock(lock, token)

    async def _wait_for_warm(
        self, key: str, report_type: ReportType, day: date
    ) -> CachedReport | None:
        """Another process holds the lock: give it a moment to warm the cache."""
        assert self.d.cache is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LOCK_WAIT_SECONDS
        while loop.time() < deadline:
            await asyncio.sleep(0.02)
            entry = await self.d.cache.get(key)
            if entry is not None:
                cached = decode_entry(entry.value, report_type.value, day)
                if cached is not None:
                    return cached
        return None

    async def _warm(self, key: str, cached: CachedReport, version: int) -> None:
        if self.d.cache is None:
            return  # the cache is off: nothing to encode
        try:
            await self.d.cache.set(
                key, encode_entry(cached), version=version, ttl=self.d.policy.cache_ttl_seconds
            )
            self.d.counters.rehydrations += 1
        except CacheError:
            self.d.counters.cache_errors += 1

    # -- fallbacks ------------------------------------------------------------------------------

    async def _fallback(
        self, report_type: ReportType, day: date, now: datetime, warnings: list[str]
    ) -> ReportResponse:
        calendar = self.d.calendar
        if report_type is not ReportType.WEEKLY and not calendar.is_session(day):
            # No report is due on a day without a session: an older one never stands in.
            return answers.closed(report_type, day, calendar.next_session(day), warnings)
        slot = calendar.slot_instant(report_type, day)
        grace = self.d.policy.pending_grace
        scheduled = {"scheduled_at": iso_instant(slot)}
        if slot is not None and now < slot + grace:
            return ReportResponse(
                report_type.value,
                day,
                ReportState.PENDING,
                warnings=tuple(warnings),
                extra=scheduled,
            )
        older = await self.d.store.snapshot_before(report_type, day)
        if older is not None and older.scheduled_date >= self._stale_floor(report_type, day):
            return ReportResponse(
                report_type.value,
                day,
                ReportState.STALE,
                data=older.content,
                source=Source.FALLBACK,
                business_date=older.scheduled_date,
                generated_at=older.created_at,
                run_id=older.run_id,
                snapshot_id=older.id,
                content_sha256=older.content_sha256,
                warnings=(*warnings, "stale"),
            )
        if report_type in _PARTIAL_TYPES:
            found = await self.d.store.predictions_for(day, _PREDICTION_SOURCES)
            # Partial needs real content: a run that failed, or one without a single usable
            # prediction, is never shaped into a report.
            if found is not None and found[0].status in PUBLISHABLE:
                usable = [p for p in found[1] if is_usable(p)]
                if usable:
                    return answers.partial(report_type, day, found[0], found[1], warnings)
        last = await self.d.store.latest_run_for(report_type, day)
        if last is not None and last.status is RunStatus.FAILED:
            return ReportResponse(
                report_type.value,
                day,
                ReportState.FAILED,
                run_id=last.run_id,
                warnings=tuple(warnings),
                extra={**scheduled, "errors": last.errors},
            )
        if last is not None and last.status is RunStatus.RUNNING:
            return ReportResponse(
                report_type.value,
                day,
                ReportState.PENDING,
                run_id=last.run_id,
                warnings=tuple(warnings),
                extra=scheduled,
            )
        return ReportResponse(
            report_type.value, day, ReportState.MISSING, warnings=tuple(warnings), extra=scheduled
        )

    def _stale_floor(self, report_type: ReportType, day: date) -> date:
        """The oldest business date a stale answer may carry: old data is never passed as news."""
        limit = self.d.policy.max_stale_sessions
        if report_type is ReportType.WEEKLY:
            return day - timedelta(weeks=limit)
        return self.d.calendar.sessions_before(day, limit)
