"""A writer process for the kill -9 test: publishes completions and prints each acknowledgement.

    python -m tests.support.faults_writer --database-url URL --outbox-dir DIR [--count 1000]

For i in 0..count-1 it publishes one completion with run_id `w<i>-<type>-<date>` and, once
`publish` has returned (the store committed it or the outbox fsync'd it), prints
`ack <run_id> persisted|outboxed` and flushes stdout. Every `--outbox-every`-th completion goes
through a second Results with MARKETBRIEF_STORE_WRITES=off, so both acknowledgement routes are
exercised. The test reads these lines as they come and SIGKILLs this process part-way.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from marketbrief.config import Settings
from marketbrief.models import ReportType
from marketbrief.results import Results
from tests.support.factories import standalone_completion

DAY = date(2026, 11, 24)
STARTED = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)
TYPES = tuple(ReportType)
DAYS = 20


def plan(index: int) -> tuple[str, ReportType, date]:
    """The run_id, type and business date of completion `index` (the test uses it too)."""
    report_type = TYPES[index % len(TYPES)]
    day = DAY - timedelta(days=index % DAYS)
    return f"w{index:04d}-{report_type.value}-{day.isoformat()}", report_type, day


async def run(database_url: str, outbox_dir: Path, count: int, outbox_every: int) -> None:
    settings = Settings(database_url=database_url, outbox_dir=outbox_dir, write_retry_seconds=0.2)
    primary = Results.open(settings)
    spooler = Results.open(
        dataclasses.replace(settings, store_writes=False), store=primary.deps.store
    )
    try:
        for index in range(count):
            run_id, report_type, day = plan(index)
            completion = standalone_completion(
                report_type,
                day,
                run_id=run_id,
                started_at=STARTED + timedelta(milliseconds=index),
                marker=run_id,
            )
            target = (
                spooler if outbox_every and index % outbox_every == outbox_every - 1 else primary
            )
            outcome = await target.publish(completion)
            route = "persisted" if outcome.persisted else "outboxed"
            sys.stdout.write(f"ack {run_id} {route}\n")
            sys.stdout.flush()
    finally:
        if spooler.deps.cache is not None:
            await spooler.deps.cache.close()
        await primary.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--outbox-dir", required=True, type=Path)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--outbox-every", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(run(args.database_url, args.outbox_dir, args.count, args.outbox_every))


if __name__ == "__main__":
    main()
