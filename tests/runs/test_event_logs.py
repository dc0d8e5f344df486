"""The log keeps one line per event, human by default and JSON lines when asked.

Runs (started, finished with status and duration, failed with the reason), the outbox (a
completion spooled, replayed, rejected) and the scheduler's catch-up decisions (a missed slot
caught up, or skipped and why), each captured through the real formatter on a stream.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from marketbrief.cli.main import main
from marketbrief.results.outbox import Outbox
from marketbrief.store import SQLStore, Store
from marketbrief.web.logs import LOGGER, formatter, log_config
from tests.support.factories import standalone_completion
from tests.support.scheduler_harness import drive
from tests.support.session_files import SESSION, session_news, session_prices

Lines = Callable[[], list[Any]]


@pytest.fixture(params=["human", "json"])
def log_format(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def lines(log_format: str) -> Iterator[Lines]:
    """marketbrief's records from INFO, through the real formatter, as lines (JSON: parsed)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(log_format))
    logger = logging.getLogger(LOGGER)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    def read() -> list[Any]:
        text = stream.getvalue().splitlines()
        return [json.loads(line) for line in text] if log_format == "json" else text

    try:
        yield read
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _event(found: list[Any], log_format: str, event: str, needle: str) -> Any:
    """The one line of this event that mentions `needle` (a run id, a slot's date)."""
    if log_format == "json":
        hits = [line for line in found if line.get("event") == event and needle in str(line)]
    else:
        hits = [line for line in found if needle in line]
    assert len(hits) == 1, (event, needle, found)
    return hits[0]


def test_every_run_logs_its_start_and_its_end_with_status_duration_or_reason(
    tmp_path: Path, sqlite_url: str, lines: Lines, log_format: str
) -> None:
    store = SQLStore(sqlite_url)
    store.migrate()
    store.close()
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {
        "MARKETBRIEF_DATABASE_URL": sqlite_url,
        "MARKETBRIEF_OUTBOX_DIR": str(tmp_path / "outbox"),
        "MARKETBRIEF_SYMBOLS": "AAPL,MSFT",
        "MARKETBRIEF_NEWS": f"dir:{session_news(tmp_path / 'news')}",
        "MARKETBRIEF_PRICES": f"dir:{session_prices(tmp_path / 'prices')}",
    }
    good = CliRunner().invoke(main, ["run", "pre-market", "--date", SESSION, "--json"], env=env)
    assert good.exit_code == 0, good.output
    bad = CliRunner().invoke(
        main,
        ["run", "pre-market", "--date", SESSION, "--json"],
        env={**env, "MARKETBRIEF_NEWS": f"dir:{empty}"},
    )
    assert bad.exit_code == 1, bad.output
    good_id = json.loads(good.stdout)["run_id"]
    bad_id = json.loads(bad.stdout)["run_id"]
    found = lines()  # two lines per run (and the alert watch's own line about the failure)
    started = _event(found, log_format, "run_started", f"run {good_id} started")
    finished = _event(found, log_format, "run_finished", f"run {good_id} finished")
    failed = _event(found, log_format, "run_failed", f"run {bad_id} failed after")
    _event(found, log_format, "run_started", f"run {bad_id} started")
    if log_format == "json":
        assert started["report_type"] == "pre-market"
        assert started["business_date"] == SESSION
        assert started["trigger"] == "backfill"
        assert started["level"] == "info"
        assert finished["status"] == "success"
        assert isinstance(finished["duration_ms"], int)
        assert finished["message"].startswith(f"run {good_id} finished success in ")
        assert failed["status"] == "failed"
        assert failed["reason"].startswith("analysis: ")
        assert failed["message"].startswith(f"run {bad_id} failed after ")
    else:
        assert f"run {good_id} started: pre-market for {SESSION} (backfill)" in started
        assert " INFO " in started
        assert f"run {good_id} finished success in " in finished
        assert "ms (3 of 3 symbols usable)"  # SPY is always added in finished
        assert " ms: analysis: " in failed


async def test_the_outbox_logs_each_spool_replay_and_rejection(
    tmp_path: Path, sqlite_url: str, lines: Lines, log_format: str
) -> None:
    completion = standalone_completion(started_at=datetime(2026, 11, 24, 13, 30, tzinfo=UTC))
    box = Outbox(tmp_path / "outbox")
    box.append(completion)
    (box.directory / "unreadable-run.json").write_bytes(b"{not json")
    store = SQLStore(sqlite_url)
    store.migrate()
    try:
        report = await box.replay(Store(store).finish_run)
    finally:
        store.close()
    assert [c.run_id for c, _ in report.stored] == [completion.run_id]
    found = lines()
    assert len(found) == 3, found
    spooled = _event(found, log_format, "outbox_spooled", f"run {completion.run_id} (success)")
    replayed = _event(found, log_format, "outbox_replayed", f"run {completion.run_id} replayed")
    rejected = _event(found, log_format, "outbox_rejected", "unreadable-run")
    if log_format == "json":
        assert spooled["outbox"] == str(box.directory)
        assert replayed["published"] is True
        assert rejected["level"] == "warning"
        assert "unreadable outbox file" in rejected["reason"]
    else:
        assert "spooled to the outbox" in spooled
        assert "from the outbox into the store" in replayed
        assert " WARNING " in rejected
        assert "rejected by the outbox replay, kept aside: unreadable outbox file" in rejected


def test_each_catch_up_decision_is_one_line_saying_why(
    sqlite_url: str, lines: Lines, log_format: str
) -> None:
    store = SQLStore(sqlite_url)
    store.migrate()
    store.begin_schedule(datetime(2026, 11, 23, 0, 0, tzinfo=UTC))  # Monday, before its slots
    store.close()
    # Tuesday 13:00 New York with a two-hour window: the 12:00 slot is caught up, the 08:30
    # one and Monday's three are too old and stay missed.
    now = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
    runner = asyncio.run(drive(sqlite_url, now, now + timedelta(minutes=1), catchup_hours=2))
    assert [(s.report_type.value, s.day) for s, _, _ in runner.fired] == [
        ("intraday", date(2026, 11, 24))
    ]
    found = lines()
    assert len(found) == 5, found
    caught = _event(found, log_format, "catchup_run", "intraday 2026-11-24")
    skipped = _event(found, log_format, "catchup_skipped", "pre-market 2026-11-24")
    if log_format == "json":
        assert caught["scheduled_at"] == "2026-11-24T17:00:00.000Z"
        assert caught["reason"] == "within the 2 h catch-up window"
        assert skipped["reason"] == "older than the 2 h catch-up window"
        assert skipped["level"] == "warning"
        assert {line["event"] for line in found} == {"catchup_run", "catchup_skipped"}
    else:
        assert "catching up now (within the 2 h window)" in caught
        assert "was missed and is skipped: it is older than the catch-up window of 2 h" in skipped
        assert "MARKETBRIEF_CATCHUP_HOURS" in skipped


def test_serve_writes_marketbrief_events_from_info_in_the_chosen_format() -> None:
    human = log_config(access_log=False, throttle_seconds=10, log_format="human")
    json_lines = log_config(access_log=True, throttle_seconds=10, log_format="json")
    assert human["loggers"][LOGGER] == {"handlers": ["events"], "level": "INFO", "propagate": False}
    assert human["formatters"]["default"]["()"] == "uvicorn.logging.DefaultFormatter"
    # With JSON lines every line is JSON: uvicorn's own and the access log too.
    assert {
        json_lines["formatters"][n]["()"].__name__ for n in ("default", "access", "events")
    } == {"JsonLines"}
