"""What the HTTP API tests (tests/web/test_*_api.py) share: report-type shorthands, the report
they read most, completions made relative to LATE, and checks of the two response shapes.

Those tests run the API and dashboard end to end, in-process, on both modes (DESIGN.md
sections 5, 8): every test runs twice, embedded (SQLite + in-process cache) and scaled out
(PostgreSQL + Redis under a private prefix). Reports are published through the real write path
or produced by real runs over local news and price files; nothing below the HTTP layer is faked.
"""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from typing import Any

import httpx

from marketbrief.models import Completion, ReportType
from tests.support.clock import DAY, LATE
from tests.support.factories import standalone_completion

PRE = ReportType.PRE_MARKET
INTRADAY = ReportType.INTRADAY
EOD = ReportType.END_OF_DAY
WEEKLY = ReportType.WEEKLY
REPORT = f"/api/v1/reports/pre-market?date={DAY}"
META_FIELDS = {
    "report_type",
    "requested_date",
    "business_date",
    "state",
    "has_content",
    "source",
    "age_seconds",
    "generated_at",
    "run_id",
    "snapshot_id",
    "warnings",
}


def made(
    kind: ReportType = PRE,
    day: date = DAY,
    *,
    hours_before: float = 10.0,
    marker: str = "",
    **changes: Any,
) -> Completion:
    """A successful completion that started `hours_before` LATE (later = newer version)."""
    started = LATE - timedelta(hours=hours_before)
    completion = standalone_completion(kind, day, started_at=started, marker=marker)
    return dataclasses.replace(completion, **changes) if changes else completion


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The one error shape: `{"error": {"code", "message"}}` and nothing else."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    return body


def envelope(response: httpx.Response) -> tuple[Any, dict[str, Any]]:
    """(data, meta) of a report response, checking the envelope's fixed shape."""
    body = response.json()
    assert {"data", "meta"} <= set(body)
    assert set(body) <= {"data", "meta", "error"}
    meta: dict[str, Any] = body["meta"]
    assert set(meta) >= META_FIELDS
    assert meta["has_content"] is (body["data"] is not None)
    return body["data"], meta
