"""Scenario 1: SIGKILL the server in the middle of a stream of triggered run completions.

A 202 with a run_id acknowledges that the run was accepted: the run was claimed in the store
(a committed `job_executions` row) before the answer was sent. So after `kill -9` every
acknowledged run_id must be a row; runs the kill left `running` are for the sweeper to fail;
every finished run is whole (a successful run has its snapshot: one transaction); and the
SQLite file passes `PRAGMA integrity_check`.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import httpx
from harness.store import migrate

from marketbrief.calendar import utc_now
from marketbrief.store.sql import SQLStore
from resilience.backends import integrity_check, sqlite_rows
from resilience.inputs import past_sessions, write_inputs
from resilience.scenario import ScenarioResult, cleanup
from resilience.server import API_KEY, Server, marketbrief_env

SENDERS = 8
KILL_DEADLINE_SECONDS = 300.0
SWEEP_MARK = "marked failed by the sweeper"
LEASE_SECONDS = 2


async def run(work: Path, *, triggers: int, real_sweeper: bool) -> ScenarioResult:
    """Trigger `triggers` runs, kill -9 the server at half of them completed, restart, check."""
    result = ScenarioResult("crash", "SIGKILL mid-stream of triggered run completions")
    sessions = past_sessions(120)
    news, prices = write_inputs(work / "inputs", sessions)
    db = work / "crash.db"
    url = f"sqlite:///{db}"
    migrate(url)
    # A short lease: once the killed server stops renewing, its runs are dead within seconds.
    env = marketbrief_env(
        database_url=url,
        outbox_dir=work / "outbox",
        news=news,
        prices=prices,
        run_lease_seconds=str(LEASE_SECONDS),
    )
    server = Server("crash-server", env, work)
    kill_after = triggers // 2
    result.counts.update(triggers_planned=triggers, kill_when_completed=kill_after)
    with cleanup() as stack:
        stack.callback(server.kill)
        server.start()
        server.wait_ready()

        # -- trigger, and kill -9 once half of them have completed in the store ---------------
        statuses: Counter[str] = Counter()
        acked: dict[str, str] = {}
        killed = asyncio.Event()
        queue: asyncio.Queue[str] = asyncio.Queue()
        for i in range(triggers):
            queue.put_nowait(sessions[i % len(sessions)].isoformat())
        completed_at_kill = 0

        async def sender(client: httpx.AsyncClient) -> None:
            while not killed.is_set() and not queue.empty():
                day = queue.get_nowait()
                try:
                    response = await client.post(
                        "/api/v1/jobs/trigger", json={"type": "pre-market", "date": day}
                    )
                except httpx.HTTPError:
                    statuses["no answer (connection lost)"] += 1
                    continue
                statuses[str(response.status_code)] += 1
                if response.status_code == 202:
                    acked[response.json()["run_id"]] = day

        async def killer() -> None:
            nonlocal completed_at_kill
            deadline = time.monotonic() + KILL_DEADLINE_SECONDS
            while time.monotonic() < deadline:
                done = await asyncio.to_thread(
                    sqlite_rows, db, "SELECT count(*) FROM job_executions WHERE status<>'running'"
                )
                completed_at_kill = done[0][0]
                if completed_at_kill >= kill_after:
                    break
                await asyncio.sleep(0.02)
            server.kill()
            killed.set()

        started = time.monotonic()
        headers = {"X-API-Key": API_KEY}
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as client:
            await asyncio.gather(killer(), *(sender(client) for _ in range(SENDERS)))
        kill_instant = utc_now()
        result.counts["seconds_to_kill"] = round(time.monotonic() - started, 1)
        result.counts["triggers_sent"] = sum(statuses.values())
        result.counts["triggers_never_sent"] = queue.qsize()
        result.counts["answers"] = dict(sorted(statuses.items()))
        result.counts["acknowledged_202"] = len(acked)
        result.counts["completed_seen_by_killer"] = completed_at_kill

        # -- the store as the kill left it (read before anything restarts) ---------------------
        rows = dict(sqlite_rows(db, "SELECT run_id, status FROM job_executions"))
        by_status = Counter(rows.values())
        missing = [run_id for run_id in acked if run_id not in rows]
        unacked_rows = [run_id for run_id in rows if run_id not in acked]
        broken = sqlite_rows(
            db,
            "SELECT count(*) FROM job_executions j WHERE j.status IN ('success','partial') "
            "AND NOT EXISTS (SELECT 1 FROM scheduled_job_results s WHERE s.run_id = j.run_id)",
        )[0][0]
        orphans = sqlite_rows(
            db,
            "SELECT count(*) FROM scheduled_job_results s JOIN job_executions j "
            "ON s.run_id = j.run_id WHERE j.status = 'running'",
        )[0][0]
        integrity_after_kill = integrity_check(db)
        result.counts.update(
            rows_after_kill=len(rows),
            rows_by_status_after_kill=dict(sorted(by_status.items())),
            completed_in_store_before_kill=len(rows) - by_status.get("running", 0),
            left_running_by_kill=by_status.get("running", 0),
            claimed_but_202_lost=len(unacked_rows),
        )
        result.check(
            "every acknowledged (202) run is a row after kill -9",
            not missing,
            f"{len(acked) - len(missing)} of {len(acked)} present; missing {missing[:5]}",
        )
        result.check(
            "the kill landed mid-stream (runs completed and runs still running)",
            0 < result.counts["completed_in_store_before_kill"] < triggers
            and by_status.get("running", 0) > 0,
            f"{result.counts['completed_in_store_before_kill']} completed, "
            f"{by_status.get('running', 0)} running at the kill",
        )
        result.check(
            "every finished successful run has its snapshot; no snapshot of a running run",
            broken == 0 and orphans == 0,
            f"{broken} successful runs without a snapshot, {orphans} snapshots of running runs",
        )
        result.check(
            "PRAGMA integrity_check after kill -9",
            integrity_after_kill == ["ok"],
            str(integrity_after_kill[:3]),
        )

        # -- restart: the same file serves, every acknowledged run is visible through the API --
        running_ids = {run_id for run_id, status in rows.items() if status == "running"}
        server.start()
        server.wait_ready()
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            ready = await client.get("/readyz")
            sample = random.Random(7).sample(  # noqa: S311 - picks a sample, not a secret
                sorted(acked), min(50, len(acked))
            )
            seen = Counter(
                [(await client.get(f"/api/v1/jobs/{run_id}")).status_code for run_id in sample]
            )
        result.check(
            "restarted server is ready and serves acknowledged runs",
            ready.status_code == 200 and seen == Counter({200: len(sample)}),
            f"/readyz {ready.status_code}; GET /api/v1/jobs/<run_id> for {len(sample)}: "
            f"{dict(seen)}",
        )

        # -- the sweeper: runs left running by the kill become failed ---------------------------
        if real_sweeper:
            swept_by = "the server's own sweeper (scheduler on, MARKETBRIEF_RUN_TIMEOUT=1)"
            server.stop()
            wait = (kill_instant + timedelta(seconds=62) - utc_now()).total_seconds()
            result.counts["waited_for_run_timeout_s"] = round(max(0.0, wait), 1)
            await asyncio.sleep(max(0.0, wait))
            server.start(scheduler="on", run_timeout="1", catchup_hours="0")
            server.wait_ready()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                left = sqlite_rows(db, "SELECT count(*) FROM job_executions WHERE status='running'")
                if left[0][0] == 0:
                    break
                await asyncio.sleep(0.5)
        else:
            swept_by = "SQLStore.fail_stuck_runs(started_before=<kill instant>) called directly"
            # Nothing renews the killed server's leases: let the last of them run out.
            await asyncio.sleep(LEASE_SECONDS + 1)
            store = SQLStore(url)
            try:
                await asyncio.to_thread(store.fail_stuck_runs, kill_instant, utc_now())
            finally:
                store.close()
        result.counts["swept_by"] = swept_by
        after = dict(sqlite_rows(db, "SELECT run_id, status FROM job_executions"))
        marked = {
            run_id
            for (run_id,) in sqlite_rows(
                db,
                "SELECT run_id FROM job_executions WHERE status='failed' AND errors LIKE ?",
                (f"%{SWEEP_MARK}%",),
            )
        }
        still_running = [r for r, s in after.items() if s == "running"]
        result.counts["marked_failed_by_sweeper"] = len(marked)
        result.check(
            "every run left running by the kill is failed by the sweeper, with the reason",
            not still_running and marked == running_ids,
            f"{len(marked)} marked of {len(running_ids)} left running; still running "
            f"{len(still_running)}",
        )
        integrity_at_end = integrity_check(db)
        result.check(
            "PRAGMA integrity_check at the end",
            integrity_at_end == ["ok"],
            str(integrity_at_end[:3]),
        )
        server.stop()
    result.notes.append(
        "Server: `marketbrief serve --port P` on SQLite (embedded mode, in-process "
        f"cache), {SENDERS} concurrent trigger clients, POST /api/v1/jobs/trigger "
        "pre-market for past sessions; killed with SIGKILL to its process group once the "
        "store held the planned number of finished runs."
    )
    result.notes.append(
        "How runs left `running` get failed in production: the scheduler's sweeper marks every "
        "run started more than MARKETBRIEF_RUN_TIMEOUT minutes ago (default 30) and still "
        "running as failed, once at start-up and then every minute. It runs wherever the "
        "scheduler runs (`marketbrief serve`, or `marketbrief scheduler` beside servers started "
        "with --no-scheduler). The full suite restarts the server with the scheduler on and "
        "MARKETBRIEF_RUN_TIMEOUT=1 once a minute has passed since the kill; --quick calls "
        "SQLStore.fail_stuck_runs (the sweeper's own store call) directly."
    )
    return result
