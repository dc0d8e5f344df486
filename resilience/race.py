"""Scenario: the sweeper races the outbox. Nothing acknowledged may be lost.

A worker finishes runs while the store will not take its writes (MARKETBRIEF_STORE_WRITES=off
for its results core, so every completion is spooled to the outbox, fsync'd, and acknowledged).
Its leases have lapsed (a worker paused past its lease), so the sweeper, at the same moment,
marks each of those runs failed. Then a separate `marketbrief outbox replay` process replays
the outbox. Counted: completions acknowledged, completions the replay stored, and runs whose
real result the store holds (success, with its snapshot); the three must be equal. Each date's
report must be its last-claimed run's. It runs on SQLite and, when the server answers, on a
private PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson
from harness.serve import MARKETBRIEF, server_env, settings
from harness.store import migrate

from marketbrief.calendar import utc_now
from marketbrief.config import Settings
from marketbrief.models import Completion, ReportType, Run, RunStatus, TriggerSource
from marketbrief.results import Results
from marketbrief.store.sql import SQLStore
from resilience.backends import sqlite_then_postgres
from resilience.inputs import past_sessions
from resilience.scenario import ScenarioResult, cleanup

PRE = ReportType.PRE_MARKET
REPLAY_SECONDS = 300.0  # an upper bound for the replay process on a loaded machine
SWEPT_NOTE = "marked failed by the sweeper"


def _completion(run: Run) -> Completion:
    """What the worker computed for `run`: a small real report, as the runner would write it."""
    body = {"report_type": run.report_type.value, "date": run.scheduled_date.isoformat()}
    return Completion(
        run_id=run.run_id,
        report_type=run.report_type,
        scheduled_date=run.scheduled_date,
        trigger_source=run.trigger_source,
        started_at=run.started_at,
        executed_at=run.started_at + timedelta(seconds=1),
        status=RunStatus.SUCCESS,
        content=orjson.dumps({**body, "run_id": run.run_id}),
        version=run.version,
    )


async def _one_backend(
    result: ScenarioResult, label: str, url: str, work: Path, *, runs: int
) -> list[Any]:
    migrate(url)
    sessions = past_sessions(max(1, runs // 4))
    outbox = work / f"outbox-{label}"
    worker = Results.open(
        Settings(database_url=url, outbox_dir=outbox, store_writes=False, cache_enabled=False)
    )
    store = SQLStore(url)
    counts: dict[str, int] = defaultdict(int)
    claimed: dict[str, tuple[date, int]] = {}
    with cleanup() as stack:
        stack.callback(store.close)
        for i in range(runs):
            day = sessions[i % len(sessions)]
            now = utc_now()
            run = store.claim_run(
                PRE, day, TriggerSource.API, started_at=now, lease_until=now - timedelta(seconds=1)
            ).run
            claimed[run.run_id] = (day, run.version)
            completion = _completion(run)
            # The worker spools its result while the sweeper fails its run: both at once.
            outcome, swept = await asyncio.gather(
                worker.publish(completion),
                asyncio.to_thread(store.fail_stuck_runs, now - timedelta(hours=1), utc_now()),
            )
            counts["acknowledged"] += bool(outcome.outboxed)
            counts["swept before the replay"] += run.run_id in swept
        await worker.close()
        replay = await asyncio.to_thread(
            subprocess.run,
            [MARKETBRIEF, "outbox", "replay"],
            env=server_env(settings(database_url=url, outbox_dir=str(outbox))),
            capture_output=True,
            text=True,
            timeout=REPLAY_SECONDS,
            check=False,
        )
        said = re.search(r"stored (\d+), rejected (\d+), still waiting (\d+)", replay.stdout)
        result.check(
            f"{label}: outbox replay answered", said is not None, replay.stdout[:200].strip()
        )
        stored_said, rejected, waiting = (int(g) for g in said.groups()) if said else (0, 0, 0)
        counts["replay said stored"] = stored_said
        counts["replay said rejected"] = rejected
        counts["replay said still waiting"] = waiting
        counts["replayed after a later claim, stored and said so"] = replay.stdout.count(
            "but not the report readers get"
        )
        newest: dict[date, tuple[int, str]] = {}
        for run_id, (day, version) in claimed.items():
            detail = store.get_run(run_id)
            whole = (
                detail is not None
                and detail.run.status is RunStatus.SUCCESS
                and detail.snapshot is not None
            )
            counts["stored with their real result"] += whole
            if detail is not None and any(SWEPT_NOTE in str(w) for w in detail.run.warnings):
                counts["stored, saying the sweeper had failed them"] += 1
            if version > newest.get(day, (0, ""))[0]:
                newest[day] = (version, run_id)
        for day, (_, run_id) in newest.items():
            snapshot = store.latest_snapshot(PRE, day)
            counts["dates served by their last-claimed run"] += (
                snapshot is not None and snapshot.run_id == run_id
            )
        counts["dates"] = len(newest)
        counts["left in the outbox"] = len(list(outbox.glob("*.json")))
    acked, kept = counts["acknowledged"], counts["stored with their real result"]
    result.check(f"{label}: every completion was acknowledged", acked == runs)
    result.check(
        f"{label}: acknowledged = stored by the replay = stored with the real result (none lost)",
        acked == counts["replay said stored"] == kept,
        f"acknowledged {acked}, replay stored {counts['replay said stored']}, kept {kept}",
    )
    result.check(
        f"{label}: nothing rejected or left waiting",
        rejected == waiting == counts["left in the outbox"] == 0,
    )
    result.check(
        f"{label}: each date's report is its last-claimed run's",
        counts["dates served by their last-claimed run"] == counts["dates"],
    )
    result.add_counts(counts, prefix=label)
    return [
        label,
        runs,
        counts["swept before the replay"],
        acked,
        counts["replay said stored"],
        kept,
        acked - kept,
        f"{counts['dates served by their last-claimed run']} of {counts['dates']}",
        counts["replayed after a later claim, stored and said so"],
    ]


async def run(work: Path, *, runs: int) -> ScenarioResult:
    """Spool `runs` completions while the sweeper fails their runs, replay, count."""
    result = ScenarioResult("race", "The sweeper races the outbox: nothing acknowledged is lost")
    work.mkdir(parents=True, exist_ok=True)
    rows = await sqlite_then_postgres(
        result,
        f"sqlite:///{work / 'race.db'}",
        lambda label, url: _one_backend(result, label, url, work, runs=runs),
    )
    result.tables.append(
        (
            "Completions spooled while the sweeper failed their runs, then replayed",
            [
                "store",
                "runs",
                "swept first",
                "acknowledged",
                "replay stored",
                "stored with the real result",
                "lost",
                "dates served by the last claim",
                "replayed after a later claim (said so)",
            ],
            rows,
        )
    )
    result.notes.append(
        "The worker's results core has store writes off, so every completion goes to the "
        "outbox (fsync'd) and is acknowledged; the sweeper (`fail_stuck_runs`) runs at the same "
        "moment; the replay is a separate `marketbrief outbox replay` process."
    )
    return result
