"""Pure ASGI middleware (no per-request task switching): security headers and request timing."""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
SECURITY_HEADER_LIST: tuple[tuple[bytes, bytes], ...] = tuple(_HEADERS)
"""The same headers for a response the fast path (web/fastpath.py) sends itself."""
SECURITY_HEADERS: dict[str, str] = {name.decode(): value.decode() for name, value in _HEADERS}
"""The same headers for a response built outside this middleware (Starlette answers an
unhandled exception from its outermost layer, which no user middleware wraps)."""


class Edge:
    """The one layer around every request: adds the Content-Security-Policy and friends to
    every response, and reports the request's route template, status and duration to
    `observe`. One layer (one wrapped `send`) instead of two, on every request."""

    def __init__(self, app: ASGIApp, observe: Callable[[str, str, int, float], None]) -> None:
        self.app = app
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def edge_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        try:
            await self.app(scope, receive, edge_send)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.observe(scope["method"], path, status, time.perf_counter() - started)
