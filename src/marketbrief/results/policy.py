"""What the results core needs to know of the settings, and nothing more."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from marketbrief.config import Settings


@dataclass(frozen=True, slots=True)
class Policy:
    """The read and write rules of the results core, taken from the settings once."""

    store_reads: bool
    store_writes: bool
    cache_ttl_seconds: int
    revision_check_seconds: float
    write_retry_seconds: float
    outbox_replay_seconds: float
    pending_grace: timedelta
    max_stale_sessions: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        """The policy the settings describe."""
        return cls(
            store_reads=settings.store_reads,
            store_writes=settings.store_writes,
            cache_ttl_seconds=settings.cache_ttl_seconds,
            revision_check_seconds=settings.revision_check_seconds,
            write_retry_seconds=settings.write_retry_seconds,
            outbox_replay_seconds=settings.outbox_replay_seconds,
            pending_grace=timedelta(minutes=settings.pending_grace_minutes),
            max_stale_sessions=settings.max_stale_sessions,
        )
