"""A cached report is served only while it is exactly the store's latest for its key."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from marketbrief.cache import keys
from marketbrief.models import ReportType
from marketbrief.ops.backup import take_backup
from marketbrief.ops.restore import restore_archive
from marketbrief.results import Results
from marketbrief.results.entries import CachedReport, encode_entry
from marketbrief.results.envelope import ReportState, Source
from tests.support.clock import DAY, LATE
from tests.support.factories import standalone_completion

PRE = ReportType.PRE_MARKET


@pytest.fixture
def results(make_results: Callable[..., Results]) -> Results:
    """Results on this test's mode, noticing store changes at every read."""
    return make_results(revision_check_seconds=0.0)


async def test_after_a_restore_the_cache_serves_the_restored_report_not_the_one_it_held(
    results: Results, tmp_path: Path
) -> None:
    older = standalone_completion(PRE, DAY, started_at=LATE - timedelta(hours=20), marker="old")
    newer = standalone_completion(PRE, DAY, started_at=LATE - timedelta(hours=19), marker="new")
    await results.publish(older)
    archive = tmp_path / "archive"
    take_backup(results.store.backend, archive, hot_copy=False)
    await results.publish(newer)
    before = await results.get_report(PRE, DAY)
    assert (before.source, before.data) == (Source.CACHE, newer.content)
    # The operator restores yesterday's backup under the running server.
    restore_archive(results.store.backend, archive, force=True)
    after = await results.get_report(PRE, DAY)
    assert after.state is ReportState.FRESH
    assert (after.source, after.run_id, after.data) == (Source.STORE, older.run_id, older.content)


async def test_after_a_restore_without_the_report_the_cache_does_not_serve_it(
    results: Results, tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    take_backup(results.store.backend, archive, hot_copy=False)  # before any report
    completion = standalone_completion(PRE, DAY, started_at=LATE - timedelta(hours=20))
    await results.publish(completion)
    assert (await results.get_report(PRE, DAY)).source is Source.CACHE
    restore_archive(results.store.backend, archive, force=True)
    after = await results.get_report(PRE, DAY)
    assert after.data is None
    assert not after.has_content


async def test_an_older_entry_that_comes_back_in_the_cache_is_checked_again(
    results: Results,
) -> None:
    older = standalone_completion(PRE, DAY, started_at=LATE - timedelta(hours=20), marker="old")
    newer = standalone_completion(PRE, DAY, started_at=LATE - timedelta(hours=19), marker="new")
    await results.publish(older)
    await results.publish(newer)
    first = await results.get_report(PRE, DAY)
    assert (first.source, first.data) == (Source.CACHE, newer.content)
    # A failover to a lagging replica (or an old snapshot loaded) brings the older value back.
    cache = results.deps.cache
    assert cache is not None
    key = keys.report_key(PRE.value, DAY)
    stale = CachedReport(
        report_type=PRE.value,
        business_date=DAY,
        payload=older.content or b"",
        snapshot_id=None,
        run_id=older.run_id,
        generated_at=older.executed_at,
        content_sha256="",
        persisted=True,
    )
    await cache.delete(key)
    await cache.set(key, encode_entry(stale), version=older.version, ttl=60)
    again = await results.get_report(PRE, DAY)
    assert (again.run_id, again.data) == (newer.run_id, newer.content)
    assert again.source is Source.STORE
