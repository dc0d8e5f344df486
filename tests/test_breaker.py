"""The circuit breaker's rules, on a settable monotonic clock (no sleeping)."""

from __future__ import annotations

from marketbrief.breaker import Breaker
from tests.support.clock import LATE


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _breaker() -> tuple[Breaker, Ticks]:
    ticks = Ticks()
    return Breaker(cooldown=5.0, monotonic=ticks), ticks


def test_an_error_that_came_back_at_once_marks_the_backend_down_but_keeps_asking() -> None:
    breaker, _ = _breaker()
    breaker.failed(ConnectionRefusedError("refused"), LATE)
    assert breaker.is_down
    assert not breaker.is_open
    assert breaker.admit()
    assert breaker.admit()
    breaker.answered()
    assert not breaker.is_down


def test_a_timeout_opens_it_for_the_cooldown_then_one_probe_at_a_time() -> None:
    breaker, ticks = _breaker()
    breaker.timed_out(TimeoutError("no answer"), LATE)
    assert breaker.is_open
    assert breaker.down_since == LATE
    assert not breaker.admit()
    assert breaker.retry_in() == 5.0
    assert "not asked again for 5.0 s" in breaker.refusal("the store")
    ticks.now += 5.0
    assert breaker.admit()  # the probe
    assert not breaker.admit()  # everyone else while it is out
    breaker.answered()
    assert not breaker.is_open
    assert not breaker.is_down
    assert breaker.admit()


def test_a_probe_that_fails_in_any_way_opens_it_again() -> None:
    breaker, ticks = _breaker()
    breaker.timed_out(TimeoutError("no answer"), LATE)
    ticks.now += 5.0
    assert breaker.admit()
    breaker.failed(ConnectionRefusedError("refused"), LATE)
    assert breaker.is_open
    assert not breaker.admit()
    ticks.now += 5.0
    assert breaker.admit()
    breaker.timed_out(TimeoutError("still nothing"), LATE)
    assert not breaker.admit()
    assert breaker.last_error == "still nothing"


def test_a_cancelled_probe_lets_the_next_caller_probe() -> None:
    breaker, ticks = _breaker()
    breaker.timed_out(TimeoutError("no answer"), LATE)
    ticks.now += 5.0
    assert breaker.admit()
    breaker.abandoned()
    assert breaker.is_open
    assert breaker.admit()


def test_with_background_probes_only_the_prober_may_ask_while_it_is_open() -> None:
    breaker, ticks = _breaker()
    breaker.background_probes = True
    assert breaker.admit()  # closed: everyone asks
    breaker.timed_out(TimeoutError("no answer"), LATE)
    ticks.now += 5.0
    assert not breaker.admit()  # a request is never the probe
    assert breaker.admit(prober=True)
    assert not breaker.admit(prober=True)  # still one probe at a time
    breaker.answered()
    assert breaker.admit()


def test_refuses_says_what_a_request_would_meet_without_taking_the_probe() -> None:
    breaker, ticks = _breaker()
    assert not breaker.refuses()
    breaker.timed_out(TimeoutError("no answer"), LATE)
    assert breaker.refuses()
    ticks.now += 5.0
    assert not breaker.refuses()  # a request may probe now
    assert not breaker.refuses()  # and asking did not take the turn
    assert breaker.admit()
    assert breaker.refuses()  # the probe is out
    breaker.abandoned()
    breaker.background_probes = True
    assert breaker.refuses()  # requests never probe when the background does
