"""POST /api/v1/jobs/trigger: a run accepted with 202 finishes in the background; a malformed or
unacceptable trigger is a 400.

(Both modes, in-process; see tests/support/api_helpers.py.)
"""

from __future__ import annotations

import pytest

from tests.support.api_fixtures import THANKSGIVING, Api
from tests.support.api_helpers import REPORT, assert_error, envelope
from tests.support.clock import DAY


async def test_a_triggered_run_answers_202_and_finishes_in_the_background(api: Api) -> None:
    response = await api.post(
        "/api/v1/jobs/trigger", {"type": "pre-market", "date": DAY.isoformat()}
    )

    assert response.status_code == 202, response.text
    body = response.json()
    assert set(body) == {"run_id", "status_url"}
    assert body["run_id"].startswith(f"{DAY}_pre-market_")
    assert body["status_url"] == f"/api/v1/jobs/{body['run_id']}"
    assert response.headers["location"] == body["status_url"]

    detail = await api.wait_for_run(body["status_url"])
    job = detail["job"]
    assert job["status"] == "success", job
    assert job["trigger_source"] == "api"
    assert job["symbols_processed"] == 5  # the four symbols and SPY, the market pulse
    assert job["symbols_successful"] == 5
    assert job["executed_at"] is not None
    # The run row finishes before its last stage records land: let the background task end.
    await api.services.runner.drain()
    detail = (await api.get(body["status_url"])).json()
    stages = {s["stage"]: s["status"] for s in detail["stages"]}
    assert stages == {
        "init": "success",
        "data_fetch": "success",
        "analysis": "success",
        "storage": "success",
        "finalize": "success",
    }
    calls = {p["symbol"]: p["direction"] for p in detail["predictions"] if p["symbol"] != "SPY"}
    assert calls == {"AAPL": "up", "MSFT": "down", "NVDA": "up", "TSLA": "down"}

    report = await api.get(REPORT)
    data, meta = envelope(report)
    assert (report.status_code, meta["state"], meta["run_id"]) == (200, "fresh", body["run_id"])
    assert data == detail["snapshot"]["content"]


async def test_a_trigger_without_a_date_runs_for_the_current_business_date(api: Api) -> None:
    response = await api.post("/api/v1/jobs/trigger", {"type": "pre-market"})
    assert response.status_code == 202, response.text
    # LATE is 22:00 New York on DAY: the current pre-market business date is DAY.
    assert response.json()["run_id"].startswith(f"{DAY}_pre-market_")
    await api.wait_for_run(response.json()["status_url"])


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b'{"type": "pre-market"',
        b"\xff\xfe",
        b'["pre-market"]',
        b'"pre-market"',
        b"null",
        b"{}",
        b'{"type": 3}',
        b'{"type": "daily"}',
        b'{"type": "pre-market", "date": "2026-02-30"}',
        b'{"type": "pre-market", "date": "tomorrow"}',
        b'{"type": "pre-market", "date": 20261124}',
        b'{"type": "pre-market", "date": "2026-11-26"}',  # Thanksgiving: not a session
        b'{"type": "pre-market", "date": "2026-11-28"}',  # a Saturday
        b'{"type": "weekly", "date": "2026-11-24"}',  # not a Sunday
    ],
)
async def test_a_malformed_or_unacceptable_trigger_is_400(api: Api, content: bytes) -> None:
    response = await api.post(
        "/api/v1/jobs/trigger", content=content, headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, "invalid_input")
    assert (await api.get("/api/v1/jobs/history")).json()["count"] == 0


async def test_a_day_that_is_not_a_session_is_named_in_the_400(api: Api) -> None:
    response = await api.post(
        "/api/v1/jobs/trigger", {"type": "pre-market", "date": str(THANKSGIVING)}
    )
    body = assert_error(response, 400, "invalid_input")
    assert "not a session" in body["error"]["message"]
