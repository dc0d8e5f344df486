"""The accuracy trend: each recent session's end-of-day hit rate, gaps kept as gaps."""

from __future__ import annotations

from datetime import date
from typing import Any

from marketbrief.models import ReportType
from marketbrief.reports.payload import parsed
from marketbrief.reports.weekly import session_calls
from marketbrief.results.deps import Deps


async def session_trend(
    deps: Deps, today: date, report_type: ReportType, sessions: int
) -> list[dict[str, Any]]:
    """Each of the last `sessions` sessions up to `today`, oldest first, with its report's
    `accuracy` (high-confidence calls) and its hit rate over every directional call (`hits` of
    `calls`); a session without a report has None for each (a gap, never a zero)."""
    start = deps.calendar.sessions_before(today, sessions)
    snapshots = await deps.store.latest_snapshots(report_type, start, today)
    found = {s.scheduled_date: parsed(s.content) for s in snapshots}
    points = []
    for day in sorted({*deps.calendar.sessions_between(start, today), *found}):
        body = found.get(day)  # an older system's report may be any JSON value
        hits, calls = session_calls(body) if isinstance(body, dict) else (None, None)
        points.append(
            {
                "date": day.isoformat(),
                "report": body is not None,
                "accuracy": body.get("accuracy") if isinstance(body, dict) else None,
                "hits": hits,
                "calls": calls,
            }
        )
    return points
