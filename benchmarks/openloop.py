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
import contextlib
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Coroutine
from dataclasses import asdict, dataclass, field
from typing import Any
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


def _quantiles(values: list[float], qs: tuple[float, ...]) -> dict[str, float]:
    values.sort()
    out = {f"p{q:g}": percentile(values, q) * 1e3 for q in qs}
    return out | {"max": values[-1] * 1e3 if values else float("nan")}


async def fixed_rate(
    url: str,
    rate: float,
    seconds: float,
    *,
    connections: int = 64,
    warmup: float = 1.0,
    timeout: float = 10.0,
    drain: float = 3.0,
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
    # perf_counter, not loop.time(): uvloop's clock ticks in whole milliseconds.
    clock = time.perf_counter
    interval = 1.0 / rate
    warm_count = int(warmup * rate)
    total = warm_count + int(seconds * rate)
    queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
    latencies: list[float] = []
    lags: list[float] = []
    dispatch_lags: list[float] = []
    last_done = [0.0]
    failed = [0]  # measured requests that ended in an exception, not an answer
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
                sent = clock()
                writer.write(request)
                async with asyncio.timeout(timeout):  # no task per request, unlike wait_for
                    status, size = await _read_response(reader)
                done = clock()
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
                    failed[0] += 1
                if stream is not None:
                    stream[1].close()
                stream = None
        if stream is not None:
            stream[1].close()
            with contextlib.suppress(OSError):
                await stream[1].wait_closed()

    streams = await asyncio.gather(*(connect() for _ in range(connections)))
    workers = [asyncio.create_task(worker(s)) for s in streams]
    start = clock() + 0.05
    for index in range(total):
        due = start + index * interval
        delay = due - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        if index >= warm_count:
            dispatch_lags.append(clock() - due)
        queue.put_nowait((index, due))
    for _ in workers:
        queue.put_nowait(None)
    _done, late = await asyncio.wait(workers, timeout=drain)
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    measured = total - warm_count
    answered = len(latencies)
    unanswered = measured - answered - failed[0]
    if unanswered > 0:
        errors["unanswered"] = unanswered
        latencies.extend([float("inf")] * unanswered)
    # From the first measured request's scheduled time to the last answer: the rate the server
    # really sustained (below the offered rate when a backlog had to drain after the window).
    measured_window = last_done[0] - (start + warm_count * interval)
    return FixedRateResult(
        rate=rate,
        seconds=seconds,
        scheduled=measured,
        completed=answered,
        errors=dict(errors),
        achieved_rate=answered / measured_window if measured_window > 0 else 0.0,
        latency_ms=_quantiles(latencies, (50, 90, 95, 99, 99.9)),
        send_lag_ms=_quantiles(lags, (50, 99)),
        dispatch_lag_ms=_quantiles(dispatch_lags, (50, 99)),
        bytes_per_response=round(sum(sizes) / len(sizes)) if sizes else 0,
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
