"""What the fault tests (tests/results/test_faults_*.py) share: Results opened on a frozen
clock, numbered completions, and the check that a read answered exactly a completion's bytes.

What is broken there is really broken, on loopback only (DESIGN.md sections 4-5). The promises
checked: no exception escapes get_report, a read never answers without content for a report
the store holds (when the store is reachable), every acknowledged write survives (store or
outbox), replay lands every one of them, and a write that could not be made durable is not
acknowledged.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta

from marketbrief.config import Settings
from marketbrief.models import Completion, ReportType
from marketbrief.results import Results
from marketbrief.results.envelope import ReportResponse, ReportState
from tests.support.clock import DAY, LATE
from tests.support.factories import standalone_completion

T0 = LATE - timedelta(days=40)


def _clock() -> datetime:
    return LATE


@asynccontextmanager
async def opened(settings: Settings, **changes: object) -> AsyncIterator[Results]:
    """Results on `settings` (with `changes`), their clock frozen at LATE; closed on the way out."""
    results = Results.open(dataclasses.replace(settings, **changes), clock=_clock)
    try:
        yield results
    finally:
        await results.close()


def nth_completion(
    index: int, report_type: ReportType = ReportType.PRE_MARKET, *, day: date | None = None
) -> Completion:
    """A distinct (type, date) per index, started at increasing instants (so versions grow)."""
    day = day or DAY - timedelta(days=index)
    run_id = f"f{index:03d}-{report_type.value}-{day.isoformat()}-{uuid.uuid4().hex[:6]}"
    return standalone_completion(
        report_type, day, run_id=run_id, started_at=T0 + timedelta(minutes=index), marker=run_id
    )


def same_content(response: ReportResponse, completion: Completion) -> bool:
    """Whether `response` is fresh and carries exactly `completion`'s bytes for its date."""
    return (
        response.state is ReportState.FRESH
        and response.has_content
        and response.data == completion.content
        and response.business_date == completion.scheduled_date
    )
