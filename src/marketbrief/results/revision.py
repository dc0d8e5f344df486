"""The store's revisions as this process last saw them, kept fresh off the request path.

Two counters are read together (`Store.revisions`): the report revision grows whenever a latest
pointer moves, and a cached entry is checked against the store once per revision; the run
revision grows with every write to run history, and cached history pages are keyed by it.
Readers take the last-known revisions without waiting: a background loop (in a server) and a
refresh started by a reader that finds them older than the interval keep them current. A reader
waits for the store only when nothing is known yet, or when the interval is 0 (every read
checks: strict setups and tests). When the store is down the last-known report revision stands,
so cached entries are served (marked by the reader) instead of waited on.

History asks more (`runs_known`): a run this process wrote shows in its very next page (the
watch reads again once the store gateway has committed a write since the last read), a run
another process wrote within the interval, and with the store refusing, the page is refused
too (a history page has no place to say it may be old).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from marketbrief.errors import StoreError, StoreUnavailable
from marketbrief.results.singleflight import SingleFlight
from marketbrief.store.gateway import Store

_KEY = "store-revision"
PROBE_SECONDS = 0.5  # how often the loop asks whether a probe may go (the breaker decides)


class RevisionWatch:
    """The last-known store revisions and when they were read."""

    def __init__(self, store: Store, interval: float) -> None:
        self.store = store
        self.interval = interval
        self.revision: int | None = None  # the latest pointers'
        self.runs: int | None = None  # run history's
        self._read_at: float | None = None
        self._writes_seen = -1  # the gateway's committed writes when the last read began
        self._flights: SingleFlight[None] = SingleFlight()
        self._kicked: set[asyncio.Task[None]] = set()

    async def known(self) -> int | None:
        """The revision to validate cached entries against (None: the store was never read)."""
        revision = self.known_now()
        if revision is None:
            # Concurrent callers share the one read in flight and leave it together, so their
            # misses still share one store read.
            await self.refresh()
            return self.revision
        return revision

    def known_now(self) -> int | None:
        """The revision `known` returns when it needs no read first, else None (a refresh
        that has fallen due starts in the background, as `known` starts it)."""
        if self.revision is None or self.interval == 0:
            return None
        self._kick()
        return self.revision

    async def runs_known(self) -> int:
        """The run revision to key a history page by (raises StoreUnavailable as a read does)."""
        runs = self.runs_now()
        if runs is not None:
            return runs
        health = self.store.health
        if health.refuses():
            # As the gateway would refuse a read: at once, never by joining a read that is
            # still waiting on the store for its deadline.
            raise StoreUnavailable(health.refusal("the store"))
        wanted = self.store.writes.committed
        await self._flights.run(_KEY, self._read)
        if self._writes_seen < wanted:  # it joined a read that began before that write
            await self._flights.run(_KEY, self._read)
        runs = self.runs
        assert runs is not None  # a read that did not raise set it
        return runs

    def runs_now(self) -> int | None:
        """The run revision `runs_known` returns when it needs no read and raises nothing, else
        None (a refresh that has fallen due starts in the background, as there)."""
        if (
            self.runs is None
            or self.interval == 0
            or self._writes_seen != self.store.writes.committed
            or self.store.health.refuses()
        ):
            return None
        self._kick()
        return self.runs

    async def refresh(self) -> None:
        """Read the revisions once (shared with concurrent callers); an outage keeps the old."""
        with contextlib.suppress(StoreUnavailable):
            await self._flights.run(_KEY, self._read)

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set: read the revisions every interval (a server's background task).

        While it runs it is also the store's only prober: once the store's breaker opened,
        requests are refused at once, and this loop alone tests whether the store is back.
        """
        period = self.interval or 1.0
        health = self.store.health
        health.background_probes = True
        try:
            while not stop.is_set():
                if health.is_open:
                    await self.store.probe()
                if not health.is_open and self._due():
                    with contextlib.suppress(StoreError):  # a reader meets it and says so
                        await self.refresh()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), min(period, PROBE_SECONDS))
        finally:
            health.background_probes = False

    async def close(self) -> None:
        """Cancel refreshes started by readers."""
        for task in list(self._kicked):
            task.cancel()
        for task in list(self._kicked):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _kick(self) -> None:
        """Start a refresh when the revisions are due, unless one is already on its way."""
        if self._due() and not self._kicked and not self._flights.in_flight(_KEY):
            # One refresh at a time: readers in the same loop tick see the one already kicked.
            task = asyncio.ensure_future(self.refresh())
            self._kicked.add(task)
            task.add_done_callback(self._kicked.discard)

    def _due(self) -> bool:
        read_at = self._read_at
        return read_at is None or time.monotonic() - read_at >= self.interval

    async def _read(self) -> None:
        self._read_at = time.monotonic()
        writes = self.store.writes.committed
        self.revision, self.runs = await self.store.revisions()
        self._writes_seen = writes
