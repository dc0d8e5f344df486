"""Time travel: slots fire at the right New York instant, once, however many schedulers run."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from marketbrief.calendar import MarketCalendar
from marketbrief.models import ReportType, TriggerSource
from marketbrief.results.slots import plan_catch_up
from marketbrief.store.sql import SQLStore
from tests.support.paths import ROOT
from tests.support.scheduler_harness import drive

CAL = MarketCalendar()
PRE, EOD = ReportType.PRE_MARKET, ReportType.END_OF_DAY


def _migrated(url: str) -> str:
    store = SQLStore(url)
    store.migrate()
    store.close()
    return url


def _fired(url: str, start: datetime, end: datetime) -> list[tuple[ReportType, date, datetime]]:
    runner = asyncio.run(drive(url, start, end, catchup_hours=0))
    return [(slot.report_type, slot.day, at) for slot, _, at in runner.fired]


def test_lesson_20_slots_fire_at_the_new_york_instant_across_the_march_dst_change(
    sqlite_url: str,
) -> None:
    start = datetime(2026, 3, 6, 0, 0, tzinfo=UTC)
    fired = _fired(_migrated(sqlite_url), start, datetime(2026, 3, 10, 23, 0, tzinfo=UTC))
    at = {(t, d): when for t, d, when in fired}
    assert at[(PRE, date(2026, 3, 6))] == datetime(2026, 3, 6, 13, 30, tzinfo=UTC)  # EST
    assert at[(PRE, date(2026, 3, 9))] == datetime(2026, 3, 9, 12, 30, tzinfo=UTC)  # EDT
    assert at[(EOD, date(2026, 3, 6))] == datetime(2026, 3, 6, 21, 5, tzinfo=UTC)
    assert at[(EOD, date(2026, 3, 9))] == datetime(2026, 3, 9, 20, 5, tzinfo=UTC)
    assert at[(ReportType.WEEKLY, date(2026, 3, 8))] == datetime(2026, 3, 8, 14, 0, tzinfo=UTC)
    expected = CAL.slots_between(start, datetime(2026, 3, 10, 23, 0, tzinfo=UTC))
    assert fired == expected  # each slot exactly once, in order, at its instant


def test_slots_fire_once_across_the_november_dst_change(sqlite_url: str) -> None:
    start = datetime(2026, 10, 30, 0, 0, tzinfo=UTC)
    end = datetime(2026, 11, 3, 23, 0, tzinfo=UTC)
    fired = _fired(_migrated(sqlite_url), start, end)
    at = {(t, d): when for t, d, when in fired}
    assert at[(PRE, date(2026, 10, 30))] == datetime(2026, 10, 30, 12, 30, tzinfo=UTC)  # EDT
    assert at[(PRE, date(2026, 11, 2))] == datetime(2026, 11, 2, 13, 30, tzinfo=UTC)  # EST
    assert at[(EOD, date(2026, 10, 30))] == datetime(2026, 10, 30, 20, 5, tzinfo=UTC)
    assert at[(EOD, date(2026, 11, 2))] == datetime(2026, 11, 2, 21, 5, tzinfo=UTC)
    assert at[(ReportType.WEEKLY, date(2026, 11, 1))] == datetime(2026, 11, 1, 15, 0, tzinfo=UTC)
    assert len(at) == len(fired)  # no slot fired twice
    assert fired == CAL.slots_between(start, end)


def test_never_on_holidays_and_at_13_05_on_early_closes(sqlite_url: str) -> None:
    start = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)
    end = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)
    fired = _fired(_migrated(sqlite_url), start, end)
    days = {d for _, d, _ in fired}
    assert date(2026, 11, 26) not in days  # Thanksgiving
    at = {(t, d): when for t, d, when in fired}
    assert at[(EOD, date(2026, 11, 27))] == datetime(2026, 11, 27, 18, 5, tzinfo=UTC)


def test_a_service_down_over_a_slot_catches_it_up_once_and_reports_older_ones_missed(
    sqlite_url: str,
) -> None:
    url = _migrated(sqlite_url)
    store = SQLStore(url)
    store.begin_schedule(datetime(2026, 11, 20, 12, 0, tzinfo=UTC))  # the service ran before
    store.close()
    # Tuesday 10:00 New York: pre-market (08:30) is 1.5 h late; Monday's slots are older than 6 h.
    now = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
    runner = asyncio.run(drive(url, now, now + timedelta(minutes=1)))
    catch_ups = [
        (s.report_type, s.day)
        for s, trigger, _ in runner.fired
        if trigger is TriggerSource.CATCH_UP
    ]
    assert catch_ups == [(PRE, date(2026, 11, 24))]
    again = asyncio.run(drive(url, now, now + timedelta(minutes=1)))
    assert [s for s, trigger, _ in again.fired if trigger is TriggerSource.CATCH_UP] == []
    store = SQLStore(url)
    runs = store.runs_between(date(2026, 11, 24), date(2026, 11, 24))
    store.close()
    assert [(r.report_type, r.trigger_source) for r in runs] == [(PRE, TriggerSource.CATCH_UP)]
    plan = plan_catch_up(CAL, now, timedelta(hours=6), lambda s: s.day == date(2026, 11, 24))
    assert (EOD, date(2026, 11, 23)) in [(s.report_type, s.day) for s in plan.missed]
    assert plan.to_run == []


def test_three_scheduler_processes_on_postgresql_make_one_run_per_slot(pg_url: str) -> None:
    url = _migrated(pg_url)
    start, end = "2026-11-23T00:00:00+00:00", "2026-11-26T00:00:00+00:00"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.support.scheduler_harness", url, start, end],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in results]
    assert all(int(out.strip()) > 0 for out, _ in results)
    store = SQLStore(url)
    runs = store.runs_between(date(2026, 11, 20), date(2026, 11, 30))
    store.close()
    per_slot = Counter((r.report_type, r.scheduled_date) for r in runs)
    expected = {
        (t, d)
        for t, d, _ in CAL.slots_between(datetime.fromisoformat(start), datetime.fromisoformat(end))
    }
    assert set(per_slot) == expected
    assert set(per_slot.values()) == {1}


def test_after_a_suspend_the_passed_slots_get_the_catch_up_policy_not_a_burst_of_schedules(
    sqlite_url: str,
) -> None:
    """A machine asleep from Monday 07:00 to Thursday 07:00 New York time wakes up."""
    url = _migrated(sqlite_url)
    start = datetime(2026, 11, 16, 11, 0, tzinfo=UTC)  # Monday 06:00 ET
    asleep = (datetime(2026, 11, 16, 12, 0, tzinfo=UTC), timedelta(days=3))
    end = datetime(2026, 11, 19, 23, 0, tzinfo=UTC)
    runner = asyncio.run(drive(url, start, end, catchup_hours=24, jump=asleep))
    fired = {(slot.report_type, slot.day): trigger for slot, trigger, _ in runner.fired}
    # Nothing of Monday or Tuesday: older than the catch-up window, they stay missed.
    slept_through = [k for k in fired if date(2026, 11, 16) <= k[1] <= date(2026, 11, 17)]
    assert slept_through == []
    # Wednesday's slots, within 24 hours of waking, run once as catch-up ...
    wednesday = {t for (t, d), trigger in fired.items() if d == date(2026, 11, 18)}
    assert wednesday == {PRE, ReportType.INTRADAY, EOD}
    assert {fired[(t, date(2026, 11, 18))] for t in wednesday} == {TriggerSource.CATCH_UP}
    # ... and Thursday's slots fire on time, as schedule.
    assert fired[(PRE, date(2026, 11, 19))] is TriggerSource.SCHEDULE
    assert fired[(EOD, date(2026, 11, 19))] is TriggerSource.SCHEDULE
    assert len(runner.fired) == len(fired)  # each slot once


def test_a_fresh_install_catches_up_and_logs_nothing_from_before_its_first_start(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = _migrated(sqlite_url)
    # First start ever, Tuesday 10:00 New York: the 08:30 slot and Monday's were never due.
    now = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
    with caplog.at_level(logging.WARNING, logger="marketbrief.runs.scheduler"):
        runner = asyncio.run(drive(url, now, now + timedelta(minutes=1)))
    assert [s for s, trigger, _ in runner.fired if trigger is TriggerSource.CATCH_UP] == []
    assert not [r for r in caplog.records if "was missed" in r.getMessage()]
    store = SQLStore(url)
    assert store.schedule_start().started_at == now  # the first start is recorded once
    store.begin_schedule(now + timedelta(days=3))
    assert store.schedule_start().started_at == now
    store.close()
    # A later restart over the 12:00 slot, with the floor recorded, does catch that slot up.
    later = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
    again = asyncio.run(drive(url, later, later + timedelta(minutes=1)))
    catch_ups = [(s.report_type, s.day) for s, t, _ in again.fired if t is TriggerSource.CATCH_UP]
    assert catch_ups == [(ReportType.INTRADAY, date(2026, 11, 24))]
