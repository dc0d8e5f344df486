"""The near cache, scaled out: its hit ratio under load, and how long a publish takes to reach
every serving process.

Three `marketbrief serve` processes share one PostgreSQL schema and one Redis prefix, with the
shipped defaults (near cache on, revision interval 1 s). This process publishes through the
results door, as a run would, then asks every server for the report until each one serves the
new run: the time from the publish returning to the last server serving it is the staleness of
that publish. Readers keep asking throughout (they are what keeps each near cache warm), and
the hit ratio is read from each server's /metrics: near-cache hits over cache hits.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median

import httpx
from harness.process import HttpServer
from harness.store import migrate

from benchmarks import payloads, servers
from benchmarks.backends import REDIS_HOST, REDIS_PORT, PgSchema, drop_redis_prefix
from marketbrief.config import Settings
from marketbrief.results import Results

PROCESSES = 3
PUBLISHES = 8
DAY = payloads.REPORT_DAY
PATH = f"/api/v1/reports/pre-market?date={DAY.isoformat()}"
GIVE_UP_SECONDS = 30.0


@dataclass
class NearResult:
    """Per publish, the seconds until every process served it; per process, the hit ratio."""

    processes: int
    staleness_s: list[float] = field(default_factory=list)
    hit_ratio: list[float] = field(default_factory=list)
    revision_interval_s: float = 1.0

    @property
    def worst_s(self) -> float:
        """The longest any publish took to reach the last process."""
        return max(self.staleness_s)

    @property
    def median_s(self) -> float:
        """The median over publishes."""
        return median(self.staleness_s)


async def _serves(client: httpx.AsyncClient, url: str, run_id: str) -> bool:
    answer = await client.get(url)
    return answer.status_code == 200 and answer.json()["meta"]["run_id"] == run_id


async def _until_all_serve(urls: list[str], run_id: str, published: float) -> float:
    """Seconds from `published` until every url serves `run_id` (each polled back to back)."""
    loop = asyncio.get_running_loop()
    async with httpx.AsyncClient(timeout=10) as client:

        async def one(url: str) -> float:
            while not await _serves(client, url, run_id):
                if loop.time() - published > GIVE_UP_SECONDS:
                    raise RuntimeError(f"{url} never served {run_id}")
            return loop.time() - published

        return max(await asyncio.gather(*(one(url) for url in urls)))


async def _publish_and_time(
    database_url: str, prefix: str, urls: list[str], outbox: Path
) -> list[float]:
    settings = Settings(
        database_url=database_url,
        cache_url=f"redis://{REDIS_HOST}:{REDIS_PORT}/0",
        cache_prefix=prefix,
        outbox_dir=outbox,
    )
    results = Results.open(settings)
    loop = asyncio.get_running_loop()
    staleness: list[float] = []
    try:
        for n in range(PUBLISHES + 1):
            # Every third completion of the cycle is the pre-market report; versions grow with n.
            completion = payloads.completion(3 * n, payloads.report_payload("pre-market", DAY))
            outcome = await results.publish(completion)
            if not outcome.published:
                raise RuntimeError(f"publish {n} was not published: {outcome}")
            published = loop.time()
            took = await _until_all_serve(urls, completion.run_id, published)
            if n > 0:  # the first publish only warms every near cache
                staleness.append(took)
            await asyncio.sleep(0.3)  # let each process settle on the new version
    finally:
        await results.close()
    return staleness


def measure(logs: Path) -> NearResult:
    """Start PROCESSES servers on a fresh schema and prefix, publish PUBLISHES times, stop."""
    schema = PgSchema.create("near")
    prefix = f"mbbench-near:{uuid.uuid4().hex[:10]}:"
    started: list[HttpServer] = []
    try:
        migrate(schema.url)
        for i in range(PROCESSES):
            server = servers.marketbrief(
                f"near{i}",
                logs,
                database_url=schema.url,
                cache_url=f"redis://{REDIS_HOST}:{REDIS_PORT}/0",
                cache_prefix=prefix,
            )
            server.start()
            started.append(server)
        for server in started:
            server.wait_ready()
        urls = [server.url + PATH for server in started]
        result = NearResult(PROCESSES)
        result.staleness_s = asyncio.run(
            _publish_and_time(schema.url, prefix, urls, logs / "outbox-near-publisher")
        )
        for server in started:
            _, text = servers.fetch(server.url + "/metrics")
            body = text.decode()
            hits = servers.metric(body, "marketbrief_cache_hits")
            near = servers.metric(body, "marketbrief_near_cache_hits")
            if hits:
                result.hit_ratio.append(near / hits)
        return result
    finally:
        for server in started:
            server.stop()
        drop_redis_prefix(prefix)
        schema.drop()
