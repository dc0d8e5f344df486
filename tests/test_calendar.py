"""Business dates, NYSE sessions and report slots (DESIGN.md section 6; LESSONS 2-5, 14, 20)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
import time as host_time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketbrief.calendar import (
    NEW_YORK,
    MarketCalendar,
    business_date,
    parse_date,
    utc_now,
    week_key,
    week_window,
)
from marketbrief.config import Slots
from marketbrief.errors import InvalidInput
from marketbrief.models import ReportType

PRE, MID, EOD, WEEKLY = (
    ReportType.PRE_MARKET,
    ReportType.INTRADAY,
    ReportType.END_OF_DAY,
    ReportType.WEEKLY,
)
DAILY = (PRE, MID, EOD)
# Independent oracle for 2026: US Eastern is EDT (-4h) between these UTC instants, else EST (-5h).
EDT_STARTS = datetime(2026, 3, 8, 7, tzinfo=UTC)
EDT_ENDS = datetime(2026, 11, 1, 6, tzinfo=UTC)
YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
YEAR_END = datetime(2027, 1, 1, tzinfo=UTC)
HOLIDAYS_2026 = [
    date(2026, 1, 1),
    date(2026, 1, 19),
    date(2026, 2, 16),
    date(2026, 4, 3),
    date(2026, 5, 25),
    date(2026, 6, 19),
    date(2026, 7, 3),
    date(2026, 9, 7),
    date(2026, 11, 26),
    date(2026, 12, 25),
]


@pytest.fixture(scope="module")
def cal() -> MarketCalendar:
    return MarketCalendar()


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def oracle_business_date(instant: datetime) -> date:
    offset = timedelta(hours=-4) if EDT_STARTS <= instant < EDT_ENDS else timedelta(hours=-5)
    return (instant + offset).date()


def days(start: date, end: date) -> Iterator[date]:
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)


# --- business dates (LESSONS 2, 3) ---------------------------------------------------------------


def test_reader_and_writer_agree_on_business_date_at_every_hour_of_2026() -> None:
    hours = 0
    instant = YEAR_START
    while instant < YEAR_END:
        assert business_date(instant) == oracle_business_date(instant), instant
        instant += timedelta(hours=1)
        hours += 1
    assert hours == 8760


def test_early_utc_hours_belong_to_the_previous_new_york_day_all_year() -> None:
    for day in days(date(2026, 1, 2), date(2026, 12, 31)):
        midnight = utc(day.year, day.month, day.day)
        edt = EDT_STARTS <= midnight + timedelta(hours=4) < EDT_ENDS
        for hour in range(4):  # 00:00-03:59 UTC is the previous evening in New York all year
            assert business_date(midnight + timedelta(hours=hour)) == day - timedelta(days=1)
        # 04:00 UTC is 00:00 EDT (same date) in summer but 23:00 EST (previous date) in winter.
        expected_at_4 = day if edt else day - timedelta(days=1)
        assert business_date(midnight + timedelta(hours=4)) == expected_at_4
        assert business_date(midnight + timedelta(hours=5)) == day
        assert business_date(midnight + timedelta(hours=23, minutes=59)) == day


def test_business_date_is_right_on_both_dst_change_days() -> None:
    # Spring forward, 2026-03-08: 07:00 UTC is 02:00 EST -> 03:00 EDT.
    assert business_date(utc(2026, 3, 8, 4, 59)) == date(2026, 3, 7)
    assert business_date(utc(2026, 3, 8, 5, 0)) == date(2026, 3, 8)
    assert business_date(utc(2026, 3, 8, 6, 59)) == date(2026, 3, 8)
    assert business_date(utc(2026, 3, 8, 7, 0)) == date(2026, 3, 8)
    assert business_date(utc(2026, 3, 9, 3, 59)) == date(2026, 3, 8)
    assert business_date(utc(2026, 3, 9, 4, 0)) == date(2026, 3, 9)
    # Fall back, 2026-11-01: 06:00 UTC is 02:00 EDT -> 01:00 EST.
    assert business_date(utc(2026, 11, 1, 3, 59)) == date(2026, 10, 31)
    assert business_date(utc(2026, 11, 1, 4, 0)) == date(2026, 11, 1)
    assert business_date(utc(2026, 11, 1, 6, 30)) == date(2026, 11, 1)
    assert business_date(utc(2026, 11, 2, 4, 59)) == date(2026, 11, 1)
    assert business_date(utc(2026, 11, 2, 5, 0)) == date(2026, 11, 2)


def test_business_date_uses_the_instant_not_its_zone_label() -> None:
    tokyo = datetime(2026, 3, 9, 8, 30, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert business_date(tokyo) == date(2026, 3, 8)  # Sunday evening in New York
    assert business_date(tokyo) == business_date(tokyo.astimezone(UTC))


def test_business_date_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        business_date(datetime(2026, 3, 8, 12))


def test_utc_now_is_aware_utc() -> None:
    now = utc_now()
    assert now.tzinfo is UTC
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)


def test_date_strings_stay_dates_without_a_timezone_shift() -> None:
    parsed = parse_date("2026-03-08")
    assert parsed == date(2026, 3, 8)
    assert type(parsed) is date
    assert parsed.isoformat() == "2026-03-08"
    for day in days(date(2026, 1, 1), date(2026, 12, 31)):
        assert parse_date(day.isoformat()) == day
        # New York midnight of a date is still that date (no shift back a day).
        midnight_ny = datetime.combine(day, time(0), tzinfo=NEW_YORK)
        assert business_date(midnight_ny.astimezone(UTC)) == day


@pytest.mark.parametrize(
    "value",
    [
        "",
        "2026-3-8",
        "2026-02-30",
        "2026-13-01",
        "20260308",
        "2026-03-08T00:00",
        "2026-03-08Z",
        " 2026-03-08",
        "2026-03-08\n",
        "\uff12\uff10\uff12\uff16-03-08",  # full-width digits
        "26-03-08",
    ],
)
def test_parse_date_rejects_anything_but_strict_iso_dates(value: str) -> None:
    with pytest.raises(InvalidInput, match=r"YYYY-MM-DD|invalid date"):
        parse_date(value)


# --- ISO weeks (LESSONS 5) -----------------------------------------------------------------------


def test_week_key_and_window_are_inverses_for_every_day_of_2025_to_2027() -> None:
    keys: set[str] = set()
    for day in days(date(2025, 1, 1), date(2027, 12, 31)):
        key = week_key(day)
        keys.add(key)
        monday, sunday = week_window(key)
        assert monday.weekday() == 0
        assert sunday == monday + timedelta(days=6)
        assert monday <= day <= sunday
        assert all(week_key(d) == key for d in days(monday, sunday))
    assert "2026-W53" in keys
    assert "2025-W53" not in keys
    assert "2027-W53" not in keys


def test_2026_has_an_iso_week_53_that_ends_in_january_2027() -> None:
    assert date(2026, 12, 31).isocalendar()[:2] == (2026, 53)
    assert week_key(date(2026, 12, 31)) == "2026-W53"
    assert week_key(date(2027, 1, 3)) == "2026-W53"
    assert week_key(date(2027, 1, 4)) == "2027-W01"
    assert week_window("2026-W53") == (date(2026, 12, 28), date(2027, 1, 3))
    with pytest.raises(InvalidInput):
        week_window("2025-W53")


def test_a_monday_belongs_to_its_own_week_not_the_previous_one() -> None:
    for monday in days(date(2025, 12, 29), date(2027, 12, 27)):
        if monday.weekday() != 0:
            continue
        assert week_window(week_key(monday))[0] == monday
        assert week_key(monday) != week_key(monday - timedelta(days=1))
    assert week_key(date(2026, 11, 23)) == "2026-W48"
    assert week_window("2026-W48") == (date(2026, 11, 23), date(2026, 11, 29))


@settings(database=None, max_examples=300)
@given(st.dates(min_value=date(1, 1, 8), max_value=date(9999, 12, 24)))
def test_week_round_trip_holds_for_any_date(day: date) -> None:
    monday, sunday = week_window(week_key(day))
    assert monday <= day <= sunday
    assert week_key(monday) == week_key(sunday) == week_key(day)


@pytest.mark.parametrize(
    "key", ["", "2026-W00", "2026-W54", "2026W48", "2026-w48", "2026-W4", "2026-W048", "x-W01"]
)
def test_week_window_rejects_malformed_keys(key: str) -> None:
    with pytest.raises(InvalidInput, match="invalid week"):
        week_window(key)


# --- sessions (LESSONS 4, 20) --------------------------------------------------------------------


@pytest.mark.parametrize("day", HOLIDAYS_2026)
def test_nyse_holidays_are_not_sessions_and_have_no_daily_slot(
    cal: MarketCalendar, day: date
) -> None:
    assert day.weekday() < 5
    assert not cal.is_session(day)
    assert not any(cal.has_slot(t, day) for t in DAILY)
    with pytest.raises(InvalidInput, match="not an NYSE session"):
        cal.session_close(day)


def test_weekends_are_never_sessions(cal: MarketCalendar) -> None:
    for day in days(date(2000, 1, 1), date(2028, 12, 31)):
        if day.weekday() >= 5:
            assert not cal.is_session(day), day


def test_2026_sessions_are_exactly_the_weekdays_that_are_not_holidays(cal: MarketCalendar) -> None:
    sessions = cal.sessions_between(date(2026, 1, 1), date(2026, 12, 31))
    weekdays = [d for d in days(date(2026, 1, 1), date(2026, 12, 31)) if d.weekday() < 5]
    assert sessions == [d for d in weekdays if d not in HOLIDAYS_2026]
    assert len(sessions) == 251


def test_early_closes_end_at_1300_new_york_with_end_of_day_at_1305(cal: MarketCalendar) -> None:
    early = [d for d in days(date(2026, 1, 1), date(2026, 12, 31)) if cal.is_early_close(d)]
    assert early == [date(2026, 11, 27), date(2026, 12, 24)]
    for day in early:
        assert cal.session_close(day) == utc(day.year, day.month, day.day, 18)
        eod = cal.slot_instant(EOD, day)
        assert eod == utc(day.year, day.month, day.day, 18, 5)
        assert eod is not None
        assert eod.astimezone(NEW_YORK).time() == time(13, 5)


def test_end_of_day_follows_the_new_york_close_in_winter_and_summer(cal: MarketCalendar) -> None:
    assert cal.session_close(date(2026, 1, 15)) == utc(2026, 1, 15, 21)
    assert cal.slot_instant(EOD, date(2026, 1, 15)) == utc(2026, 1, 15, 21, 5)
    assert cal.slot_instant(EOD, date(2026, 7, 15)) == utc(2026, 7, 15, 20, 5)
    assert cal.session_open(date(2026, 1, 15)) == utc(2026, 1, 15, 14, 30)
    assert cal.session_open(date(2026, 7, 15)) == utc(2026, 7, 15, 13, 30)
    assert not cal.is_early_close(date(2026, 7, 15))
    for day in cal.sessions_between(date(2026, 1, 1), date(2026, 12, 31)):
        eod = cal.slot_instant(EOD, day)
        assert eod is not None
        assert eod > cal.session_close(day)
        local = eod.astimezone(NEW_YORK)
        assert local.date() == day
        assert local.time() == (time(13, 5) if cal.is_early_close(day) else time(16, 5))


def test_every_instant_is_aware_utc(cal: MarketCalendar) -> None:
    day = date(2026, 3, 9)
    instants: list[datetime | None] = [cal.session_open(day), cal.session_close(day)]
    instants += [cal.slot_instant(t, day) for t in DAILY]
    instants.append(cal.slot_instant(WEEKLY, date(2026, 3, 15)))
    assert all(i is not None and i.tzinfo is UTC for i in instants)


def test_sessions_do_not_depend_on_the_host_time_zone() -> None:
    # A fresh process in Tokyo: its local Monday morning is Sunday evening in New York.
    script = textwrap.dedent(
        """
        import time
        from datetime import UTC, date, datetime
        from marketbrief.calendar import MarketCalendar, business_date
        from marketbrief.models import ReportType
        assert time.strftime("%z") == "+0900", time.strftime("%z")
        now = datetime(2026, 3, 8, 23, 30, tzinfo=UTC)
        assert datetime.fromtimestamp(now.timestamp()).weekday() == 0  # Monday in Tokyo
        cal = MarketCalendar()
        assert not cal.is_session(date(2026, 3, 8))
        assert cal.is_session(date(2026, 3, 6))
        assert business_date(now) == date(2026, 3, 8)
        assert cal.default_report_date(ReportType.PRE_MARKET, now) == date(2026, 3, 6)
        assert cal.next_slot(now)[:2] == (ReportType.PRE_MARKET, date(2026, 3, 9))
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        env={"TZ": "Asia/Tokyo", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_sunday_is_not_a_session_with_the_host_clock_in_tokyo(
    cal: MarketCalendar, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    host_time.tzset()
    try:
        assert host_time.strftime("%z") == "+0900"
        assert not cal.is_session(date(2026, 3, 8))
        assert business_date(utc(2026, 3, 8, 23, 30)) == date(2026, 3, 8)
    finally:
        monkeypatch.undo()
        host_time.tzset()


def test_previous_and_next_session_step_over_holidays_and_weekends(cal: MarketCalendar) -> None:
    assert cal.previous_session(date(2026, 11, 27)) == date(2026, 11, 25)
    assert cal.next_session(date(2026, 11, 25)) == date(2026, 11, 27)
    assert cal.previous_session(date(2026, 7, 6)) == date(2026, 7, 2)  # Fri 3rd observed July 4th
    assert cal.previous_session(date(2026, 1, 2)) == date(2025, 12, 31)
    assert cal.next_session(date(2026, 12, 24)) == date(2026, 12, 28)
    assert cal.previous_session(date(2026, 3, 10)) == date(2026, 3, 9)  # strictly before
    assert cal.next_session(date(2026, 3, 9)) == date(2026, 3, 10)  # strictly after


def test_session_on_or_before_and_sessions_before(cal: MarketCalendar) -> None:
    assert cal.session_on_or_before(date(2026, 11, 27)) == date(2026, 11, 27)
    assert cal.session_on_or_before(date(2026, 11, 26)) == date(2026, 11, 25)
    assert cal.session_on_or_before(date(2026, 11, 29)) == date(2026, 11, 27)
    assert cal.sessions_before(date(2026, 11, 29), 0) == date(2026, 11, 27)
    assert cal.sessions_before(date(2026, 11, 27), 1) == date(2026, 11, 25)
    assert cal.sessions_before(date(2026, 11, 30), 3) == date(2026, 11, 24)
    with pytest.raises(InvalidInput):
        cal.sessions_before(date(2026, 11, 30), -1)


def test_dates_outside_coverage_are_refused_not_guessed(cal: MarketCalendar) -> None:
    with pytest.raises(InvalidInput, match="coverage"):
        cal.is_session(date(1999, 12, 31))
    with pytest.raises(InvalidInput, match="coverage"):
        cal.is_session(date(2200, 1, 1))
    with pytest.raises(InvalidInput):
        cal.previous_session(date(2000, 1, 3))  # the first covered session
    cal.is_session(date(utc_now().year + 1, 12, 31))  # a year ahead is covered: no error


def test_sessions_between_is_inclusive_and_sorted(cal: MarketCalendar) -> None:
    assert cal.sessions_between(date(2026, 11, 23), date(2026, 11, 27)) == [
        date(2026, 11, 23),
        date(2026, 11, 24),
        date(2026, 11, 25),
        date(2026, 11, 27),
    ]
    assert cal.sessions_between(date(2026, 11, 28), date(2026, 11, 29)) == []


# --- slots (LESSONS 14, 20) ----------------------------------------------------------------------


def test_pre_market_stays_at_0830_new_york_across_both_dst_changes(cal: MarketCalendar) -> None:
    assert cal.slot_instant(PRE, date(2026, 3, 6)) == utc(2026, 3, 6, 13, 30)
    assert cal.slot_instant(PRE, date(2026, 3, 9)) == utc(2026, 3, 9, 12, 30)
    assert cal.slot_instant(PRE, date(2026, 10, 30)) == utc(2026, 10, 30, 12, 30)
    assert cal.slot_instant(PRE, date(2026, 11, 2)) == utc(2026, 11, 2, 13, 30)
    assert cal.slot_instant(MID, date(2026, 3, 9)) == utc(2026, 3, 9, 16)
    assert cal.slot_instant(WEEKLY, date(2026, 3, 8)) == utc(2026, 3, 8, 14)
    assert cal.slot_instant(WEEKLY, date(2026, 11, 1)) == utc(2026, 11, 1, 15)


def test_every_2026_slot_fires_exactly_once_and_never_on_a_holiday(cal: MarketCalendar) -> None:
    slots = cal.slots_between(YEAR_START - timedelta(microseconds=1), YEAR_END)
    instants = [s[2] for s in slots]
    assert instants == sorted(instants)
    pairs = Counter((t, d) for t, d, _ in slots)
    assert all(n == 1 for n in pairs.values())
    sessions = cal.sessions_between(date(2026, 1, 1), date(2026, 12, 31))
    per_type = Counter(t for t, _, _ in slots)
    assert per_type[PRE] == per_type[MID] == per_type[EOD] == len(sessions) == 251
    for report_type, day, instant in slots:
        assert business_date(instant) == day
        assert YEAR_START <= instant < YEAR_END
        if report_type is WEEKLY:
            assert day.weekday() == 6
            assert cal.weekly_sessions(day)
            assert instant.astimezone(NEW_YORK).time() == time(10)
        else:
            assert day in sessions
            assert day not in HOLIDAYS_2026
    sundays = [d for d in days(date(2026, 1, 1), date(2026, 12, 31)) if d.weekday() == 6]
    assert per_type[WEEKLY] == len(sundays) == 52


def test_slots_between_excludes_start_and_includes_end(cal: MarketCalendar) -> None:
    pre = utc(2026, 3, 9, 12, 30)
    assert cal.slots_between(pre, pre + timedelta(hours=1)) == []
    assert cal.slots_between(pre - timedelta(seconds=1), pre) == [(PRE, date(2026, 3, 9), pre)]


def test_weekly_slot_on_thanksgiving_sunday_covers_that_weeks_sessions(
    cal: MarketCalendar,
) -> None:
    sunday = date(2026, 11, 29)
    assert cal.slot_instant(WEEKLY, sunday) == utc(2026, 11, 29, 15)
    assert cal.weekly_sessions(sunday) == [
        date(2026, 11, 23),
        date(2026, 11, 24),
        date(2026, 11, 25),
        date(2026, 11, 27),
    ]
    assert not cal.has_slot(WEEKLY, date(2026, 11, 28))
    with pytest.raises(InvalidInput, match="not a Sunday"):
        cal.weekly_sessions(date(2026, 11, 28))


def test_weekly_slot_exists_exactly_when_its_week_had_a_session(cal: MarketCalendar) -> None:
    # 2001-09-11 to 09-14 were closed, but Monday the 10th traded: the week still has a slot.
    assert cal.weekly_sessions(date(2001, 9, 16)) == [date(2001, 9, 10)]
    assert cal.has_slot(WEEKLY, date(2001, 9, 16))
    for sunday in days(date(2000, 1, 9), date(2028, 12, 31)):
        if sunday.weekday() == 6:
            assert cal.has_slot(WEEKLY, sunday) == bool(cal.weekly_sessions(sunday))


def test_a_week_with_no_session_gets_no_weekly_slot() -> None:
    # XNYS has no sessionless week in coverage, so drop one week's sessions from a private copy.
    closed = MarketCalendar()
    week = set(days(date(2026, 11, 23), date(2026, 11, 28)))
    table = closed._t
    times = {d: t for d, t in table.times.items() if d not in week}
    closed._t = dataclasses.replace(table, times=times, sessions=tuple(sorted(times)))
    assert closed.weekly_sessions(date(2026, 11, 29)) == []
    assert not closed.has_slot(WEEKLY, date(2026, 11, 29))
    assert closed.next_slot(utc(2026, 11, 20, 22))[:2] == (WEEKLY, date(2026, 11, 22))
    assert closed.next_slot(utc(2026, 11, 22, 16))[:2] == (PRE, date(2026, 11, 30))
    assert closed.default_report_date(WEEKLY, utc(2026, 12, 1)) == date(2026, 11, 22)


def test_default_report_date_is_the_latest_session_or_weekly_sunday(cal: MarketCalendar) -> None:
    saturday_noon = utc(2026, 11, 28, 17)
    for report_type in DAILY:
        assert cal.default_report_date(report_type, saturday_noon) == date(2026, 11, 27)
    assert cal.default_report_date(WEEKLY, saturday_noon) == date(2026, 11, 22)
    sunday_night = utc(2026, 11, 30, 3)  # 22:00 ET Sunday the 29th
    assert cal.default_report_date(WEEKLY, sunday_night) == date(2026, 11, 29)
    assert cal.default_report_date(EOD, sunday_night) == date(2026, 11, 27)
    thanksgiving = utc(2026, 11, 26, 15)
    assert cal.default_report_date(PRE, thanksgiving) == date(2026, 11, 25)
    # 01:00 UTC Tuesday is still Monday evening in New York (LESSONS 2).
    assert cal.default_report_date(MID, utc(2026, 3, 10, 1)) == date(2026, 3, 9)
    assert cal.default_report_date(WEEKLY, utc(2026, 3, 10, 1)) == date(2026, 3, 8)


def test_next_slot_is_the_first_slot_strictly_after(cal: MarketCalendar) -> None:
    wednesday_eod = utc(2026, 11, 25, 21, 5)
    assert cal.next_slot(wednesday_eod - timedelta(seconds=1)) == (
        EOD,
        date(2026, 11, 25),
        wednesday_eod,
    )
    assert cal.next_slot(wednesday_eod) == (PRE, date(2026, 11, 27), utc(2026, 11, 27, 13, 30))
    assert cal.next_slot(utc(2026, 11, 27, 18, 5)) == (
        WEEKLY,
        date(2026, 11, 29),
        utc(2026, 11, 29, 15),
    )
    assert cal.next_slot(utc(2026, 12, 24, 18, 5)) == (
        WEEKLY,
        date(2026, 12, 27),
        utc(2026, 12, 27, 15),
    )
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.next_slot(datetime(2026, 11, 25, 12))


def test_configured_slots_are_honoured_in_new_york_time() -> None:
    custom = MarketCalendar(
        Slots(pre_market=time(7, 0), weekly=time(18, 0), close_offset_minutes=30)
    )
    assert custom.slot_instant(PRE, date(2026, 1, 15)) == utc(2026, 1, 15, 12)
    assert custom.slot_instant(EOD, date(2026, 11, 27)) == utc(2026, 11, 27, 18, 30)
    assert custom.slot_instant(WEEKLY, date(2026, 11, 29)) == utc(2026, 11, 29, 23)
    assert custom.slot_instant(MID, date(2026, 1, 15)) == utc(2026, 1, 15, 17)


def test_a_serving_process_builds_the_calendar_without_holding_pandas() -> None:
    # The XNYS schedule is worked out in a child (calendar/xnys.py): pandas costs a serving
    # process about 45 MB it would keep for good.
    code = (
        "import sys; import marketbrief.web.app; from marketbrief.calendar import MarketCalendar;"
        "from datetime import date; c = MarketCalendar();"
        "assert c.is_early_close(date(2026, 11, 27)) and not c.is_session(date(2026, 11, 26));"
        "print(sorted(m for m in ('pandas', 'exchange_calendars') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
        check=True,
    )
    assert done.stdout.decode().strip() == "[]"
