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
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

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


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """httptools HTTP/1.1 with a deadline on each request's head and a connection limit."""

    def __init__(
        self, *args: Any, head_timeout: float, max_connections: int, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.head_timeout = head_timeout
        self.max_connections = max_connections
        self._head_deadline: asyncio.TimerHandle | None = None

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
        """A whole head arrived in time: the request is the application's from here."""
        self._cancel_head_deadline()
        super().on_headers_complete()

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
