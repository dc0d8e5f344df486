"""The store as everything async sees it: one awaitable method per question, health inside.

A backend (`SQLStore`, behind the blocking `StoreBackend` port) answers in the calling thread.
`Store` moves each call to a worker thread (a read to the store's own read threads,
`store/threads.py`) and records whether the store answered, so health is tracked in exactly
one place and callers simply write `await store.latest_snapshot(t, day)`.

Health is a circuit breaker: once a call timed out, calls fail at once for a cool-down and then
one probe at a time tests recovery. A read also has a deadline of its own: past it the caller
gets StoreTimeout while the worker thread finishes (or times out) on its own, so no reader
waits on a stalled store longer than the deadline, whatever the driver is doing.

Writes are tracked apart from reads: a store whose filesystem went read-only answers every read,
and only a write that succeeds again says that it takes writes again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from marketbrief.breaker import DEFAULT_COOLDOWN_SECONDS, Breaker
from marketbrief.calendar import utc_now
from marketbrief.errors import StoreError, StoreTimeout, StoreUnavailable
from marketbrief.models import (
    Claim,
    Completion,
    Outcome,
    Prediction,
    ReportType,
    Run,
    RunDetail,
    Snapshot,
    Stage,
    StageStatus,
    TriggerSource,
)
from marketbrief.store.base import (
    HistoryPage,
    HistoryQuery,
    Revisions,
    ScheduleStart,
    StoreBackend,
    WriteCounts,
)
from marketbrief.store.claims import Claims
from marketbrief.store.measures import UsageMeasures
from marketbrief.store.memo import ReadMemo
from marketbrief.store.threads import ReadThreads
from marketbrief.store.usage import UsageCounter

T = TypeVar("T")
DEFAULT_READ_TIMEOUT_SECONDS = 1.5
# How long close() lets abandoned reads finish (their own round-trip timeout ends them).
CLOSE_GRACE_SECONDS = 5.0
# Measuring usage scans every table (and SQLite's dbstat every page): an operator's read.
USAGE_READ_TIMEOUT_SECONDS = 30.0


@dataclass(slots=True)
class StoreHealth(Breaker):
    """Whether the store answered the last time this process asked, whether it took writes,
    and whether to ask now (the breaker)."""

    writes_down_since: datetime | None = None
    last_write_error: str | None = None

    @property
    def writes_down(self) -> bool:
        """True after a failed write, until the next successful write (reads do not count)."""
        return self.writes_down_since is not None

    def failed(self, error: Exception, now: datetime, *, write: bool = False) -> None:
        """Record a store call that failed with an error."""
        Breaker.failed(self, error, now)
        if write:
            if self.writes_down_since is None:
                self.writes_down_since = now
            self.last_write_error = str(error)

    def timed_out(self, error: Exception, now: datetime, *, write: bool = False) -> None:
        """Record a store call that got no answer in time: the breaker opens."""
        self.failed(error, now, write=write)
        self.trip()

    def answered(self, *, write: bool = False) -> None:
        """Record a successful store call."""
        Breaker.answered(self)
        if write:
            self.writes_down_since = None


class Store(Claims):
    """The async face of a blocking store backend; every method may raise StoreError."""

    def __init__(
        self,
        backend: StoreBackend,
        *,
        clock: Callable[[], datetime] = utc_now,
        read_timeout: float = DEFAULT_READ_TIMEOUT_SECONDS,
        breaker_cooldown: float = DEFAULT_COOLDOWN_SECONDS,
        memo_seconds: float = 0.0,
    ) -> None:
        self.backend = backend
        self.memo = ReadMemo(memo_seconds)
        self.clock = clock
        self.read_timeout = read_timeout
        self.health = StoreHealth(cooldown=breaker_cooldown)
        self.writes = WriteCounts()
        self._reads = ReadThreads()

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.backend.dialect

    async def _call(
        self, method: Callable[..., T], *args: Any, write: bool = False, **kwargs: Any
    ) -> T:
        """A call bounded by the engine's own timeouts (a write is never abandoned)."""
        if write:
            self.memo.forget()
        return await self._guarded(None, partial(method, *args, **kwargs), write=write)

    async def _read(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A read: abandoned to its thread past the read deadline (or a recent answer, on D1)."""
        key = self.memo.key(getattr(method, "__name__", ""), args, kwargs)
        if key is not None:
            known, answer = self.memo.get(key)
            if known:
                result: T = answer
                return result
        result = await self._guarded(self.read_timeout, partial(method, *args, **kwargs))
        if key is not None:
            self.memo.put(key, result)
        return result

    async def _guarded(
        self,
        deadline: float | None,
        call: Callable[[], T],
        *,
        prober: bool = False,
        write: bool = False,
    ) -> T:
        health = self.health
        if write:
            self.writes.attempts += 1
        if not health.admit(prober=prober):
            raise StoreUnavailable(health.refusal("the store"))
        try:
            if deadline is None:
                result = await anyio.to_thread.run_sync(call)
            else:
                try:
                    result = await self._reads.start(call, deadline)
                except TimeoutError:
                    raise StoreTimeout(f"the store did not answer within {deadline} s") from None
        except StoreTimeout as error:
            health.timed_out(error, self.clock(), write=write)
            raise
        except StoreUnavailable as error:
            health.failed(error, self.clock(), write=write)
            raise
        except StoreError:
            health.answered(write=write)  # a conflict or a schema error is an answer
            raise
        except BaseException:
            health.abandoned()
            raise
        health.answered(write=write)
        if write:
            self.writes.committed += 1
        return result

    # -- runs: claim, stages, completion, sweep -------------------------------------------------

    async def claim_run(
        self,
        report_type: ReportType,
        scheduled_date: date,
        trigger_source: TriggerSource,
        *,
        started_at: datetime | None = None,
        lease_until: datetime | None = None,
    ) -> Claim:
        """Start a run; a slot another process holds comes back with claimed=False."""
        return await self._call(
            self.backend.claim_run,
            report_type,
            scheduled_date,
            trigger_source,
            started_at=started_at,
            lease_until=lease_until,
            write=True,
        )

    async def renew_lease(self, run_id: str, until: datetime) -> bool:
        """Extend a running run's lease; False when the run is no longer running."""
        return await self._call(self.backend.renew_lease, run_id, until, write=True)

    async def record_stage(
        self,
        run_id: str,
        stage: Stage,
        status: StageStatus,
        *,
        started_at: datetime,
        ended_at: datetime | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Record one stage of a running run."""
        await self._call(
            self.backend.record_stage,
            run_id,
            stage,
            status,
            started_at=started_at,
            ended_at=ended_at,
            details=details,
            write=True,
        )

    async def finish_run(self, completion: Completion) -> Outcome:
        """Write a completion in one transaction (idempotent)."""
        return await self._call(self.backend.finish_run, completion, write=True)

    async def fail_stuck_runs(self, started_before: datetime, now: datetime) -> list[str]:
        """Mark runs still running from before the cutoff as failed."""
        return await self._call(self.backend.fail_stuck_runs, started_before, now, write=True)

    async def save_closes(self, closes: Sequence[Mapping[str, Any]]) -> int:
        """Keep daily closes (idempotent per symbol and date)."""
        return await self._call(self.backend.save_closes, closes, write=True)

    # -- reports ---------------------------------------------------------------------------------

    async def latest_snapshot(self, report_type: ReportType, day: date) -> Snapshot | None:
        """The snapshot readers get for (type, date)."""
        return await self._read(self.backend.latest_snapshot, report_type, day)

    async def snapshot_before(self, report_type: ReportType, day: date) -> Snapshot | None:
        """The latest snapshot of that type for the newest date before `day`."""
        return await self._read(self.backend.snapshot_before, report_type, day)

    async def latest_snapshots(
        self, report_type: ReportType, date_from: date, date_to: date
    ) -> list[Snapshot]:
        """The latest snapshot of each date in a range, oldest first."""
        return await self._read(self.backend.latest_snapshots, report_type, date_from, date_to)

    async def latest_version(self, report_type: ReportType, day: date) -> int | None:
        """The version `report_latest` holds for (type, date)."""
        return await self._read(self.backend.latest_version, report_type, day)

    async def latest_keys(
        self, report_type: ReportType | None = None, day: date | None = None
    ) -> list[tuple[ReportType, date]]:
        """Every (type, date) with a latest report, optionally filtered."""
        return await self._read(self.backend.latest_keys, report_type, day)

    async def revisions(self) -> Revisions:
        """The latest pointers' and run history's change counters, in one read."""
        return await self._read(self.backend.revisions)

    # -- runs: reads -----------------------------------------------------------------------------

    async def latest_run_for(self, report_type: ReportType, day: date) -> Run | None:
        """The newest run of that type for that date."""
        return await self._read(self.backend.latest_run_for, report_type, day)

    async def predictions_for(
        self, day: date, report_types: tuple[ReportType, ...]
    ) -> tuple[Run, list[Prediction]] | None:
        """The newest success/partial run of those types on `day` with a usable prediction."""
        return await self._read(self.backend.predictions_for, day, report_types)

    async def good_run(
        self, report_type: ReportType, day: date
    ) -> tuple[Run, list[Prediction]] | None:
        """The newest success/partial run of that type on `day`, with its predictions."""
        return await self._read(self.backend.good_run, report_type, day)

    async def history(self, query: HistoryQuery) -> HistoryPage:
        """One page of run history."""
        return await self._read(self.backend.history, query)

    async def latest_run(self, report_type: ReportType | None = None) -> Run | None:
        """The most recently started run, optionally of one type."""
        return await self._read(self.backend.latest_run, report_type)

    async def runs_between(self, date_from: date, date_to: date) -> list[Run]:
        """Every run for business dates in a range, oldest first."""
        return await self._read(self.backend.runs_between, date_from, date_to)

    async def run_counts(self) -> dict[tuple[str, str], int]:
        """How many runs there are by (type, status)."""
        return await self._read(self.backend.run_counts)

    async def get_run(self, ref: str | int) -> RunDetail | None:
        """One run in full, by integer id or run_id."""
        return await self._read(self.backend.get_run, ref)

    async def schedule_start(self) -> ScheduleStart:
        """When the scheduler first started here, and the runs of the earliest date."""
        return await self._read(self.backend.schedule_start)

    async def begin_schedule(self, at: datetime) -> datetime:
        """Record when the schedule began (a service's first start); return what is stored."""
        return await self._call(self.backend.begin_schedule, at, write=True)

    # -- usage: what this process asked of the store ---------------------------------------------

    @property
    def usage(self) -> UsageCounter:
        """This process's statement and row counts not yet added to the store."""
        return self.backend.usage

    async def flush_usage(self) -> None:
        """Add this process's counts to the store's per-day totals (kept pending on failure).

        Bounded like a read: past the deadline it is left to its thread, which puts back what
        it took only if its write fails, so nothing is counted twice.
        """
        if self.backend.usage.pending():
            await self._guarded(self.read_timeout, partial(self.backend.flush_usage, self.clock()))

    async def usage_measures(self, since: date) -> UsageMeasures:
        """Table sizes now, rows added per day since `since`, and the counted usage."""
        return await self._guarded(
            USAGE_READ_TIMEOUT_SECONDS, partial(self.backend.usage_measures, since)
        )

    # -- the connection --------------------------------------------------------------------------

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers."""
        await self._read(self.backend.ping)

    async def probe(self) -> bool:
        """Whether the store answers, asked by a background prober even while the breaker
        keeps requests away (after the cool-down, one probe at a time)."""
        try:
            await self._guarded(self.read_timeout, self.backend.ping, prober=True)
        except StoreUnavailable:
            return False
        return True

    async def ping_writes(self) -> None:
        """Raise StoreUnavailable unless the store takes a write."""
        await self._call(self.backend.ping_writes, write=True)

    async def close(self) -> None:
        """Add the usage counted here to the store (if it answers), then release every
        connection, once reads abandoned past their deadline have ended."""
        with contextlib.suppress(StoreError):
            await self.flush_usage()
        await anyio.to_thread.run_sync(self._reads.wait_idle, CLOSE_GRACE_SECONDS)
        self._reads.close()
        await anyio.to_thread.run_sync(self.backend.close)
