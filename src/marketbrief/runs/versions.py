"""The versions of runs the store could not claim: ordered just after what the process knew.

The store issues every claimed run its version, in the claim's transaction. A run that starts
while the store is unavailable has none yet; it started after every version its process knew
the store to have issued (the ones its claims returned, and the one the cache held for its
report), so it takes a provisional version just above the highest of them and below the next
one the store will issue (`models.provisional_version`). Once replayed, it ranks above every
report its process had seen and below every run the store claimed after that: where the true
order is unknown, the run the store saw start keeps its place.
"""

from __future__ import annotations

from marketbrief.models import provisional_version


class VersionFloor:
    """The highest report version one process knows the store issued, and versions above it."""

    def __init__(self) -> None:
        self._floor = 0
        self._nth = 0

    @property
    def floor(self) -> int:
        """The highest version seen (0 before the store or the cache told anything)."""
        return self._floor

    def saw(self, version: int | None) -> None:
        """Learn of a version the store issued (a claim's, or a cached report's)."""
        if version is not None and version > self._floor:
            self._floor, self._nth = version, 0

    def provisional(self) -> int:
        """The next provisional version: above the floor and above this process's last one."""
        self._nth += 1
        return provisional_version(self._floor, self._nth)
