"""Servers under test: uvicorn subprocesses pinned to the server core, started and stopped by id.

Every server runs the same uvicorn the same way `marketbrief serve` does (one process, default
loop and HTTP implementation, log level info with the access log on), only the application
differs: the bare ASGI ceiling, the FastAPI baseline, or marketbrief itself.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import SERVER_CORE

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
STARTUP_SECONDS = 60.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pinned(core: int, command: list[str]) -> list[str]:
    """`command` run on one CPU core (taskset), or as is where taskset is missing."""
    taskset = shutil.which("taskset")
    return [taskset, "-c", str(core), *command] if taskset else command


@dataclass
class Server:
    """One server subprocess; `url` is where it answers, `log` where it writes."""

    name: str
    command: list[str]
    env: dict[str, str]
    port: int
    log: Path
    health_path: str = "/healthz"
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """The server's process id (the python process: taskset execs into it)."""
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        """Launch the process (pinned to the server core); `wait_ready` waits for it."""
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                pinned(SERVER_CORE, self.command),
                env=self.env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = STARTUP_SECONDS) -> None:
        """Wait until the health path answers 200; raise with the log's tail otherwise."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}:\n{self.tail()}"
                )
            try:
                with urllib.request.urlopen(self.url + self.health_path, timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer in {timeout:.0f} s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        """The last lines of the server's log."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM this server's own process group, then SIGKILL it if it lingers."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=timeout)
        except ProcessLookupError:
            pass


def _base_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARKETBRIEF_")}
    env.update(extra)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _uvicorn(target: str, port: int) -> list[str]:
    """The uvicorn command line equivalent to what `marketbrief serve` runs."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        target,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "info",
        "--timeout-graceful-shutdown",
        "30",
    ]


def ceiling(body_file: Path, logs: Path) -> Server:
    """The bare ASGI application returning one pre-serialized body."""
    port = free_port()
    return Server(
        "ceiling",
        _uvicorn("benchmarks.ceiling:create_app", port),
        _base_env({"BENCH_BODY_FILE": str(body_file)}),
        port,
        logs / "ceiling.log",
        health_path="/healthz",
    )


def baseline(database_url: str, logs: Path) -> Server:
    """The FastAPI endpoint written the common way over the same store."""
    port = free_port()
    return Server(
        "baseline",
        _uvicorn("benchmarks.baseline:create_app", port),
        _base_env({"BENCH_DATABASE_URL": database_url}),
        port,
        logs / "baseline.log",
    )


def marketbrief(
    name: str,
    logs: Path,
    *,
    database_url: str,
    cache_url: str | None = None,
    cache_prefix: str | None = None,
    cache: bool = True,
) -> Server:
    """`marketbrief serve --no-scheduler` with its settings in MARKETBRIEF_* variables."""
    port = free_port()
    env = {
        "MARKETBRIEF_DATABASE_URL": database_url,
        "MARKETBRIEF_OUTBOX_DIR": str(logs / f"outbox-{name}"),
        "MARKETBRIEF_CACHE": "on" if cache else "off",
        "MARKETBRIEF_SCHEDULER": "off",
    }
    if cache_url:
        env["MARKETBRIEF_CACHE_URL"] = cache_url
    if cache_prefix:
        env["MARKETBRIEF_CACHE_PREFIX"] = cache_prefix
    command = [str(BIN / "marketbrief"), "serve", "--no-scheduler", "--port", str(port)]
    return Server(name, command, _base_env(env), port, logs / f"{name}.log")


def fetch(url: str, timeout: float = 30.0) -> tuple[int, bytes]:
    """GET a URL once: (status, body); error statuses are returned, not raised."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
