"""A real HTTP server on 127.0.0.1 with a table of canned answers: the `loopback` fixture.

Remote news, price and LLM providers are pointed at it, so nothing leaves the machine (a pytest
plugin, registered by tests/conftest.py; `Loopback` is what a test gets and annotates with).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.paths import DATA


@dataclass
class Route:
    """What the loopback server answers on one path."""

    body: bytes = b""
    status: int = 200
    delay: float = 0.0
    content_type: str = "application/octet-stream"
    send_length: bool = True


@dataclass
class Seen:
    """One request the loopback server received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class Loopback:
    """A real HTTP server on 127.0.0.1 with a table of canned answers."""

    routes: dict[str, Route] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    port: int = 0

    def url(self, path: str) -> str:
        """The full URL of `path` on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def serve(self, path: str, body: bytes | str, **options: Any) -> str:
        """Answer `path` with `body` (and status, delay...); return its URL."""
        data = body.encode() if isinstance(body, str) else body
        self.routes[path] = Route(data, **options)
        return self.url(path)

    def serve_file(self, path: str, name: str, **options: Any) -> str:
        """Answer `path` with the bytes of tests/data/`name`."""
        return self.serve(path, (DATA / name).read_bytes(), **options)


def _handler(state: Loopback) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def _answer(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            state.seen.append(Seen(self.command, parts.path, parse_qs(parts.query), headers, body))
            route = state.routes.get(parts.path, Route(b"not found", status=404))
            if route.delay:
                state.stopping.wait(route.delay)
            self.send_response(route.status)
            self.send_header("Content-Type", route.content_type)
            if route.send_length:
                self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            self.wfile.write(route.body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (timeout tests) leaves a broken pipe behind: expected


@pytest.fixture
def loopback() -> Iterator[Loopback]:
    """A loopback HTTP server for this test only."""
    state = Loopback()
    server = _Server(("127.0.0.1", 0), _handler(state))
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state
    finally:
        state.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
