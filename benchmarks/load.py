"""The closed-loop load generator, pinned to the load core: `wrk`.

`wrk` measures the most requests per second a server gives over keep-alive connections. The
fixed-rate open loop is benchmarks/openloop.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from benchmarks import LOAD_CORE
from benchmarks.servers import pinned

WRK_CONNECTIONS = 32
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


# -- statistics ---------------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of already sorted values, by nearest rank."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


# -- wrk ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WrkResult:
    """What one wrk run reported."""

    requests_per_second: float
    requests: int
    seconds: float
    latency_ms: dict[str, float]
    non_2xx: int
    socket_errors: int
    transfer_per_second: str

    @property
    def ok(self) -> bool:
        """True when every response was 2xx/3xx and no socket failed."""
        return self.non_2xx == 0 and self.socket_errors == 0 and self.requests > 0


def ensure_wrk() -> str:
    """The path of wrk, installed from Debian (apt-get) when it is missing and we are root."""
    found = shutil.which("wrk")
    if found:
        return found
    import os

    if os.geteuid() != 0:
        raise RuntimeError("wrk is not installed: run `apt-get install -y wrk`")
    install = ["apt-get", "install", "-y", "-q", "wrk"]
    if subprocess.run(install, check=False, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], check=True, capture_output=True)
        subprocess.run(install, check=True, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("apt-get installed wrk but it is not on PATH")
    return found


def _millis(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text.strip())
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match[1]) * _UNITS[match[2]]


def parse_wrk(output: str) -> WrkResult:
    """Read wrk's text report (run with --latency)."""
    rps = re.search(r"Requests/sec:\s+([0-9.]+)", output)
    total = re.search(r"(\d+) requests in ([0-9.]+)(us|ms|s|m)", output)
    if rps is None or total is None:
        raise ValueError(f"unreadable wrk output:\n{output}")
    latency = {
        f"p{m[1]}": _millis(m[2])
        for m in re.finditer(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", output, re.MULTILINE)
    }
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    transfer = re.search(r"Transfer/sec:\s+(\S+)", output)
    return WrkResult(
        requests_per_second=float(rps[1]),
        requests=int(total[1]),
        seconds=_millis(total[2] + total[3]) / 1000,
        latency_ms=latency,
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=sum(int(x) for x in sockets.groups()) if sockets else 0,
        transfer_per_second=transfer[1] if transfer else "",
    )


def rotation_script(paths: list[str], script: Path) -> Path:
    """A wrk Lua script asking for `paths` in turn, one per request (one wrk thread)."""
    if not paths or any('"' in p or "\\" in p for p in paths):
        raise ValueError("paths must be plain, non-empty and free of quotes and backslashes")
    listed = ",\n  ".join(f'"{p}"' for p in paths)
    script.write_text(
        f"local paths = {{\n  {listed}\n}}\n"
        "local n = #paths\n"
        "local i = 0\n"
        "request = function()\n"
        "  i = (i % n) + 1\n"
        '  return wrk.format("GET", paths[i])\n'
        "end\n"
    )
    return script


def run_wrk(
    url: str,
    seconds: float,
    connections: int = WRK_CONNECTIONS,
    *,
    script: Path | None = None,
) -> WrkResult:
    """One closed-loop wrk run against `url` (paths from `script` if given), on the load core."""
    command = [
        ensure_wrk(),
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "--latency",
        *(["--script", str(script)] if script is not None else []),
        url,
    ]
    done = subprocess.run(
        pinned(LOAD_CORE, command),
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse_wrk(done.stdout)
