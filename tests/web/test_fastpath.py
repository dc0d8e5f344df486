"""The fast path answers exactly as the route does, and hands everything else on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from marketbrief.errors import StoreUnavailable
from marketbrief.models import ReportType
from marketbrief.store.base import HistoryQuery
from marketbrief.web.fastpath import plain_history_query, plain_report_request
from tests.support.api_fixtures import Api
from tests.support.api_helpers import REPORT, made
from tests.support.clock import DAY

# `&via=route` is ignored by the route but keeps the fast path out: the same request, answered
# by Starlette's route instead.
VIA_ROUTE = "&via=route"
SAME_HEADERS = ("content-type", "content-length", "cache-control", "etag", "retry-after")


def test_only_a_plain_get_of_a_report_type_with_at_most_a_date_takes_the_fast_path() -> None:
    pre = ReportType.PRE_MARKET
    assert plain_report_request("/api/v1/reports/pre-market", b"") == (pre, None)
    asked = plain_report_request("/api/v1/reports/weekly", b"date=2026-11-22")
    assert asked is not None
    assert asked[0] is ReportType.WEEKLY
    assert asked[1] is not None
    assert asked[1].isoformat() == "2026-11-22"
    for path, query in (
        ("/api/v1/reports/nope", b""),
        ("/api/v1/reports/pre-market/extra", b""),
        ("/api/v1/reports/pre-market", b"date=2026-13-01"),  # the route's 400 answers
        ("/api/v1/reports/pre-market", b"date=2026-11-24&x=1"),
        ("/api/v1/reports/pre-market", b"date=2026%2D11-24"),
        ("/api/v1/reports/pre-market", b"day=2026-11-24"),
    ):
        assert plain_report_request(path, query) is None, (path, query)


def test_only_the_first_history_page_with_at_most_a_limit_takes_the_fast_path() -> None:
    assert plain_history_query(b"") == HistoryQuery()
    assert plain_history_query(b"limit=7") == HistoryQuery(limit=7)
    assert plain_history_query(b"limit=500") == HistoryQuery(limit=500)
    for query in (
        b"limit=0",  # the route's 400 answers these two
        b"limit=501",
        b"limit=-1",
        b"limit=1e3",
        b"limit=7&type=weekly",
        b"type=weekly",
        b"cursor=abc",
        b"limit=%37",
    ):
        assert plain_history_query(query) is None, query


@pytest.mark.parametrize("state", ["fresh", "missing", "unavailable"])
async def test_the_fast_path_and_the_route_give_the_same_answer(
    make_api: Callable[..., Awaitable[Api]], state: str
) -> None:
    # Unavailable: store reads off and nothing in the cache.
    api = await make_api(store_reads=state != "unavailable")
    if state == "fresh":
        await api.publish(made(marker="fast"))
    fast = await api.get(REPORT)
    route = await api.get(REPORT + VIA_ROUTE)
    assert fast.status_code == route.status_code
    assert fast.status_code == {"fresh": 200, "missing": 404, "unavailable": 503}[state]
    assert fast.content == route.content
    for name in SAME_HEADERS:
        assert fast.headers.get(name) == route.headers.get(name), name
    assert "default-src 'self'" in fast.headers["content-security-policy"]


async def test_a_conditional_get_on_the_fast_path_is_a_304_without_a_body(api: Api) -> None:
    await api.publish(made(marker="etag"))
    etag = (await api.get(REPORT)).headers["etag"]
    fast = await api.get(REPORT, headers={"If-None-Match": etag})
    route = await api.get(REPORT + VIA_ROUTE, headers={"If-None-Match": etag})
    assert (fast.status_code, fast.content) == (304, b"") == (route.status_code, route.content)
    assert fast.headers["etag"] == route.headers["etag"] == etag
    assert "content-type" not in fast.headers


async def test_a_date_outside_the_calendar_is_answered_by_the_error_table(api: Api) -> None:
    response = await api.get("/api/v1/reports/pre-market?date=1990-01-02")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"
    assert "outside the calendar's coverage" in response.json()["error"]["message"]


async def test_requests_on_the_fast_path_are_timed_under_the_route_template(api: Api) -> None:
    await api.publish(made(marker="timed"))
    assert (await api.get(REPORT)).status_code == 200
    metrics = (await api.get("/metrics")).text
    line = (
        'marketbrief_request_seconds_count{method="GET",route="/api/v1/reports/{report_type}",'
        'status="200"}'
    )
    assert line in metrics
    assert DAY.isoformat() not in metrics.split(line)[0].rsplit("\n", 1)[-1]


async def test_the_first_history_page_on_the_fast_path_is_the_routes(api: Api) -> None:
    await api.publish(made(marker="listed"))
    for path in ("/api/v1/jobs/history", "/api/v1/jobs/history?limit=1"):
        fast = await api.get(path)
        route = await api.get(path + ("&" if "?" in path else "?") + "via=route")
        assert fast.status_code == route.status_code == 200
        assert fast.content == route.content
        assert fast.json()["count"] == 1
        for name in ("content-type", "content-length", "content-security-policy"):
            assert fast.headers.get(name) == route.headers.get(name), name
    metrics = (await api.get("/metrics")).text
    assert 'marketbrief_request_seconds_count{method="GET",route="/api/v1/jobs/history"' in metrics


async def test_a_bug_behind_the_fast_path_is_the_error_tables_500_never_a_dropped_answer(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(api.services.results, "history", broken)
    transport = httpx.ASGITransport(app=api.app, raise_app_exceptions=False)
    with caplog.at_level(logging.ERROR):
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            answer = await client.get("/api/v1/jobs/history")
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "internal_error"
    assert "content-security-policy" in answer.headers
    assert "a bug" not in answer.text  # the trace is logged, never shown


async def test_an_error_on_the_fast_path_is_answered_once_by_the_error_table_and_timed_whole(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0

    async def stalled_then_down(*_args: object, **_kwargs: object) -> bytes:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.3)  # a lower bound on the time the answer took, never an upper
        raise StoreUnavailable("the store did not answer within 1.5 s")

    monkeypatch.setattr(api.services.results, "history", stalled_then_down)
    answer = await api.get("/api/v1/jobs/history")
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "store_unavailable"
    assert answer.headers["retry-after"] == "5"
    assert "default-src 'self'" in answer.headers["content-security-policy"]
    assert calls == 1  # the route did not ask again
    families = text_string_to_metric_families((await api.get("/metrics")).text)
    [took] = [
        sample.value
        for family in families
        for sample in family.samples
        if sample.name == "marketbrief_request_seconds_sum"
        and sample.labels == {"method": "GET", "route": "/api/v1/jobs/history", "status": "503"}
    ]
    assert took >= 0.3
