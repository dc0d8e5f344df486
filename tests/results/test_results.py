"""The results core end to end: write path, read path, fallbacks and kill switches.

Each test runs on embedded mode (SQLite + in-process cache) and scaled-out mode
(PostgreSQL + Redis): the `settings` and `make_results` fixtures of
tests/support/results_fixtures.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import orjson
import pytest

from marketbrief.cache import keys
from marketbrief.config import Settings
from marketbrief.models import ReportType, RunStatus, TriggerSource
from marketbrief.results import Results
from marketbrief.results.envelope import ReportState, Source
from tests.support.api_helpers import META_FIELDS
from tests.support.clock import DAY, LATE, Clock
from tests.support.factories import completion_for, payload, standalone_completion
from tests.support.results_fixtures import forget_near

PRE = ReportType.PRE_MARKET
EOD = ReportType.END_OF_DAY


@pytest.fixture
def results(make_results: Callable[..., Results]) -> Results:
    return make_results()


async def test_a_published_report_is_read_back_from_the_cache_as_the_exact_bytes(
    results: Results,
) -> None:
    completion = standalone_completion(PRE, DAY, started_at=LATE - timedelta(hours=20))
    outcome = await results.publish(completion)
    assert outcome.persisted
    assert outcome.published
    response = await results.get_report(PRE, DAY)
    assert response.state is ReportState.FRESH
    assert response.source is Source.CACHE
    assert response.data == completion.content
    envelope = orjson.loads(response.render(LATE))
    assert envelope["data"] == orjson.loads(completion.content or b"")
    meta = envelope["meta"]
    assert meta["has_content"] is True
    assert meta["business_date"] == meta["requested_date"] == DAY.isoformat()
    assert meta["run_id"] == completion.run_id
    assert meta["snapshot_id"] == outcome.snapshot_id
    assert set(meta) >= META_FIELDS


async def test_an_evicted_report_is_rehydrated_from_the_store(results: Results) -> None:
    completion = standalone_completion(PRE, DAY, started_at=LATE - timedelta(hours=20))
    await results.publish(completion)
    assert results.deps.cache is not None
    await results.deps.cache.clear()
    first = await results.get_report(PRE, DAY)
    second = await results.get_report(PRE, DAY)
    assert (first.state, first.source) == (ReportState.FRESH, Source.STORE)
    assert (second.state, second.source) == (ReportState.FRESH, Source.CACHE)
    assert first.data == second.data == completion.content
    assert first.snapshot_id == second.snapshot_id is not None


async def test_lesson_6_a_malformed_cache_entry_is_a_miss_and_is_removed(
    results: Results,
) -> None:
    completion = standalone_completion(PRE, DAY, started_at=LATE - timedelta(hours=20))
    await results.publish(completion)
    cache = results.deps.cache
    assert cache is not None
    key = keys.report_key(PRE.value, DAY)
    for poison in (b"", b"garbage", b'{"f":1}\n{}', b"\n" + (completion.content or b"")):
        await cache.delete(key)
        await cache.set(key, poison, version=10**18, ttl=60)
        forget_near(results)  # the poison is met once this process's memory of the key expires
        response = await results.get_report(PRE, DAY)
        assert response.state is ReportState.FRESH
        assert response.data == completion.content
        assert response.source is Source.STORE
        # Removed: the store's copy (a far lower version) could take the key back.
        rewarmed = await cache.get(key)
        assert rewarmed is not None
        assert rewarmed.version == completion.version
        assert (await results.get_report(PRE, DAY)).source is Source.CACHE


async def test_lesson_6_an_entry_for_another_date_is_never_served(results: Results) -> None:
    other = standalone_completion(PRE, DAY - timedelta(days=1), started_at=LATE - timedelta(days=2))
    await results.publish(other)
    cache = results.deps.cache
    assert cache is not None
    wrong = await cache.get(keys.report_key(PRE.value, DAY - timedelta(days=1)))
    assert wrong is not None
    await cache.set(keys.report_key(PRE.value, DAY), wrong.value, version=wrong.version, ttl=60)
    response = await results.get_report(PRE, DAY)
    # Not served as DAY's report: the day before is served as stale, labelled with its date.
    assert response.source is Source.FALLBACK
    assert response.state is ReportState.STALE
    assert response.business_date == DAY - timedelta(days=1)
    assert await cache.get(keys.report_key(PRE.value, DAY)) is None


async def test_lesson_18_a_late_older_run_never_replaces_a_newer_report_in_cache_or_store(
    results: Results,
) -> None:
    t0 = LATE - timedelta(hours=20)
    older = standalone_completion(PRE, DAY, started_at=t0, marker="older")
    newer = standalone_completion(PRE, DAY, started_at=t0 + timedelta(minutes=5), marker="newer")
    await results.publish(newer)
    late = await results.publish(older)
    assert late.persisted
    assert not late.published
    for _ in range(2):
        response = await results.get_report(PRE, DAY)
        assert response.run_id == newer.run_id
        assert results.deps.cache is not None
        await results.deps.cache.clear()


async def test_pending_before_the_slot_with_its_scheduled_time(
    results: Results, clock: Clock
) -> None:
    clock.now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)  # 07:00 in New York
    response = await results.get_report(PRE)
    assert response.requested_date == DAY
    assert response.state is ReportState.PENDING
    assert not response.has_content
    meta = response.meta(clock.now)
    assert meta["scheduled_at"] == "2026-11-24T13:30:00.000Z"
    assert orjson.loads(response.render(clock.now))["data"] is None


async def test_lesson_1_stale_reports_carry_their_own_date_and_have_an_age_limit(
    results: Results, clock: Clock
) -> None:
    friday = date(2026, 11, 20)
    await results.publish(standalone_completion(PRE, friday, started_at=LATE - timedelta(days=5)))
    response = await results.get_report(PRE, DAY)  # Tuesday: Friday is 2 sessions back
    assert response.state is ReportState.STALE
    assert response.business_date == friday
    assert response.requested_date == DAY
    assert "stale" in response.warnings
    # Never cached under the requested date.
    assert results.deps.cache is not None
    assert await results.deps.cache.get(keys.report_key(PRE.value, DAY)) is None
    clock.now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    too_late = await results.get_report(PRE, date(2026, 11, 27))  # 4 sessions after Friday
    assert too_late.state is ReportState.MISSING
    assert not too_late.has_content


async def test_end_of_day_without_a_report_serves_the_days_predictions_as_partial(
    results: Results,
) -> None:
    await results.publish(standalone_completion(PRE, DAY, started_at=LATE - timedelta(hours=20)))
    response = await results.get_report(EOD, DAY)
    assert response.state is ReportState.PARTIAL
    body = orjson.loads(response.data or b"")
    assert body["accuracy"] is None
    assert all(p["outcome"] is None for p in body["predictions"])
    assert len(body["predictions"]) == 6


async def test_a_failed_run_is_reported_as_failed_with_its_errors(
    results: Results,
) -> None:
    store = results.deps.store.backend
    run = store.claim_run(ReportType.WEEKLY, date(2026, 11, 22), TriggerSource.SCHEDULE).run
    failed = dataclasses.replace(
        completion_for(run, status=RunStatus.FAILED, content=None, preds=()),
        errors=({"provider": "dir", "error": "no news"},),
    )
    await results.publish(failed)
    response = await results.get_report(ReportType.WEEKLY, date(2026, 11, 22))
    assert response.state is ReportState.FAILED
    assert response.meta(LATE)["errors"] == [{"provider": "dir", "error": "no news"}]
    assert not response.has_content


async def test_lesson_17_nothing_at_all_is_an_honest_missing_never_an_empty_success(
    results: Results,
) -> None:
    response = await results.get_report(PRE, DAY)
    assert response.state is ReportState.MISSING
    envelope = orjson.loads(response.render(LATE))
    assert envelope["data"] is None
    assert envelope["meta"]["has_content"] is False


async def test_lesson_9_cache_off_bypasses_the_cache_entirely(
    make_results: Callable[..., Results],
) -> None:
    results = make_results(cache_enabled=False)
    assert results.deps.cache is None
    completion = standalone_completion(PRE, DAY, started_at=LATE - timedelta(hours=20))
    await results.publish(completion)
    for _ in range(3):
        response = await results.get_report(PRE, DAY)
        assert response.source is Source.STORE
    assert results.deps.counters.store_reads == 3
    assert results.deps.counters.cache_hits == 0


async def test_store_reads_off_serves_from_the_cache_only(
    make_results: Callable[..., Results],
) -> None:
    results = make_results(store_reads=False)
    completion = standalone_completion(PRE, DAY, started_at=LATE - timedelta(hours=20))
    await results.publish(completion)
    hit = await results.get_report(PRE, DAY)
    assert (hit.state, hit.source) == (ReportState.FRESH, Source.CACHE)
    assert results.deps.cache is not None
    await results.deps.cache.clear()
    forget_near(results)
    miss = await results.get_report(PRE, DAY)
    assert miss.state is ReportState.UNAVAILABLE
    assert "store_reads_off" in miss.warnings
    assert results.deps.counters.store_reads == 0


async def test_store_writes_off_spools_to_the_outbox_and_replay_lands_it(
    make_results: Callable[..., Results],
) -> None:
    results = make_results(store_writes=False)
    completion = standalone_completion(PRE, DAY, started_at=LATE - timedelta(hours=20))
    outcome = await results.publish(completion)
    assert (outcome.persisted, outcome.outboxed) == (False, True)
    assert results.deps.store.backend.get_run(completion.run_id) is None
    hit = await results.get_report(PRE, DAY)
    assert hit.data == completion.content
    assert "not_persisted" in hit.warnings
    assert (await results.replay_outbox()).remaining == 1  # writes off: nothing replayed
    writer = make_results()
    report = await writer.replay_outbox()
    assert [c.run_id for c, _ in report.stored] == [completion.run_id]
    assert writer.deps.outbox.depth() == 0
    assert writer.deps.store.backend.get_run(completion.run_id) is not None


async def test_lesson_8_rehydrate_purges_a_poisoned_entry_with_a_huge_version(
    results: Results,
) -> None:
    completion = standalone_completion(PRE, DAY, started_at=LATE - timedelta(hours=20))
    await results.publish(completion)
    cache = results.deps.cache
    assert cache is not None
    key = keys.report_key(PRE.value, DAY)
    poisoned = await cache.get(key)
    assert poisoned is not None
    fake = poisoned.value.replace(b"marker", b"MARKER")
    await cache.delete(key)
    await cache.set(key, fake, version=2**62, ttl=7 * 86400)
    warmed = await results.rehydrate(day=DAY)
    assert [(w.report_type, w.business_date) for w in warmed] == [(PRE.value, DAY)]
    response = await results.get_report(PRE, DAY)
    assert response.data == completion.content


async def test_a_report_published_by_a_process_that_could_not_reach_our_cache_reaches_us(
    make_results: Callable[..., Results], settings: Settings
) -> None:
    # Embedded: the writer is another process with its own memory cache. Scaled: the writer
    # cannot reach Redis at all, so the older entry stays in the shared cache.
    writer_cache = "redis://127.0.0.1:1/0" if settings.cache_url.startswith("redis") else None
    reader = make_results(revision_check_seconds=0.0)
    writer = make_results(**({"cache_url": writer_cache} if writer_cache else {}))
    t0 = LATE - timedelta(hours=20)
    first = standalone_completion(PRE, DAY, started_at=t0, marker="one")
    await reader.publish(first)
    assert (await reader.get_report(PRE, DAY)).data == first.content
    newer = standalone_completion(PRE, DAY, started_at=t0 + timedelta(minutes=1), marker="two")
    outcome = await writer.publish(newer)
    assert outcome.persisted
    assert outcome.published
    second = await reader.get_report(PRE, DAY)
    assert second.data == newer.content
    assert second.state is ReportState.FRESH
    third = await reader.get_report(PRE, DAY)  # re-warmed: served from the cache again
    assert (third.source, third.data) == (Source.CACHE, newer.content)


def test_payload_helper_is_json() -> None:
    assert orjson.loads(payload(PRE, DAY))["date"] == DAY.isoformat()
