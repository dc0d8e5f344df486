"""SQLite locked by another connection, or opened read-only: writes spool to the outbox and a
writable Results replays them.

The promises each test keeps are listed in tests/support/faults.py.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from pathlib import Path

import pytest
from harness.store import migrate

from marketbrief.config import Settings
from marketbrief.errors import StoreUnavailable
from marketbrief.models import ReportType
from marketbrief.results.envelope import Source
from marketbrief.store import engine as store_engine
from tests.support.faults import nth_completion, opened, same_content

PRE = ReportType.PRE_MARKET


@pytest.fixture
def short_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> int:
    """A 200 ms busy timeout instead of 5 s, set before any store is created."""
    monkeypatch.setattr(store_engine, "BUSY_TIMEOUT_MS", 200)
    return 200


@pytest.mark.slow
async def test_sqlite_locked_by_another_connection_spools_to_the_outbox_and_replays_after(
    sqlite_url: str, tmp_path: Path, short_busy_timeout: int
) -> None:
    migrate(sqlite_url)
    path = sqlite_url.removeprefix("sqlite:///")
    settings = Settings(
        database_url=sqlite_url, outbox_dir=tmp_path / "outbox", write_retry_seconds=0.3
    )
    async with opened(settings) as results:
        before = nth_completion(0)
        assert (await results.publish(before)).persisted
        assert results.deps.cache is not None
        await results.deps.cache.clear()

        holder = sqlite3.connect(path, isolation_level=None, timeout=0)
        try:
            holder.execute("BEGIN EXCLUSIVE")
            locked_at = time.monotonic()
            spooled = [nth_completion(i) for i in range(1, 4)]
            for completion in spooled:
                # Bounded by the busy timeout and the retry budget: it returns (no hang).
                outcome = await results.publish(completion)
                assert (outcome.persisted, outcome.outboxed) == (False, True)
                assert (settings.outbox_dir / f"{completion.run_id}.json").is_file()
            # WAL readers are not blocked by the writer's lock: the store still answers reads.
            read = await results.get_report(PRE, before.scheduled_date)
            assert same_content(read, before)
            held = time.monotonic() - locked_at
            assert held > short_busy_timeout / 1000 + settings.write_retry_seconds
        finally:
            holder.execute("ROLLBACK")
            holder.close()

        report = await results.replay_outbox()
        assert [c.run_id for c, _ in report.stored] == [c.run_id for c in spooled]
        assert results.deps.outbox.depth() == 0
        for completion in spooled:
            assert results.deps.store.backend.get_run(completion.run_id) is not None
            response = await results.get_report(PRE, completion.scheduled_date)
            assert same_content(response, completion)
            assert "not_persisted" not in response.warnings
        print(
            f"\nsqlite locked {held:.2f}s: {len(spooled)} outboxed, "
            f"{results.deps.counters.commit_retries} commit retries, replayed {len(report.stored)}"
        )


async def test_sqlite_read_only_file_spools_to_the_outbox_and_a_writable_results_replays(
    sqlite_url: str, tmp_path: Path
) -> None:
    migrate(sqlite_url)
    path = sqlite_url.removeprefix("sqlite:///")
    outbox_dir = tmp_path / "outbox"
    writable = Settings(database_url=sqlite_url, outbox_dir=outbox_dir, write_retry_seconds=0.2)
    before = nth_completion(0)
    async with opened(writable) as results:
        assert (await results.publish(before)).persisted

    read_only = dataclasses.replace(
        writable, database_url=f"sqlite:///file:{path}?mode=ro&uri=true"
    )
    spooled = [nth_completion(i) for i in range(1, 4)]
    async with opened(read_only) as results:
        for completion in spooled:
            outcome = await results.publish(completion)
            assert (outcome.persisted, outcome.outboxed) == (False, True)
            assert results.deps.store.backend.get_run(completion.run_id) is None
        # Reads still work on a read-only file.
        read = await results.get_report(PRE, before.scheduled_date)
        assert same_content(read, before)
        assert read.source is Source.STORE
        assert results.deps.outbox.depth() == len(spooled)

    async with opened(writable) as results:
        report = await results.replay_outbox()
        assert sorted(c.run_id for c, _ in report.stored) == sorted(c.run_id for c in spooled)
        assert results.deps.outbox.depth() == 0
        for completion in spooled:
            detail = results.deps.store.backend.get_run(completion.run_id)
            assert detail is not None
            assert detail.snapshot is not None
            assert detail.snapshot.content == completion.content


async def test_a_store_that_answers_reads_but_refuses_writes_is_not_ready(
    sqlite_url: str, tmp_path: Path
) -> None:
    migrate(sqlite_url)
    path = sqlite_url.removeprefix("sqlite:///")
    read_only = Settings(
        database_url=f"sqlite:///file:{path}?mode=ro&uri=true",
        outbox_dir=tmp_path / "outbox",
        write_retry_seconds=0.2,
    )
    async with opened(read_only) as results:
        assert (await results.readiness())["ready"] is True
        outcome = await results.publish(nth_completion(0))
        assert (outcome.persisted, outcome.outboxed) == (False, True)
        await results.store.ping()  # a read that answers does not clear a failed write
        assert results.health.writes_down
        ready = await results.readiness()
        assert ready["ready"] is False
        assert ready["store"]["writes"]["ok"] is False
        assert "readonly" in ready["store"]["writes"]["error"]
        with pytest.raises(StoreUnavailable):
            await results.store.ping_writes()
        assert results.health.writes_down
