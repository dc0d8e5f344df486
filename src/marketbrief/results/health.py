"""What this process knows about its backends' health, and the counters /metrics reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(slots=True)
class StoreHealth:
    """Whether the store answered the last time this process asked."""

    down_since: datetime | None = None
    last_error: str | None = None

    @property
    def is_down(self) -> bool:
        """True after a failed store call, until the next successful one."""
        return self.down_since is not None

    def failed(self, error: Exception, now: datetime) -> None:
        """Record a failed store call."""
        if self.down_since is None:
            self.down_since = now
        self.last_error = str(error)

    def answered(self) -> None:
        """Record a successful store call."""
        self.down_since = None


@dataclass(slots=True)
class Counters:
    """Monotonic counters of what the results core did in this process."""

    cache_hits: int = 0
    cache_misses: int = 0
    cache_errors: int = 0
    malformed_entries: int = 0
    store_reads: int = 0
    rehydrations: int = 0
    serves: dict[str, int] = field(default_factory=dict)
    commits: int = 0
    commit_retries: int = 0
    outboxed: int = 0
    replayed: int = 0

    def served(self, state: str) -> None:
        """Count one answer by its state."""
        self.serves[state] = self.serves.get(state, 0) + 1
