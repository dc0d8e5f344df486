"""A benchmark part run in its own process, pinned to the server core: JSON out, or the error."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from harness import ROOT

from benchmarks import SERVER_CORE
from benchmarks.servers import pinned


def run_pinned(module: str, args: list[str], seconds: float, what: str) -> Any:
    """`python -m module *args` on the server core; its standard output read as JSON."""
    done = subprocess.run(
        pinned(SERVER_CORE, [sys.executable, "-m", module, *args]),
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        check=False,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout)
