"""Recent answers to the store's run-state reads, kept a few seconds where each call is billed.

On D1 every statement is an API call counted against a rate limit of 1,200 calls per 5
minutes, and a dashboard view asks the store about run state the report cache does not hold
(a report not yet published, the newest run of it, the schedule's start). A
`ReadMemo` keeps each such answer for `seconds` (the D1 revision check interval), so those
reads cost a bounded number of calls per interval however many views arrive; any write made
through this process forgets them all at once, so its own writes are read back at once. Off D1
there is no memo (`seconds` 0): the answers are always the store's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

# The reads a memo may answer: run state, history, and the snapshots the cache does not hold
# (a report not yet published, the trend chart's window: both asked for on every view). Never
# the revisions or a pointer's version: RevisionWatch spaces those itself, and they say when a
# cached report or history page went stale. A report published by another process is seen
# within two checks.
MEMOIZED = frozenset(
    {
        "latest_snapshot",
        "latest_snapshots",
        "snapshot_before",
        "latest_run_for",
        "predictions_for",
        "good_run",
        "latest_run",
        "runs_between",
        "run_counts",
        "schedule_start",
        "incidents",
        "undelivered",
    }
)
MAX_ENTRIES = 1024


class ReadMemo:
    """Answers by (method, arguments), each kept for `seconds`."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._answers: dict[Hashable, tuple[float, Any]] = {}
        self._lock = threading.Lock()
        self.hits = 0

    def key(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Hashable | None:
        """The memo key of a read, or None when this read is never memoized."""
        if self.seconds <= 0 or name not in MEMOIZED:
            return None
        try:
            key = (name, args, tuple(sorted(kwargs.items())))
            hash(key)
        except TypeError:
            return None
        return key

    def get(self, key: Hashable) -> tuple[bool, Any]:
        """(True, answer) for an answer younger than `seconds`, else (False, None)."""
        with self._lock:
            found = self._answers.get(key)
            if found is None or self._clock() - found[0] >= self.seconds:
                return False, None
            self.hits += 1
            return True, found[1]

    def put(self, key: Hashable, answer: Any) -> None:
        """Keep `answer` from now on."""
        with self._lock:
            if len(self._answers) >= MAX_ENTRIES:
                self._answers.clear()
            self._answers[key] = (self._clock(), answer)

    def forget(self) -> None:
        """Forget every answer (after a write)."""
        with self._lock:
            self._answers.clear()
