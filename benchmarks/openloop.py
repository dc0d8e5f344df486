"""The fixed-rate open loop: a load generator that offers a constant rate, pinned to the load core.

wrk2 is not packaged by Debian, so this is one asyncio process (on uvloop when installed) with
raw streams over keep-alive connections. Requests are scheduled on a fixed timetable and every
latency is measured from the request's *scheduled* send time, so a server that stalls is
charged for every request that had to wait (no coordinated omission). The generator reports
its own lateness too: `dispatch_lag_ms`, how late it put each request on the timetable (its own
CPU falling behind), and `send_lag_ms`, how late each request went out (that, plus waiting for
a free connection when the server is slow).

Run it as its own pinned process:
`taskset -c 1 python -m benchmarks.openloop URL --rate 1000 --seconds 12`; it prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections import Counter, deque
from collections.abc import Coroutine
from dataclasses import asdict, dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

from harness import ROOT

from benchmarks import LOAD_CORE
from benchmarks.load import percentile
from benchmarks.servers import pinned

# The generator kept its timetable when its dispatch lag's p99 stayed under the larger of these:
# a fixed bound (timer and scheduling jitter on a shared machine) and ten request intervals.
GENERATOR_LAG_MS = 2.0
GENERATOR_LAG_INTERVALS = 10
# It reached the rate it offered when this share of the requests was answered within the window.
KEPT_RATE = 0.95
# Answers still missing this long after the last scheduled send count as never answered.
DRAIN_SECONDS = 3.0


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
    dispatch_lag_ms: dict[str, float] = field(default_factory=dict)
    bytes_per_response: int = 0

    @property
    def ok(self) -> bool:
        """True when every measured request completed with 200."""
        return not self.errors and self.completed == self.scheduled > 0

    @property
    def generator_kept_up(self) -> bool:
        """Whether the generator itself kept its timetable (whatever the server did)."""
        bound = max(GENERATOR_LAG_MS, GENERATOR_LAG_INTERVALS * 1e3 / self.rate)
        return self.dispatch_lag_ms.get("p99", float("inf")) <= bound

    @property
    def reached_rate(self) -> bool:
        """Whether the answers came at (nearly) the offered rate."""
        return self.achieved_rate >= KEPT_RATE * self.rate

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def _quantiles(values: list[float], qs: tuple[float, ...]) -> dict[str, float]:
    values.sort()
    out = {f"p{q:g}": percentile(values, q) * 1e3 for q in qs}
    return out | {"max": values[-1] * 1e3 if values else float("nan")}


def _response_end(buffer: bytearray) -> tuple[int, int, int] | None:
    """(status, body bytes, bytes used) of the first whole HTTP/1.1 response in `buffer`."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buffer[:end])
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
    start = end + 4
    if not chunked:
        if length is None:
            raise ValueError("response without Content-Length")
        return (status, length, start + length) if len(buffer) >= start + length else None
    size, at = 0, start
    while True:
        line_end = buffer.find(b"\r\n", at)
        if line_end < 0:
            return None
        chunk = int(bytes(buffer[at:line_end]).split(b";")[0], 16)
        at = line_end + 2 + chunk + 2
        if at > len(buffer):
            return None
        size += chunk
        if chunk == 0:
            return status, size, at


class _Run:
    """One fixed-rate run: the timetable's requests handed to idle connections as they come due.

    No task per request: the dispatcher writes to an idle connection, or queues the request
    until a connection's answer frees it (a slow server makes requests wait, and that wait is
    in their latency).
    """

    def __init__(self, request: bytes, warm_count: int, total: int) -> None:
        self.request = request
        self.warm_count = warm_count
        self.total = total
        self.idle: deque[_Client] = deque()
        self.waiting: deque[tuple[int, float]] = deque()
        self.latencies: list[float] = []
        self.send_lags: list[float] = []
        self.sizes: list[int] = []
        self.errors: Counter[str] = Counter()
        self.failed = 0  # measured requests that ended without an answer (a connection lost)
        self.finished = 0
        self.last_done = 0.0
        self.all_done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def offer(self, index: int, due: float) -> None:
        if self.idle:
            # The connection idle longest goes next: all are used in turn, so none sits idle
            # past the server's keep-alive timeout and is closed under a request.
            self.idle.popleft().send(index, due)
        else:
            self.waiting.append((index, due))

    def free(self, client: _Client) -> None:
        if self.waiting:
            client.send(*self.waiting.popleft())
        else:
            self.idle.append(client)

    def answered(self, index: int, due: float, sent: float, status: int, size: int) -> None:
        done = time.perf_counter()
        if index >= self.warm_count:
            if status != 200:
                self.errors[f"status {status}"] += 1
            self.latencies.append(done - due)
            self.send_lags.append(sent - due)
            self.sizes.append(size)
            self.last_done = max(self.last_done, done)
        self._count()

    def lost(self, index: int, error: str) -> None:
        if index >= self.warm_count:
            self.errors[error] += 1
            self.failed += 1
        self._count()

    def _count(self) -> None:
        self.finished += 1
        if self.finished == self.total and not self.all_done.done():
            self.all_done.set_result(None)


class _Client(asyncio.Protocol):
    """One keep-alive connection: one request in flight at a time."""

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.current: tuple[int, float, float] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = cast(asyncio.Transport, transport)

    def send(self, index: int, due: float) -> None:
        if self.transport is None or self.transport.is_closing():
            self.run.lost(index, "connection closed")  # and this client stays out of the pool
            return
        self.current = (index, due, time.perf_counter())
        self.transport.write(self.run.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        try:
            found = _response_end(self.buffer)
        except ValueError:
            self._fail("ValueError")
            return
        if found is None or self.current is None:
            return
        status, size, used = found
        del self.buffer[:used]
        index, due, sent = self.current
        self.current = None
        self.run.answered(index, due, sent, status, size)
        self.run.free(self)

    def _fail(self, error: str) -> None:
        if self.current is not None:
            self.run.lost(self.current[0], error)
            self.current = None
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(type(exc).__name__ if exc else "connection closed")


async def fixed_rate(
    url: str,
    rate: float,
    seconds: float,
    *,
    connections: int = 64,
    warmup: float = 1.0,
    drain: float = DRAIN_SECONDS,
) -> FixedRateResult:
    """Offer `rate` GET requests per second to `url` for `seconds` (after `warmup`).

    Answers still missing `drain` seconds after the last scheduled send count as unanswered,
    with an infinite latency: a server that fell behind is charged for them, and a hopeless
    backlog does not hold the run up.
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: marketbrief-bench\r\n"
        "Accept: application/json\r\n\r\n"
    ).encode()
    loop = asyncio.get_running_loop()
    # perf_counter, not loop.time(): uvloop's clock ticks in whole milliseconds.
    clock = time.perf_counter
    interval = 1.0 / rate
    warm_count = int(warmup * rate)
    total = warm_count + int(seconds * rate)
    run = _Run(request, warm_count, total)
    clients = [
        (await loop.create_connection(lambda: _Client(run), host, port))[1]
        for _ in range(connections)
    ]
    run.idle.extend(clients)
    dispatch_lags: list[float] = []
    start = clock() + 0.05
    for index in range(total):
        due = start + index * interval
        delay = due - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        if index >= warm_count:
            dispatch_lags.append(clock() - due)
        run.offer(index, due)
    await asyncio.wait([run.all_done], timeout=drain)
    for client in clients:
        if client.transport is not None:
            client.transport.close()
    measured = total - warm_count
    answered = len(run.latencies)
    unanswered = measured - answered - run.failed
    latencies = run.latencies
    if unanswered > 0:
        run.errors["unanswered"] = unanswered
        latencies.extend([float("inf")] * unanswered)
    # From the first measured request's scheduled time to the last answer: the rate the server
    # really sustained (below the offered rate when a backlog had to drain after the window).
    measured_window = run.last_done - (start + warm_count * interval)
    return FixedRateResult(
        rate=rate,
        seconds=seconds,
        scheduled=measured,
        completed=answered,
        errors=dict(run.errors),
        achieved_rate=answered / measured_window if measured_window > 0 else 0.0,
        latency_ms=_quantiles(latencies, (50, 90, 95, 99, 99.9)),
        send_lag_ms=_quantiles(run.send_lags, (50, 99)),
        dispatch_lag_ms=_quantiles(dispatch_lags, (50, 99)),
        bytes_per_response=round(sum(run.sizes) / len(run.sizes)) if run.sizes else 0,
    )


def run_fixed_rate(
    url: str, rate: float, seconds: float, *, connections: int = 64, warmup: float = 1.0
) -> FixedRateResult:
    """`fixed_rate` in its own process pinned to the load core."""
    command = [
        *(sys.executable, "-m", "benchmarks.openloop", url),
        *("--rate", str(rate), "--seconds", str(seconds)),
        *("--connections", str(connections), "--warmup", str(warmup)),
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
    return FixedRateResult(**json.loads(done.stdout))


def _run(main: Coroutine[Any, Any, FixedRateResult]) -> FixedRateResult:
    """Run on uvloop when it is installed (a cheaper loop keeps the timetable at higher rates)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def main(argv: list[str] | None = None) -> None:
    """CLI of the fixed-rate generator: prints one JSON object."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.openloop")
    parser.add_argument("url")
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--warmup", type=float, default=1.0)
    args = parser.parse_args(argv)
    began = time.perf_counter()
    result = _run(
        fixed_rate(
            args.url, args.rate, args.seconds, connections=args.connections, warmup=args.warmup
        )
    )
    print(json.dumps(result.as_dict()))
    print(f"fixed-rate run took {time.perf_counter() - began:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
