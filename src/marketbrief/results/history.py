"""Job history pages through the hot cache, keyed by the store's run revision.

Every write to run history bumps one counter in the store; a page is cached under that counter
and the query. The counter comes from the revision watch (`results/revision.py`): a run this
process wrote shows in its next page, a run another process wrote within the revision check
interval. A hit costs no store read, no history query and no JSON encoding at all; in front of
a cache across the network, a page served lately costs no round trip either (`near_pages`).
"""

from __future__ import annotations

import contextlib
import functools

import orjson

from marketbrief.cache import keys
from marketbrief.errors import CacheError
from marketbrief.results import records
from marketbrief.results.deps import Deps
from marketbrief.store.base import HistoryQuery

PAGE_TTL_SECONDS = 300.0


def query_text(query: HistoryQuery) -> str:
    """A canonical text form of a query (the cache key's second half)."""
    return "|".join(
        str(part)
        for part in (
            query.report_type.value if query.report_type else "",
            query.status.value if query.status else "",
            query.date_from or "",
            query.date_to or "",
            query.limit,
            query.cursor or "",
        )
    )


_PAGE_START = b'{"count":'  # what a cached page starts with (anything else is not one)


@functools.lru_cache(maxsize=1024)
def _digest(query: HistoryQuery) -> str:
    """The query's part of the cache key, worked out once per distinct query."""
    return keys.query_digest(query_text(query))


async def history_page(deps: Deps, query: HistoryQuery) -> bytes:
    """The `{count, jobs, next_cursor}` page as JSON bytes, from the cache when it is current."""
    cache = deps.cache
    if cache is None:
        return await _render(deps, query)
    revision = await deps.revisions.runs_known()
    key = keys.history_key(revision, _digest(query))
    near = deps.near_pages
    if near is not None and (kept := near.get(key, revision)) is not None:
        deps.counters.near_page_hits += 1
        return kept
    try:
        entry = await cache.get(key)
    except CacheError:
        entry = None
    if entry is not None and entry.value.startswith(_PAGE_START):
        body = entry.value
    else:
        body = await _render(deps, query)
        with contextlib.suppress(CacheError):
            await cache.set(key, body, version=revision, ttl=PAGE_TTL_SECONDS)
    if near is not None:
        near.put(key, revision, body)
    return body


def page_now(deps: Deps, query: HistoryQuery) -> bytes | None:
    """`history_page`'s page when this process holds it for the current run revision and
    finding it awaits nothing (the near cache, or the in-process cache); else None."""
    if deps.cache is None:
        return None
    revision = deps.revisions.runs_now()
    if revision is None:
        return None
    key = keys.history_key(revision, _digest(query))
    near = deps.near_pages
    if near is not None:
        if near.peek(key, revision) is None:
            return None
        kept = near.get(key, revision)
        deps.counters.near_page_hits += 1
        return kept
    local = deps.local
    entry = local.peek(key) if local is not None else None
    if local is None or entry is None or not entry.value.startswith(_PAGE_START):
        return None
    local.note_hit(key)
    return entry.value


async def _render(deps: Deps, query: HistoryQuery) -> bytes:
    page = await deps.store.history(query)
    return orjson.dumps(
        {
            "count": len(page.runs),
            "jobs": [records.job(run) for run in page.runs],
            "next_cursor": page.next_cursor,
        }
    )
