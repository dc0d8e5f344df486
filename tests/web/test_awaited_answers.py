"""A report the read path must read is awaited and written by the protocol, as the app writes it.

With the cache off every report is a store read. The protocol (web/protocol.py) offers a plain,
unconditional report request to the app's `answer_soon`, awaits the reply in the request's own
task and writes it in one write: no ASGI messages, no framework. These tests run the app on the
real uvicorn with that protocol and compare every byte with what the whole app sends through
ASGI, and hold the protocol to uvicorn's rules while a reply is awaited: pipelined requests
wait their turn, a graceful shutdown closes the connection after the reply, a client that
leaves gets nothing written, the concurrency limit's 503 stays uvicorn's.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import orjson
import pytest

from marketbrief.models import ReportType
from tests.support.api_fixtures import Api
from tests.support.clock import DAY, LATE
from tests.support.factories import standalone_completion
from tests.support.raw_http import WAIT, ask, connected, get, response, served, without_date
from tests.support.raw_http import fast_path as _fast

PRE = ReportType.PRE_MARKET
REPORT = f"/api/v1/reports/{PRE.value}?date={DAY.isoformat()}"


@pytest.fixture
async def api(make_api: Callable[..., Awaitable[Api]]) -> Api:
    """The app with the cache off (`MARKETBRIEF_CACHE=off`): every report is a store read."""
    made = await make_api(cache_enabled=False)
    started = LATE - timedelta(hours=20)
    assert (await made.publish(standalone_completion(PRE, DAY, started_at=started))).published
    return made


def _same_as_the_apps(sent: tuple[bytes, list[tuple[bytes, bytes]], bytes], by_app: Any) -> None:
    """The protocol's response is the whole app's: status, every header (but the date and
    uvicorn's own server line) and body."""
    assert int(sent[0].split()[1]) == by_app.status_code
    headers = {name.decode(): value.decode() for name, value in without_date(sent[1])}
    assert headers.pop("server") == "uvicorn"
    assert headers == {name: value for name, value in by_app.headers.items() if name != "date"}
    assert sent[2] == by_app.content


@contextmanager
def held_reads(api: Api) -> Iterator[tuple[threading.Event, threading.Event]]:
    """The store's snapshot reads wait (on their read thread) until the test lets them go:
    yields (a read is waiting, let it go)."""
    backend = api.services.results.deps.store.backend
    real = backend.latest_snapshot
    waiting, go = threading.Event(), threading.Event()

    def held(*args: Any) -> Any:
        waiting.set()
        go.wait(WAIT)
        return real(*args)

    backend.latest_snapshot = held  # type: ignore[method-assign]
    try:
        yield waiting, go
    finally:
        go.set()
        backend.latest_snapshot = real  # type: ignore[method-assign]


async def test_a_report_read_from_the_store_is_written_by_the_protocol_as_the_app_writes_it(
    api: Api,
) -> None:
    fast = _fast(api)
    async with connected(api) as (reader, writer):
        for n in (1, 2):
            sent = await ask(reader, writer, REPORT)
            assert fast.answered_soon == n
            assert fast.answered_now == 0  # nothing is kept with the cache off
    by_app = await api.get(REPORT)
    _same_as_the_apps(sent, by_app)
    assert orjson.loads(sent[2])["meta"]["source"] == "store"


@pytest.mark.parametrize(
    "target",
    [
        f"/api/v1/reports/{PRE.value}?date=1999-01-04",  # outside the calendar: the error table
        f"/api/v1/reports/{PRE.value}?date={(DAY + timedelta(days=1)).isoformat()}",  # missing
        f"/api/v1/reports/{ReportType.INTRADAY.value}?date={DAY.isoformat()}",  # not published
    ],
)
async def test_an_answer_without_a_report_is_written_as_the_app_writes_it(
    api: Api, target: str
) -> None:
    async with connected(api) as (reader, writer):
        sent = await ask(reader, writer, target)
    assert _fast(api).answered_soon == 1
    by_app = await api.get(target)
    assert by_app.status_code != 200 or orjson.loads(by_app.content)["meta"]["state"] != "fresh"
    _same_as_the_apps(sent, by_app)


async def test_a_store_that_raises_gets_the_error_tables_answer(api: Api) -> None:
    backend = api.services.results.deps.store.backend
    real = backend.latest_snapshot

    def broken(*_args: Any) -> Any:
        raise RuntimeError("a bug in the read path")

    backend.latest_snapshot = broken  # type: ignore[method-assign]
    try:
        async with connected(api) as (reader, writer):
            sent = await ask(reader, writer, REPORT)
            assert _fast(api).answered_soon == 1
            # The connection serves on: the error was an answer, not a broken stream.
            health = await ask(reader, writer, "/healthz")
        by_app = await api.get(REPORT)
    finally:
        backend.latest_snapshot = real  # type: ignore[method-assign]
    assert by_app.status_code == 500
    _same_as_the_apps(sent, by_app)
    assert health[0] == b"HTTP/1.1 200 OK"


async def test_requests_pipelined_behind_an_awaited_reply_wait_their_turn(api: Api) -> None:
    async with connected(api) as (reader, writer):
        with held_reads(api) as (waiting, go):
            writer.write(get(REPORT) + get("/healthz") + get(REPORT))
            assert await asyncio.to_thread(waiting.wait, WAIT)
            go.set()
            answers = [await response(reader) for _ in range(3)]
    assert [a[0] for a in answers] == [b"HTTP/1.1 200 OK"] * 3
    assert orjson.loads(answers[0][2])["meta"]["state"] == "fresh"
    assert orjson.loads(answers[1][2])["status"] == "ok"
    assert answers[2][2] == answers[0][2]
    assert _fast(api).answered_soon == 1  # the queued report was the app's, in its turn


async def test_a_graceful_shutdown_sends_the_awaited_reply_then_closes(api: Api) -> None:
    async with served(api) as running:
        reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
        try:
            with held_reads(api) as (waiting, go):
                writer.write(get(REPORT))
                assert await asyncio.to_thread(waiting.wait, WAIT)
                running.server.should_exit = True  # the server begins to shut down
                while not running.server.server_state.connections or not _closing(running):
                    await asyncio.sleep(0.01)
                go.set()
                status, headers, body = await response(reader)
            assert status == b"HTTP/1.1 200 OK"
            assert (b"connection", b"close") in headers
            assert orjson.loads(body)["meta"]["state"] == "fresh"
            assert await asyncio.wait_for(reader.read(), WAIT) == b""
        finally:
            writer.close()


def _closing(running: Any) -> bool:
    """Whether uvicorn has told the connection to close after its response."""
    return all(not c.cycle.keep_alive for c in running.server.server_state.connections)


async def test_a_client_that_leaves_while_its_reply_is_awaited_gets_nothing_written(
    api: Api,
) -> None:
    async with served(api) as running:
        with held_reads(api) as (waiting, go):
            reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
            writer.write(get(REPORT))
            assert await asyncio.to_thread(waiting.wait, WAIT)
            writer.close()
            await writer.wait_closed()
            while running.server.server_state.connections:  # the server saw it go
                await asyncio.sleep(0.01)
            go.set()
            while running.server.server_state.tasks:  # the awaited reply's task ended
                await asyncio.sleep(0.01)
        assert _fast(api).answered_soon == 1  # it was answered, to nobody
        reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
        try:
            assert (await ask(reader, writer, REPORT))[0] == b"HTTP/1.1 200 OK"
        finally:
            writer.close()


async def test_past_the_concurrency_limit_the_503_is_uvicorns(api: Api) -> None:
    async with connected(api, limit_concurrency=1) as (reader, writer):
        status, _, body = await ask(reader, writer, REPORT)
    assert status == b"HTTP/1.1 503 Service Unavailable"
    assert body == b"Service Unavailable"
    assert _fast(api).answered_soon == 0


async def test_a_conditional_or_unplain_request_is_the_apps(api: Api) -> None:
    async with connected(api) as (reader, writer):
        etag = dict((await ask(reader, writer, REPORT))[1])[b"etag"].decode()
        status, _, body = await ask(reader, writer, REPORT, f"If-None-Match: {etag}")
        assert (status, body) == (b"HTTP/1.1 304 Not Modified", b"")
        spaced = await ask(reader, writer, REPORT.replace("?date=", "?date=%20"))
        assert spaced[0] == b"HTTP/1.1 400 Bad Request"
    assert _fast(api).answered_soon == 1
