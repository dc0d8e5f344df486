"""Scenarios 6 and 7: the SQLite store's filesystem fills up, or turns read-only, and comes back.

A `marketbrief serve` (embedded mode) keeps its SQLite file on a filesystem we can break for
real: a small tmpfs filled to its last block, or a FUSE passthrough filesystem
(tests/support/switchfs.py) switched read-only, which refuses every change with EROFS as the
kernel does after a read-only remount. The outbox lives on another filesystem. Triggers and
reads run before, during and after the fault; the server is never restarted. What must hold:
every acknowledged trigger ends finished in the store, `/readyz` says 503 while writes fail
and 200 again once a write succeeds, the outbox drains, and nothing but documented 503s.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
from harness.store import migrate
from tests.support.switchfs import SwitchableFilesystem, unavailable_reason

from resilience.answers import counters
from resilience.inputs import past_sessions, write_inputs
from resilience.scenario import ScenarioResult, cleanup
from resilience.server import Server, marketbrief_env
from resilience.traffic import Traffic, outbox_depth

RECOVERY_LIMIT = 120.0
TMPFS_SIZE = "32m"


def _fill(folder: Path) -> int:
    """Write a file until the filesystem has no block left; returns its size."""
    written = 0
    with contextlib.suppress(OSError), (folder / "filler").open("wb") as handle:
        block = b"\0" * (1 << 20)
        while True:  # bounded by the filesystem's size: it ends with ENOSPC
            written += handle.write(block)
            handle.flush()
    with contextlib.suppress(OSError), (folder / "filler-tail").open("wb") as handle:
        while True:  # the last partial megabyte, one block at a time
            written += handle.write(b"\0" * 4096)
            handle.flush()
    return written


async def full_disk(work: Path, *, fault_seconds: float) -> ScenarioResult:
    """The store's tmpfs filled for `fault_seconds`, then the filler removed."""
    result = ScenarioResult("fulldisk", f"Store's disk full for {fault_seconds:.0f} s")
    if os.geteuid() != 0:
        result.notes.append("Skipped: mounting a tmpfs needs root.")
        return result
    disk = work / "disk"
    disk.mkdir(parents=True)
    with cleanup() as stack:
        mount = ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(disk)]
        subprocess.run(mount, check=True)  # noqa: S603 - a fixed command of our own
        stack.callback(subprocess.run, ["umount", "-l", str(disk)], check=False)
        filled: list[int] = []

        def on() -> None:
            filled.append(_fill(disk))

        def off() -> None:
            (disk / "filler").unlink()
            (disk / "filler-tail").unlink(missing_ok=True)

        await _drive(result, work, disk, on, off, fault_seconds=fault_seconds)
        result.counts["bytes written to fill the disk"] = filled[0] if filled else 0
    result.notes.append(
        f"Server: `marketbrief serve --port P` on SQLite in a {TMPFS_SIZE} tmpfs mounted for the "
        "scenario, filled to its last 4 KiB block by a filler file while runs are triggered, "
        "then the filler is deleted. The outbox is on another filesystem (the work folder), "
        "MARKETBRIEF_OUTBOX_REPLAY_SECONDS=1."
    )
    return result


async def read_only(work: Path, *, fault_seconds: float) -> ScenarioResult:
    """The store's filesystem read-only for `fault_seconds`, then writable again."""
    result = ScenarioResult("readonly", f"Store's filesystem read-only for {fault_seconds:.0f} s")
    reason = unavailable_reason()
    if reason is not None:
        result.notes.append(f"Skipped: no FUSE here ({reason}).")
        return result
    with SwitchableFilesystem(work / "backing", work / "fuse") as fs:
        await _drive(
            result, work, fs.mountpoint, fs.read_only, fs.writable, fault_seconds=fault_seconds
        )
    result.notes.append(
        "Server: `marketbrief serve --port P` on SQLite kept on a FUSE passthrough filesystem "
        "(tests/support/switchfs.py, libfuse 3 through mfusepy) that is switched read-only: "
        "every write, open for writing, create, rename or unlink fails with EROFS, as after "
        "`mount -o remount,ro` (which the kernel refuses while SQLite holds the file open for "
        "writing: 'mount point is busy'). The outbox is on another filesystem, "
        "MARKETBRIEF_OUTBOX_REPLAY_SECONDS=1. The server is never restarted."
    )
    return result


async def _drive(
    result: ScenarioResult,
    work: Path,
    store_dir: Path,
    fault_on: Callable[[], None],
    fault_off: Callable[[], None],
    *,
    fault_seconds: float,
) -> None:
    """Triggers, reads and /readyz before, during and after the fault; then count what landed."""
    days = past_sessions(200)
    news, prices = write_inputs(work / "inputs", days)
    outbox = work / "outbox"
    database = store_dir / "store.db"
    migrate(f"sqlite:///{database}")
    env = marketbrief_env(
        database_url=f"sqlite:///{database}",
        outbox_dir=outbox,
        news=news,
        prices=prices,
        outbox_replay_seconds="1",
    )
    server = Server(f"{result.key}-server", env, work)
    with cleanup() as stack:
        stack.callback(server.kill)
        server.start()
        server.wait_ready()
        traffic = Traffic(server.url, days)
        ready: dict[str, Counter[str]] = {}
        reasons: Counter[str] = Counter()
        peak = 0

        async def readiness() -> None:
            nonlocal peak
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
                while not traffic.stop.is_set():
                    at = traffic.phase
                    peak = max(peak, outbox_depth(outbox))
                    try:
                        response = await client.get("/readyz")
                    except httpx.HTTPError:
                        ready.setdefault(at, Counter())["no answer"] += 1
                    else:
                        ready.setdefault(at, Counter())[str(response.status_code)] += 1
                        if response.status_code == 503 and at == "fault":
                            writes = response.json()["store"].get("writes", {})
                            reasons[str(writes.get("error") or "store down")[:60]] += 1
                    await asyncio.sleep(0.25)

        background = [
            asyncio.create_task(traffic.triggers()),
            asyncio.create_task(traffic.reader(window=20)),
            asyncio.create_task(readiness()),
        ]
        await asyncio.sleep(2.0)
        traffic.phase = "fault"
        await asyncio.to_thread(fault_on)
        await asyncio.sleep(fault_seconds)
        await asyncio.to_thread(fault_off)
        back = time.monotonic()
        traffic.phase = "after"
        ready_again = await asyncio.to_thread(_wait_ready, server.url, back)
        await asyncio.sleep(2.0)
        traffic.stop.set()
        await asyncio.gather(*background)

        acked = traffic.acked
        wanted = set(acked)
        found: dict[str, str] = {}
        deadline = back + RECOVERY_LIMIT
        while True:
            found = await asyncio.to_thread(_statuses, database, wanted)
            finished = [r for r, s in found.items() if s != "running"]
            if (len(finished) == len(wanted) and outbox_depth(outbox) == 0) or (
                time.monotonic() > deadline
            ):
                break
            await asyncio.sleep(0.25)
        landed_in = time.monotonic() - back
        server_counts = await asyncio.to_thread(
            counters, server.url, ("outbox_writes", "outbox_replayed", "store_commits")
        )
        starts = server.starts
        server.stop()
        integrity = await asyncio.to_thread(_integrity, database)

    missing = sorted(wanted - set(found))
    unfinished = sorted(r for r, s in found.items() if s == "running")
    rejected = list((outbox / "rejected").glob("*.json")) if outbox.is_dir() else []
    fault_ready = ready.get("fault", Counter())
    result.counts.update(
        fault_seconds=fault_seconds,
        trigger_answers={k: dict(v) for k, v in traffic.answers.items()},
        acknowledged_202_by_phase=dict(Counter(acked.values())),
        acknowledged_writes=len(wanted),
        in_store_after_recovery=len(found),
        finished_in_store=len(found) - len(unfinished),
        readyz_by_phase={k: dict(v) for k, v in ready.items()},
        readyz_503_reasons_during_fault=dict(reasons),
        seconds_from_fault_end_to_readyz_200=None if ready_again is None else round(ready_again, 1),
        seconds_from_fault_end_to_all_landed=round(landed_in, 1),
        report_reads_by_phase={k: dict(v) for k, v in traffic.reads.items()},
        outbox_peak_depth=peak,
        outbox_left=outbox_depth(outbox),
        outbox_rejected=len(rejected),
        server_counters=server_counts,
        server_starts=starts,
        integrity_check=integrity,
    )
    result.check(
        "every acknowledged trigger ended finished in the store, without a restart",
        not missing and not unfinished and starts == 1,
        f"{len(wanted) - len(missing) - len(unfinished)} of {len(wanted)} finished "
        f"{landed_in:.1f} s after the fault ended; missing {missing[:3]}, still running "
        f"{unfinished[:3]}; server started {starts} time(s)",
    )
    result.check(
        "/readyz said 503 while writes failed, with the reason",
        fault_ready["503"] > 0 and sum(reasons.values()) > 0,
        f"during the fault {dict(fault_ready)}; reasons {dict(reasons)}",
    )
    result.check(
        "/readyz is 200 again after the fault, and the outbox drained",
        ready_again is not None and outbox_depth(outbox) == 0 and not rejected,
        f"200 again {ready_again if ready_again is None else round(ready_again, 1)} s after; "
        f"outbox peak {peak}, left {outbox_depth(outbox)}, rejected {len(rejected)}",
    )
    result.check(
        "writes kept being acknowledged during the fault (spooled to the outbox)",
        Counter(acked.values())["fault"] > 0 and peak > 0,
        f"{Counter(acked.values())['fault']} triggers answered 202 during the fault",
    )
    traffic.check_answers(result, ready)
    result.check("PRAGMA integrity_check after recovery", integrity == ["ok"], str(integrity))


def _wait_ready(url: str, since: float) -> float | None:
    """Seconds from `since` until /readyz answers 200 (None if not within RECOVERY_LIMIT)."""
    while time.monotonic() - since < RECOVERY_LIMIT:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/readyz", timeout=30).status_code == 200:
                return time.monotonic() - since
        time.sleep(0.1)
    return None


def _statuses(database: Path, run_ids: set[str]) -> dict[str, str]:
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as connection:
        rows = connection.execute("SELECT run_id, status FROM job_executions").fetchall()
    return {run_id: status for run_id, status in rows if run_id in run_ids}


def _integrity(database: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as connection:
        return [row[0] for row in connection.execute("PRAGMA integrity_check")]
