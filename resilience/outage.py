"""Scenario 3: the store unavailable during writes, then back.

PostgreSQL (our own database) is reached through a loopback TCP proxy; the proxy is taken down
(new connections refused, open ones cut) while runs are being triggered on the server and run
by `marketbrief run` processes. A write is acknowledged once committed or fsync'd to the
outbox: every acknowledged one must be in the store after the proxy comes back, put there by
the server's background replayer (or by a CLI process's own replay on exit).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from harness import ROOT
from harness.serve import MARKETBRIEF

from resilience.answers import counters
from resilience.backends import own_database, proxy_to_postgres
from resilience.inputs import past_sessions, write_inputs
from resilience.scenario import ScenarioResult, cleanup
from resilience.server import Server, marketbrief_env
from resilience.traffic import TRIGGER_GAP, Traffic, outbox_depth

RECOVERY_LIMIT = 120.0
UNAVAILABLE_WARNING = "the store was unavailable when this run started"


async def _cli_run(env: dict[str, str], day: date) -> dict[str, Any]:
    """`marketbrief run pre-market --date D --json`: the outcome says persisted or outboxed."""
    process = await asyncio.create_subprocess_exec(
        MARKETBRIEF,
        "run",
        "pre-market",
        "--date",
        day.isoformat(),
        "--json",
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    try:
        outcome: dict[str, Any] = json.loads(out)
    except ValueError:
        outcome = {"run_id": None, "error": err.decode(errors="replace")[-500:]}
    outcome["exit_code"] = process.returncode
    return outcome


async def run(work: Path, *, down_seconds: float) -> ScenarioResult:
    """Cut the store off for `down_seconds` under writes; count what reached it afterwards."""
    result = ScenarioResult("outage", f"Store unavailable for {down_seconds:.0f} s during writes")
    days = past_sessions(200)
    news, prices = write_inputs(work / "inputs", days)
    outbox = work / "outbox"
    with cleanup() as stack:
        db = own_database(stack)
        proxy = proxy_to_postgres(stack)
        env = marketbrief_env(
            database_url=db.url(proxy.port),
            outbox_dir=outbox,
            news=news,
            prices=prices,
            outbox_replay_seconds="1",
        )
        server = Server("outage-server", env, work)
        stack.callback(server.kill)
        server.start()
        server.wait_ready()

        traffic = Traffic(server.url, days)
        peak = 0
        ready_while_down: Counter[int] = Counter()

        async def watch() -> None:
            nonlocal peak
            while not traffic.stop.is_set():
                peak = max(peak, outbox_depth(outbox))
                await asyncio.sleep(0.1)

        cli_env = dict(server.env)
        background = [
            asyncio.create_task(traffic.triggers()),
            asyncio.create_task(traffic.reader(window=40)),
            asyncio.create_task(watch()),
        ]
        await asyncio.sleep(2.0)
        traffic.phase = "store down"
        await asyncio.to_thread(proxy.down)
        went_down = time.monotonic()
        clis = [asyncio.create_task(_cli_run(cli_env, days[150]))]
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            ready_while_down[(await client.get("/readyz")).status_code] += 1
            await asyncio.sleep(down_seconds / 2)
            clis.append(asyncio.create_task(_cli_run(cli_env, days[151])))
            ready_while_down[(await client.get("/readyz")).status_code] += 1
        await asyncio.sleep(max(0.0, down_seconds - (time.monotonic() - went_down)))
        outage = time.monotonic() - went_down
        await asyncio.to_thread(proxy.up)
        came_back = time.monotonic()
        traffic.phase = "after"
        await asyncio.sleep(2.0)
        traffic.stop.set()
        await asyncio.gather(*background)
        outcomes = await asyncio.gather(*clis)

        cli_acked = {
            o["run_id"]: ("persisted" if o.get("persisted") else "outboxed")
            for o in outcomes
            if o.get("run_id") and (o.get("persisted") or o.get("outboxed"))
        }
        acked = traffic.acked
        wanted = set(acked) | set(cli_acked)

        def landed() -> dict[str, str]:
            rows = db.query(
                "SELECT run_id, status FROM job_executions WHERE run_id = ANY(%s)",
                (list(wanted),),
            )
            return dict(rows)

        deadline = came_back + RECOVERY_LIMIT
        found = await asyncio.to_thread(landed)
        while time.monotonic() < deadline:
            done = [r for r, s in found.items() if s != "running"]
            if len(done) == len(wanted) and outbox_depth(outbox) == 0:
                break
            await asyncio.sleep(0.25)
            found = await asyncio.to_thread(landed)
        recovered_in = time.monotonic() - came_back
        server_counts = await asyncio.to_thread(
            counters, server.url, ("outbox_writes", "outbox_replayed", "store_commits")
        )
        snapshots = {
            run_id
            for (run_id,) in db.query(
                "SELECT run_id FROM scheduled_job_results WHERE run_id = ANY(%s)", (list(wanted),)
            )
        }
        spooled = {
            run_id
            for (run_id,) in db.query(
                "SELECT run_id FROM job_executions WHERE run_id = ANY(%s) "
                "AND warnings::text LIKE %s",
                (list(wanted), f"%{UNAVAILABLE_WARNING}%"),
            )
        }
        orphans = db.query(
            "SELECT count(*) FROM job_executions WHERE status = 'running' "
            "AND NOT (run_id = ANY(%s))",
            (list(wanted),),
        )[0][0]
        rejected = list((outbox / "rejected").glob("*.json")) if outbox.is_dir() else []
        # Once everything has landed, the server must stop calling any of it "not persisted"
        # (after its revision check interval, 1 s by default), whoever replayed it.
        await asyncio.sleep(2.0)
        dates = sorted(traffic.written | {days[150].isoformat(), days[151].isoformat()})
        after_recovery: Counter[str] = Counter()
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            for day in dates:
                response = await client.get(f"/api/v1/reports/pre-market?date={day}")
                meta = response.json().get("meta", {})
                after_recovery[str(response.status_code)] += 1
                if "not_persisted" in meta.get("warnings", []):
                    after_recovery["warned not_persisted"] += 1
                if response.status_code == 200 and meta.get("snapshot_id") is None:
                    after_recovery["200 without a snapshot_id"] += 1
        server.stop()

    by_phase = Counter(acked.values())
    missing = sorted(wanted - set(found))
    unfinished = sorted(r for r, s in found.items() if s == "running")
    successes = {r for r, s in found.items() if s in ("success", "partial")}
    result.counts.update(
        outage_seconds=round(outage, 1),
        trigger_answers={k: dict(v) for k, v in traffic.answers.items()},
        acknowledged_202_by_phase=dict(by_phase),
        marketbrief_run_outcomes=[
            f"{o.get('status')}, "
            + ("persisted" if o.get("persisted") else "outboxed" if o.get("outboxed") else "lost")
            for o in outcomes
        ],
        acknowledged_writes=len(wanted),
        claimed_while_store_down=len(spooled),
        outbox_peak_depth=peak,
        server_counters=server_counts,
        readyz_while_down=dict(ready_while_down),
        report_reads_by_phase={k: dict(v) for k, v in traffic.reads.items()},
        in_store_after_recovery=len(found),
        finished_in_store=len(found) - len(unfinished),
        seconds_from_store_back_to_all_landed=round(recovered_in, 1),
        outbox_left=outbox_depth(outbox),
        outbox_rejected=len(rejected),
        orphan_claims_left_running=orphans,
    )
    result.check(
        "every acknowledged write reached the store after recovery",
        not missing and not unfinished,
        f"{len(wanted) - len(missing) - len(unfinished)} of {len(wanted)} finished in the store "
        f"{recovered_in:.1f} s after it came back; missing {missing[:3]}, "
        f"still running {unfinished[:3]}",
    )
    result.check(
        "every successful run landed with its report snapshot",
        successes <= snapshots,
        f"{len(successes & snapshots)} of {len(successes)}",
    )
    result.check(
        "the outbox really carried writes, and ended empty with nothing rejected",
        peak > 0 and not rejected and outbox_depth(outbox) == 0,
        f"peak depth {peak}, left {outbox_depth(outbox)}, rejected {len(rejected)}",
    )
    result.check(
        "writes kept being acknowledged while the store was down",
        by_phase["store down"] > 0 and len(spooled) > 0,
        f"{by_phase['store down']} triggers answered 202 during the outage; {len(spooled)} runs "
        "claimed without the store (carried whole by the outbox)",
    )
    traffic.check_answers(result)
    result.counts["reads_of_every_written_date_after_recovery"] = dict(after_recovery)
    result.check(
        "after recovery no report is served as not persisted",
        after_recovery["warned not_persisted"] == 0
        and after_recovery["200 without a snapshot_id"] == 0,
        f"{after_recovery['warned not_persisted']} of {len(dates)} warned not_persisted, "
        f"{after_recovery['200 without a snapshot_id']} without a snapshot_id",
    )
    result.check(
        "every `marketbrief run` exited 0 with an acknowledged outcome",
        all(o.get("exit_code") == 0 and o.get("run_id") in cli_acked for o in outcomes),
        "; ".join(
            f"exit {o.get('exit_code')} {cli_acked.get(o.get('run_id') or '')}" for o in outcomes
        ),
    )
    result.notes.append(
        f"Server: `marketbrief serve --port P` on our own PostgreSQL database reached through "
        f"tests/support/faults_proxy.TcpProxy, MARKETBRIEF_OUTBOX_REPLAY_SECONDS=1, default "
        f"MARKETBRIEF_WRITE_RETRY_SECONDS (2 s). One trigger every {TRIGGER_GAP} s (pre-market, "
        "past sessions) before, during and after the outage, a reader GETting reports the "
        "whole time, and two `marketbrief run pre-market --date D --json` processes started "
        "during the outage against the same proxy and outbox. The proxy is taken down "
        "(listener closed, every forwarded connection cut) and brought back on the same port. "
        "The reader's 404s are dates not written yet (an honest `missing`); its 503s are misses "
        "while the store was down (documented, with Retry-After)."
    )
    return result
