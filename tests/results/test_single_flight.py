"""Single-flight: concurrent misses of one cold key cost one store read, in one process (both
modes) and across two processes sharing Redis.

Only `latest_snapshot` is wrapped, to count the calls that really reach the store.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import anyio.to_thread
import pytest

from marketbrief.config import Settings
from marketbrief.models import ReportType
from marketbrief.results import Results
from marketbrief.results.envelope import ReportState, Source
from tests.support.clock import DAY, LATE
from tests.support.factories import standalone_completion
from tests.support.results_fixtures import CallCounter

PRE = ReportType.PRE_MARKET


# -- single-flight in one process --------------------------------------------------------------


async def test_100_concurrent_misses_cost_one_store_read_in_process(
    make_results: Callable[..., Results],
) -> None:
    results = make_results()
    completion = standalone_completion(PRE, DAY, started_at=LATE - timedelta(hours=20))
    assert (await results.publish(completion)).published
    assert results.deps.cache is not None
    await results.deps.cache.clear()
    real_reads = CallCounter(results.deps.store.backend, "latest_snapshot")

    answers = await asyncio.gather(*(results.get_report(PRE, DAY) for _ in range(100)))

    assert results.deps.counters.store_reads == 1
    assert real_reads.calls == 1
    assert {a.state for a in answers} == {ReportState.FRESH}
    assert all(a.has_content for a in answers)
    assert {a.data for a in answers} == {completion.content}
    assert {a.run_id for a in answers} == {completion.run_id}
    # The one read warmed the cache: the next hundred cost nothing.
    again = await asyncio.gather(*(results.get_report(PRE, DAY) for _ in range(100)))
    assert {(a.state, a.source, a.data) for a in again} == {
        (ReportState.FRESH, Source.CACHE, completion.content)
    }
    assert (results.deps.counters.store_reads, real_reads.calls) == (1, 1)


# -- single-flight across processes (Redis lock) -----------------------------------------------

_READER_PROCESS = r"""
import asyncio, hashlib, json, sys, threading, time
from datetime import date
from pathlib import Path

from marketbrief.config import Settings
from marketbrief.models import ReportType
from marketbrief.results import Results

job = json.loads(sys.argv[1])


async def main():
    settings = Settings(
        database_url=job["database_url"],
        cache_url=job["cache_url"],
        cache_prefix=job["cache_prefix"],
        outbox_dir=Path(job["outbox_dir"]),
    )
    results = Results.open(settings)
    store = results.deps.store.backend
    real = store.latest_snapshot
    calls = [0]
    lock = threading.Lock()

    def counted(*args):
        with lock:
            calls[0] += 1
        return real(*args)

    store.latest_snapshot = counted
    # Connect to both backends before the race, so the race is about the reads alone.
    await results.store.ping()
    await results.deps.cache.ping()
    signals = Path(job["signals"])
    found = []
    try:
        for i, day in enumerate(job["days"]):
            (signals / f"ready-{i}-{job['me']}").touch()
            deadline = time.monotonic() + 30
            while not all(
                (signals / f"ready-{i}-{n}").exists() for n in range(job["processes"])
            ):
                if time.monotonic() > deadline:
                    raise SystemExit("the start signal never came")
                time.sleep(0.001)
            reads, real_calls = results.deps.counters.store_reads, calls[0]
            answers = await asyncio.gather(
                *(
                    results.get_report(ReportType(job["report_type"]), date.fromisoformat(day))
                    for _ in range(job["readers"])
                )
            )
            found.append(
                {
                    "day": day,
                    "store_reads": results.deps.counters.store_reads - reads,
                    "real_calls": calls[0] - real_calls,
                    "answers": len(answers),
                    "states": sorted({a.state.value for a in answers}),
                    "has_content": all(a.has_content for a in answers),
                    "sha256": sorted(
                        {hashlib.sha256(a.data).hexdigest() if a.data else "" for a in answers}
                    ),
                }
            )
    finally:
        await results.close()
    print(json.dumps(found))


asyncio.run(main())
"""


@pytest.mark.parametrize("settings", ["scaled"], indirect=True)
async def test_two_processes_on_redis_cost_at_most_one_store_read_each_per_cold_key(
    make_results: Callable[..., Results], settings: Settings, tmp_path: Path
) -> None:
    results = make_results()
    days = [DAY - timedelta(days=offset) for offset in range(4)]
    published: dict[str, str] = {}
    for day in days:
        completion = standalone_completion(PRE, day, started_at=LATE - timedelta(days=3))
        assert (await results.publish(completion)).published
        published[day.isoformat()] = hashlib.sha256(completion.content or b"").hexdigest()
    assert results.deps.cache is not None
    await results.deps.cache.clear()  # every key is cold for both processes
    signals = tmp_path / "signals"
    signals.mkdir()
    job = {
        "database_url": settings.database_url,
        "cache_url": settings.cache_url,
        "cache_prefix": settings.cache_prefix,
        "outbox_dir": str(tmp_path / "outbox"),
        "signals": str(signals),
        "days": list(published),
        "report_type": PRE.value,
        "processes": 2,
        "readers": 50,
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _READER_PROCESS, json.dumps({**job, "me": me})],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for me in range(2)
    ]
    try:
        outputs = await anyio.to_thread.run_sync(
            lambda: [p.communicate(timeout=60) for p in processes]
        )
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    reports = []
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
        reports.append(json.loads(out))
    for i, key_day in enumerate(published):
        per_process = [report[i] for report in reports]
        assert all(p["day"] == key_day for p in per_process)
        for p in per_process:
            assert p["answers"] == 50
            assert p["states"] == [ReportState.FRESH.value]
            assert p["has_content"]
            assert p["sha256"] == [published[key_day]]
            assert p["store_reads"] == p["real_calls"]
        reads = sum(p["store_reads"] for p in per_process)
        assert 1 <= reads <= 2, (key_day, per_process)
