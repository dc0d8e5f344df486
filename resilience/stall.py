"""Scenarios 4 and 5: the store, then the cache, stalls (accepts, answers nothing) under reads.

Scaled mode: our own PostgreSQL database reached through tests/support/faults_proxy.TcpProxy,
and our own redis-server. In the store scenario the proxy is blackholed (every TCP connection
accepted and kept open, nothing forwarded either way); in the cache scenario the redis-server
is stopped with SIGSTOP (its port still accepts, nothing answers). While the fault lasts,
`reads` reads each of the dashboard `/`, a cached report and the run history are made by a few
concurrent clients, each request's latency and status recorded. Then the fault ends, and the
server must serve normally again. The target: p99 <= 2 s on every path, and no 5xx but the
documented 503s.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from resilience.backends import PgDatabase, RedisServer, own_database, proxy_to_postgres
from resilience.inputs import past_sessions, write_inputs
from resilience.scenario import ScenarioResult, cleanup
from resilience.server import API_KEY, Server, marketbrief_env

TARGET_P99_SECONDS = 2.0
CLIENTS = 4
CLIENT_TIMEOUT = 60.0  # far past any answer we accept: a hang is measured, not cut short
RECOVERY_LIMIT = 60.0
AFTER_READS = 20
DOCUMENTED_CODES = ("store_unavailable", "report_unavailable")


@dataclass
class Tally:
    """Latencies and answers of one path in one phase."""

    seconds: list[float] = field(default_factory=list)
    answers: Counter[str] = field(default_factory=Counter)

    def quantile(self, q: float) -> float:
        """The q-quantile (nearest rank) of the latencies."""
        ordered = sorted(self.seconds)
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else math.nan


def _answer(response: httpx.Response) -> str:
    """What one response was: `200 <source>`, `503 documented`, or the status."""
    status = response.status_code
    if status == 503:
        try:
            body = response.json()
        except ValueError:
            body = {}
        code = (body.get("error") or {}).get("code") if isinstance(body, dict) else None
        if code is None and "text/html" in response.headers.get("content-type", ""):
            code = "store_unavailable"  # a page's 503 is a page (same table, same code)
        documented = code in DOCUMENTED_CODES and response.headers.get("retry-after")
        return "503 documented" if documented else "503 UNDOCUMENTED"
    if status == 200 and response.headers.get("content-type", "").startswith("application/json"):
        meta = response.json().get("meta") if response.content.startswith(b'{"data"') else None
        if isinstance(meta, dict):
            warned = " (store_unavailable)" if "store_unavailable" in meta["warnings"] else ""
            return f"200 from {meta['source']}{warned}"
    return str(status)


async def _read(
    paths: dict[str, str], url: str, reads: int, *, spread: float = 0.0
) -> dict[str, Tally]:
    """`reads` GETs of every path, by CLIENTS concurrent clients, paced to take at least
    `spread` seconds in all; latencies and answers."""
    gap = spread * CLIENTS / (reads * len(paths))
    work: asyncio.Queue[str] = asyncio.Queue()
    for _ in range(reads):
        for label in paths:
            work.put_nowait(label)
    tallies = {label: Tally() for label in paths}

    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=CLIENT_TIMEOUT) as http:
            while not work.empty():
                label = work.get_nowait()
                started = time.monotonic()
                try:
                    answer = _answer(await http.get(paths[label]))
                except httpx.HTTPError as error:
                    answer = f"no answer ({type(error).__name__})"
                tallies[label].seconds.append(time.monotonic() - started)
                tallies[label].answers[answer] += 1
                if gap:
                    await asyncio.sleep(gap)

    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return tallies


async def _seed(server: Server, db: PgDatabase, days: list[str]) -> None:
    async with httpx.AsyncClient(
        base_url=server.url, headers={"X-API-Key": API_KEY}, timeout=30
    ) as client:
        for day in days:
            response = await client.post(
                "/api/v1/jobs/trigger", json={"type": "pre-market", "date": day}
            )
            response.raise_for_status()
    sql = "SELECT count(*) FROM job_executions WHERE status <> 'running'"
    deadline = time.monotonic() + 300
    while int((await asyncio.to_thread(db.query, sql))[0][0]) < len(days):
        if time.monotonic() > deadline:
            raise RuntimeError("seeding did not finish")
        await asyncio.sleep(0.2)


async def _recovered(url: str, *, cache_too: bool) -> float:
    """Seconds until /readyz says the store (and, if asked, the cache) answers again."""
    began = time.monotonic()
    async with httpx.AsyncClient(base_url=url, timeout=CLIENT_TIMEOUT) as client:
        while time.monotonic() - began < RECOVERY_LIMIT:
            ready = await client.get("/readyz")
            body = ready.json()
            if ready.status_code == 200 and (not cache_too or body["cache"].get("ok")):
                return time.monotonic() - began
            await asyncio.sleep(0.1)
    raise RuntimeError(f"not recovered within {RECOVERY_LIMIT:.0f} s")


async def run(work: Path, *, fault: str, reads: int, spread: float) -> ScenarioResult:
    """`fault` is "postgres" (the proxy blackholed) or "redis" (the server SIGSTOPped); the
    reads during it are spread over at least `spread` seconds, so the fault outlasts several
    breaker cool-downs and probes."""
    what = "PostgreSQL blackholed" if fault == "postgres" else "Redis stopped (SIGSTOP)"
    result = ScenarioResult(f"stall-{fault}", f"{what} under {reads} reads of each page")
    sessions = past_sessions(3)
    days = [d.isoformat() for d in sessions]
    news, prices = write_inputs(work / "inputs", sessions)
    own_redis = RedisServer(work / "redis")
    with cleanup() as stack:
        db = own_database(stack)
        proxy = proxy_to_postgres(stack)
        own_redis.start()
        stack.callback(own_redis.stop)
        stack.callback(own_redis.resume)  # runs first: a stopped server cannot stop
        env = marketbrief_env(
            database_url=db.url(proxy.port),
            outbox_dir=work / "outbox",
            news=news,
            prices=prices,
            cache_url=own_redis.url,
        )
        server = Server(f"stall-{fault}-server", env, work)
        stack.callback(server.kill)
        server.start()
        server.wait_ready()
        await _seed(server, db, days)
        paths = {
            "dashboard /": "/",
            "cached report": f"/api/v1/reports/pre-market?date={days[-1]}",
            "history": "/api/v1/jobs/history",
        }
        before = await _read(paths, server.url, AFTER_READS)  # also warms the cache

        if fault == "postgres":
            proxy.blackhole()
        else:
            await asyncio.to_thread(own_redis.pause)
        began = time.monotonic()
        during = await _read(paths, server.url, reads, spread=spread)
        lasted = time.monotonic() - began
        if fault == "postgres":
            proxy.up()
        else:
            await asyncio.to_thread(own_redis.resume)
        recovered_in = await _recovered(server.url, cache_too=fault == "redis")
        after = await _read(paths, server.url, AFTER_READS)
        server.stop()

    rows = []
    for phase, tallies in (("before", before), ("during the fault", during), ("after", after)):
        for label, tally in tallies.items():
            rows.append(
                [
                    phase,
                    label,
                    len(tally.seconds),
                    f"{tally.quantile(0.5) * 1000:.0f}",
                    f"{tally.quantile(0.99) * 1000:.0f}",
                    f"{max(tally.seconds) * 1000:.0f}",
                    dict(sorted(tally.answers.items())),
                ]
            )
    result.tables.append(
        (
            "Latency (ms) and answers per page:",
            ["phase", "page", "reads", "p50", "p99", "max", "answers"],
            rows,
        )
    )
    result.counts.update(
        fault_lasted_seconds=round(lasted, 1),
        seconds_from_fault_end_to_ready=round(recovered_in, 1),
    )
    worst = max(during.items(), key=lambda item: item[1].quantile(0.99))
    result.check(
        f"p99 <= {TARGET_P99_SECONDS:.0f} s on every page while the fault lasts",
        all(t.quantile(0.99) <= TARGET_P99_SECONDS for t in during.values()),
        f"worst: {worst[0]} p99 {worst[1].quantile(0.99) * 1000:.0f} ms",
    )
    every: Counter[str] = Counter()
    for tally in during.values():
        every.update(tally.answers)
    bad = {k: v for k, v in every.items() if not (k.startswith("200") or k == "503 documented")}
    result.check(
        "no answer but 200 or the documented 503 while the fault lasts",
        not bad,
        f"{dict(bad) or 'none'} of {sum(every.values())}",
    )
    pages = during["dashboard /"].answers
    report = during["cached report"].answers
    result.check(
        "the dashboard and the cached report answer 200 throughout",
        set(pages) == {"200"} and all(k.startswith("200") for k in report),
        f"dashboard {dict(pages)}, cached report {dict(report)}",
    )
    settled: Counter[str] = Counter()
    for tally in after.values():
        settled.update(tally.answers)
    served_from_cache = after["cached report"].answers.get("200 from cache", 0)
    result.check(
        "after the fault every page answers 200, the report from the cache, unwarned",
        all(k in ("200", "200 from cache", "200 from store") for k in settled)
        and served_from_cache > 0,
        f"{dict(settled)}; recovered {recovered_in:.1f} s after the fault ended",
    )
    result.notes.append(
        f"Server: `marketbrief serve --port P` with the default timeouts and breakers, on our "
        f"own PostgreSQL database through tests/support/faults_proxy.TcpProxy and our own "
        f"redis-server. {CLIENTS} concurrent clients read each page {reads} times during the "
        f"fault, paced over at least {spread:.0f} s ({AFTER_READS} times before and after, "
        "unpaced). "
        + (
            "The proxy is blackholed: connections are accepted and held open, nothing is "
            "forwarded; pooled connections stall mid-conversation."
            if fault == "postgres"
            else "The redis-server is stopped with SIGSTOP (SIGCONT to end the fault)."
        )
        + " Documented 503s: run history while the store does not answer (`store_unavailable`,"
        " Retry-After). Latency is measured by the client, end to end. The max is the fault's"
        " onset: the requests in flight when it begins wait once for the read deadline"
        " (MARKETBRIEF_STORE_READ_TIMEOUT_SECONDS, 1.5 s) or the cache timeout"
        " (MARKETBRIEF_CACHE_TIMEOUT_SECONDS, 1 s); that timeout opens the breaker, and from"
        " then on the background probes, not the requests, find out when it is back."
    )
    return result
