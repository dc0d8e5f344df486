"""The background sender: each channel has its own queue and worker, retried with backoff.

Alerts are handed over with `submit`, which never waits: runs and requests are never slowed by
a channel that is slow or down. A worker that fails to deliver waits (1 s doubling to 5
minutes) and tries again, up to a bound, then drops the message and counts it. A channel that
is down delays only its own queue, never another channel's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from marketbrief.alerts.channels import Channel, Message

log = logging.getLogger(__name__)

QUEUE_LIMIT = 200  # per channel: past it the oldest waiting message is dropped (and counted)


@dataclass(frozen=True, slots=True)
class Backoff:
    """How a failed delivery is retried."""

    first_seconds: float = 1.0
    max_seconds: float = 300.0
    attempts: int = 8


@dataclass(slots=True)
class LaneCounts:
    """What one channel's worker did in this process (reported by /metrics)."""

    sent: int = 0
    failures: int = 0
    dropped: int = 0


@dataclass(slots=True)
class Lane:
    """One channel, its waiting messages and its counts."""

    channel: Channel
    queue: asyncio.Queue[Message] = field(default_factory=asyncio.Queue)
    counts: LaneCounts = field(default_factory=LaneCounts)


class Sender:
    """Delivers messages to every channel in the background."""

    def __init__(self, channels: list[Channel], *, backoff: Backoff | None = None) -> None:
        self.backoff = backoff or Backoff()
        self.lanes = [Lane(channel) for channel in channels]

    def submit(self, message: Message, *, skip: frozenset[int] = frozenset()) -> None:
        """Queue a message for every channel (but those numbered in `skip`) and return at once."""
        for lane in self.lanes:
            if lane.channel.number in skip:
                continue
            if lane.queue.qsize() >= QUEUE_LIMIT:
                _told(lane, lane.queue.get_nowait(), delivered=False)
                lane.counts.dropped += 1
                log.warning("channel %s: queue full, oldest alert dropped", lane.channel.shown)
            lane.queue.put_nowait(message)

    def waiting(self) -> int:
        """Messages not yet delivered, over every channel."""
        return sum(lane.queue.qsize() for lane in self.lanes)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set (one worker per channel)."""
        async with asyncio.TaskGroup() as group:
            for lane in self.lanes:
                group.create_task(self._work(lane, stop))

    async def flush(self, timeout: float) -> None:
        """Try each waiting message once per channel, for at most `timeout` seconds in all."""

        async def drain(lane: Lane) -> None:
            # A message held in a worker's backoff keeps join() waiting: the timeout bounds it.
            while not lane.queue.empty():
                message = lane.queue.get_nowait()
                try:
                    await self._attempt(lane, message)
                finally:
                    lane.queue.task_done()
            await lane.queue.join()  # and the message a worker is sending meanwhile

        tasks = [asyncio.create_task(drain(lane)) for lane in self.lanes]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=timeout)
            for task in late:
                task.cancel()  # the thread finishes its own send; nothing waits for it

    async def _work(self, lane: Lane, stop: asyncio.Event) -> None:
        while not stop.is_set():
            message = await _next(lane.queue, stop)
            if message is None:
                return
            try:
                await self._deliver(lane, message, stop)
            finally:
                lane.queue.task_done()

    async def _deliver(self, lane: Lane, message: Message, stop: asyncio.Event) -> None:
        """Try one message until it is delivered, given up, or the sender stops."""
        delay = self.backoff.first_seconds
        for attempt in range(1, self.backoff.attempts + 1):
            if await self._attempt(lane, message):
                return
            if attempt == self.backoff.attempts:
                lane.counts.dropped += 1
                _told(lane, message, delivered=False)
                log.error(
                    "channel %s: alert %r dropped after %d attempts",
                    lane.channel.shown,
                    message.title,
                    attempt,
                )
                return
            if await _stopped_within(stop, delay):
                lane.queue.put_nowait(message)  # left for the flush at shutdown
                return
            delay = min(delay * 2, self.backoff.max_seconds)

    async def _attempt(self, lane: Lane, message: Message) -> bool:
        if await lane.channel.send_async(message):
            lane.counts.sent += 1
            _told(lane, message, delivered=True)
            return True
        lane.counts.failures += 1
        log.warning("channel %s: could not deliver %r", lane.channel.shown, message.title)
        return False


def _told(lane: Lane, message: Message, *, delivered: bool) -> None:
    """Tell the message's submitter what became of it on this channel."""
    if message.on_result is not None:
        try:
            message.on_result(lane.channel.number, delivered)
        except Exception:  # the submitter's bug must not stop this channel's worker
            log.exception("channel %s: result callback raised", lane.channel.shown)


async def _next(queue: asyncio.Queue[Message], stop: asyncio.Event) -> Message | None:
    """The next message, or None once `stop` is set."""
    getting = asyncio.ensure_future(queue.get())
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({getting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if getting.done():
        return getting.result()
    getting.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await getting
    return None


async def _stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    """Wait up to `seconds`; True if `stop` was set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    return stop.is_set()
