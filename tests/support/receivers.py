"""Real receivers on loopback for notification channels: a webhook and an SMTP server.

`webhook` is an HTTP server that keeps every JSON body posted to it (Apprise's `json://`);
`smtp` is aiosmtpd on 127.0.0.1 (Apprise's `mailto://`). Tests wait for what arrives with
`wait_for(n)`, which blocks on a condition the receiving thread signals, never on a sleep.
A pytest plugin, registered by tests/conftest.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from marketbrief.config import Alerting

WAIT_SECONDS = 30.0
PUBLIC = "http://marketbrief.test"


@dataclass
class Inbox:
    """What a receiver got, and a condition signalled at each arrival."""

    items: list[Any] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def add(self, item: Any) -> None:
        with self.arrived:
            self.items.append(item)
            self.arrived.notify_all()

    def wait_for(self, count: int, timeout: float = WAIT_SECONDS) -> list[Any]:
        """Block until at least `count` items arrived; AssertionError after `timeout`."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.items) >= count, timeout):
                raise AssertionError(f"{len(self.items)} of {count} messages arrived")
            return list(self.items)

    async def until(self, count: int, timeout: float = WAIT_SECONDS) -> list[Any]:
        """`wait_for` from async code, leaving the event loop free to send."""
        return await asyncio.to_thread(self.wait_for, count, timeout)


@dataclass
class Webhook(Inbox):
    """A loopback HTTP server receiving JSON posts; `fail` answers 500, `hold` blocks."""

    port: int = 0
    fail: bool = False
    hold: threading.Event | None = None
    tries: Inbox = field(default_factory=Inbox)  # every POST, delivered or not
    headers: list[dict[str, str]] = field(default_factory=list)  # of each item, in order
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/hook") -> str:
        """An Apprise channel URL posting here."""
        return f"json://127.0.0.1:{self.port}{path}"

    def titles(self) -> list[str]:
        """The title of each message received, in order."""
        return [str(item["title"]) for item in self.items]

    def reports(self) -> list[str]:
        """`report_type business_date` of each report envelope received, in order."""
        return [f"{i['meta']['report_type']} {i['meta']['business_date']}" for i in self.items]


def _handler(state: Webhook) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with state.lock:
                failing, hold = state.fail, state.hold
            state.tries.add(body)
            if hold is not None:
                hold.wait(WAIT_SECONDS)
            if failing:
                self.send_response(500)
                self.end_headers()
                return
            with state.lock:
                state.headers.append(dict(self.headers.items()))
            state.add(json.loads(body))  # before answering: a sender that saw 200 finds it here
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a sender that gave up (timeouts) leaves a broken pipe behind: expected


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    """A webhook receiver for this test only."""
    state = Webhook()
    server = _Server(("127.0.0.1", 0), _handler(state))
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state
    finally:
        if state.hold is not None:
            state.hold.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class Mailbox(Inbox):
    """An SMTP server on loopback; each item is one parsed message."""

    port: int = 0

    def url(self, to: str = "ops@example.com") -> str:
        """An Apprise channel URL sending mail here, without TLS (it is loopback)."""
        return f"mailto://127.0.0.1:{self.port}?from=alerts@example.com&to={to}&mode=insecure"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.add(email.message_from_bytes(envelope.content))
        return "250 OK"


def alerting(*channels: str, **changes: Any) -> Alerting:
    """Alert settings sending to these channel URLs, with the test dashboard address."""
    return dataclasses.replace(Alerting(notify=channels, public_url=PUBLIC), **changes)


def text_of(message: Message) -> str:
    """The text/plain part of a received mail, decoded."""
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode()
    raise AssertionError("no text/plain part")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def smtp() -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 for this test only."""
    mailbox = Mailbox(port=_free_port())
    controller = Controller(mailbox, hostname="127.0.0.1", port=mailbox.port, ready_timeout=10)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()
