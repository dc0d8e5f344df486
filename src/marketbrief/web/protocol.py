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
a bare app's. When it does not, the request's task is offered to the app's `answer_soon`: a
plain report request is then read by the read path in that task, and its reply written by the
protocol in one write, as uvicorn's `send` would have written it in two (a cache-off report
cost a fifth less). The request keeps uvicorn's cycle, so pipelined requests wait behind it,
a graceful shutdown closes the connection after it, and a client that leaves gets nothing.
Everything else, and every request while the access log is on, is the app's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

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
SoonAnswer = Callable[[bytes, Mapping[str, Any]], Awaitable[Wire] | None]
"""`answer_soon(target, scope)`: the reply to `GET target` to await, or None for the app."""
_BODY_HEADERS = (b"content-length", b"transfer-encoding", b"expect")
_WRAPPERS = 8  # middleware uvicorn may put around the app (proxy headers, message logger)
CLOSE_LINE = b"connection: close\r\n"


def early_answer(app: object) -> EarlyAnswer | None:
    """The app's `answer_now`, found through the middleware uvicorn wraps it in, or None."""
    found: EarlyAnswer | None = _found(app, "answer_now")
    return found


def soon_answer(app: object) -> SoonAnswer | None:
    """The app's `answer_soon`, found as `early_answer` finds `answer_now`, or None."""
    found: SoonAnswer | None = _found(app, "answer_soon")
    return found


def _found(app: object, name: str) -> Any:
    for _ in range(_WRAPPERS):
        found = getattr(app, name, None)
        if callable(found):
            return found
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
        # The head deadline is kept lazily: one timer per connection, and each request only
        # moves `_head_due` (a timer made and cancelled per request cost more than the check).
        self._head_due: float | None = None  # loop time the awaited head is due by
        self._head_timer: asyncio.TimerHandle | None = None
        self._early = None if self.access_log else early_answer(self.app)
        self._soon = None if self.access_log else soon_answer(self.app)
        self._early_wire: Wire | None = None
        self._soon_target: bytes | None = None  # offered to `answer_soon` as its task starts

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
        """Forget the deadline, and its timer, with the connection."""
        self._head_due = None
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        """A whole head arrived in time: the request is answered at once, or is the app's."""
        self._cancel_head_deadline()
        if self._early is not None and self._answerable_now():
            self._early_wire = self._early(self.url, self.headers)
            if self._early_wire is not None:
                return  # written once the message is complete (no body: at once)
            self._soon_target = self.url
        try:
            super().on_headers_complete()  # the request's cycle, and its task (`_start_asgi_task`)
        finally:
            self._soon_target = None

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        """Start the request's task: the app's, or one that awaits `answer_soon`'s reply and
        writes it (only for the request offered at its head, and never past the concurrency
        limit, whose 503 is uvicorn's)."""
        target, self._soon_target = self._soon_target, None
        answer = None
        if target is not None and self._soon is not None and app is self.app:
            answer = self._soon(target, cycle.scope)
        if answer is None:
            super()._start_asgi_task(cycle, app)
            return
        task = self.loop.create_task(self._write_soon(cycle, answer))
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    async def _write_soon(self, cycle: RequestResponseCycle, answer: Awaitable[Wire]) -> None:
        """Await the reply and write it as uvicorn's `send` would, in one write: then the
        response is complete, as for the app's (keep-alive, the next pipelined request, a
        graceful shutdown's `connection: close`)."""
        try:
            wire = await answer
        except BaseException as error:  # as uvicorn's cycle answers an app that raised
            logger.error("Exception in ASGI application\n", exc_info=error)
            await cycle.send_500_response()
            return
        if self.flow.write_paused and not cycle.disconnected:
            await self.flow.drain()
        if cycle.disconnected:
            return  # the client left: nothing to write to
        cycle.response_started = True
        keep_alive = cycle.keep_alive  # a graceful shutdown turns it off meanwhile
        self._write(wire, b"" if keep_alive else CLOSE_LINE)
        cycle.response_complete = True
        cycle.message_event.set()
        if not keep_alive:
            self.transport.close()
        cycle.on_response()

    def on_message_complete(self) -> None:
        """Write the reply found at the head, or hand the end of the request to the app."""
        wire = self._early_wire
        if wire is None:
            super().on_message_complete()
            return
        self._early_wire = None
        self._write(wire)
        # A request pipelined behind this one in the same read arms the timer again.
        self._unset_keepalive_if_required()
        self.on_response_complete()

    def _write(self, wire: Wire, close: bytes = b"") -> None:
        """The reply as uvicorn writes the app's: status line, the server's own header lines,
        `close` (`connection: close`, or nothing), the reply's header lines and body; one write."""
        status, lines, body = wire
        server_lines = _SERVER_LINES.of(self.server_state.default_headers)
        self.transport.writelines((STATUS_LINE[status], server_lines, close, lines, body))

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
        self._head_due = self.loop.time() + self.head_timeout
        if self._head_timer is None:
            self._head_timer = self.loop.call_at(self._head_due, self._head_check)

    def _cancel_head_deadline(self) -> None:
        self._head_due = None  # the timer, when it fires, finds no head due

    def _head_check(self) -> None:
        self._head_timer = None
        due = self._head_due
        if due is None:
            return
        if self.loop.time() < due:  # the deadline moved on since the timer was set
            self._head_timer = self.loop.call_at(due, self._head_check)
            return
        self._head_due = None
        self._head_overdue()

    def _head_overdue(self) -> None:
        busy = self.cycle is not None and not self.cycle.response_complete
        if busy or self.pipeline or self.transport.is_closing():
            return
        logger.info("closed a connection that sent no request head in %.1f s", self.head_timeout)
        self.transport.close()
