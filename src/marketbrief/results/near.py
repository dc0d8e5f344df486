"""The near cache: reports this process served lately, kept in its memory in front of Redis.

With a shared cache across the network, every hit pays a round trip. The near cache keeps the
decoded entry of each recently served report here, so a hit costs a dictionary lookup. An entry
answers only while two things hold: the store revision this process knows is the one it was
kept under (a publish anywhere moves the revision, and the revision watch reads it every
`MARKETBRIEF_REVISION_CHECK_SECONDS`), and it is younger than that same interval (so a change
only the shared cache saw, such as a report cached while the store was down, reaches this
process just as fast). No process serves an older report than the shared cache's for longer
than about one interval; with the interval 0 (every read checks) the near cache is off.

History pages have a near cache of their own (`Deps.near_pages`): a page's cache key holds the
run revision it was rendered at, so a page kept under its key never goes out of date; the
revision watch's bound on the run revision is the whole bound.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from marketbrief.results.entries import CachedReport

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class NearStats:
    """What the near cache did in this process (for /metrics)."""

    hits: int
    misses: int
    entries: int


class NearCache(Generic[V]):
    """A bounded, least-recently-used map of cache key to value (a report, a history page), per
    store revision."""

    def __init__(
        self, entries: int, max_age: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.capacity = entries
        self.max_age = max_age
        self._clock = clock
        self._entries: OrderedDict[str, tuple[int | None, float, V]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: str, revision: int | None) -> V | None:
        """The value kept for `key` under `revision` while it is young enough, else None."""
        found = self._entries.get(key)
        if found is None:
            self.misses += 1
            return None
        kept_revision, kept_at, report = found
        if kept_revision != revision or self._clock() - kept_at >= self.max_age:
            del self._entries[key]
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return report

    def peek(self, key: str, revision: int | None) -> V | None:
        """What `get` would return, without counting it, moving it or dropping an old entry."""
        found = self._entries.get(key)
        if found is None or found[0] != revision or self._clock() - found[1] >= self.max_age:
            return None
        return found[2]

    def put(self, key: str, revision: int | None, value: V) -> None:
        """Keep `value` for `key`, valid under `revision`; the least recent entry makes room."""
        self._entries[key] = (revision, self._clock(), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def drop(self, key: str) -> None:
        """Forget `key` (this process wrote or removed it in the shared cache)."""
        self._entries.pop(key, None)

    def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()

    def stats(self) -> NearStats:
        """Hits, misses and entries so far."""
        return NearStats(self.hits, self.misses, len(self._entries))


def near_cache(
    cache_name: str | None, entries: int, interval: float
) -> NearCache[CachedReport] | None:
    """A near cache in front of a cache across the network; None for an in-process cache,
    with no cache, with `entries` 0 or with the revision checked on every read."""
    if cache_name is None or cache_name == "memory" or entries <= 0 or interval <= 0:
        return None
    return NearCache(entries, max_age=interval)


def near_pages(cache_name: str | None, entries: int, interval: float) -> NearCache[bytes] | None:
    """The history pages' near cache, on the same terms as the reports' (`near_cache`)."""
    if near_cache(cache_name, entries, interval) is None:
        return None
    return NearCache(entries, max_age=interval)
