"""What the results core's parts share: the store, the cache, the outbox, time and counters.

Private to `results/`: everything outside reaches these through the door, `Results`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from marketbrief.cache.base import Cache, LocalCache
from marketbrief.calendar import MarketCalendar, utc_now
from marketbrief.results.counters import Counters
from marketbrief.results.entries import CachedReport
from marketbrief.results.near import NearCache
from marketbrief.results.outbox import Outbox
from marketbrief.results.policy import Policy
from marketbrief.results.revision import RevisionWatch
from marketbrief.results.switches import Switches
from marketbrief.store.gateway import Store, StoreHealth


@dataclass(slots=True)
class Deps:
    """Everything the results core needs; `cache` is None when MARKETBRIEF_CACHE=off."""

    store: Store
    cache: Cache | None
    outbox: Outbox
    calendar: MarketCalendar
    policy: Policy
    clock: Callable[[], datetime] = utc_now
    counters: Counters = field(default_factory=Counters)
    near: NearCache[CachedReport] | None = None  # in front of a cache across the network
    near_pages: NearCache[bytes] | None = None  # history pages, likewise (results/near.py)
    switches: Switches = field(init=False)
    revisions: RevisionWatch = field(init=False)  # the store's revisions, shared by every reader
    local: LocalCache | None = field(init=False)  # `cache`, when it can be read without awaiting

    def __post_init__(self) -> None:
        self.switches = Switches(store_reads=self.policy.store_reads)
        self.revisions = RevisionWatch(self.store, self.policy.revision_check_seconds)
        self.local = self.cache if isinstance(self.cache, LocalCache) else None

    @property
    def health(self) -> StoreHealth:
        """Whether the store answered the last time this process asked."""
        return self.store.health
