"""A circuit breaker: remember that a backend stopped answering, and stop waiting on it.

A backend that refuses at once costs nothing to ask again, but one that accepts and then says
nothing (a blackholed database, a stopped Redis) costs every caller its whole timeout. So the
breaker opens when a call *timed out*: for the cool-down every call fails at once, then one
call at a time goes through as the probe; the probe answering closes the breaker, the probe
failing opens it for another cool-down. Errors that come back at once are recorded (the
backend is down) without opening it. A process with a background task that probes (a server)
sets `background_probes`, so no request ever has to be the probe and wait for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

DEFAULT_COOLDOWN_SECONDS = 5.0


@dataclass(slots=True)
class Breaker:
    """Whether a backend answered the last time this process asked, and whether to ask now."""

    cooldown: float = DEFAULT_COOLDOWN_SECONDS
    down_since: datetime | None = None
    last_error: str | None = None
    background_probes: bool = False
    monotonic: Callable[[], float] = field(default=time.monotonic, repr=False)
    _open_until: float | None = field(default=None, repr=False)
    _probing: bool = field(default=False, repr=False)

    @property
    def is_down(self) -> bool:
        """True after a failed call, until the next successful one."""
        return self.down_since is not None

    @property
    def is_open(self) -> bool:
        """True while calls fail fast: a call timed out and no probe has answered since."""
        return self._open_until is not None

    def retry_in(self) -> float:
        """Seconds until the next probe may go through (0 when one may go now)."""
        if self._open_until is None:
            return 0.0
        return max(0.0, self._open_until - self.monotonic())

    def refuses(self) -> bool:
        """Whether a request's call would be refused now (without taking the probe's turn)."""
        if self._open_until is None:
            return False
        return self.background_probes or self._probing or self.monotonic() < self._open_until

    def admit(self, *, prober: bool = False) -> bool:
        """Whether a call may go to the backend now; after the cool-down, one probe at a time
        (only a `prober`'s call when probes are left to the background)."""
        if self._open_until is None:
            return True
        if self.background_probes and not prober:
            return False
        if self._probing or self.monotonic() < self._open_until:
            return False
        self._probing = True
        return True

    def failed(self, error: Exception, now: datetime) -> None:
        """Record a call the backend answered with an error (it is down, the breaker stays)."""
        if self.down_since is None:
            self.down_since = now
        self.last_error = str(error)
        if self._probing:  # a probe that fails at once still says the backend is not back
            self.trip()

    def timed_out(self, error: Exception, now: datetime) -> None:
        """Record a call the backend did not answer in time: fail fast for the cool-down."""
        self.failed(error, now)
        self.trip()

    def answered(self) -> None:
        """Record a successful call: the backend is up and the breaker closes."""
        self.down_since = None
        self._open_until = None
        self._probing = False

    def abandoned(self) -> None:
        """A call ended without a verdict (cancelled): let the next caller probe instead."""
        self._probing = False

    def trip(self) -> None:
        """Open the breaker for a cool-down (calls fail at once until then)."""
        self._open_until = self.monotonic() + self.cooldown
        self._probing = False

    def refusal(self, what: str) -> str:
        """The message of a call refused while the breaker is open."""
        return (
            f"{what} did not answer ({self.last_error}); not asked again for "
            f"{self.retry_in():.1f} s"
        )
