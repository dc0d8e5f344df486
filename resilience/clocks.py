"""Scenario: a clock that jumps. Two processes share one store; their clocks disagree by hours.

Each host is its own process (multiprocessing, spawned) with its own marketbrief services,
engines and cache; its runner reads a clock the scenario skews through the services' clock seam
(`Services.open(clock=...)`), jumping between -12 h and +12 h from run to run. The scenario
knows the true order in which runs started, because it starts them:

- in turn, one at a time: every run must be published, and each date's report must be its last
  run's, even when that run's host clock read hours earlier than the run before it (a report
  version taken from the host's clock would have lost those, silently);
- in pairs, on both hosts at once: the run the store ordered last keeps the report, the other
  is stored and says which run superseded it.

It runs on SQLite and, when the server answers, on a private PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import random
from collections import defaultdict
from datetime import date, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from harness.store import migrate

from marketbrief.calendar import utc_now
from marketbrief.config import Settings
from marketbrief.models import ReportType, TriggerSource
from marketbrief.services import Services
from marketbrief.store.sql import SQLStore
from resilience.backends import sqlite_then_postgres
from resilience.inputs import past_sessions, write_inputs
from resilience.scenario import ScenarioResult, cleanup
from resilience.server import marketbrief_env

PRE = ReportType.PRE_MARKET
SKEWS = tuple(
    timedelta(**spec).total_seconds()
    for spec in (
        {"hours": -12},
        {"hours": -1},
        {"minutes": -5},
        {},
        {"minutes": 5},
        {"hours": 1},
        {"hours": 12},
    )
)
SERVED_LAST = "dates whose report is their last run's"
ANSWER_SECONDS = 120.0  # an upper bound for one run's answer on a loaded machine


def host_main(connection: Connection, env: dict[str, str]) -> None:
    """A host process: run each (date, clock skew) it is sent, answer what became of the run."""
    asyncio.run(_serve(connection, env))


async def _serve(connection: Connection, env: dict[str, str]) -> None:
    skew = [0.0]

    def clock() -> datetime:
        return utc_now() + timedelta(seconds=skew[0])

    services = Services.open(Settings.from_env(env), clock=clock)
    try:
        while True:
            command = await asyncio.to_thread(connection.recv)
            if command is None:
                return
            day, skew[0] = command
            outcome = await services.runner.run(
                PRE, date.fromisoformat(day), TriggerSource.BACKFILL
            )
            completion = outcome.completion
            connection.send(
                {
                    "run_id": outcome.run_id,
                    "status": outcome.status.value if outcome.status else None,
                    "published": outcome.published,
                    "superseded_by": outcome.superseded_by,
                    "version": completion.version if completion else None,
                    "started_at": completion.started_at.isoformat() if completion else None,
                }
            )
    finally:
        await services.stop()


class Host:
    """One spawned host process and its end of the pipe."""

    def __init__(self, env: dict[str, str]) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipe, child = context.Pipe()
        self.process = context.Process(target=host_main, args=(child, env), daemon=True)
        self.process.start()
        child.close()

    async def run(self, day: date, skew: float) -> dict[str, Any]:
        """Start one run of `day` with the host's clock `skew` seconds off; its answer."""
        self.pipe.send((day.isoformat(), skew))
        ready = await asyncio.to_thread(self.pipe.poll, ANSWER_SECONDS)
        if not ready:
            raise TimeoutError(f"host {self.process.pid} gave no answer in {ANSWER_SECONDS} s")
        answer: dict[str, Any] = self.pipe.recv()
        return answer

    def close(self) -> None:
        """Ask the host to stop and wait for it (killed if it will not)."""
        with contextlib.suppress(OSError):
            self.pipe.send(None)
        self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def _served_by(store: SQLStore, day: date) -> str | None:
    snapshot = store.latest_snapshot(PRE, day)
    return snapshot.run_id if snapshot is not None else None


async def _one_backend(
    result: ScenarioResult, label: str, url: str, work: Path, *, turns: int, pairs: int
) -> list[Any]:
    sessions = past_sessions(4)
    news, prices = write_inputs(work / "inputs", sessions)
    migrate(url)
    rng = random.Random(7)  # noqa: S311 - a repeatable order of runs, not a secret
    counts: dict[str, int] = defaultdict(int)
    with cleanup() as stack:
        hosts = []
        for name in ("a", "b"):
            env = marketbrief_env(
                database_url=url,
                outbox_dir=work / f"outbox-{name}",
                news=news,
                prices=prices,
                cache_url="memory://?max_bytes=4194304",
            )
            host = Host(env)
            stack.callback(host.close)
            hosts.append(host)
        # -- in turn: the scenario's order is the true start order ---------------------------
        last: dict[date, dict[str, Any]] = {}
        for _ in range(turns):
            day = rng.choice(sessions)
            answer = await rng.choice(hosts).run(day, rng.choice(SKEWS))
            counts["runs in turn"] += 1
            counts["published"] += bool(answer["published"])
            before = last.get(day)
            if before is not None and answer["started_at"] < before["started_at"]:
                counts["host clock read earlier than the run before"] += 1
                counts["of those, published"] += bool(answer["published"])
            last[day] = answer
        store = SQLStore(url)
        stack.callback(store.close)
        counts[SERVED_LAST] = sum(_served_by(store, d) == a["run_id"] for d, a in last.items())
        counts["dates"] = len(last)
        # -- in pairs: both hosts at once, clocks skewed against each other ------------------
        for _ in range(pairs):
            day = rng.choice(sessions)
            skew = rng.choice(SKEWS[-3:])
            a, b = await asyncio.gather(hosts[0].run(day, -skew), hosts[1].run(day, skew))
            winner, loser = (a, b) if a["version"] > b["version"] else (b, a)
            counts["pairs"] += 1
            counts["pairs kept by the run the store ordered last"] += (
                _served_by(store, day) == winner["run_id"]
            )
            # The earlier claim may finish first (published, then replaced by the later one) or
            # last: then it lost the compare-and-set and must name the run that holds the report.
            finished_last = not loser["published"]
            counts["pairs whose earlier claim finished last"] += finished_last
            counts["pairs whose loser says who superseded it"] += (
                loser["superseded_by"] == winner["run_id"]
                if finished_last
                else bool(winner["published"])
            )
    published, turned = counts["published"], counts["runs in turn"]
    result.check(f"{label}: every run started in turn was published", published == turned)
    result.check(
        f"{label}: each date's report is its last-started run's",
        counts[SERVED_LAST] == counts["dates"],
    )
    result.check(
        f"{label}: in every pair the run the store ordered last kept the report",
        counts["pairs kept by the run the store ordered last"] == counts["pairs"],
    )
    result.check(
        f"{label}: every pair's other run was stored and said who superseded it",
        counts["pairs whose loser says who superseded it"] == counts["pairs"],
    )
    result.add_counts(counts, prefix=label)
    return [
        label,
        turned,
        published,
        counts["host clock read earlier than the run before"],
        counts["of those, published"],
        f"{counts[SERVED_LAST]} of {counts['dates']}",
        f"{counts['pairs kept by the run the store ordered last']} of {counts['pairs']}",
        counts["pairs whose earlier claim finished last"],
    ]


async def run(work: Path, *, turns: int, pairs: int) -> ScenarioResult:
    """Runs on two hosts whose clocks jump, on SQLite and PostgreSQL; count what was published."""
    result = ScenarioResult("clocks", "A clock that jumps: runs on hosts whose clocks disagree")
    rows = await sqlite_then_postgres(
        result,
        f"sqlite:///{work / 'clocks.db'}",
        lambda label, url: _one_backend(result, label, url, work, turns=turns, pairs=pairs),
    )
    result.tables.append(
        (
            "Runs on two hosts whose clocks jump between -12 h and +12 h",
            [
                "store",
                "runs in turn",
                "published",
                "host clock earlier than the run before",
                "of those published",
                "dates served by their last run",
                "pairs kept by the later claim",
                "pairs whose earlier claim finished last (and said so)",
            ],
            rows,
        )
    )
    result.notes.append(
        "Each host is a spawned process with its own services; its runner's clock is skewed "
        "through the services' clock seam. Under versions taken from host clocks, every run "
        "counted in 'host clock earlier than the run before' would have been stored and "
        "silently not published."
    )
    return result
