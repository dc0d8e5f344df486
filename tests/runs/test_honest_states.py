"""Honest states, end to end through `marketbrief run` and `report` over local news and prices.

A run with nothing usable is failed, and no read turns it into a partial report; a partial run
says why; a quiet midday window is news, not a failure; a future date is refused before
anything is written; a stage the run's error names is never shown as a success.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from marketbrief.calendar import business_date, utc_now
from marketbrief.cli.main import main
from marketbrief.results import records
from marketbrief.store.sql import SQLStore
from tests.support.session_files import (
    AFTER_SLOTS,
    BULLISH,
    MOOD,
    NAMES,
    PRE_SLOT_NEWS,
    SESSION,
    session_news,
    session_prices,
)

Cli = Callable[..., Result]


def _quiet_news(folder: Path) -> Path:
    """The morning's headlines and late ones, but nothing between the two slots."""
    folder.mkdir()
    for symbol, headlines in MOOD.items():
        name = NAMES[symbol]
        items: list[dict[str, Any]] = [
            {"title": h.format(name=name), "source": "wire", "published_at": PRE_SLOT_NEWS}
            for h in headlines
        ]
        items.append(
            {"title": f"LATE: {BULLISH[0].format(name=name)}", "published_at": AFTER_SLOTS}
        )
        (folder / f"{symbol}.json").write_text(json.dumps(items))
    return folder


@pytest.fixture
def make_cli(tmp_path: Path, sqlite_url: str) -> Callable[..., Cli]:
    store = SQLStore(sqlite_url)
    store.migrate()
    store.close()

    def make(news: Path | None = None, prices: Path | None = None) -> Cli:
        env = {
            "MARKETBRIEF_DATABASE_URL": sqlite_url,
            "MARKETBRIEF_OUTBOX_DIR": str(tmp_path / "outbox"),
            "MARKETBRIEF_SYMBOLS": "AAPL,MSFT,NVDA,TSLA",
            "MARKETBRIEF_NEWS": f"dir:{news or session_news(tmp_path / 'news')}",
            "MARKETBRIEF_PRICES": f"dir:{prices or session_prices(tmp_path / 'prices')}",
            "MARKETBRIEF_HIGH_CONFIDENCE": "0.05",
        }

        def invoke(*args: str) -> Result:
            return CliRunner().invoke(main, list(args), env=env)

        return invoke

    return make


def _json(result: Result) -> Any:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return json.loads(result.output)


def _stages(url: str, run_id: str) -> dict[str, str]:
    store = SQLStore(url)
    try:
        detail = store.get_run(run_id)
    finally:
        store.close()
    assert detail is not None
    return {s.stage.value: s.status.value for s in detail.stages}


def test_a_run_with_no_usable_symbol_fails_and_no_report_is_made_of_it(
    make_cli: Callable[..., Cli], tmp_path: Path, sqlite_url: str
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    cli = make_cli(news=empty)
    run = cli("run", "pre-market", "--date", SESSION, "--json")
    assert run.exit_code == 1
    outcome = json.loads(run.output)
    assert outcome["status"] == "failed"
    assert outcome["symbols"]["successful"] == 0
    # The failed run stored its (skipped) predictions, yet neither the intraday nor the
    # end-of-day read shapes them as a partial report, and `report` exits 1.
    for kind in ("intraday", "end-of-day"):
        read = cli("report", kind, "--date", SESSION, "--json")
        envelope = json.loads(read.output)
        assert read.exit_code == 1, read.output
        assert envelope["meta"]["state"] != "partial"
        assert envelope["meta"]["has_content"] is False
        assert envelope["data"] is None
    # The stage the error names is failed, never success.
    assert outcome["errors"][0]["stage"] == "analysis"
    assert _stages(sqlite_url, outcome["run_id"])["analysis"] == "failed"


def test_an_end_of_day_without_a_single_close_fails_and_its_stage_says_so(
    make_cli: Callable[..., Cli], tmp_path: Path, sqlite_url: str
) -> None:
    no_prices = tmp_path / "no-prices"
    no_prices.mkdir()
    cli = make_cli(prices=no_prices)
    morning = _json(cli("run", "pre-market", "--date", SESSION, "--json"))
    assert morning["status"] == "success"
    run = cli("run", "end-of-day", "--date", SESSION, "--json")
    outcome = json.loads(run.output)
    assert run.exit_code == 1
    assert outcome["status"] == "failed"
    assert "no close found for any symbol" in outcome["errors"][0]["error"]
    stages = _stages(sqlite_url, outcome["run_id"])
    assert stages["data_fetch"] == "failed"
    assert "success" not in {stages["data_fetch"], stages["finalize"]}
    # What a reader gets is the morning's real calls, partial and saying whose they are,
    # never anything from the failed run.
    envelope = json.loads(cli("report", "end-of-day", "--date", SESSION, "--json").output)
    assert envelope["meta"]["state"] == "partial"
    assert envelope["data"]["source_run_id"] == morning["run_id"]
    assert {p["outcome"] for p in envelope["data"]["predictions"]} == {None}


def test_a_partial_run_names_each_symbol_that_failed_and_why(
    make_cli: Callable[..., Cli], tmp_path: Path
) -> None:
    news = session_news(tmp_path / "news")
    (news / "TSLA.json").write_text("[]")  # no headline at all for one symbol
    cli = make_cli(news=news)
    outcome = _json(cli("run", "pre-market", "--date", SESSION, "--json"))
    assert outcome["status"] == "partial"
    job = _json(cli("history", "--json"))["jobs"][0]
    assert {"symbol": "TSLA", "status": "skipped", "reason": "no articles"} in job["warnings"]
    assert job["reason"] == "TSLA skipped: no articles"
    read = cli("report", "pre-market", "--date", SESSION, "--json")
    assert read.exit_code == 0  # a partial run with real content is a report


def test_a_quiet_intraday_window_carries_the_morning_calls_as_fresh(
    make_cli: Callable[..., Cli], tmp_path: Path
) -> None:
    cli = make_cli(news=_quiet_news(tmp_path / "quiet"))
    morning = _json(cli("run", "pre-market", "--date", SESSION, "--json"))
    assert morning["status"] == "success"
    midday = cli("run", "intraday", "--date", SESSION, "--json")
    assert midday.exit_code == 0, midday.output
    assert json.loads(midday.output)["status"] == "success"

    read = cli("report", "intraday", "--date", SESSION, "--json")
    assert read.exit_code == 0
    envelope = json.loads(read.output)
    assert envelope["meta"]["state"] == "fresh"
    body = envelope["data"]
    # The window starts at the pre-market slot: 08:30 New York.
    assert body["note"] == "no new news since 08:30"
    assert body["quiet"] is True
    assert body["pre_market_run_id"] == morning["run_id"]
    calls = {s["symbol"]: (s["direction"], s["verdict"]) for s in body["symbols"]}
    assert calls == {
        "AAPL": ("up", "unchanged"),
        "MSFT": ("down", "unchanged"),
        "NVDA": ("up", "unchanged"),
        "TSLA": ("down", "unchanged"),
        "SPY": ("up", "unchanged"),
    }
    # The warning names the condition, in the report and on the run.
    assert body["warnings"] == ["no_new_news: no new news since 08:30; the morning's calls stand"]
    job = _json(cli("history", "--type", "intraday", "--json"))["jobs"][0]
    assert job["status"] == "success"
    assert any("no new news since 08:30" in w for w in job["warnings"])


def test_a_date_after_today_is_refused_by_run_and_backfill_and_nothing_is_written(
    make_cli: Callable[..., Cli], sqlite_url: str
) -> None:
    cli = make_cli()
    today = business_date(utc_now())
    ahead = today + timedelta(days=7)
    for kind in ("pre-market", "weekly"):
        day = ahead + timedelta(days=(6 - ahead.weekday()) % 7) if kind == "weekly" else ahead
        refused = cli("run", kind, "--date", day.isoformat())
        assert refused.exit_code == 2, refused.output
        assert "is in the future" in refused.output
    # A backfill reaching past today refuses the whole range before running its past slots.
    refused = cli("backfill", "--from", SESSION, "--to", ahead.isoformat(), "--type", "pre-market")
    assert refused.exit_code == 2, refused.output
    assert "is in the future" in refused.output
    assert _json(cli("history", "--json"))["jobs"] == []
    store = SQLStore(sqlite_url)
    try:
        assert store.latest_keys() == []
    finally:
        store.close()


def test_the_stage_list_never_shows_success_for_a_stage_the_error_names(
    make_cli: Callable[..., Cli], tmp_path: Path, sqlite_url: str
) -> None:
    empty = tmp_path / "nothing"
    empty.mkdir()
    failed_runs = [
        _json(make_cli(news=empty)("run", "pre-market", "--date", SESSION, "--json")),
        _json(make_cli(prices=empty)("run", "end-of-day", "--date", SESSION, "--json")),
    ]
    store = SQLStore(sqlite_url)
    try:
        for outcome in failed_runs:
            assert outcome["status"] == "failed"
            detail = store.get_run(outcome["run_id"])
            assert detail is not None
            # What the job API and page list: the shape both render.
            shown = {s["stage"]: s["status"] for s in records.run_detail(detail)["stages"]}
            named = {e["stage"] for e in outcome["errors"] if isinstance(e, dict)}
            assert named, outcome["errors"]
            for stage in named:
                assert shown[stage] == "failed", (stage, shown)
            assert shown.get("finalize") != "success", shown
    finally:
        store.close()
