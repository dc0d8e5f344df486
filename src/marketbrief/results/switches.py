"""`Switches`: the kill switches this process reads by, as they stand now.

The settings give their start (`MARKETBRIEF_STORE_READS`); a crossed rollback trigger, where
`MARKETBRIEF_AUTO_ROLLBACK=on`, turns store reads off at runtime (reports are then served
from the cache) until an operator clears it (`marketbrief rollback clear`).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from marketbrief.calendar import iso_instant

log = logging.getLogger(__name__)


class Switches:
    """Store reads as configured, and the rollback that turned them off, if any."""

    def __init__(self, *, store_reads: bool) -> None:
        self.configured_reads = store_reads
        self.rollback: str | None = None
        """The trigger that turned store reads off (None: not rolled back)."""
        self.rolled_back_at: datetime | None = None

    @property
    def store_reads(self) -> bool:
        """Whether report reads may go to the store now."""
        return self.configured_reads and self.rollback is None

    def roll_back(self, trigger: str, now: datetime) -> bool:
        """Turn store reads off for `trigger`; True if this call flipped the switch."""
        if self.rollback is not None:
            return False
        self.rollback, self.rolled_back_at = trigger, now
        log.warning(
            "rollback: store reads off (trigger %s crossed); serving from the cache", trigger
        )
        return True

    def restore(self, cleared_at: datetime) -> bool:
        """Turn store reads back on after an operator's clear; True if this call did."""
        if self.rollback is None:
            return False
        log.warning(
            "rollback cleared by an operator at %s: store reads on again (trigger %s)",
            iso_instant(cleared_at),
            self.rollback,
        )
        self.rollback = self.rolled_back_at = None
        return True

    def warnings(self) -> list[str]:
        """What an answer refused for the switch says."""
        if self.rollback is not None:
            return ["store_reads_off", f"rollback:{self.rollback}"]
        return ["store_reads_off"]

    def record(self) -> dict[str, Any]:
        """The switch as /status and /readyz show it."""
        reason = None
        if self.rollback is not None:
            reason = f"rollback {self.rollback} since {iso_instant(self.rolled_back_at)}"
        elif not self.configured_reads:
            reason = "MARKETBRIEF_STORE_READS=off"
        return {"store_reads": self.store_reads, "store_reads_reason": reason}
