"""`python -m benchmarks [--quick] [--out PATH]`: run the suite and write docs/performance.md."""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import tempfile
from pathlib import Path
from types import FrameType

from harness import ROOT

from benchmarks import report, suite
from benchmarks.config import Config
from benchmarks.progress import log
from benchmarks.report_targets import targets

DEFAULT_OUT = ROOT / "docs" / "performance.md"


def _interrupted(signum: int, _frame: FrameType | None) -> None:
    # Turn SIGTERM into an exception so every server, schema and key is cleaned up.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the suite, write the report; return the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="marketbrief's benchmarks, reported as side-by-side ratios.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a short smoke run with small stores (writes to a temporary file unless --out)",
    )
    parser.add_argument("--out", type=Path, help=f"where to write the report ({DEFAULT_OUT})")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=ROOT / ".bench-cache",
        help="where the seeded SQLite store is kept between runs (default .bench-cache/)",
    )
    args = parser.parse_args(argv)
    config = Config.smoke(args.cache_dir) if args.quick else Config(cache_dir=args.cache_dir)
    out = args.out
    if out is None:
        out = (
            Path(tempfile.gettempdir()) / "marketbrief-performance-quick.md"
            if args.quick
            else DEFAULT_OUT
        )
    command = " ".join(
        shlex.quote(part)
        for part in [Path(sys.executable).name, "-m", "benchmarks", *(argv or sys.argv[1:])]
    )
    signal.signal(signal.SIGTERM, _interrupted)
    outcome = suite.run(config, command)
    written = report.write(outcome, out)
    log(f"wrote {written}")
    for target in targets(outcome):
        verdict = {True: "met", False: "NOT met", None: target.unmeasured}[target.met]
        log(f"  {verdict:>12}: {target.name} — {target.measured}")
    for name, error in outcome.failures.items():
        log(f"FAILED phase {name}: {error}")
    return 1 if outcome.failures else 0


if __name__ == "__main__":
    sys.exit(main())
