"""The test's app on the real uvicorn with marketbrief's protocol, spoken to in raw HTTP/1.1.

The protocol (web/protocol.py) writes some replies itself; these helpers let a test see the
bytes exactly as they leave the server: pipelining, keep-alive and framing are the server's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import uvicorn
from harness.probes import free_port

from marketbrief.web.fastpath import FastPath
from marketbrief.web.protocol import BoundedHttpToolsProtocol
from tests.support.api_fixtures import Api

WAIT = 30.0  # generous: every wait ends on an event long before this

Response = tuple[bytes, list[tuple[bytes, bytes]], bytes]


@dataclass(slots=True)
class Served:
    """A running server: its port, and the server (a test may shut it down itself)."""

    port: int
    server: uvicorn.Server


@asynccontextmanager
async def served(
    api: Api,
    *,
    keep_alive: float = 5.0,
    access_log: bool = False,
    limit_concurrency: int | None = None,
) -> AsyncIterator[Served]:
    """The test's app on uvicorn with marketbrief's protocol, on a free loopback port."""
    port = free_port()
    config = uvicorn.Config(
        api.app,
        host="127.0.0.1",
        port=port,
        http=partial(BoundedHttpToolsProtocol, head_timeout=WAIT, max_connections=64),  # type: ignore[arg-type]
        lifespan="off",  # the fixture runs it
        log_config=None,
        access_log=access_log,
        timeout_keep_alive=keep_alive,
        limit_concurrency=limit_concurrency,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(WAIT):
        while not server.started:
            await asyncio.sleep(0.01)
    try:
        yield Served(port, server)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, WAIT)


@asynccontextmanager
async def connected(
    api: Api, **options: Any
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """One keep-alive connection to the app `served` with `options`, closed afterwards."""
    async with served(api, **options) as running:
        reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
        try:
            yield reader, writer
        finally:
            writer.close()


def get(target: str, *extra: str) -> bytes:
    """`GET target` as HTTP/1.1 bytes, with `extra` header lines."""
    lines = [f"GET {target} HTTP/1.1", "Host: 127.0.0.1", *extra, "", ""]
    return "\r\n".join(lines).encode()


async def response(reader: asyncio.StreamReader) -> Response:
    """One whole response: status line, headers (as sent, in order) and body."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
    status, *lines = head[:-4].split(b"\r\n")
    headers = [(name, value) for name, _, value in (line.partition(b": ") for line in lines)]
    length = int(dict(headers).get(b"content-length", b"0"))
    body = await asyncio.wait_for(reader.readexactly(length), WAIT) if length else b""
    return status, headers, body


async def ask(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: str, *extra: str
) -> Response:
    """Send `GET target` on the connection and read its whole response."""
    writer.write(get(target, *extra))
    return await response(reader)


def without_date(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The headers but uvicorn's `date` (it moves every second)."""
    return [(name, value) for name, value in headers if name != b"date"]


def fast_path(api: Api) -> FastPath:
    """The app's fast path (web/fastpath.py), to read its counts."""
    fast = api.app.fast_path  # type: ignore[attr-defined]
    assert isinstance(fast, FastPath)
    return fast
