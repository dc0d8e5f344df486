"""`rehydrate`: the store's latest reports put back in the cache, replacing what is there."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from marketbrief.cache import keys
from marketbrief.calendar import business_date
from marketbrief.models import ReportType
from marketbrief.results.deps import Deps
from marketbrief.results.entries import CachedReport, encode_entry

DEFAULT_REHYDRATE_DAYS = 14


@dataclass(frozen=True, slots=True)
class Warmed:
    """One report put back in the cache by `rehydrate`."""

    report_type: str
    business_date: date
    snapshot_id: int
    run_id: str | None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "report_type": self.report_type,
            "business_date": self.business_date.isoformat(),
            "snapshot_id": self.snapshot_id,
            "run_id": self.run_id,
        }


async def rehydrate(
    deps: Deps,
    report_type: ReportType | None = None,
    day: date | None = None,
    *,
    days: int = DEFAULT_REHYDRATE_DAYS,
    purge: bool = False,
) -> list[Warmed]:
    """Replace cache entries with the store's latest reports (purging poisoned ones)."""
    d = deps
    if d.cache is None:
        return []
    if d.near is not None:
        d.near.clear()
    if purge:
        await d.cache.clear()
    found = await d.store.latest_keys(report_type, day)
    if day is None:
        oldest = business_date(d.clock()) - timedelta(days=days)
        found = [(t, when) for t, when in found if when >= oldest]
    warmed: list[Warmed] = []
    for kind, when in found:
        snapshot = await d.store.latest_snapshot(kind, when)
        if snapshot is None:
            continue
        key = keys.report_key(kind.value, when)
        # Delete first: a poisoned entry may carry a version too high to be replaced.
        await d.cache.delete(key)
        await d.cache.set(
            key,
            encode_entry(CachedReport.from_snapshot(snapshot)),
            version=snapshot.version,
            ttl=d.policy.cache_ttl_seconds,
        )
        d.counters.rehydrations += 1
        warmed.append(Warmed(kind.value, when, snapshot.id, snapshot.run_id))
    return warmed
