"""The noise of a shared machine: CPU cores everything else used while one measurement ran."""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path


class Meter:
    """How many CPU cores everything else used while one measurement ran.

    Busy time of the whole machine (/proc/stat, steal included) minus the server's own CPU time
    (/proc/PID/stat) minus the CPU time of the children waited for meanwhile (the load
    generator), divided by the wall time.
    """

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.other_cores = float("nan")
        self._start: tuple[float, float, float, float] | None = None

    @staticmethod
    def _busy_seconds() -> float:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
        return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")

    def _server_seconds(self) -> float:
        text = Path(f"/proc/{self.server_pid}/stat").read_text()
        fields = text.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _children_seconds() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    def __enter__(self) -> Meter:
        try:
            self._start = (
                time.perf_counter(),
                self._busy_seconds(),
                self._server_seconds(),
                self._children_seconds(),
            )
        except (OSError, ValueError, IndexError):
            self._start = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._start is None or exc[0] is not None:
            return
        try:
            wall = time.perf_counter() - self._start[0]
            busy = self._busy_seconds() - self._start[1]
            server = self._server_seconds() - self._start[2]
            children = self._children_seconds() - self._start[3]
        except (OSError, ValueError, IndexError):
            return
        self.other_cores = max(0.0, (busy - server - children) / wall) if wall > 0 else 0.0
