"""The ceiling: a bare ASGI application that answers every request with one pre-serialized body.

It does no routing, no parsing and no I/O, so under the same uvicorn it shows the most any
application can get from that server on this machine: the figure the others are divided by.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEALTH = b'{"status":"ok"}'


def make_app(body: bytes) -> ASGIApp:
    """An ASGI app returning `body` as JSON for any path but /healthz."""
    body_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    health_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(HEALTH)).encode()),
    ]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message: Message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if scope["path"] == "/healthz":
            headers, payload = health_headers, HEALTH
        else:
            headers, payload = body_headers, body
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    return app


def create_app() -> ASGIApp:
    """The uvicorn factory: the body comes from the file named by BENCH_BODY_FILE."""
    return make_app(Path(os.environ["BENCH_BODY_FILE"]).read_bytes())
