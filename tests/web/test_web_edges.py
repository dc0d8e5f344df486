"""Edges of the HTTP face: closed label sets, no reflected Host, honest methods and dates."""

from __future__ import annotations

import logging
from typing import Any

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
