"""`marketbrief report`, `rehydrate` and `outbox` over real stores and caches."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from marketbrief.cache import from_url, keys
from marketbrief.cli.main import main
from marketbrief.cli.tables import report_lines
from marketbrief.config import Settings
from marketbrief.models import ReportType
from marketbrief.results import Results
from marketbrief.store.sql import SQLStore
from tests.support.factories import standalone_completion

DAY = date(2026, 11, 24)
STARTED = datetime(2026, 11, 24, 13, 30, tzinfo=UTC)


def _publish(settings: Settings, *completions: object) -> None:
    async def run() -> None:
        results = Results.open(settings)
        try:
            for completion in completions:
                await results.publish(completion)  # type: ignore[arg-type]
        finally:
            await results.close()

    asyncio.run(run())


def _env(settings: Settings) -> dict[str, str]:
    return {
        "MARKETBRIEF_DATABASE_URL": settings.database_url,
        "MARKETBRIEF_CACHE_URL": settings.cache_url,
        "MARKETBRIEF_CACHE_PREFIX": settings.cache_prefix,
        "MARKETBRIEF_OUTBOX_DIR": str(settings.outbox_dir),
        "MARKETBRIEF_STORE_WRITES": "on" if settings.store_writes else "off",
    }


@pytest.fixture
def embedded(sqlite_url: str, tmp_path: Path) -> Settings:
    store = SQLStore(sqlite_url)
    store.migrate()
    store.close()
    return Settings(database_url=sqlite_url, outbox_dir=tmp_path / "outbox")


def test_report_prints_the_envelope_and_exits_zero_with_content(embedded: Settings) -> None:
    completion = standalone_completion(ReportType.PRE_MARKET, DAY, started_at=STARTED)
    _publish(embedded, completion)
    runner = CliRunner()
    result = runner.invoke(
        main, ["report", "pre-market", "--date", "2026-11-24", "--json"], env=_env(embedded)
    )
    assert result.exit_code == 0, result.output
    envelope = json.loads(result.output)
    assert envelope["meta"]["state"] == "fresh"
    assert envelope["meta"]["run_id"] == completion.run_id
    human = runner.invoke(
        main, ["report", "pre-market", "--date", "2026-11-24"], env=_env(embedded)
    )
    assert human.exit_code == 0
    assert "fresh" in human.output
    # Without --json the payload's fields are lines for people, never raw JSON.
    lines = human.output.splitlines()
    assert f"  run_id: {completion.run_id}" in lines
    assert "  date: 2026-11-24" in lines
    assert "{" not in human.output


def test_a_payload_reads_as_fields_and_a_table_per_list_of_rows() -> None:
    body = {
        "report_type": "end-of-day",
        "business_date": "2026-11-24",
        "accuracy": 0.8,
        "counts": {"scored": 5, "correct": 4},
        "symbols": [
            {"symbol": "AAPL", "close": 102.0, "change_pct": 2.0, "headlines": [{"t": "x"}]},
            {"symbol": "MSFT", "close": None, "change_pct": -1.234, "scored": False},
        ],
        "weekly": {"AAPL": {"hits": 3}, "MSFT": {"hits": 1}},
    }
    assert report_lines(body) == [
        "  accuracy: 0.80",
        "  counts: scored 5, correct 4",
        "",
        "symbols:",
        "symbol  close   change_pct  scored",
        "------  ------  ----------  ------",
        "AAPL    102.00  2.00        —",
        "MSFT    —       -1.23       no",
        "",
        "weekly:",
        "key   hits",
        "----  ----",
        "AAPL  3",
        "MSFT  1",
    ]


def test_report_exits_one_without_content_and_two_on_bad_input(embedded: Settings) -> None:
    runner = CliRunner()
    missing = runner.invoke(main, ["report", "weekly", "--date", "2026-11-22"], env=_env(embedded))
    assert missing.exit_code == 1
    assert "missing" in missing.output
    bad_date = runner.invoke(main, ["report", "weekly", "--date", "22/11/2026"], env=_env(embedded))
    assert bad_date.exit_code == 2
    bad_type = runner.invoke(main, ["report", "monthly"], env=_env(embedded))
    assert bad_type.exit_code == 2


def test_outbox_status_and_replay_move_spooled_writes_into_the_store(embedded: Settings) -> None:
    spooling = dataclasses.replace(embedded, store_writes=False)
    completion = standalone_completion(ReportType.PRE_MARKET, DAY, started_at=STARTED)
    _publish(spooling, completion)
    runner = CliRunner()
    status = runner.invoke(main, ["outbox", "status", "--json"], env=_env(embedded))
    assert json.loads(status.output)["waiting"] == [completion.run_id]
    replay = runner.invoke(main, ["outbox", "replay"], env=_env(embedded))
    assert replay.exit_code == 0, replay.output
    assert "stored 1" in replay.output
    store = SQLStore(embedded.database_url)
    assert store.get_run(completion.run_id) is not None
    store.close()


def test_rehydrate_in_embedded_mode_explains_where_the_cache_lives(embedded: Settings) -> None:
    result = CliRunner().invoke(main, ["rehydrate"], env=_env(embedded))
    assert result.exit_code == 2
    assert "POST /api/v1/cache/rehydrate" in result.output


def test_rehydrate_on_redis_replaces_a_poisoned_entry(
    pg_url: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    store = SQLStore(pg_url)
    store.migrate()
    store.close()
    settings = Settings(
        database_url=pg_url,
        cache_url=redis_url,
        cache_prefix=redis_prefix,
        outbox_dir=tmp_path / "outbox",
    )
    recent = datetime.now(UTC) - timedelta(days=1)
    day = recent.date()
    completion = standalone_completion(ReportType.PRE_MARKET, day, started_at=recent)
    _publish(settings, completion)

    key = keys.report_key("pre-market", day)

    async def poison() -> None:
        cache = from_url(redis_url, prefix=redis_prefix)
        await cache.set(key, b"poison", version=2**62, ttl=3600)
        await cache.close()

    async def read_and_clean() -> bytes | None:
        cache = from_url(redis_url, prefix=redis_prefix)
        entry = await cache.get(key)
        await cache.clear()
        await cache.close()
        return entry.value if entry else None

    asyncio.run(poison())
    result = CliRunner().invoke(main, ["rehydrate", "--json"], env=_env(settings))
    assert result.exit_code == 0, result.output
    warmed = json.loads(result.output)["warmed"]
    assert [w["business_date"] for w in warmed] == [day.isoformat()]
    value = asyncio.run(read_and_clean())
    assert value is not None
    assert value.endswith(completion.content or b"")
