"""A real local D1 for the store tests: miniflare running tests/d1/worker behind the REST shape.

One Worker per test session (started with node on a free port, ready when its /ready route
answers), and each test gets the database emptied (`/admin/reset`). Without node or the
worker's `npm ci`, the tests that need it skip with the reason; with CI set, they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

WORKER = Path(__file__).resolve().parents[1] / "d1" / "worker"
TOKEN = "local-d1-test-token"
READY_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class LocalD1:
    """The running Worker: where its API is, and its admin routes."""

    origin: str

    @property
    def api_url(self) -> str:
        """The MARKETBRIEF_D1_API_URL that reaches it."""
        return f"{self.origin}/client/v4"

    def reset(self) -> None:
        """Drop every table: the next test starts from an empty database."""
        answer = httpx.post(f"{self.origin}/admin/reset", timeout=30.0).json()
        assert answer["dropped"], answer

    def calls(self) -> int:
        """API calls the Worker answered since the last reset (whoever made them)."""
        count: int = httpx.get(f"{self.origin}/admin/calls", timeout=5.0).json()["calls"]
        return count

    def rate_limit(self, calls: int) -> None:
        """Make the next `calls` API calls answer 429, as Cloudflare does past the limit."""
        httpx.post(f"{self.origin}/admin/rate-limit", json={"calls": calls}, timeout=5.0)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}, and CI requires the local D1", pytrace=False)
    pytest.skip(reason)


def _wait_ready(origin: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the local D1 exited with {process.returncode}")
        try:
            if httpx.get(f"{origin}/ready", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        # Each poll is an HTTP round trip that itself waits up to its timeout.
        time.sleep(0.05)
    raise RuntimeError(f"the local D1 at {origin} was not ready within {READY_SECONDS} s")


@pytest.fixture(scope="session")
def local_d1_server() -> Iterator[LocalD1]:
    """The local D1 Worker for the whole session (stopped at the end)."""
    node = shutil.which("node")
    if node is None:
        _unavailable("node is not installed")
    if not (WORKER / "node_modules" / "miniflare").is_dir():
        _unavailable(f"miniflare is not installed: run `npm ci` in {WORKER}")
    process = subprocess.Popen(
        [str(node), "serve.js", "0", TOKEN],
        cwd=WORKER,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until the Worker listens (or node exits)
        if not line.startswith("listening "):
            raise RuntimeError(f"the local D1 did not start: {line!r}")
        origin = line.split()[1]
        _wait_ready(origin, process)
        yield LocalD1(origin)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()


@pytest.fixture
def local_d1(local_d1_server: LocalD1, monkeypatch: pytest.MonkeyPatch) -> LocalD1:
    """The local D1, emptied, with its token and API base in the environment (for children too)."""
    local_d1_server.reset()
    monkeypatch.setenv("MARKETBRIEF_D1_TOKEN", TOKEN)
    monkeypatch.setenv("MARKETBRIEF_D1_API_URL", local_d1_server.api_url)
    return local_d1_server


@pytest.fixture
def d1_url(local_d1: LocalD1) -> str:
    """A d1:// URL for the local D1, emptied for this test."""
    return "d1://local-account/marketbrief-test"
