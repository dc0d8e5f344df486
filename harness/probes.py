"""Readiness events a server is awaited on: a free port to give it, its port answering HTTP."""

from __future__ import annotations

import http.client
import socket

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def answers_200(port: int, path: str, timeout: float = 2.0) -> bool:
    """Whether GET `path` on 127.0.0.1:`port` answers 200 now (no answer at all: False)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request("GET", path)
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()
