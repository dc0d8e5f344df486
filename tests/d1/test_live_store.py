"""D1 as a live store, on a real local D1: one call per write, D1's limits, outages, verify.

The store contract suite (tests/store) runs on D1 too; these are the cases only D1 has.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from marketbrief.cli.main import main
from marketbrief.config import D1_REVISION_CHECK_SECONDS, Settings
from marketbrief.errors import StoreError, StoreUnavailable
from marketbrief.models import ReportType, TriggerSource
from marketbrief.store.sql import SQLStore
from tests.support.api_fixtures import running
from tests.support.clock import DAY, Clock
from tests.support.deadlines import LOADED_MACHINE_DEADLINES
from tests.support.factories import SESSION, completion_for, predictions
from tests.support.local_d1 import TOKEN, LocalD1
from tests.support.session_files import SESSION as FILE_SESSION
from tests.support.session_files import session_news, session_prices

PRE = ReportType.PRE_MARKET
VIEWS = int(os.environ.get("D1_VIEWS", "1000"))


@pytest.fixture
def store(d1_url: str) -> Iterator[SQLStore]:
    store = SQLStore(d1_url)
    store.migrate()
    yield store
    store.close()


def _calls(store: SQLStore) -> int:
    assert store.d1_usage is not None
    return store.d1_usage.calls


def test_a_claim_and_a_finish_with_predictions_are_one_call_each(store: SQLStore) -> None:
    before = _calls(store)
    run = store.claim_run(PRE, SESSION, TriggerSource.SCHEDULE).run
    assert _calls(store) == before + 1
    many = tuple(
        dataclasses.replace(p, symbol=f"S{n:03d}") for n, p in enumerate(predictions(6) * 7)
    )
    outcome = store.finish_run(completion_for(run, preds=many))
    assert outcome.published
    assert _calls(store) == before + 2
    detail = store.get_run(run.run_id)
    assert detail is not None
    assert len(detail.predictions) == 42
    assert store.d1_usage is not None
    assert store.d1_usage.rows_written > 40


def test_the_days_usage_on_d1_is_what_d1_said_each_call_read_and_wrote(store: SQLStore) -> None:
    assert store.usage.source == "D1 response meta"
    store.usage.take()
    assert store.d1_usage is not None
    read, written = store.d1_usage.rows_read, store.d1_usage.rows_written
    statements = store.d1_usage.statements
    run = store.claim_run(PRE, SESSION, TriggerSource.SCHEDULE).run
    assert store.finish_run(completion_for(run)).published
    pending = store.usage.pending()
    assert pending.queries == store.d1_usage.statements - statements
    assert pending.rows_read == store.d1_usage.rows_read - read
    assert pending.rows_written == store.d1_usage.rows_written - written
    assert pending.rows_written > 0


def test_d1_answering_rate_limited_is_an_outage_and_the_next_call_works(
    store: SQLStore, local_d1: LocalD1
) -> None:
    local_d1.rate_limit(1)
    with pytest.raises(StoreUnavailable, match="rate limited"):
        store.revision()
    assert store.d1_usage is not None
    assert store.d1_usage.rate_limited == 1
    assert store.revision() == 0


def test_a_rate_limited_finish_writes_nothing_and_a_retry_finishes_it(
    store: SQLStore, local_d1: LocalD1
) -> None:
    run = store.claim_run(PRE, SESSION, TriggerSource.SCHEDULE).run
    local_d1.rate_limit(1)
    with pytest.raises(StoreUnavailable):
        store.finish_run(completion_for(run))
    assert store.latest_snapshot(PRE, SESSION) is None
    assert store.finish_run(completion_for(run)).published


def test_a_wrong_token_is_an_outage_not_a_crash(
    d1_url: str, local_d1: LocalD1, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SQLStore(d1_url, d1_token="not-the-token")
    with pytest.raises(StoreUnavailable, match="token"):
        store.ping()
    store.close()


def test_a_statement_over_d1s_bound_parameter_limit_is_refused_before_any_call(
    store: SQLStore,
) -> None:
    import sqlalchemy as sa

    before = _calls(store)
    with pytest.raises(StoreError, match="over D1's 100"), store._engines.read() as connection:
        connection.execute(sa.select(*[sa.literal(n) for n in range(101)]))
    assert _calls(store) == before


def test_verify_ignores_d1s_own_tables(store: SQLStore) -> None:
    with store._engines.read() as connection:
        names = connection.exec_driver_sql("SELECT name FROM sqlite_master").scalars().all()
    assert any(name.startswith("_cf_") for name in names)
    assert store.verify().ok, store.verify().problems


def _cli(tmp_path: Path, d1_url: str) -> Any:
    env = {
        "MARKETBRIEF_DATABASE_URL": d1_url,
        "MARKETBRIEF_OUTBOX_DIR": str(tmp_path / "outbox"),
        "MARKETBRIEF_SYMBOLS": "AAPL,MSFT,NVDA,TSLA",
        "MARKETBRIEF_NEWS": f"dir:{session_news(tmp_path / 'news')}",
        "MARKETBRIEF_PRICES": f"dir:{session_prices(tmp_path / 'prices')}",
        "MARKETBRIEF_HIGH_CONFIDENCE": "0.05",
    }

    def invoke(*args: str) -> Any:
        result = CliRunner().invoke(main, list(args), env=env)
        assert result.exit_code == 0, result.output
        return json.loads(result.output) if "--json" in args else result.output

    return invoke


def test_the_four_reports_run_on_d1_and_what_each_costs_in_calls(
    tmp_path: Path, d1_url: str, local_d1: LocalD1
) -> None:
    cli = _cli(tmp_path, d1_url)
    cli("migrate")
    costs = {}
    for kind, day in (
        ("pre-market", FILE_SESSION),
        ("intraday", FILE_SESSION),
        ("end-of-day", FILE_SESSION),
        ("weekly", "2026-11-29"),
    ):
        before = local_d1.calls()
        ran = cli("run", kind, "--date", day, "--json")
        # The weekly review is partial: one session of its four has an end-of-day.
        assert ran["status"] == ("partial" if kind == "weekly" else "success"), ran
        costs[kind] = local_d1.calls() - before
    print("D1 calls per run:", costs)
    # Claim, the stages, finish: a handful of calls, never one per prediction or per row.
    assert all(cost <= 25 for cost in costs.values()), costs
    report = cli("report", "end-of-day", "--date", FILE_SESSION, "--json")
    assert report["meta"]["state"] == "fresh"


async def test_a_thousand_dashboard_views_with_a_warm_cache_cost_almost_no_d1_calls(
    tmp_path: Path, d1_url: str, local_d1: LocalD1, clock: Clock
) -> None:
    store = SQLStore(d1_url)
    store.migrate()
    store.close()
    settings = Settings(
        database_url=d1_url,
        d1_token=TOKEN,
        d1_api_url=local_d1.api_url,
        outbox_dir=tmp_path / "outbox",
        scheduler_enabled=False,
        revision_check_seconds=D1_REVISION_CHECK_SECONDS,
        **LOADED_MACHINE_DEADLINES,
    )
    async with running(settings, clock) as api:
        run = api.services.results.deps.store
        claim = await run.claim_run(PRE, DAY, TriggerSource.SCHEDULE)
        assert (await api.publish(completion_for(claim.run))).published
        before = local_d1.calls()
        assert (await api.get("/")).status_code == 200  # warms the cache and the memo
        first = local_d1.calls() - before
        before = local_d1.calls()
        started = time.monotonic()
        for _ in range(VIEWS):
            assert (await api.get("/")).status_code == 200
        views = local_d1.calls() - before
        elapsed = time.monotonic() - started
    print(
        f"D1 calls: first dashboard view {first}; the next {VIEWS} views, cache warm, "
        f"{views} in {elapsed:.1f} s"
    )
    # A view costs no call: only the background revision check (one per 5 s) and the memo's
    # refreshes (at most `first` per 5 s) reach D1, whatever the number of views.
    intervals = elapsed / D1_REVISION_CHECK_SECONDS + 1
    assert views <= intervals * (first + 1), (views, first, elapsed)


def test_migrate_twice_then_verify_exit_zero_on_d1(d1_url: str) -> None:
    env = {"MARKETBRIEF_DATABASE_URL": d1_url}
    first = CliRunner().invoke(main, ["migrate"], env=env)
    second = CliRunner().invoke(main, ["migrate"], env=env)
    verified = CliRunner().invoke(main, ["verify", "--json"], env=env)
    assert (first.exit_code, second.exit_code, verified.exit_code) == (0, 0, 0), verified.output
    assert "nothing to do" in second.output
    assert json.loads(verified.output)["ok"] is True
