"""marketbrief's benchmarks: `python -m benchmarks` (`make bench`) writes docs/performance.md.

Every figure is measured side by side in one run on loopback: servers pinned to core 0, load
generators pinned to core 1, each measurement repeated and interleaved (A B C A B C ...) so the
noise of a shared machine hits every condition alike. Ratios are taken within a round.
"""

from __future__ import annotations

SERVER_CORE = 0
LOAD_CORE = 1
