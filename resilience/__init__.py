"""marketbrief's resilience suite: real faults against a running `marketbrief serve`.

`python -m resilience` (or `make resilience`) starts real server processes on loopback, breaks
what they depend on (SIGKILL mid-write, our own Redis flushed and stopped, PostgreSQL backends
terminated or cut off behind a proxy, a cache past its byte bound, hostile input) and counts
what clients saw and what the store kept. The counts go to docs/resilience.md.

Everything stays on 127.0.0.1 and inside resources this suite creates: its own redis-server on
a free port, its own PostgreSQL database (`mbres_<random>`, dropped at the end), its own
SQLite files and outbox folders. It never touches another run's Redis keys or databases.
"""

from __future__ import annotations

# The scenarios' keys, in the order `python -m resilience` runs them (and docs/resilience.md).
SCENARIOS = (
    "crash",
    "reads",
    "outage",
    "stall-postgres",
    "stall-redis",
    "clocks",
    "race",
    "badinput",
    "audit",
    "fulldisk",
    "readonly",
)
