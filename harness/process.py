"""One server subprocess in its own process group: started, awaited on an event, stopped by id."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

from harness import ROOT
from harness.probes import answers_200

STARTUP_SECONDS = 60.0
POLL_SECONDS = 0.05
GRACE_SECONDS = 15.0
KILL_WAIT_SECONDS = 30.0


class ServerProcess:
    """`command` as its own process group, its output appended to `log` (or discarded).

    It is started with start_new_session, so it leads a process group of its own, and is only
    ever signalled through that group (os.killpg on its own pid): nothing is stopped by name.
    Readiness is an event, a probe that holds (the port answering, or a line in the log:
    `wait_until(lambda: server.log_count(line) > 0)`), polled until a deadline, never a fixed
    sleep; the process exiting first fails at once with the end of its log. `stop` is SIGTERM,
    then SIGKILL once `grace` seconds have passed.
    """

    def __init__(
        self,
        name: str,
        command: list[str],
        *,
        env: Mapping[str, str] | None = None,
        log: Path | None = None,
        grace: float = GRACE_SECONDS,
    ) -> None:
        self.name = name
        self.command = command
        self.env = dict(env) if env is not None else None
        self.log = log
        self.grace = grace
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def pid(self) -> int:
        """The process id of the group leader (taskset execs into the command it runs)."""
        assert self.process is not None
        return self.process.pid

    @property
    def running(self) -> bool:
        """Started and not exited yet."""
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Launch (again, after it stopped); `wait_until` or `wait_ready` waits for it."""
        assert not self.running, f"{self.name} is already running"
        self.starts += 1
        if self.log is None:
            self.process = self._spawn(None)
            return
        with self.log.open("ab") as out:
            out.write(f"\n==== start {self.starts}: {' '.join(self.command)}\n".encode())
            out.flush()
            self.process = self._spawn(out)

    def _spawn(self, out: IO[bytes] | None) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self.command,
            env=self.env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL if out is None else out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def wait_until(
        self,
        ready: Callable[[], bool],
        *,
        timeout: float = STARTUP_SECONDS,
        poll: float = POLL_SECONDS,
    ) -> None:
        """Until `ready()` holds; raise with the log's tail if the process exits or time is up."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited ({self.process.returncode}):\n{self.tail()}"
                )
            if ready():
                return
            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"{self.name} did not answer within {timeout:.0f} s:\n{self.tail()}"
                )
            time.sleep(poll)

    def stop(self) -> None:
        """SIGTERM the process group (a graceful shutdown), SIGKILL it after `grace` seconds."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        self._signal(signal.SIGTERM)
        try:
            process.wait(timeout=self.grace)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the process group (no shutdown hook runs) and reap the leader."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        self._signal(signal.SIGKILL)
        process.wait(timeout=KILL_WAIT_SECONDS)

    def _signal(self, signum: int) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

    def tail(self, lines: int = 40) -> str:
        """The end of the log ("" when there is none)."""
        try:
            return "\n".join(self._lines()[-lines:])
        except OSError:
            return ""

    def log_count(self, needle: str) -> int:
        """How many lines of the log contain `needle`."""
        try:
            return sum(needle in line for line in self._lines())
        except OSError:
            return 0

    def _lines(self) -> list[str]:
        if self.log is None:
            return []
        return self.log.read_text(errors="replace").splitlines()


class HttpServer(ServerProcess):
    """A server on 127.0.0.1:`port`, ready once GET `health_path` answers 200."""

    def __init__(
        self,
        name: str,
        command: list[str],
        *,
        port: int,
        env: Mapping[str, str] | None = None,
        log: Path | None = None,
        health_path: str = "/healthz",
        grace: float = GRACE_SECONDS,
    ) -> None:
        super().__init__(name, command, env=env, log=log, grace=grace)
        self.port = port
        self.health_path = health_path

    @property
    def url(self) -> str:
        """Where it answers."""
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = STARTUP_SECONDS) -> None:
        """Until the health path answers 200 (for marketbrief: every service is open)."""
        self.wait_until(lambda: answers_200(self.port, self.health_path), timeout=timeout)
