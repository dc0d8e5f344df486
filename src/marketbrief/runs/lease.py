"""Liveness of a run: its worker renews the run's lease in the store while it works.

The sweeper fails only runs whose lease has expired, so a run that is merely slow is never
swept, and a run whose worker died is swept one lease after its last renewal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta

from marketbrief.errors import StoreError
from marketbrief.store.gateway import Store

log = logging.getLogger(__name__)
RENEWALS_PER_LEASE = 3


@contextlib.asynccontextmanager
async def kept_alive(
    store: Store, run_id: str, lease: timedelta, clock: Callable[[], datetime]
) -> AsyncIterator[None]:
    """Renew `run_id`'s lease every third of a lease until the block ends."""

    async def renew() -> None:
        while True:
            await asyncio.sleep(lease.total_seconds() / RENEWALS_PER_LEASE)
            try:
                if not await store.renew_lease(run_id, clock() + lease):
                    log.warning("run %s is no longer running in the store", run_id)
            except StoreError as error:  # the next renewal may reach it; the sweeper waits
                log.warning("lease of run %s not renewed: %s", run_id, error)

    task = asyncio.create_task(renew())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
