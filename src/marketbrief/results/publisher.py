"""The write path: the store first, then a versioned cache publish.

A completion is acknowledged only once it is committed to the store or fsync'd to the outbox.
While the store is unavailable, writes are retried with backoff inside a bounded budget, then
spooled to the outbox and published to the cache marked not-yet-persisted.
"""

from __future__ import annotations

import asyncio
import hashlib

import anyio.to_thread

from marketbrief.cache import keys
from marketbrief.errors import CacheError, StoreUnavailable
from marketbrief.models import PUBLISHABLE, Completion, Outcome
from marketbrief.results.deps import Deps
from marketbrief.results.entries import CachedReport, encode_entry

_FIRST_BACKOFF = 0.05
_MAX_BACKOFF = 0.5


class Publisher:
    """Writes completed runs durably, then publishes them to the cache."""

    def __init__(self, deps: Deps) -> None:
        self.d = deps

    async def publish(self, completion: Completion) -> Outcome:
        """Persist one completion (store, else outbox) and publish it; raises if neither took it."""
        result: Outcome | None = None
        if self.d.policy.store_writes:
            try:
                result = await self._commit(completion)
            except StoreUnavailable:
                result = None
        if result is None:
            # OutboxError propagates: this write is not acknowledged and the caller must know.
            await anyio.to_thread.run_sync(self.d.outbox.append, completion)
            self.d.counters.outboxed += 1
        await self.publish_to_cache(completion, result)
        if result is None:
            published = completion.content is not None and completion.status in PUBLISHABLE
            return Outcome(completion.run_id, persisted=False, published=published)
        return result

    async def _commit(self, completion: Completion) -> Outcome:
        """finish_run, retried with backoff while the store is unavailable, within the budget."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.d.policy.write_retry_seconds
        delay = _FIRST_BACKOFF
        while True:
            try:
                result = await self.d.store.finish_run(completion)
            except StoreUnavailable:
                if loop.time() + delay > deadline:
                    raise
                self.d.counters.commit_retries += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_BACKOFF)
                continue
            self.d.counters.commits += 1
            return result

    async def publish_to_cache(self, completion: Completion, result: Outcome | None) -> None:
        """Put a completion's report in the cache under its version (newer versions only)."""
        cache = self.d.cache
        content = completion.content
        if cache is None or content is None or completion.status not in PUBLISHABLE:
            return
        if result is not None and not result.published:
            return  # an older run lost the compare-and-set: its report is not the latest
        entry = encode_entry(
            CachedReport(
                report_type=completion.report_type.value,
                business_date=completion.scheduled_date,
                payload=content,
                snapshot_id=result.snapshot_id if result is not None else None,
                run_id=completion.run_id,
                generated_at=completion.executed_at,
                content_sha256=hashlib.sha256(content).hexdigest(),
                persisted=result is not None,
            )
        )
        key = keys.report_key(completion.report_type.value, completion.scheduled_date)
        if self.d.near is not None:
            self.d.near.drop(key)  # this process reads its own publish at once
        try:
            await cache.set(
                key, entry, version=completion.version, ttl=self.d.policy.cache_ttl_seconds
            )
        except CacheError:
            # The store has it (or the outbox does); readers will rehydrate from there.
            self.d.counters.cache_errors += 1
