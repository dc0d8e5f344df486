"""The read memo of D1 stores: run-state answers kept for an interval, dropped on writes."""

from __future__ import annotations

from marketbrief.store.memo import ReadMemo


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_answer_is_kept_for_the_interval_and_then_asked_again() -> None:
    ticks = Ticks()
    memo = ReadMemo(5.0, clock=ticks)
    key = memo.key("latest_run_for", ("pre-market", "2026-11-24"), {})
    assert key is not None
    memo.put(key, "run A")
    ticks.now += 4.9
    assert memo.get(key) == (True, "run A")
    ticks.now += 0.1
    assert memo.get(key) == (False, None)


def test_a_write_forgets_every_answer() -> None:
    memo = ReadMemo(5.0, clock=Ticks())
    key = memo.key("schedule_start", (), {})
    assert key is not None
    memo.put(key, "start")
    memo.forget()
    assert memo.get(key) == (False, None)


def test_the_revision_and_pointer_versions_are_never_memoized() -> None:
    memo = ReadMemo(5.0)
    assert memo.key("revision", (), {}) is None
    assert memo.key("latest_version", ("pre-market", "2026-11-24"), {}) is None
    assert memo.key("get_run", ("run-1",), {}) is None


def test_off_d1_nothing_is_memoized() -> None:
    assert ReadMemo(0.0).key("latest_run_for", ("pre-market", "2026-11-24"), {}) is None
