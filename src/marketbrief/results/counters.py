"""The counters of what the results core did in this process (reported by /metrics)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Counters:
    """Monotonic counters of what the results core did in this process."""

    cache_hits: int = 0  # near-cache hits included
    near_hits: int = 0  # answered from this process's memory in front of Redis
    near_page_hits: int = 0  # history pages, likewise
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
