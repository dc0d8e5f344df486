"""`marketbrief serve` against idle and trickling connections, as a real process on loopback.

Before, a connection that never sent a request (or half a request line) was never closed:
1,100 of them under a 1024 file-descriptor limit left the server unreachable and its log
growing by megabytes a second. The server here runs with RLIMIT_NOFILE lowered to 256, so a
few hundred sockets are more than it has descriptors for.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness.probes import free_port

from marketbrief.web.logs import Throttle
from marketbrief.web.serving import FD_RESERVE, connection_budget

BIN = Path(sys.executable).parent
OPEN_FILES = 256
IDLE = 200
TRICKLING = 100
WAIT = 60.0  # generous: every wait below ends on an event long before this


def _lower_open_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, OPEN_FILES))


@pytest.fixture
def server(tmp_path: Path, sqlite_url: str) -> Iterator[tuple[int, Path]]:
    """A served marketbrief with 256 descriptors, a 1 s head deadline and a 1 s keep-alive."""
    port = free_port()
    env = {
        **os.environ,
        "MARKETBRIEF_DATABASE_URL": sqlite_url,
        "MARKETBRIEF_OUTBOX_DIR": str(tmp_path / "outbox"),
        "MARKETBRIEF_SCHEDULER": "off",
        "MARKETBRIEF_HTTP_HEADER_TIMEOUT_SECONDS": "1",
        "MARKETBRIEF_HTTP_KEEP_ALIVE_SECONDS": "1",
        # More than the descriptors allow: serve keeps the limit within its budget.
        "MARKETBRIEF_HTTP_MAX_CONNECTIONS": "5000",
        "MARKETBRIEF_LOG_THROTTLE_SECONDS": "60",
    }
    subprocess.run([BIN / "marketbrief", "migrate"], env=env, check=True, capture_output=True)
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [BIN / "marketbrief", "serve", "--port", str(port), "--no-scheduler"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_lower_open_files,  # only setrlimit, before exec
        )
    try:
        _wait_for_200(port, process, log_path)
        yield port, log_path
    finally:
        process.terminate()
        try:
            process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _get(port: int, path: str = "/healthz") -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


def _wait_for_200(port: int, process: subprocess.Popen[bytes] | None, log: Path) -> float:
    """Until GET /healthz answers 200; returns the seconds it took."""
    began = time.monotonic()
    while True:
        with contextlib.suppress(OSError, http.client.HTTPException):
            if _get(port) == 200:
                return time.monotonic() - began
        if process is not None and process.poll() is not None:
            raise AssertionError(f"serve exited:\n{log.read_text()}")
        assert time.monotonic() - began < WAIT, log.read_text()[-3000:]
        time.sleep(0.05)


def _closed_by_server(sock: socket.socket) -> bytes:
    """Read until the server closes the connection: what it sent first (b"" if nothing)."""
    sock.settimeout(WAIT)
    first = b""
    try:
        while chunk := sock.recv(4096):
            first = first or chunk
    except ConnectionResetError:
        pass  # refused with unread request bytes in its buffer: closed all the same
    return first


def test_idle_and_trickling_connections_are_closed_and_the_server_stays_reachable(
    server: tuple[int, Path],
) -> None:
    port, log = server
    sockets = []
    try:
        for n in range(IDLE + TRICKLING):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            if n % 3 == 0:
                sock.sendall(b"GET /hea")  # half a request line, then silence
            sockets.append(sock)
        # Meanwhile a normal client gets through: at once, or once the deadline has freed room.
        _wait_for_200(port, None, log)
        answers = [_closed_by_server(sock) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
    # Every socket was closed by the server: refused with a 503 past the limit, or closed
    # silently when its request head did not arrive in time.
    assert len(answers) == IDLE + TRICKLING
    assert {answer[:12] for answer in answers} <= {b"", b"HTTP/1.1 503"}
    assert _get(port) == 200
    assert _get(port, "/api/v1/jobs/history?limit=5") == 200
    text = log.read_text()
    lines = text.splitlines()
    # A few lines, not one per connection: each message at most once per throttle interval.
    assert len(lines) < 40, text
    assert sum("closed a connection" in line for line in lines) <= 1, text
    assert sum("refused a connection" in line for line in lines) <= 1, text
    assert len(text.encode()) < 8 * 1024


def test_a_request_head_trickled_byte_by_byte_is_cut_off_by_the_deadline(
    server: tuple[int, Path],
) -> None:
    # Slowloris: every byte arrives in time for an idle timer, the head never completes.
    port, _log = server
    head = b"GET /healthz HTTP/1.1\r\nHost: test\r\n" + b"X-Padding: " + b"a" * 10_000
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        began = time.monotonic()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            while sent < len(head):
                sock.sendall(head[sent : sent + 1])
                sent += 1
                assert time.monotonic() - began < WAIT, "the server never cut the head off"
                time.sleep(0.1)
        answer = _closed_by_server(sock)
    assert sent < len(head)
    assert answer == b""


def test_a_keep_alive_connection_that_goes_quiet_is_closed(server: tuple[int, Path]) -> None:
    port, _log = server
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        answer = _closed_by_server(sock)
    assert answer.startswith(b"HTTP/1.1 200")


def test_the_connection_limit_leaves_descriptors_for_the_rest_of_the_server() -> None:
    assert connection_budget(5000, OPEN_FILES) == OPEN_FILES - FD_RESERVE
    assert connection_budget(100, OPEN_FILES) == 100
    assert connection_budget(100, 10) == 1


def test_a_repeated_message_passes_once_per_interval_with_a_count() -> None:
    now = [0.0]
    throttle = Throttle(interval=10.0, clock=lambda: now[0])

    def record(msg: str) -> logging.LogRecord:
        return logging.LogRecord("uvicorn.error", logging.WARNING, __file__, 1, msg, None, None)

    passed = []
    for second in range(25):
        now[0] = float(second)
        for _ in range(3):
            item = record("refused a connection")
            if throttle.filter(item):
                passed.append(item.getMessage())
    other = record("something else")
    assert throttle.filter(other)
    assert passed == [
        "refused a connection",
        "refused a connection (and 29 more like it in the last 10 s)",
        "refused a connection (and 29 more like it in the last 10 s)",
    ]
