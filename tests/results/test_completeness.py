"""`marketbrief verify --days N`: every slot the calendar expected has a report, or exit 1."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import orjson
import pytest
from click.testing import CliRunner

from marketbrief.calendar import MarketCalendar
from marketbrief.cli.main import main
from marketbrief.models import ReportType, RunStatus
from marketbrief.results.slots import assess
from marketbrief.store.sql import SQLStore
from tests.support.factories import standalone_completion

# "Now" is frozen through the hidden --now option: Wednesday 2026-11-25, 17:00 New York.
NOW = datetime(2026, 11, 25, 22, 0, tzinfo=UTC)
GRACE = timedelta(minutes=30)
MISSING = (ReportType.INTRADAY, date(2026, 11, 18))
FAILED = (ReportType.PRE_MARKET, date(2026, 11, 20))


def _expected(now: datetime) -> list[tuple[ReportType, date, datetime]]:
    return MarketCalendar().slots_between(now - timedelta(days=14), now - GRACE)


def _verify(url: str, *args: str) -> tuple[int, str]:
    outcome = CliRunner().invoke(
        main, ["verify", "--days", "14", *args], env={"MARKETBRIEF_DATABASE_URL": url}
    )
    return outcome.exit_code, outcome.output


@pytest.fixture
def filled(sqlite_url: str) -> SQLStore:
    """Every slot of the 14 days before NOW has a report, except one missed and one failed."""
    store = SQLStore(sqlite_url)
    store.migrate()
    for kind, day, instant in _expected(NOW):
        completion = standalone_completion(kind, day, started_at=instant + timedelta(seconds=5))
        if (kind, day) == MISSING:
            continue
        if (kind, day) == FAILED:
            completion = dataclasses.replace(completion, status=RunStatus.FAILED, content=None)
        store.finish_run(completion)
    return store


def test_the_window_holds_every_session_slot_and_both_sundays() -> None:
    expected = _expected(NOW)
    # Ten sessions (Nov 12-25) with three daily slots each, and the weeklies of Nov 15 and 22.
    assert len(expected) == 32
    weeklies = [day for kind, day, _ in expected if kind is ReportType.WEEKLY]
    assert weeklies == [date(2026, 11, 15), date(2026, 11, 22)]


def test_verify_days_names_the_missed_and_the_failed_slot_and_exits_one(
    filled: SQLStore,
) -> None:
    code, output = _verify(filled.url, "--now", NOW.isoformat())
    assert code == 1
    assert "30 of 32 slot(s) of the last 14 day(s) have a report" in output
    assert "missed   intraday    2026-11-18" in output
    assert "failed   pre-market  2026-11-20" in output

    code, output = _verify(filled.url, "--now", NOW.isoformat(), "--json")
    found = orjson.loads(output)
    assert code == 1
    assert found["ok"] is False
    gaps = {(g["report_type"], g["date"], g["status"]) for g in found["completeness"]["gaps"]}
    assert gaps == {("intraday", "2026-11-18", "missed"), ("pre-market", "2026-11-20", "failed")}
    filled.close()


def test_verify_days_passes_once_the_gaps_are_filled_and_ignores_slots_in_grace(
    filled: SQLStore,
) -> None:
    for kind, day in (MISSING, FAILED):
        filled.finish_run(standalone_completion(kind, day, started_at=NOW - timedelta(days=1)))
    code, output = _verify(filled.url, "--now", NOW.isoformat())
    assert code == 0, output
    assert "ok: 32 of 32 slot(s)" in output
    # 16:20 New York: the end-of-day slot of 16:05 is still within its grace period.
    code, output = _verify(filled.url, "--now", "2026-11-25T21:20:00Z")
    assert code == 0, output
    # Thanksgiving has no slots; the Friday after it is an early close (end-of-day at 13:05).
    code, output = _verify(filled.url, "--now", "2026-11-27T19:00:00Z", "--json")
    assert code == 1
    gaps = {(g["report_type"], g["date"]) for g in orjson.loads(output)["completeness"]["gaps"]}
    assert gaps == {
        ("pre-market", "2026-11-27"),
        ("intraday", "2026-11-27"),
        ("end-of-day", "2026-11-27"),
    }
    filled.close()


def test_a_bad_now_is_refused(sqlite_url: str) -> None:
    SQLStore(sqlite_url).migrate()
    code, output = _verify(sqlite_url, "--now", "2026-11-25 22:00")
    assert code == 2
    assert "needs an offset" in output


def test_assess_marks_a_slot_ok_only_when_a_report_is_served() -> None:
    day, instant = date(2026, 11, 24), datetime(2026, 11, 24, 13, 30, tzinfo=UTC)
    checks = assess([(ReportType.PRE_MARKET, day, instant)], {(ReportType.PRE_MARKET, day)}, [])
    assert [c.status for c in checks] == ["ok"]
    checks = assess([(ReportType.PRE_MARKET, day, instant)], set(), [])
    assert [c.status for c in checks] == ["missed"]


def test_verify_days_counts_only_slots_after_the_schedule_began(sqlite_url: str) -> None:
    store = SQLStore(sqlite_url)
    store.migrate()
    # A fresh install: no scheduler ever started and no run, so no slot was due.
    code, output = _verify(sqlite_url, "--now", NOW.isoformat())
    assert code == 0, output
    assert "0 of 0 slot(s)" in output
    # The scheduler first started at 08:00 New York on NOW's day: only that day's slots count.
    store.begin_schedule(datetime(2026, 11, 25, 13, 0, tzinfo=UTC))
    store.close()
    code, output = _verify(sqlite_url, "--now", NOW.isoformat(), "--json")
    found = orjson.loads(output)
    assert code == 1
    gaps = {(g["report_type"], g["date"]) for g in found["completeness"]["gaps"]}
    assert gaps == {
        ("pre-market", "2026-11-25"),
        ("intraday", "2026-11-25"),
        ("end-of-day", "2026-11-25"),
    }
