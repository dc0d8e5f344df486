"""The day most tests report on, the instant they look from, and a clock a test can set.

DAY is a Tuesday session (pre-market slot 13:30 UTC); at LATE every slot of DAY has passed.
The `clock` fixture (a pytest plugin, registered by tests/conftest.py) starts at LATE.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

DAY = date(2026, 11, 24)  # a Tuesday session; pre-market slot 13:30 UTC
LATE = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)  # every slot of DAY has passed


class Clock:
    """The services' (and the read path's) notion of now, settable by a test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(name="clock")
def clock_fixture() -> Clock:
    return Clock(LATE)
