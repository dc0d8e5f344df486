"""Edges of the HTTP face: closed label sets, no reflected Host, honest methods and dates."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from tests.support.api_fixtures import KEY, Api
from tests.support.clock import DAY


async def test_invented_method_tokens_never_grow_the_metrics(api: Api) -> None:
    for i in range(50):
        await api.client.request(f"BREW{i}", "/healthz")
    text = (await api.get("/metrics")).text
    methods = {
        line.split('method="', 1)[1].split('"', 1)[0]
        for line in text.splitlines()
        if line.startswith("marketbrief_request_seconds_count")
    }
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}
    assert "other" in methods


async def test_a_trailing_slash_is_not_redirected_to_the_host_the_client_named(api: Api) -> None:
    response = await api.client.post(
        "/api/v1/jobs/trigger/",
        json={"type": "pre-market"},
        headers={"Host": "attacker.example", "X-API-Key": KEY},
    )
    assert response.status_code == 404
    assert "location" not in response.headers
    assert response.json()["error"]["code"] == "not_found"


async def test_get_on_the_trigger_path_is_405_naming_post(api: Api) -> None:
    response = await api.get("/api/v1/jobs/trigger")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize("day", ["2026-11-25", "2027-01-04"])
async def test_a_trigger_for_a_date_after_the_current_one_is_refused(api: Api, day: str) -> None:
    response = await api.post("/api/v1/jobs/trigger", {"type": "pre-market", "date": day})
    assert response.status_code == 400
    assert "in the future" in response.json()["error"]["message"]
    assert DAY.isoformat() in response.json()["error"]["message"]  # the latest it can run for


async def test_a_client_that_hangs_up_mid_body_is_not_a_server_error(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    sent: list[dict[str, Any]] = []
    messages = iter(
        [
            {"type": "http.request", "body": b'{"type": "pre-', "more_body": True},
            {"type": "http.disconnect"},
        ]
    )

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/jobs/trigger",
        "raw_path": b"/api/v1/jobs/trigger",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"x-api-key", KEY.encode()), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    with caplog.at_level(logging.ERROR):
        await api.app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 400
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    metrics = (await api.get("/metrics")).text
    assert 'status="500"' not in metrics


async def test_a_page_answers_its_errors_as_a_page_and_the_api_as_json(api: Api) -> None:
    page = await api.get("/reports/weekly?date=1990-01-07")
    assert page.status_code == 400
    assert page.headers["content-type"].startswith("text/html")
    assert "1990-01-07 is outside the calendar" in page.text
    json = await api.get("/api/v1/reports/weekly?date=1990-01-07")
    assert json.status_code == 400
    assert "1990-01-07 is outside the calendar" in json.json()["error"]["message"]
    later = await api.get("/api/v1/reports/weekly?date=2999-01-04")
    assert later.status_code == 400  # a date past the calendar is named, not "missing"
    assert "2999-01-04" in later.json()["error"]["message"]


async def test_a_bug_behind_a_page_is_a_500_page_with_the_security_headers(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(api.services.results, "get_report", broken)
    transport = httpx.ASGITransport(app=api.app, raise_app_exceptions=False)
    with caplog.at_level(logging.ERROR):
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            page = await client.get("/reports/pre-market")
    assert page.status_code == 500
    assert page.headers["content-type"].startswith("text/html")
    assert "content-security-policy" in page.headers
    assert "a bug" not in page.text  # the trace is logged, never shown
