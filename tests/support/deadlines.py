"""The deadlines tests run with unless they are about a stalled store or cache.

In production a store read is abandoned after 1.5 s and a Redis call after 1 s, and the timeout
opens a breaker: the bounds that keep every page within 2 s while PostgreSQL or Redis stalls.
On a test machine whose cores are all busy, a healthy first read (a new PostgreSQL connection,
a cold pool) can take longer than that, and a test about something else would then see a
503 it did not cause (seen once in CI: a history read in scaled mode). Tests that are about the
deadline or the breaker set them themselves (tests/web/test_stalled_store.py,
tests/results/test_faults_postgres.py, tests/results/test_faults_redis.py, the plan-metrics
history test).
"""

from __future__ import annotations

from typing import Final

LOADED_MACHINE_DEADLINES: Final = {
    "store_read_timeout_seconds": 10.0,
    "cache_timeout_seconds": 5.0,
}
