"""Load generators, pinned to the load core: `wrk` (closed loop) and a fixed-rate open loop.

`wrk` measures the most requests per second a server gives over keep-alive connections.
`fixed_rate` offers a constant rate instead (wrk2 is not packaged by Debian): one asyncio
process, raw streams over keep-alive connections, requests scheduled on a fixed timetable and
every latency measured from the request's *scheduled* send time, so a server that stalls is
charged for every request that had to wait (no coordinated omission).

Run the fixed-rate generator as its own pinned process:
`taskset -c 1 python -m benchmarks.load URL --rate 1000 --seconds 12`; it prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness import ROOT

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


# -- the fixed-rate open loop ---------------------------------------------------------------


@dataclass(slots=True)
class FixedRateResult:
    """Latencies of a fixed offered rate, measured from each request's scheduled send time."""

    rate: float
    seconds: float
    scheduled: int = 0
    completed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    achieved_rate: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)
    send_lag_ms: dict[str, float] = field(default_factory=dict)
    bytes_per_response: int = 0

    @property
    def ok(self) -> bool:
        """True when every measured request completed with 200."""
        return not self.errors and self.completed == self.scheduled > 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, int]:
    """Read one HTTP/1.1 response: (status, body bytes)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length: int | None = None
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        lowered = name.strip().lower()
        if lowered == b"content-length":
            length = int(value)
        elif lowered == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        size = 0
        while True:
            chunk_size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(chunk_size + 2)
            size += chunk_size
            if chunk_size == 0:
                return status, size
    if length is None:
        raise ValueError("response without Content-Length")
    await reader.readexactly(length)
    return status, length


async def fixed_rate(
    url: str,
    rate: float,
    seconds: float,
    *,
    connections: int = 64,
    warmup: float = 1.0,
    timeout: float = 10.0,
) -> FixedRateResult:
    """Offer `rate` GET requests per second to `url` for `seconds` (after `warmup`)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: marketbrief-bench\r\n"
        "Accept: application/json\r\n\r\n"
    ).encode()
    loop = asyncio.get_running_loop()
    interval = 1.0 / rate
    warm_count = int(warmup * rate)
    total = warm_count + int(seconds * rate)
    queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
    latencies: list[float] = []
    lags: list[float] = []
    last_done = [0.0]
    errors: Counter[str] = Counter()
    sizes: list[int] = []

    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(host, port)

    async def worker(
        stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None,
    ) -> None:
        while True:
            item = await queue.get()
            if item is None:
                break
            index, due = item
            measured = index >= warm_count
            try:
                if stream is None:
                    stream = await connect()
                reader, writer = stream
                sent = loop.time()
                writer.write(request)
                status, size = await asyncio.wait_for(_read_response(reader), timeout)
                done = loop.time()
                if not measured:
                    continue
                if status != 200:
                    errors[f"status {status}"] += 1
                latencies.append(done - due)
                lags.append(sent - due)
                last_done[0] = max(last_done[0], done)
                sizes.append(size)
            except (OSError, ValueError, asyncio.IncompleteReadError, TimeoutError) as error:
                if measured:
                    errors[type(error).__name__] += 1
                if stream is not None:
                    stream[1].close()
                stream = None
        if stream is not None:
            stream[1].close()
            with contextlib.suppress(OSError):
                await stream[1].wait_closed()

    streams = await asyncio.gather(*(connect() for _ in range(connections)))
    workers = [asyncio.create_task(worker(s)) for s in streams]
    start = loop.time() + 0.05
    for index in range(total):
        due = start + index * interval
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((index, due))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    latencies.sort()
    lags.sort()
    measured = total - warm_count
    # From the first measured request's scheduled time to the last answer: the rate the server
    # really sustained (below the offered rate when a backlog had to drain after the window).
    measured_window = last_done[0] - (start + warm_count * interval)
    return FixedRateResult(
        rate=rate,
        seconds=seconds,
        scheduled=measured,
        completed=len(latencies),
        errors=dict(errors),
        achieved_rate=len(latencies) / measured_window if measured_window > 0 else 0.0,
        latency_ms={f"p{q:g}": percentile(latencies, q) * 1e3 for q in (50, 90, 95, 99, 99.9)}
        | {"max": latencies[-1] * 1e3 if latencies else float("nan")},
        send_lag_ms={f"p{q:g}": percentile(lags, q) * 1e3 for q in (50, 99)},
        bytes_per_response=round(sum(sizes) / len(sizes)) if sizes else 0,
    )


def run_fixed_rate(
    url: str, rate: float, seconds: float, *, connections: int = 64, warmup: float = 1.0
) -> FixedRateResult:
    """`fixed_rate` in its own process pinned to the load core."""
    command = [
        sys.executable,
        "-m",
        "benchmarks.load",
        url,
        "--rate",
        str(rate),
        "--seconds",
        str(seconds),
        "--connections",
        str(connections),
        "--warmup",
        str(warmup),
    ]
    done = subprocess.run(
        pinned(LOAD_CORE, command),
        capture_output=True,
        text=True,
        timeout=seconds + warmup + 120,
        check=False,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"fixed-rate generator failed: {done.stderr[-2000:]}")
    raw = json.loads(done.stdout)
    return FixedRateResult(**raw)


def main(argv: list[str] | None = None) -> None:
    """CLI of the fixed-rate generator: prints one JSON object."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load")
    parser.add_argument("url")
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--warmup", type=float, default=1.0)
    args = parser.parse_args(argv)
    began = time.perf_counter()
    result = asyncio.run(
        fixed_rate(
            args.url,
            args.rate,
            args.seconds,
            connections=args.connections,
            warmup=args.warmup,
        )
    )
    print(json.dumps(result.as_dict()))
    print(f"fixed-rate run took {time.perf_counter() - began:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
