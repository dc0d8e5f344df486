"""The protocol writes a repeated report itself, byte for byte what the app would have sent.

`marketbrief serve`'s HTTP/1.1 protocol (web/protocol.py) offers every plain GET to the app's
`answer_now` before starting it; a clean cache hit served before is written from the kept
reply. These tests run the app on the real uvicorn with that protocol, on loopback, and talk
raw HTTP/1.1 to it, so pipelining, keep-alive and framing are the server's own.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import orjson

from marketbrief.models import ReportType
from tests.support.api_fixtures import Api
from tests.support.clock import DAY, LATE
from tests.support.factories import standalone_completion
from tests.support.raw_http import WAIT, ask, connected, get, response, without_date
from tests.support.raw_http import fast_path as _fast

PRE = ReportType.PRE_MARKET
REPORT = f"/api/v1/reports/{PRE.value}?date={DAY.isoformat()}"


async def _publish(api: Api, marker: str = "", minutes: int = 0) -> str:
    started = LATE - timedelta(hours=20) + timedelta(minutes=minutes)
    completion = standalone_completion(PRE, DAY, started_at=started, marker=marker)
    assert (await api.publish(completion)).published
    return completion.run_id


async def test_a_repeated_report_is_written_by_the_protocol_as_the_app_wrote_it(api: Api) -> None:
    run_id = await _publish(api)
    fast = _fast(api)
    async with connected(api) as (reader, writer):
        first = await ask(reader, writer, REPORT)  # a cache hit not yet served on this path
        assert fast.answered_now == 0
        for n in (1, 2):
            early = await ask(reader, writer, REPORT)
            assert fast.answered_now == n
            assert early[0] == first[0] == b"HTTP/1.1 200 OK"
            assert without_date(early[1]) == without_date(first[1])
            assert [name for name, _ in early[1]][:2] == [b"date", b"server"]  # uvicorn's own
            assert early[2] == first[2]
    by_app = await api.get(REPORT)  # the whole app, through ASGI
    assert by_app.content == early[2]
    sent = {name.decode(): value.decode() for name, value in early[1]}
    assert {name: sent[name] for name in by_app.headers if name != "date"} == {
        name: value for name, value in by_app.headers.items() if name != "date"
    }
    assert orjson.loads(first[2])["meta"]["run_id"] == run_id


async def test_a_new_publish_is_served_at_once_and_then_kept_in_its_turn(api: Api) -> None:
    await _publish(api, marker="first")
    fast = _fast(api)
    async with connected(api) as (reader, writer):
        for _ in range(2):
            await ask(reader, writer, REPORT)
        assert fast.answered_now == 1
        newer = await _publish(api, marker="second", minutes=5)
        after = await ask(reader, writer, REPORT)
        assert orjson.loads(after[2])["meta"]["run_id"] == newer
        assert fast.answered_now == 1  # the publish was the app's to answer first
        kept = await ask(reader, writer, REPORT)
        assert kept[2] == after[2]
        assert fast.answered_now == 2


async def test_pipelined_requests_are_answered_in_order_early_or_not(api: Api) -> None:
    await _publish(api)
    fast = _fast(api)
    async with connected(api) as (reader, writer):
        report = await ask(reader, writer, REPORT)
        # One write: a kept report, a request only the app answers, then the report again
        # (behind a response in flight, so it queues for the app as pipelining requires).
        writer.write(get(REPORT) + get("/healthz") + get(REPORT))
        answers = [await response(reader) for _ in range(3)]
        assert [a[2] == report[2] for a in answers] == [True, False, True]
        assert orjson.loads(answers[1][2])["status"] == "ok"
        assert fast.answered_now == 1


async def test_a_request_that_closes_its_connection_is_the_apps(api: Api) -> None:
    await _publish(api)
    fast = _fast(api)
    async with connected(api) as (reader, writer):
        await ask(reader, writer, REPORT)
        closing = await ask(reader, writer, REPORT, "Connection: close")
        assert (b"connection", b"close") in closing[1]
        assert await asyncio.wait_for(reader.read(), WAIT) == b""  # and the server closed it
        assert fast.answered_now == 0


async def test_a_conditional_request_gets_the_apps_304(api: Api) -> None:
    await _publish(api)
    fast = _fast(api)
    async with connected(api) as (reader, writer):
        etag = dict((await ask(reader, writer, REPORT))[1])[b"etag"].decode()
        status, _, body = await ask(reader, writer, REPORT, f"If-None-Match: {etag}")
        assert (status, body) == (b"HTTP/1.1 304 Not Modified", b"")
        assert fast.answered_now == 0


async def test_early_answers_are_counted_and_timed_as_the_apps_are(api: Api) -> None:
    await _publish(api)
    async with connected(api) as (reader, writer):
        for _ in range(4):
            await ask(reader, writer, REPORT)
        assert _fast(api).answered_now == 3
        text = (await ask(reader, writer, "/metrics"))[2].decode()
    route = 'route="/api/v1/reports/{report_type}",status="200"'
    assert f'marketbrief_request_seconds_count{{method="GET",{route}}} 4.0' in text
    assert 'marketbrief_report_answers_total{blank="no",surface="api"} 4.0' in text
    assert 'marketbrief_reports_served_total{state="fresh"} 4.0' in text
    assert 'marketbrief_answered_by_protocol_total{reply="kept"} 3.0' in text
    # The first, a cache miss, was read and then written by the protocol too.
    assert 'marketbrief_answered_by_protocol_total{reply="awaited"} 1.0' in text


async def test_after_an_early_answer_the_idle_connection_is_closed_by_its_keep_alive(
    api: Api,
) -> None:
    await _publish(api)
    async with connected(api, keep_alive=1.0) as (reader, writer):
        await ask(reader, writer, REPORT)
        writer.write(get(REPORT) + get(REPORT))  # two early answers from one read
        await response(reader)
        await response(reader)
        assert _fast(api).answered_now == 2
        assert await asyncio.wait_for(reader.read(), WAIT) == b""


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


async def test_with_the_access_log_on_every_request_is_the_apps_and_is_logged(api: Api) -> None:
    await _publish(api)
    access = logging.getLogger("uvicorn.access")
    saved = (access.handlers[:], access.propagate, access.level)
    lines = _Lines()
    access.handlers = [lines]
    access.setLevel(logging.INFO)
    try:
        async with connected(api, access_log=True) as (reader, writer):
            for _ in range(3):
                await ask(reader, writer, REPORT)
    finally:
        access.handlers, access.propagate = saved[0], saved[1]
        access.setLevel(saved[2])
    assert _fast(api).answered_now == 0
    assert sum(REPORT in line for line in lines.lines) == 3


async def test_the_first_history_page_is_written_by_the_protocol_as_the_app_wrote_it(
    api: Api,
) -> None:
    await _publish(api)
    fast = _fast(api)
    async with connected(api) as (reader, writer):
        for target in ("/api/v1/jobs/history", "/api/v1/jobs/history?limit=2"):
            before = fast.answered_now
            by_app = await ask(reader, writer, target)
            early = await ask(reader, writer, target)
            assert fast.answered_now == before + 1
            assert early[0] == by_app[0] == b"HTTP/1.1 200 OK"
            assert without_date(early[1]) == without_date(by_app[1])
            assert early[2] == by_app[2]
            assert orjson.loads(early[2])["count"] >= 1
        # A page with a cursor is the app's, always.
        cursor = orjson.loads(by_app[2])["next_cursor"] or "x"
        await ask(reader, writer, f"/api/v1/jobs/history?limit=2&cursor={cursor}")
        assert fast.answered_now == before + 1
