"""The near cache: reports kept in each process's memory in front of Redis, within one bound."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
from harness.store import migrate

from marketbrief.config import Settings
from marketbrief.models import Completion, ReportType
from marketbrief.results import Results
from marketbrief.results.entries import CachedReport
from marketbrief.results.envelope import ReportResponse, ReportState, Source
from marketbrief.results.near import NearCache, near_cache
from tests.support.clock import DAY, LATE
from tests.support.factories import standalone_completion
from tests.support.faults import opened, same_content

PRE = ReportType.PRE_MARKET
DEADLINE_SECONDS = 30.0  # a generous ceiling for the watch to notice; the bound itself is ~1 s


def _report(marker: str) -> CachedReport:
    completion = standalone_completion(PRE, DAY, marker=marker)
    return CachedReport(
        report_type=PRE.value,
        business_date=DAY,
        payload=completion.content or b"",
        snapshot_id=1,
        run_id=completion.run_id,
        generated_at=completion.executed_at,
        content_sha256="0" * 64,
        persisted=True,
    )


def test_an_entry_answers_only_under_its_revision_and_while_younger_than_the_bound() -> None:
    now = [100.0]
    near = NearCache(entries=4, max_age=1.0, clock=lambda: now[0])
    report = _report("a")
    near.put("k", 7, report)
    assert near.get("k", 7) is report
    assert near.get("k", 8) is None  # the store moved on: asked of the shared cache again
    assert near.get("k", 7) is None  # and the stale entry is gone
    near.put("k", 7, report)
    now[0] += 0.99
    assert near.get("k", 7) is report
    now[0] += 0.01
    assert near.get("k", 7) is None  # one bound old: the shared cache is asked again
    assert (near.stats().hits, near.stats().misses) == (2, 3)


def test_the_least_recently_served_entry_makes_room() -> None:
    near = NearCache(entries=2, max_age=60.0)
    a, b, c = _report("a"), _report("b"), _report("c")
    near.put("a", 1, a)
    near.put("b", 1, b)
    assert near.get("a", 1) is a  # a is now the most recent
    near.put("c", 1, c)
    assert near.get("b", 1) is None
    assert (near.get("a", 1), near.get("c", 1)) == (a, c)
    assert near.stats().entries == 2


def test_there_is_a_near_cache_only_in_front_of_a_cache_across_the_network() -> None:
    assert near_cache("redis", 256, 1.0) is not None
    assert near_cache("memory", 256, 1.0) is None  # already in this process
    assert near_cache(None, 256, 1.0) is None  # MARKETBRIEF_CACHE=off
    assert near_cache("redis", 0, 1.0) is None  # MARKETBRIEF_NEAR_CACHE_ENTRIES=0
    assert near_cache("redis", 256, 0.0) is None  # every read checks the store: no bound to keep
    assert Settings.from_env({"MARKETBRIEF_NEAR_CACHE_ENTRIES": "12"}).near_cache_entries == 12


@pytest.fixture
async def two_processes(scaled_settings: Settings) -> AsyncIterator[tuple[Results, Results]]:
    """Two results cores on one PostgreSQL store and one Redis, as two serving processes."""
    migrate(scaled_settings.database_url)
    async with opened(scaled_settings) as one, opened(scaled_settings) as two:
        yield one, two
        assert one.deps.cache is not None
        await one.deps.cache.clear()


def _shared_reads(results: Results) -> list[str]:
    """Record every key this process asks of the shared cache."""
    cache = results.deps.cache
    assert cache is not None
    asked: list[str] = []
    real = cache.get

    async def counted(key: str) -> object:
        asked.append(key)
        return await real(key)

    cache.get = counted  # type: ignore[method-assign]
    return asked


async def _until(
    read: Callable[[], object], done: Callable[[ReportResponse], bool], seen: list[ReportResponse]
) -> ReportResponse:
    """Read until `done` holds for an answer (every answer is kept in `seen`)."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        response = await read()  # type: ignore[misc]
        seen.append(response)
        if done(response):
            return response
        assert time.monotonic() < deadline, f"no such answer within {DEADLINE_SECONDS} s"
        await asyncio.sleep(0.05)


def _completion(marker: str, minutes: int) -> Completion:
    return standalone_completion(
        PRE, DAY, started_at=LATE - timedelta(hours=20) + timedelta(minutes=minutes), marker=marker
    )


async def test_a_repeated_hit_costs_no_round_trip_to_redis(
    two_processes: tuple[Results, Results],
) -> None:
    writer, reader = two_processes
    first = _completion("first", 0)
    assert (await writer.publish(first)).published
    asked = _shared_reads(reader)
    answers = [await reader.get_report(PRE, DAY) for _ in range(20)]
    assert all(same_content(a, first) and a.source is Source.CACHE for a in answers)
    # The first read asked Redis; the others, within the bound, were answered from memory.
    assert len(asked) < len(answers)
    assert reader.deps.counters.near_hits == len(answers) - len(asked)


async def test_another_process_serves_a_newer_publish_within_the_bound_and_never_goes_back(
    two_processes: tuple[Results, Results],
) -> None:
    writer, reader = two_processes
    first, second = _completion("first", 0), _completion("second", 5)
    assert (await writer.publish(first)).published
    assert same_content(await reader.get_report(PRE, DAY), first)
    assert (await writer.publish(second)).published
    seen: list[ReportResponse] = []
    await _until(lambda: reader.get_report(PRE, DAY), lambda r: same_content(r, second), seen)
    after = [await reader.get_report(PRE, DAY) for _ in range(10)]
    assert all(same_content(r, first) or same_content(r, second) for r in seen)
    assert all(same_content(r, second) for r in after)


async def test_the_publishing_process_reads_its_own_publish_at_once(
    two_processes: tuple[Results, Results],
) -> None:
    writer, _ = two_processes
    first, second = _completion("first", 0), _completion("second", 5)
    assert (await writer.publish(first)).published
    assert same_content(await writer.get_report(PRE, DAY), first)
    assert same_content(await writer.get_report(PRE, DAY), first)  # from memory now
    assert (await writer.publish(second)).published
    assert same_content(await writer.get_report(PRE, DAY), second)


async def test_a_flushed_redis_never_blanks_an_answer_and_the_store_warms_it_again(
    two_processes: tuple[Results, Results],
) -> None:
    writer, reader = two_processes
    first = _completion("first", 0)
    assert (await writer.publish(first)).published
    assert same_content(await reader.get_report(PRE, DAY), first)
    assert writer.deps.cache is not None
    await writer.deps.cache.clear()
    seen: list[ReportResponse] = []
    # Memory answers until the bound passes; then the store answers, and warms Redis again.
    await _until(lambda: reader.get_report(PRE, DAY), lambda r: r.source is Source.STORE, seen)
    assert all(same_content(r, first) for r in seen)
    assert all(r.state is ReportState.FRESH for r in seen)
    again = await reader.get_report(PRE, DAY)
    assert (again.source, same_content(again, first)) == (Source.CACHE, True)


async def test_a_near_entry_read_again_from_redis_unchanged_keeps_its_answer(
    two_processes: tuple[Results, Results],
) -> None:
    writer, reader = two_processes
    assert (await writer.publish(_completion("first", 0))).published
    asked = _shared_reads(reader)
    first = await reader.get_report(PRE, DAY)
    assert reader.deps.near is not None
    reader.deps.near.clear()  # as when its entry outlives the bound: the next hit asks Redis
    again = await reader.get_report(PRE, DAY)
    assert len(asked) == 2
    # The same bytes came back: the same decoded entry and the same answer object, so the
    # reply the web layer made of it is sent again (web/replies.py).
    assert again is first
