"""Scenario 2: a steady read load while the cache and the store are broken underneath it.

Scaled mode (our own PostgreSQL database, our own redis-server): Redis FLUSHALL, Redis stopped
and started, PostgreSQL backends terminated, then both at once. Embedded mode (SQLite, the
in-process cache): a cache bound far below the reports read, then one smaller than a single
report. Every answer is counted by what it was; for reports that exist the only acceptable
answers are a fresh 200 with exactly the stored bytes, or the documented 503 (store
unavailable, Retry-After, code report_unavailable).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import httpx
from harness.store import migrate

from resilience.answers import counters, sha256, split_envelope
from resilience.backends import RedisServer, own_database, sqlite_rows
from resilience.inputs import past_sessions, write_inputs
from resilience.scenario import ScenarioResult, cleanup
from resilience.server import API_KEY, Server, marketbrief_env

READERS = 4
MAX_REQUESTS_PER_PHASE = 100_000
LATEST_SQL = (
    "SELECT s.scheduled_date, s.content_sha256 FROM report_latest l "
    "JOIN scheduled_job_results s ON s.id = l.snapshot_id WHERE l.report_type = 'pre-market'"
)
GOOD = ("200 fresh from cache", "200 fresh from store", "503 documented")


@dataclass
class Load:
    """READERS clients GETting random existing reports; answers counted per phase."""

    url: str
    expected: dict[str, str]
    phase: str = "warm-up"
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    warnings: dict[str, Counter[str]] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def reader(self, seed: int) -> None:
        days = sorted(self.expected)
        pick = random.Random(seed)  # noqa: S311 - picks report dates, not secrets
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            while not self.stop.is_set():
                phase = self.phase
                tally = self.counts.setdefault(phase, Counter())
                if sum(tally.values()) >= MAX_REQUESTS_PER_PHASE:
                    await asyncio.sleep(0.05)
                    continue
                day = pick.choice(days)
                try:
                    response = await client.get(f"/api/v1/reports/pre-market?date={day}")
                except httpx.HTTPError as error:
                    tally["no answer"] += 1
                    self._example(phase, f"no answer: {error!r}")
                    continue
                kind = self.classify(phase, day, response)
                tally[kind] += 1
                if kind not in GOOD:
                    self._example(phase, f"{kind}: {response.status_code} {response.text[:200]}")

    def classify(self, phase: str, day: str, response: httpx.Response) -> str:
        status = response.status_code
        if status == 503:
            try:
                code = response.json().get("error", {}).get("code")
            except ValueError:
                code = None
            documented = code == "report_unavailable" and response.headers.get("retry-after")
            return "503 documented" if documented else "503 UNDOCUMENTED"
        if status >= 500:
            return f"{status} SERVER ERROR"
        if status != 200:
            return f"{status} for an existing report"
        try:
            data, meta = split_envelope(response.content)
        except ValueError:
            return "200 NOT AN ENVELOPE"
        for warning in meta.get("warnings", []):
            self.warnings.setdefault(phase, Counter())[warning] += 1
        if not meta.get("has_content") or data == b"null":
            return "200 WITHOUT CONTENT"
        if meta.get("state") != "fresh" or meta.get("business_date") != day:
            return f"200 {meta.get('state')} for {meta.get('business_date')}"
        if sha256(data) != self.expected[day]:
            return "200 WRONG BYTES"
        return f"200 fresh from {meta.get('source')}"

    def _example(self, phase: str, text: str) -> None:
        if len(self.examples) < 10:
            self.examples.append(f"[{phase}] {text}")

    async def drive(self, steps: list[tuple[str, Callable[[], Awaitable[None]]]]) -> None:
        """Readers run throughout; each step names the phase and then breaks something."""
        readers = [asyncio.create_task(self.reader(seed)) for seed in range(READERS)]
        try:
            for name, action in steps:
                self.phase = name
                await action()
        finally:
            self.stop.set()
            await asyncio.gather(*readers)


def _table(load: Load, phases: list[str]) -> list[list[object]]:
    rows: list[list[object]] = []
    for phase in phases:
        tally = load.counts.get(phase, Counter())
        bad = {k: v for k, v in tally.items() if k not in GOOD}
        warned = load.warnings.get(phase, Counter())
        rows.append(
            [
                phase,
                sum(tally.values()),
                tally["200 fresh from cache"],
                tally["200 fresh from store"],
                tally["503 documented"],
                dict(bad) or 0,
                dict(warned) or "",
            ]
        )
    return rows


HEADER = [
    "phase",
    "answers",
    "200 fresh, cache",
    "200 fresh, store",
    "503 documented",
    "anything else",
    "warnings in 200s",
]


async def _seed(server: Server, days: list[date], finished: Callable[[], int]) -> None:
    """One pre-market run per session through the API; wait until every one has finished."""
    async with httpx.AsyncClient(
        base_url=server.url, headers={"X-API-Key": API_KEY}, timeout=30
    ) as client:
        for day in days:
            response = await client.post(
                "/api/v1/jobs/trigger", json={"type": "pre-market", "date": day.isoformat()}
            )
            response.raise_for_status()
    deadline = time.monotonic() + 300
    while await asyncio.to_thread(finished) < len(days):
        if time.monotonic() > deadline:
            raise RuntimeError(f"seeding did not finish: {finished()} of {len(days)}")
        await asyncio.sleep(0.2)


async def _metrics(server: Server) -> dict[str, int]:
    names = (
        "cache_hits",
        "cache_misses",
        "cache_errors",
        "cache_rehydrations",
        "store_report_reads",
    )
    return await asyncio.to_thread(counters, server.url, names)


def _verdicts(result: ScenarioResult, load: Load, label: str) -> None:
    total: Counter[str] = Counter()
    for tally in load.counts.values():
        total.update(tally)
    server_errors = sum(v for k, v in total.items() if k[:1] == "5" and k != "503 documented")
    empty = sum(v for k, v in total.items() if k.startswith("200") and "fresh from" not in k)
    other = sum(v for k, v in total.items() if k not in GOOD) - server_errors - empty
    result.counts[f"{label}: answers"] = dict(sorted(total.items()))
    result.check(
        f"{label}: zero 5xx other than the documented 503",
        server_errors == 0,
        f"{server_errors} of {sum(total.values())}; documented 503s {total['503 documented']}",
    )
    result.check(
        f"{label}: zero 200s without the report's exact content",
        empty == 0,
        f"{empty} (without content, not fresh, or other bytes than the store's)",
    )
    result.check(
        f"{label}: no other answer (no 4xx for existing reports, no dropped connection)",
        other == 0,
        f"{other}" + (f"; e.g. {load.examples[:3]}" if load.examples else ""),
    )


async def _scaled(result: ScenarioResult, work: Path, quick: bool) -> None:
    reports = 20 if quick else 60
    base = 1.5 if quick else 3.0
    days = past_sessions(reports)
    news, prices = write_inputs(work / "inputs", days)
    own_redis = RedisServer(work / "redis")
    with cleanup() as stack:
        db = own_database(stack)
        own_redis.start()
        stack.callback(own_redis.stop)
        env = marketbrief_env(
            database_url=db.url(),
            outbox_dir=work / "outbox",
            news=news,
            prices=prices,
            cache_url=own_redis.url,
        )
        server = Server("reads-scaled-server", env, work)
        stack.callback(server.kill)
        server.start()
        server.wait_ready()

        def finished() -> int:
            sql = "SELECT count(*) FROM job_executions WHERE status <> 'running'"
            return int(db.query(sql)[0][0])

        await _seed(server, days, finished)
        expected = {str(d): sha for d, sha in db.query(LATEST_SQL)}
        result.counts["scaled: reports read"] = len(expected)
        load = Load(server.url, expected)
        faults: Counter[str] = Counter()

        async def wait(seconds: float) -> None:
            await asyncio.sleep(seconds)

        async def flush() -> None:
            faults["redis keys before FLUSHALL"] = await asyncio.to_thread(
                lambda: int(own_redis.client().dbsize())
            )
            await asyncio.to_thread(own_redis.flushall)
            faults["redis FLUSHALL"] += 1
            await asyncio.sleep(base)

        async def redis_down(seconds: float) -> None:
            await asyncio.to_thread(own_redis.stop)
            faults["redis stopped"] += 1
            await asyncio.sleep(seconds)

        async def redis_up() -> None:
            await asyncio.to_thread(own_redis.start)
            faults["redis started"] += 1
            await asyncio.sleep(base)

        async def terminate(times: int, gap: float) -> None:
            for _ in range(times):
                faults["pg backends terminated"] += await asyncio.to_thread(db.terminate_backends)
                faults["pg terminate rounds"] += 1
                await asyncio.sleep(gap)

        async def both() -> None:
            await asyncio.to_thread(own_redis.stop)
            faults["redis stopped"] += 1
            await terminate(10 if quick else 30, 0.1)
            await asyncio.to_thread(own_redis.start)
            faults["redis started"] += 1

        steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("steady (Redis warm)", lambda: wait(base)),
            ("after Redis FLUSHALL", flush),
            ("Redis stopped", lambda: redis_down(2 * base)),
            ("Redis started again (empty)", redis_up),
            ("PostgreSQL backends terminated, 0.5 s apart", lambda: terminate(5, 0.5)),
            ("Redis stopped + backends terminated every 0.1 s", both),
            ("recovered", lambda: wait(base)),
        ]
        await load.drive(steps)
        result.tables.append(
            (
                "Scaled mode (PostgreSQL + our Redis), answers per phase:",
                HEADER,
                _table(load, [name for name, _ in steps]),
            )
        )
        result.counts["scaled: faults injected"] = dict(faults)
        result.counts["scaled: server counters"] = await _metrics(server)
        _verdicts(result, load, "scaled")
        result.check(
            "scaled: the faults were real (keys flushed, backends terminated, Redis seen down)",
            faults["redis keys before FLUSHALL"] > 0
            and faults["pg backends terminated"] > 0
            and load.warnings.get("Redis stopped", Counter())["cache_unavailable"] > 0,
            f"{faults['redis keys before FLUSHALL']} keys flushed, "
            f"{faults['pg backends terminated']} backends terminated, "
            f"{load.warnings.get('Redis stopped', Counter())['cache_unavailable']} answers "
            "warned cache_unavailable while Redis was stopped",
        )
        result.check(
            "scaled: served from the cache again after recovery",
            load.counts.get("recovered", Counter())["200 fresh from cache"] > 0,
            f"{load.counts.get('recovered', Counter())['200 fresh from cache']} cache hits",
        )
        server.stop()


async def _embedded(result: ScenarioResult, work: Path, quick: bool) -> None:
    reports = 60 if quick else 200
    seconds = 3.0 if quick else 8.0
    bound = 16 * 1024
    days = past_sessions(reports)
    news, prices = write_inputs(work / "inputs-embedded", days)
    path = work / "embedded.db"
    url = f"sqlite:///{path}"
    migrate(url)
    env = marketbrief_env(
        database_url=url,
        outbox_dir=work / "outbox-embedded",
        news=news,
        prices=prices,
        cache_url=f"memory://?max_bytes={bound}",
    )
    server = Server("reads-embedded-server", env, work)
    with cleanup() as stack:
        stack.callback(server.kill)
        server.start()
        server.wait_ready()

        def finished() -> int:
            sql = "SELECT count(*) FROM job_executions WHERE status <> 'running'"
            return int(sqlite_rows(path, sql)[0][0])

        await _seed(server, days, finished)
        expected = {str(d): sha for d, sha in sqlite_rows(path, LATEST_SQL)}
        content = sqlite_rows(
            path, "SELECT sum(length(report_content)) FROM scheduled_job_results"
        )[0][0]
        first = f"memory cache {bound // 1024} KiB, {len(expected)} reports ({content // 1024} KiB)"
        load = Load(server.url, expected)
        await load.drive([(first, lambda: asyncio.sleep(seconds))])
        bounded = await _metrics(server)
        server.stop()
        tiny = 1024
        second = f"memory cache {tiny} bytes: smaller than one report"
        server.start(cache_url=f"memory://?max_bytes={tiny}")
        server.wait_ready()
        tiny_load = Load(server.url, expected)
        await tiny_load.drive([(second, lambda: asyncio.sleep(seconds / 2))])
        tiny_counters = await _metrics(server)
        server.stop()
    for phase, tally in tiny_load.counts.items():
        load.counts[phase] = tally
    load.warnings.update(tiny_load.warnings)
    load.examples += tiny_load.examples
    result.tables.append(
        (
            "Embedded mode (SQLite + in-process cache), answers per phase:",
            HEADER,
            _table(load, [first, second]),
        )
    )
    result.counts["embedded: reports read"] = len(expected)
    result.counts["embedded: bytes of report content"] = content
    result.counts[f"embedded: server counters at {bound} bytes"] = bounded
    result.counts[f"embedded: server counters at {tiny} bytes"] = tiny_counters
    _verdicts(result, load, "embedded")
    result.check(
        "embedded: the bound was in force (the cache missed and refilled)",
        bounded.get("cache_misses", 0) > len(expected) and content > bound,
        f"{bounded.get('cache_misses', 0)} misses for {len(expected)} keys, "
        f"{content} content bytes against a {bound}-byte bound",
    )


async def run(work: Path, *, quick: bool) -> ScenarioResult:
    """Both modes, one after the other."""
    result = ScenarioResult("reads", "Reads under cache and store faults")
    work.mkdir(parents=True, exist_ok=True)
    await _scaled(result, work, quick)
    await _embedded(result, work, quick)
    result.notes.append(
        f"{READERS} concurrent HTTP clients GET /api/v1/reports/pre-market?date=D for random "
        "dates D whose report exists (seeded through POST /api/v1/jobs/trigger, then read back "
        "from report_latest). Each 200 is checked byte for byte: its `data` must hash to the "
        "stored content_sha256, with state fresh for the requested date."
    )
    return result
