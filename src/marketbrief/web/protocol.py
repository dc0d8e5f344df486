"""The HTTP/1.1 protocol `serve` runs: uvicorn's httptools protocol, with two bounds added.

uvicorn arms its keep-alive timer only once a response is complete, and cancels it on the
first byte that arrives. A connection that never sends a request, or sends half a request
line and stops, is therefore never closed, and enough of them use up every file descriptor.
This protocol adds what uvicorn lacks:

- a head deadline: from the moment a connection is open, or its previous response complete,
  the next request's headers must be complete within `head_timeout` seconds, or the connection
  is closed (idle and slowly trickled connections alike);
- a connection limit: a connection beyond `max_connections` open in this process is answered
  503 at once and closed, so it holds its file descriptor only for that instant.

Both are logged through the `uvicorn.error` logger, which `serve` throttles (web/logs.py).

It also answers the service's most repeated request itself. Once a request's head is complete,
a plain `GET` with no body on a keep-alive HTTP/1.1 connection with nothing else in flight is
offered to the app's `answer_now` (web/fastpath.py); when the read path already holds that
exact answer (a clean cache hit it served before, still current), the protocol writes the
reply, the same status line, headers and body uvicorn would write for the app's, with no task,
no scope handed on and no ASGI messages: the work that made a cached report cost three times
a bare app's. Everything else, and every request while the access log is on, is the app's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from marketbrief.web.replies import Wire, header_lines

logger = logging.getLogger("uvicorn.error")

BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"retry-after: 1\r\n"
    b"content-length: 34\r\n"
    b"connection: close\r\n"
    b"\r\n"
    b"too many open connections; retry\r\n"
)


EarlyAnswer = Callable[[bytes, list[tuple[bytes, bytes]]], Wire | None]
"""`answer_now(target, headers)`: the reply to `GET target`, or None for the app to answer."""
_BODY_HEADERS = (b"content-length", b"transfer-encoding", b"expect")
_WRAPPERS = 8  # middleware uvicorn may put around the app (proxy headers, message logger)


def early_answer(app: object) -> EarlyAnswer | None:
    """The app's `answer_now`, found through the middleware uvicorn wraps it in, or None."""
    for _ in range(_WRAPPERS):
        found = getattr(app, "answer_now", None)
        if callable(found):
            return found  # type: ignore[no-any-return]
        app = getattr(app, "app", None)
        if app is None:
            break
    return None


class _ServerLines:
    """The server's own header lines (date, server) as bytes, made again when they change."""

    def __init__(self) -> None:
        self._seen: object = None
        self._lines = b""

    def of(self, defaults: list[tuple[bytes, bytes]]) -> bytes:
        if defaults is not self._seen:  # uvicorn puts a new list in place every second
            self._lines = header_lines(defaults)
            self._seen = defaults
        return self._lines


_SERVER_LINES = _ServerLines()


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """httptools HTTP/1.1 with a deadline on each request's head and a connection limit."""

    def __init__(
        self, *args: Any, head_timeout: float, max_connections: int, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.head_timeout = head_timeout
        self.max_connections = max_connections
        self._head_deadline: asyncio.TimerHandle | None = None
        self._early = None if self.access_log else early_answer(self.app)
        self._early_wire: Wire | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Refuse the connection past the limit, otherwise start the clock on its first head."""
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            logger.warning(
                "refused a connection with 503: %d connections open (limit %d)",
                len(self.connections) - 1,
                self.max_connections,
            )
            transport.write(BUSY)
            transport.close()
            return
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the deadline with the connection."""
        self._cancel_head_deadline()
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        """A whole head arrived in time: the request is answered at once, or is the app's."""
        self._cancel_head_deadline()
        if self._early is not None and self._answerable_now():
            self._early_wire = self._early(self.url, self.headers)
            if self._early_wire is not None:
                return  # written once the message is complete (no body: at once)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        """Write the reply found at the head, or hand the end of the request to the app."""
        wire = self._early_wire
        if wire is None:
            super().on_message_complete()
            return
        self._early_wire = None
        status, lines, body = wire
        server_lines = _SERVER_LINES.of(self.server_state.default_headers)
        self.transport.writelines((STATUS_LINE[status], server_lines, lines, body))
        # A request pipelined behind this one in the same read arms the timer again.
        self._unset_keepalive_if_required()
        self.on_response_complete()

    def _answerable_now(self) -> bool:
        """A plain GET without a body, on a keep-alive HTTP/1.1 connection with no response in
        flight, nothing queued and the client reading: the only requests answered early."""
        parser = self.parser
        return (
            parser.get_method() == b"GET"
            and parser.get_http_version() == "1.1"
            and parser.should_keep_alive()
            and not parser.should_upgrade()
            and (self.cycle is None or self.cycle.response_complete)
            and not self.pipeline
            and not self.flow.write_paused
            and not self.transport.is_closing()
            and not self.root_path
            and all(name not in _BODY_HEADERS for name, _ in self.headers)
        )

    def on_response_complete(self) -> None:
        """The response is sent: the next request's head is due within the deadline."""
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            self._arm_head_deadline()

    def _arm_head_deadline(self) -> None:
        self._cancel_head_deadline()
        self._head_deadline = self.loop.call_later(self.head_timeout, self._head_overdue)

    def _cancel_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_overdue(self) -> None:
        self._head_deadline = None
        busy = self.cycle is not None and not self.cycle.response_complete
        if busy or self.pipeline or self.transport.is_closing():
            return
        logger.info("closed a connection that sent no request head in %.1f s", self.head_timeout)
        self.transport.close()
