"""What the write and read paths share: settings, backends, the clock and the counters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

import anyio.to_thread

from marketbrief.cache.base import Cache
from marketbrief.calendar import MarketCalendar, utc_now
from marketbrief.config import Settings
from marketbrief.errors import StoreUnavailable
from marketbrief.results.health import Counters, StoreHealth
from marketbrief.results.outbox import Outbox
from marketbrief.store.base import Store

T = TypeVar("T")


@dataclass(slots=True)
class Deps:
    """Everything the results core needs; `cache` is None when MARKETBRIEF_CACHE=off."""

    settings: Settings
    store: Store
    cache: Cache | None
    outbox: Outbox
    calendar: MarketCalendar
    clock: Callable[[], datetime] = utc_now
    health: StoreHealth = field(default_factory=StoreHealth)
    counters: Counters = field(default_factory=Counters)

    async def in_store(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call a (blocking) store method in a worker thread, tracking the store's health."""
        try:
            result = await anyio.to_thread.run_sync(partial(method, *args, **kwargs))
        except StoreUnavailable as error:
            self.health.failed(error, self.clock())
            raise
        self.health.answered()
        return result
