"""The revision watch: readers take the last-known revision and share one refresh."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from harness.store import migrate

from marketbrief.calendar import utc_now
from marketbrief.config import Settings
from marketbrief.errors import StoreTimeout, StoreUnavailable
from marketbrief.results.core import open_gateway
from marketbrief.results.revision import RevisionWatch
from tests.support.results_fixtures import CallCounter


async def test_readers_in_one_loop_tick_kick_one_refresh_between_them(
    tmp_path: Path, sqlite_url: str
) -> None:
    migrate(sqlite_url)
    store = open_gateway(Settings(database_url=sqlite_url, outbox_dir=tmp_path / "o"), utc_now)
    reads = CallCounter(store.backend, "revisions")
    watch = RevisionWatch(store, interval=1e-9)  # always due
    try:
        first = await watch.known()  # nothing known yet: this reader waits for the read
        assert first is not None
        assert reads.calls == 1
        # Fifty readers in the same tick, none of which suspends: each finds the revision due,
        # and only the first starts a refresh; the others go on with the known revision.
        answers = [await watch.known() for _ in range(50)]
        assert answers == [first] * 50
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert len(pending) == 1
        await asyncio.gather(*pending)
        assert reads.calls == 2
    finally:
        await watch.close()
        store.backend.close()


async def test_with_the_breaker_open_history_is_refused_at_once_without_asking_the_store(
    tmp_path: Path, sqlite_url: str
) -> None:
    migrate(sqlite_url)
    store = open_gateway(Settings(database_url=sqlite_url, outbox_dir=tmp_path / "o"), utc_now)
    watch = RevisionWatch(store, interval=3600.0)
    try:
        assert await watch.runs_known() == 0
        reads = CallCounter(store.backend, "revisions")
        store.health.background_probes = True  # a server: its watch loop alone probes
        store.health.timed_out(StoreTimeout("the disk stalled"), utc_now())  # trips it
        with pytest.raises(StoreUnavailable, match="not asked again"):
            await watch.runs_known()
        assert reads.calls == 0
        assert watch.revision == 0  # reports go on with the last-known revision
        assert await watch.known() == 0
    finally:
        await watch.close()
        store.backend.close()
