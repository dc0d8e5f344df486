"""Honest states through the HTTP API and the dashboard: a future trigger is refused and writes
nothing, a holiday answers `closed`, a partial run says why in the history list, and the
schedule grid counts from when the schedule began.

(Both modes, in-process; see tests/support/api_helpers.py.)
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from tests.support.api_fixtures import THANKSGIVING, Api
from tests.support.api_helpers import INTRADAY, PRE, assert_error, envelope, made
from tests.support.clock import DAY


async def test_a_trigger_for_a_date_after_today_is_400_and_writes_nothing(api: Api) -> None:
    # The clock is 22:00 New York on DAY: the next day, and the week's Sunday, are not due.
    for kind, day in (("pre-market", "2026-11-25"), ("weekly", "2026-11-29")):
        response = await api.post("/api/v1/jobs/trigger", {"type": kind, "date": day})
        error = assert_error(response, 400, "invalid_input")
        assert "is in the future" in error["error"]["message"]
    history = (await api.get("/api/v1/jobs/history")).json()
    assert history["jobs"] == []
    assert await api.services.results.store.latest_keys() == []


async def test_a_market_holiday_answers_market_closed_in_the_api_and_on_the_page(
    api: Api,
) -> None:
    await api.publish(made(PRE, DAY))
    api.clock.now = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
    response = await api.get(f"/api/v1/reports/pre-market?date={THANKSGIVING}")
    data, meta = envelope(response)
    assert response.status_code == 200
    assert data is None
    assert (meta["state"], meta["has_content"], meta["next_session"]) == (
        "closed",
        False,
        "2026-11-27",
    )
    spec = (await api.get("/openapi.json")).json()
    states = spec["components"]["schemas"]["Envelope"]["properties"]["meta"]["properties"]
    assert "closed" in states["state"]["enum"]
    page = await api.get(f"/reports/pre-market?date={THANKSGIVING}")
    assert page.status_code == 200
    assert "Market closed" in page.text
    assert "2026-11-27" in page.text
    assert "Stale" not in page.text


async def test_a_partial_run_says_why_in_its_record_and_in_the_dashboard_history(
    make_api: Callable[..., Awaitable[Api]], tmp_path: Path
) -> None:
    news = tmp_path / "partial-news"
    shutil.copytree(Path(str(tmp_path / "news")), news)
    (news / "NVDA.json").write_text(json.dumps([]))
    api = await make_api(news=f"dir:{news}")
    started = await api.post("/api/v1/jobs/trigger", {"type": "pre-market", "date": str(DAY)})
    assert started.status_code == 202, started.text
    detail = await api.wait_for_run(started.json()["status_url"])
    job = detail["job"]
    assert job["status"] == "partial"
    assert {"symbol": "NVDA", "status": "skipped", "reason": "no articles"} in job["warnings"]
    assert job["reason"] == "NVDA skipped: no articles"
    page = await api.get("/")
    assert "<th>reason</th>" in page.text
    assert "NVDA skipped: no articles" in page.text


async def test_the_schedule_grid_counts_from_when_the_schedule_began(api: Api) -> None:
    # The service first started at LATE (22:00 New York on DAY), on a fresh store: every slot
    # before it was never due, so none is missed.
    body = (await api.get("/api/v1/schedule?days=14")).json()
    assert body["schedule_began"] == "2026-11-25T03:00:00.000Z"
    assert "missed" not in {s["status"] for s in body["slots"]}
    assert body["slots"] == []
    # A later start does not move it; a backfilled run for an earlier slot does.
    await api.services.results.begin_schedule()
    await api.publish(made(INTRADAY, DAY))
    body = (await api.get("/api/v1/schedule?days=14")).json()
    by_slot = {(s["date"], s["report_type"]): s["status"] for s in body["slots"]}
    assert body["schedule_began"] == "2026-11-24T17:00:00.000Z"  # DAY's intraday slot
    assert by_slot[(str(DAY), "intraday")] == "ok"
    assert by_slot[(str(DAY), "end-of-day")] == "missed"
    assert (str(DAY), "pre-market") not in by_slot
    assert "missed" not in {status for (day, _), status in by_slot.items() if day < str(DAY)}
