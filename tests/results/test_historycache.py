"""History pages come from the cache while no run was written; a run write of this process
shows in its next page, another process's once the revision watch has read again."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from marketbrief.config import Settings
from marketbrief.errors import StoreTimeout, StoreUnavailable
from marketbrief.models import ReportType, TriggerSource
from marketbrief.results import Results
from marketbrief.results.history import history_page
from marketbrief.store.base import HistoryQuery
from marketbrief.store.sql import SQLStore
from tests.support.factories import SESSION, completion_for
from tests.support.results_fixtures import CallCounter

PRE = ReportType.PRE_MARKET


@pytest.fixture(params=["embedded", "scaled"])
async def results(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Results]:
    settings = Settings(outbox_dir=tmp_path / "outbox")
    if request.param == "embedded":
        settings = dataclasses.replace(settings, database_url=request.getfixturevalue("sqlite_url"))
    else:
        settings = dataclasses.replace(
            settings,
            database_url=request.getfixturevalue("pg_url"),
            cache_url=request.getfixturevalue("redis_url"),
            cache_prefix=request.getfixturevalue("redis_prefix"),
        )
    store = SQLStore(settings.database_url)
    store.migrate()
    store.close()
    opened = Results.open(settings)
    yield opened
    if opened.deps.cache is not None:
        await opened.deps.cache.clear()
    await opened.close()


async def test_a_cached_history_page_is_served_without_querying_history(results: Results) -> None:
    store = results.deps.store.backend
    for _ in range(3):
        store.claim_run(PRE, SESSION, TriggerSource.MANUAL)
    calls = 0
    real = store.history

    def counting(query: HistoryQuery) -> object:
        nonlocal calls
        calls += 1
        return real(query)

    store.history = counting  # type: ignore[method-assign]
    first = await history_page(results.deps, HistoryQuery(limit=2))
    second = await history_page(results.deps, HistoryQuery(limit=2))
    assert first == second
    assert calls == 1
    # In front of Redis the second page came from this process's memory, and /metrics says so.
    assert results.counters.near_page_hits == (results.deps.near_pages is not None)
    body = orjson.loads(first)
    assert body["count"] == 2
    assert body["next_cursor"] is not None


async def test_every_run_write_of_this_process_shows_in_its_next_history_page(
    results: Results,
) -> None:
    store = results.deps.store  # the gateway: this process's writes go through it
    started = datetime(2026, 11, 24, 13, 30, tzinfo=UTC)
    run = (await store.claim_run(PRE, SESSION, TriggerSource.MANUAL, started_at=started)).run
    before = orjson.loads(await history_page(results.deps, HistoryQuery()))
    assert before["jobs"][0]["status"] == "running"
    await store.finish_run(completion_for(run, executed_at=started + timedelta(seconds=2)))
    after = orjson.loads(await history_page(results.deps, HistoryQuery()))
    assert after["jobs"][0]["status"] == "success"
    newer = (await store.claim_run(PRE, SESSION, TriggerSource.MANUAL)).run
    latest = orjson.loads(await history_page(results.deps, HistoryQuery()))
    assert [j["run_id"] for j in latest["jobs"]] == [newer.run_id, run.run_id]


async def test_a_history_hit_reads_nothing_from_the_store(results: Results) -> None:
    await results.deps.store.claim_run(PRE, SESSION, TriggerSource.MANUAL)
    await history_page(results.deps, HistoryQuery())  # learns the revisions, fills the page
    reads = CallCounter(results.deps.store.backend, "revisions")
    pages = CallCounter(results.deps.store.backend, "history")
    for _ in range(20):
        await history_page(results.deps, HistoryQuery())
    assert (reads.calls, pages.calls) == (0, 0)


@pytest.mark.parametrize("results", ["scaled"], indirect=True)
async def test_in_front_of_redis_a_page_served_lately_costs_no_round_trip(
    results: Results,
) -> None:
    assert results.deps.near_pages is not None
    cache = results.deps.cache
    assert cache is not None
    await results.deps.store.claim_run(PRE, SESSION, TriggerSource.MANUAL)
    first = await history_page(results.deps, HistoryQuery())
    gets = CallCounter(cache, "get")
    assert [await history_page(results.deps, HistoryQuery()) for _ in range(20)] == [first] * 20
    assert gets.calls == 0
    # A run written here moves the run revision: the next page is a new key, asked of Redis.
    await results.deps.store.claim_run(PRE, SESSION, TriggerSource.MANUAL)
    assert len(_jobs(await history_page(results.deps, HistoryQuery()))) == 2
    assert gets.calls == 1


async def test_a_run_another_process_wrote_shows_once_the_watch_has_read_again(
    results: Results,
) -> None:
    other = results.deps.store.backend  # written to directly: not through this process's gateway
    results.deps.revisions.interval = 3600.0  # no refresh falls due by itself during the test
    first = other.claim_run(PRE, SESSION, TriggerSource.MANUAL).run
    assert [j["run_id"] for j in _jobs(await history_page(results.deps, HistoryQuery()))] == [
        first.run_id
    ]
    second = other.claim_run(PRE, SESSION, TriggerSource.MANUAL).run
    # Until the watch reads again (within the revision check interval), the page stands...
    assert len(_jobs(await history_page(results.deps, HistoryQuery()))) == 1
    await results.deps.revisions.refresh()  # ...what the server's loop does every interval
    after = _jobs(await history_page(results.deps, HistoryQuery()))
    assert [j["run_id"] for j in after] == [second.run_id, first.run_id]


async def test_with_a_zero_interval_every_history_page_reads_the_run_revision(
    tmp_path: Path, sqlite_url: str
) -> None:
    settings = Settings(
        database_url=sqlite_url, outbox_dir=tmp_path / "outbox", revision_check_seconds=0.0
    )
    store = SQLStore(sqlite_url)
    store.migrate()
    results = Results.open(settings)
    try:
        other = results.deps.store.backend
        other.claim_run(PRE, SESSION, TriggerSource.MANUAL)
        assert len(_jobs(await history_page(results.deps, HistoryQuery()))) == 1
        other.claim_run(PRE, SESSION, TriggerSource.MANUAL)
        assert len(_jobs(await history_page(results.deps, HistoryQuery()))) == 2
    finally:
        await results.close()
        store.close()


def _jobs(body: bytes) -> list[dict[str, object]]:
    jobs: list[dict[str, object]] = orjson.loads(body)["jobs"]
    return jobs


async def test_a_page_held_for_the_current_revision_is_given_without_awaiting(
    results: Results,
) -> None:
    store = results.deps.store
    await store.claim_run(PRE, SESSION, TriggerSource.MANUAL)
    query = HistoryQuery(limit=5)
    assert results.history_now(query) is None  # nothing held yet: `history` reads
    served = await results.history(query)
    assert results.history_now(query) == served
    assert results.history_now(HistoryQuery(limit=6)) is None  # another query, another page
    # A run written here moves the run revision: nothing is given until a page is read again.
    await store.claim_run(PRE, SESSION, TriggerSource.MANUAL)
    assert results.history_now(query) is None
    newer = await results.history(query)
    assert len(_jobs(newer)) == 2
    assert results.history_now(query) == newer


async def test_no_page_is_given_early_while_the_store_refuses(results: Results) -> None:
    await results.deps.store.claim_run(PRE, SESSION, TriggerSource.MANUAL)
    await results.history(HistoryQuery())
    health = results.deps.health
    for _ in range(10):  # enough failures to open the breaker
        health.timed_out(StoreTimeout("stalled for the test"), datetime.now(UTC))
    assert health.refuses()
    assert results.history_now(HistoryQuery()) is None  # `history` refuses it with a 503
    with pytest.raises(StoreUnavailable):
        await results.history(HistoryQuery())
