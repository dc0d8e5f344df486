"""The New York scheduler: slots to timers, exactly-once claims, catch-up and the sweeper.

"When is the next slot?" is the calendar's pure arithmetic; this loop only waits and calls.
It sleeps in short steps and re-reads the clock, so a suspended machine or a clock change never
makes it skip or double a slot: a slot fires when the clock has passed it and the store's slot
claim (unique per date and type) makes every other scheduler process lose cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Protocol

from marketbrief.calendar import MarketCalendar, business_date, iso_instant, utc_now
from marketbrief.errors import StoreUnavailable
from marketbrief.models import TriggerSource
from marketbrief.results.slots import (
    MISSED_LOOKBACK,
    CatchUpPlan,
    Slot,
    plan_catch_up,
    schedule_floor,
)
from marketbrief.store.gateway import Store

log = logging.getLogger(__name__)
MAX_NAP_SECONDS = 30.0
# A slot noticed later than this after its instant was not fired on time: the loop was away.
ON_TIME = timedelta(seconds=2 * MAX_NAP_SECONDS)
SWEEP_EVERY = timedelta(minutes=1)


class SlotRunner(Protocol):
    """What the scheduler asks of the runner."""

    async def run_slot(self, slot: Slot, trigger: TriggerSource) -> object: ...


class Scheduler:
    """Fires each slot once it is due, catches up on start and sweeps stuck runs."""

    def __init__(
        self,
        calendar: MarketCalendar,
        store: Store,
        runner: SlotRunner,
        *,
        catchup: timedelta,
        run_timeout: timedelta,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.calendar = calendar
        self.store = store
        self.runner = runner
        self.catchup = catchup
        self.run_timeout = run_timeout
        self.clock = clock
        self.sleep = sleep

    async def catch_up(self) -> CatchUpPlan:
        """Run each recently missed slot once, as `catch-up`."""
        now = self.clock()
        began = schedule_floor(self.calendar, await self.store.schedule_start())
        claimed = {
            (run.report_type, run.scheduled_date)
            for run in await self.store.runs_between(
                business_date(now - MISSED_LOOKBACK), business_date(now)
            )
        }
        plan = plan_catch_up(
            self.calendar,
            now,
            self.catchup,
            lambda s: (s.report_type, s.day) in claimed,
            began=began or now,
        )
        hours = f"{self.catchup.total_seconds() / 3600:g} h"
        for slot in plan.missed:
            log.warning(
                "slot %s %s at %s was missed and is skipped: it is older than the catch-up "
                "window of %s (MARKETBRIEF_CATCHUP_HOURS)",
                slot.report_type.value,
                slot.day,
                iso_instant(slot.instant),
                hours,
                extra=_decision("catchup_skipped", slot, f"older than the {hours} catch-up window"),
            )
        for slot in plan.to_run:
            log.info(
                "slot %s %s at %s was missed; catching up now (within the %s window)",
                slot.report_type.value,
                slot.day,
                iso_instant(slot.instant),
                hours,
                extra=_decision("catchup_run", slot, f"within the {hours} catch-up window"),
            )
            await self._fire(slot, TriggerSource.CATCH_UP)
        return plan

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set: catch up, then fire every slot as it comes due."""
        with contextlib.suppress(StoreUnavailable):
            # The first service to start records when the schedule began: slots before it
            # were never due, so they are neither caught up nor logged as missed.
            await self.store.begin_schedule(self.clock())
            await self.catch_up()
        last_sweep: datetime | None = None
        after = self.clock()
        while not stop.is_set():
            report_type, day, instant = self.calendar.next_slot(after)
            while not stop.is_set():
                now = self.clock()
                if last_sweep is None or now - last_sweep >= SWEEP_EVERY:
                    last_sweep = now
                    await self.sweep(now)
                if now >= instant:
                    break
                nap = min((instant - now).total_seconds(), MAX_NAP_SECONDS)
                await self._nap(stop, nap)
            if stop.is_set():
                return
            if now - instant > ON_TIME:
                # The loop was away (a suspended machine, a clock set forward): the slots that
                # passed meanwhile get the start-up policy, catch-up within the window and
                # missed beyond it, never a burst of days-old runs recorded as `schedule`.
                with contextlib.suppress(StoreUnavailable):
                    await self.catch_up()
                after = now
                continue
            await self._fire(Slot(report_type, day, instant), TriggerSource.SCHEDULE)
            after = instant

    async def sweep(self, now: datetime) -> list[str]:
        """Mark runs stuck in `running` past the timeout as failed: no run stays running forever."""
        try:
            return await self.store.fail_stuck_runs(now - self.run_timeout, now)
        except StoreUnavailable:
            return []

    async def _fire(self, slot: Slot, trigger: TriggerSource) -> None:
        try:
            await self.runner.run_slot(slot, trigger)
        except Exception:  # one failed slot must not stop the schedule
            log.exception("slot %s %s failed to run", slot.report_type, slot.day)

    async def _nap(self, stop: asyncio.Event, seconds: float) -> None:
        if self.sleep is asyncio.sleep:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), seconds)
        else:
            await self.sleep(seconds)


def _decision(event: str, slot: Slot, why: str) -> dict[str, str | None]:
    """A catch-up decision's fields, for JSON lines."""
    return {
        "event": event,
        "report_type": slot.report_type.value,
        "business_date": slot.day.isoformat(),
        "scheduled_at": iso_instant(slot.instant),
        "reason": why,
    }
