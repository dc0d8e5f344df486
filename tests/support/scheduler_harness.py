"""A scheduler on virtual time over a real store, for time-travel tests and multi-process runs."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta

from marketbrief.calendar import MarketCalendar
from marketbrief.models import TriggerSource
from marketbrief.results.slots import Slot
from marketbrief.runs.scheduler import Scheduler
from marketbrief.store import SQLStore, Store
from tests.support.factories import completion_for


class VirtualTime:
    """A clock that only moves when the scheduler sleeps, and stops the loop at `end`."""

    def __init__(
        self,
        start: datetime,
        end: datetime,
        stop: asyncio.Event,
        jump: tuple[datetime, timedelta] | None = None,
    ) -> None:
        self.now = start
        self.end = end
        self.stop = stop
        self.jump = jump  # (when, by): once time passes `when`, it leaps ahead by `by`

    def clock(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        if self.jump is not None and self.now >= self.jump[0]:
            self.now += self.jump[1]  # a suspended machine waking up, or a clock set forward
            self.jump = None
        if self.now >= self.end:
            self.stop.set()
        await asyncio.sleep(0)


class ClaimingRunner:
    """Claims each slot in the real store exactly as the runner does, then finishes the run."""

    def __init__(self, store: SQLStore, time: VirtualTime) -> None:
        self.store = store
        self.time = time
        self.fired: list[tuple[Slot, TriggerSource, datetime]] = []

    async def run_slot(self, slot: Slot, trigger: TriggerSource) -> None:
        self.fired.append((slot, trigger, self.time.now))
        claim = self.store.claim_run(slot.report_type, slot.day, trigger, started_at=self.time.now)
        if claim.claimed:
            self.store.finish_run(completion_for(claim.run))


async def drive(
    url: str,
    start: datetime,
    end: datetime,
    catchup_hours: float = 6,
    jump: tuple[datetime, timedelta] | None = None,
) -> ClaimingRunner:
    """Run one scheduler from start to end on virtual time; returns what it fired."""
    stop = asyncio.Event()
    time = VirtualTime(start, end, stop, jump)
    store = SQLStore(url)
    runner = ClaimingRunner(store, time)
    scheduler = Scheduler(
        MarketCalendar(),
        Store(store),
        runner,
        catchup=timedelta(hours=catchup_hours),
        run_timeout=timedelta(minutes=30),
        clock=time.clock,
        sleep=time.sleep,
    )
    try:
        await scheduler.run(stop)
    finally:
        store.close()
    return runner


if __name__ == "__main__":  # python -m tests.support.scheduler_harness URL START END
    url, start, end = sys.argv[1], sys.argv[2], sys.argv[3]
    fired = asyncio.run(
        drive(url, datetime.fromisoformat(start), datetime.fromisoformat(end).astimezone(UTC))
    )
    print(len(fired.fired))
