"""History pages come from the cache while no run was written, and never lag a run write."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from marketbrief.config import Settings
from marketbrief.models import ReportType, TriggerSource
from marketbrief.results import Results
from marketbrief.results.history import history_page
from marketbrief.store.base import HistoryQuery
from marketbrief.store.sql import SQLStore
from tests.support.factories import SESSION, completion_for

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
    body = orjson.loads(first)
    assert body["count"] == 2
    assert body["next_cursor"] is not None


async def test_every_run_write_shows_in_the_next_history_page(results: Results) -> None:
    store = results.deps.store.backend
    started = datetime(2026, 11, 24, 13, 30, tzinfo=UTC)
    run = store.claim_run(PRE, SESSION, TriggerSource.MANUAL, started_at=started).run
    before = orjson.loads(await history_page(results.deps, HistoryQuery()))
    assert before["jobs"][0]["status"] == "running"
    store.finish_run(completion_for(run, executed_at=started + timedelta(seconds=2)))
    after = orjson.loads(await history_page(results.deps, HistoryQuery()))
    assert after["jobs"][0]["status"] == "success"
    newer = store.claim_run(PRE, SESSION, TriggerSource.MANUAL).run
    latest = orjson.loads(await history_page(results.deps, HistoryQuery()))
    assert [j["run_id"] for j in latest["jobs"]] == [newer.run_id, run.run_id]
