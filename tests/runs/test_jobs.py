"""The four reports end to end: `marketbrief run` over local news and price files.

News and closes are files the test writes (the `dir:` providers), so every number in the
reports can be checked against a hand-computed expectation.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from marketbrief.cli.main import main
from marketbrief.models import ReportType, TriggerSource
from marketbrief.store.sql import SQLStore
from tests.support.factories import completion_for
from tests.support.session_files import SESSION, session_news, session_prices


@pytest.fixture
def cli(tmp_path: Path, sqlite_url: str) -> Callable[..., Result]:
    env = {
        "MARKETBRIEF_DATABASE_URL": sqlite_url,
        "MARKETBRIEF_OUTBOX_DIR": str(tmp_path / "outbox"),
        "MARKETBRIEF_SYMBOLS": "AAPL,MSFT,NVDA,TSLA",
        "MARKETBRIEF_NEWS": f"dir:{session_news(tmp_path / 'news')}",
        "MARKETBRIEF_PRICES": f"dir:{session_prices(tmp_path / 'prices')}",
        "MARKETBRIEF_HIGH_CONFIDENCE": "0.05",
    }
    store = SQLStore(sqlite_url)
    store.migrate()
    store.close()

    def invoke(*args: str, **extra_env: str) -> Result:
        return CliRunner().invoke(main, list(args), env={**env, **extra_env})

    return invoke


def _json(result: Result) -> Any:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return json.loads(result.output)


def _report(cli: Callable[..., Result], kind: str, day: str) -> dict[str, Any]:
    result = cli("report", kind, "--date", day, "--json")
    assert result.exit_code == 0, result.output
    envelope: dict[str, Any] = json.loads(result.output)
    assert envelope["meta"]["state"] == "fresh"
    return envelope["data"]


def test_a_backfilled_day_produces_all_four_reports_with_hand_checked_numbers(
    cli: Callable[..., Result],
) -> None:
    pre = _json(cli("run", "pre-market", "--date", SESSION, "--json"))
    assert pre["status"] == "success", pre
    run = _json(cli("history", "--json"))["jobs"][0]
    assert run["current_stage"] == "finalize"
    body = _report(cli, "pre-market", SESSION)
    calls = {s["symbol"]: s["direction"] for s in body["symbols"]}
    assert calls == {"AAPL": "up", "MSFT": "down", "NVDA": "up", "TSLA": "down"}
    assert body["counts"]["analysed"] == 4
    assert body["counts"]["usable"] == 4
    assert body["market_pulse"]["symbol"] == "SPY"
    # Point in time: only the three pre-slot articles were knowable at 08:30 New York.
    assert {s["articles_count"] for s in body["symbols"]} == {3}
    assert not any("LATE" in h["title"] for s in body["symbols"] for h in s["headlines"])

    intraday = _json(cli("run", "intraday", "--date", SESSION, "--json"))
    assert intraday["status"] == "success", intraday
    mid = _report(cli, "intraday", SESSION)
    assert mid["pre_market_run_id"] == pre["run_id"]
    assert {s["articles_count"] for s in mid["symbols"]} == {1}  # only the midday article

    eod = _json(cli("run", "end-of-day", "--date", SESSION, "--json"))
    assert eod["status"] == "success", eod
    summary = _report(cli, "end-of-day", SESSION)
    assert (summary["scored"], summary["correct"], summary["wrong"]) == (4, 3, 1)
    assert summary["accuracy"] == 0.75
    assert summary["pre_market_run_id"] == pre["run_id"]
    mover = summary["top_movers"][0]
    assert {k: mover[k] for k in ("symbol", "change_pct", "outcome")} == {
        "symbol": "TSLA",
        "change_pct": -3.0,
        "outcome": "correct",
    }
    assert (mover["direction"], mover["result"]) == ("down", "right")
    assert summary["hit_rate"]["all"] == {"hits": 3, "calls": 4, "rate": 0.75}

    weekly = _json(cli("run", "weekly", "--date", "2026-11-29", "--json"))
    assert weekly["status"] == "partial", weekly  # one session of four has an end-of-day
    review = _report(cli, "weekly", "2026-11-29")
    by_day = {s["date"]: s["accuracy"] for s in review["sessions"]}
    assert by_day == {
        "2026-11-23": None,
        "2026-11-24": 0.75,
        "2026-11-25": None,
        "2026-11-27": None,
    }
    assert review["accuracy"] == 0.75
    nvda = review["symbols"]["NVDA"]
    assert {k: nvda[k] for k in ("correct", "wrong", "pending", "accuracy")} == {
        "correct": 0,
        "wrong": 1,
        "pending": 0,
        "accuracy": 0.0,
    }
    assert (nvda["hits"], nvda["calls"], nvda["calls_made"]) == (0, 1, 1)

    history = _json(cli("history", "--json"))
    triggers = {j["job_type"]: j["trigger_source"] for j in history["jobs"]}
    # A past date is a backfill; the weekly date may be today's (then it is a manual run).
    assert [triggers[t] for t in ("pre-market", "intraday", "end-of-day")] == ["backfill"] * 3


def test_end_of_day_without_a_pre_market_run_fails_with_the_reason(
    cli: Callable[..., Result],
) -> None:
    result = cli("run", "end-of-day", "--date", SESSION, "--json")
    assert result.exit_code == 1
    outcome = json.loads(result.output)
    assert outcome["status"] == "failed"
    assert "no successful pre-market run" in outcome["errors"][0]["error"]
    report = cli("report", "end-of-day", "--date", SESSION, "--json")
    assert json.loads(report.output)["meta"]["state"] in ("failed", "missing")
    assert report.exit_code == 1


def test_every_news_provider_failing_fails_the_run_with_each_reason(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for symbol in ("AAPL", "MSFT", "NVDA", "TSLA", "SPY"):
        (broken / f"{symbol}.json").write_text("{not json")
    news = f"dir:{broken},rss:http://127.0.0.1:9/{{symbol}}.xml"
    result = cli("run", "pre-market", "--date", SESSION, "--json", MARKETBRIEF_NEWS=news)
    assert result.exit_code == 1, result.output
    outcome = json.loads(result.output)
    assert outcome["status"] == "failed"
    providers = {(e.get("provider", "")[:4], e.get("symbol")) for e in outcome["errors"]}
    assert ("dir:", "AAPL") in providers
    assert ("rss:", "AAPL") in providers
    report = cli("report", "pre-market", "--date", SESSION, "--json")
    assert json.loads(report.output)["meta"]["has_content"] is False


def test_a_day_that_is_not_a_session_is_refused_with_a_clear_error(
    cli: Callable[..., Result],
) -> None:
    result = cli("run", "pre-market", "--date", "2026-11-26")
    assert result.exit_code == 2
    assert "not a session" in result.output


def test_schedule_shows_expected_versus_actual(cli: Callable[..., Result]) -> None:
    cli("run", "pre-market", "--date", SESSION)
    payload = _json(cli("schedule", "--days", "30", "--json"))
    by_slot = {(s["date"], s["report_type"]): s["status"] for s in payload["slots"]}
    assert by_slot[(SESSION, "pre-market")] == "ok"
    assert by_slot[(SESSION, "intraday")] == "missed"
    assert ("2026-11-26", "pre-market") not in by_slot  # Thanksgiving


def test_backfill_runs_each_slot_and_reruns_only_slots_without_a_report(
    cli: Callable[..., Result],
) -> None:
    # 2026-11-23 has no news in its window (all of it is dated the 24th): that run fails.
    first = cli("backfill", "--from", "2026-11-23", "--to", "2026-11-24", "--type", "pre-market")
    assert first.exit_code == 1, first.output
    # Each failed slot says why; the summary says how many slots were skipped and why.
    assert "2026-11-23 pre-market: failed: analysis: " in first.output
    assert "2 run(s), 1 failed; 0 slot(s) skipped" in first.output
    again = cli("backfill", "--from", "2026-11-23", "--to", "2026-11-24", "--type", "pre-market")
    assert "1 run(s), 1 failed; 1 slot(s) skipped: they already have a report" in again.output
    forced = cli(
        "backfill", "--from", "2026-11-24", "--to", "2026-11-24", "--type", "pre-market", "--force"
    )
    assert forced.exit_code == 0, forced.output
    assert "1 run(s), 0 failed" in forced.output
    history = _json(cli("history", "--type", "pre-market", "--json"))
    dates = [j["scheduled_date"] for j in history["jobs"]]
    assert dates == [SESSION, "2026-11-23", SESSION, "2026-11-23"]
    assert {j["trigger_source"] for j in history["jobs"]} == {"backfill"}


def test_a_later_run_is_published_even_over_one_whose_host_clock_ran_ahead(
    cli: Callable[..., Result], sqlite_url: str
) -> None:
    """The store orders runs as they really started: a host clock six hours ahead wins nothing."""
    store = SQLStore(sqlite_url)
    ahead = datetime.now(UTC) + timedelta(hours=6)
    claim = store.claim_run(
        ReportType.PRE_MARKET, date.fromisoformat(SESSION), TriggerSource.MANUAL, started_at=ahead
    )
    assert store.finish_run(completion_for(claim.run)).published
    store.close()
    result = cli("run", "pre-market", "--date", SESSION)
    assert result.exit_code == 0, result.output
    assert "not the report readers get" not in result.output
    outcome = _json(cli("run", "pre-market", "--date", SESSION, "--json"))
    assert (outcome["persisted"], outcome["published"], outcome["superseded_by"]) == (
        True,
        True,
        None,
    )


def test_a_replayed_run_that_loses_the_compare_and_set_says_so(
    cli: Callable[..., Result], sqlite_url: str
) -> None:
    """A run claimed first whose result waited in the outbox while a later run published."""
    spooled = _json(
        cli("run", "pre-market", "--date", SESSION, "--json", MARKETBRIEF_STORE_WRITES="off")
    )
    assert (spooled["outboxed"], spooled["published"]) == (True, True)
    store = SQLStore(sqlite_url)
    later = store.claim_run(
        ReportType.PRE_MARKET,
        date.fromisoformat(SESSION),
        TriggerSource.MANUAL,
        started_at=datetime.now(UTC) - timedelta(hours=6),  # its host's clock is behind
    )
    assert store.finish_run(completion_for(later.run)).published
    store.close()
    result = cli("outbox", "replay")
    assert result.exit_code == 0, result.output
    assert "stored 1" in result.output
    assert f"stored {spooled['run_id']}, but not the report readers get" in result.output
    assert later.run.run_id in result.output
    job = _json(cli("history", "--json"))["jobs"]
    lost = next(j for j in job if j["run_id"] == spooled["run_id"])
    assert any("not published" in w for w in lost["warnings"]), lost
