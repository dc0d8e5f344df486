"""`serve`: the app on uvicorn with httptools and uvloop, bounded connections, quiet logs.

The server was chosen by measurement (`python -m benchmarks.candidates`, docs/performance.md):
granian was a little faster on a bare ASGI app, but closes no connection that never sends a
byte; uvicorn with httptools and uvloop came close, and `web/protocol.py` gives it the head
deadline and connection limit it lacks.
"""

from __future__ import annotations

import asyncio
import resource
from functools import partial
from typing import cast

import uvicorn

from marketbrief.config import HttpServing
from marketbrief.web.logs import log_config
from marketbrief.web.protocol import BoundedHttpToolsProtocol

APP = "marketbrief.web.app:create_app"
FD_RESERVE = 64
"""File descriptors kept for everything but client connections (store, cache, logs, sockets)."""
GRACEFUL_SHUTDOWN_SECONDS = 30


def open_files_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit; return the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft


def connection_budget(configured: int, open_files: int) -> int:
    """The connection limit: as configured, but always leaving FD_RESERVE descriptors free."""
    return max(1, min(configured, open_files - FD_RESERVE))


def serve(
    host: str,
    port: int,
    workers: int,
    http: HttpServing,
    *,
    app: str = APP,
    log_format: str = "human",
) -> None:
    """Run the `app` factory on uvicorn until SIGTERM or SIGINT (graceful shutdown, then exit)."""
    open_files = open_files_limit()
    max_connections = connection_budget(http.max_connections, open_files)
    protocol = partial(
        BoundedHttpToolsProtocol,
        head_timeout=http.header_timeout_seconds,
        max_connections=max_connections,
    )
    uvicorn.run(
        app,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        # uvicorn accepts any protocol factory here, not only a class.
        http=cast("type[asyncio.Protocol]", protocol),
        log_config=log_config(
            access_log=http.access_log,
            throttle_seconds=http.log_throttle_seconds,
            log_format=log_format,
        ),
        log_level="info",
        access_log=http.access_log,
        timeout_keep_alive=http.keep_alive_seconds,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
