"""`python -m resilience [--quick] [--only KEYS] [--out FILE] [--json FILE]`.

Runs the scenarios in order against real `marketbrief serve` processes, writes the counts to
docs/resilience.md (or --out), and exits 1 if any promise did not hold.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from harness import ROOT

from resilience import (
    SCENARIOS,
    audit,
    badinput,
    clocks,
    crash,
    disks,
    outage,
    race,
    reads,
    report,
    stall,
)
from resilience.scenario import ScenarioResult


def _plan(
    args: argparse.Namespace, work: Path
) -> dict[str, Callable[[], Coroutine[Any, Any, ScenarioResult]]]:
    quick = args.quick
    fault = 5.0 if quick else 20.0  # seconds a disk stays full or read-only
    return {
        "crash": lambda: crash.run(
            work / "crash", triggers=200 if quick else 1000, real_sweeper=not quick
        ),
        "reads": lambda: reads.run(work / "reads", quick=quick),
        "outage": lambda: outage.run(work / "outage", down_seconds=5.0 if quick else 30.0),
        "stall-postgres": lambda: stall.run(
            work / "stall-postgres",
            fault="postgres",
            reads=50 if quick else 200,
            spread=10 if quick else 30,
        ),
        "stall-redis": lambda: stall.run(
            work / "stall-redis",
            fault="redis",
            reads=50 if quick else 200,
            spread=10 if quick else 30,
        ),
        "clocks": lambda: clocks.run(
            work / "clocks", turns=40 if quick else 200, pairs=10 if quick else 50
        ),
        "race": lambda: race.run(work / "race", runs=40 if quick else 200),
        "badinput": lambda: badinput.run(
            work / "badinput", fuzz_seconds=args.fuzz_seconds if args.fuzz_seconds else 0
        ),
        "audit": lambda: audit.run(work / "audit", pip_audit=not args.no_pip_audit),
        "fulldisk": lambda: disks.full_disk(work / "fulldisk", fault_seconds=fault),
        "readonly": lambda: disks.read_only(work / "readonly", fault_seconds=fault),
    }


def main(argv: list[str] | None = None) -> int:
    """Run, report, and return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m resilience", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts (CI: a few minutes)")
    parser.add_argument(
        "--only", default=",".join(SCENARIOS), help=f"comma-separated subset of {SCENARIOS}"
    )
    parser.add_argument("--out", type=Path, help="markdown report (default docs/resilience.md)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, files)")
    parser.add_argument(
        "--fuzz-seconds",
        type=int,
        default=None,
        help="schemathesis budget against the live server (default 90, --quick 0 = skip)",
    )
    parser.add_argument("--no-pip-audit", action="store_true", help="skip pip-audit (network)")
    args = parser.parse_args(argv)
    if args.fuzz_seconds is None:
        args.fuzz_seconds = 0 if args.quick else 90
    chosen = [key.strip() for key in args.only.split(",") if key.strip()]
    unknown = [key for key in chosen if key not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; choose from {SCENARIOS}")
    out = args.out or ROOT / "docs" / "resilience.md"
    work = Path(tempfile.mkdtemp(prefix="mb-resilience-"))
    plan = _plan(args, work)
    results: list[ScenarioResult] = []
    began = time.monotonic()
    try:
        for key in chosen:
            print(f"== {key} ...", flush=True)
            started = time.monotonic()
            try:
                outcome = asyncio.run(plan[key]())
            except Exception as error:  # a crashed scenario is reported, the others still run
                outcome = ScenarioResult(key, key)
                outcome.error = "".join(traceback.format_exception(error))[-4000:]
            outcome.seconds = time.monotonic() - started
            results.append(outcome)
            print(report.console(outcome), flush=True)
    finally:
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    total = time.monotonic() - began
    command = "python -m resilience" + (" --quick" if args.quick else "")
    if args.only != ",".join(SCENARIOS):
        command += f" --only {args.only}"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report.markdown(results, command=command, quick=args.quick, seconds=total))
    if args.json:
        payload = {"seconds": round(total, 1), "results": [r.as_dict() for r in results]}
        args.json.write_text(json.dumps(payload, indent=2, default=str))
    failed = [r.key for r in results if not r.ok]
    print(f"== {len(results) - len(failed)} of {len(results)} scenarios held in {total:.0f} s")
    print(f"report: {out}")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
