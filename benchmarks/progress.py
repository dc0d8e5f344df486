"""Progress of a run on stderr, and its timed phases (an optional one may fail, the run goes on)."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator

from benchmarks.outcome import Outcome


def log(message: str) -> None:
    """Progress on stderr."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def phase(outcome: Outcome, name: str, *, optional: bool = False) -> Iterator[None]:
    """Time a phase of the run (reported, so the 15-minute budget is visible).

    An optional phase that fails is recorded in `outcome.failures` (and in the report) and the
    run goes on, so one broken part does not throw away every other measurement.
    """
    log(f"{name} ...")
    began = time.perf_counter()
    try:
        yield
    except Exception as error:
        if not optional:
            raise
        outcome.failures[name] = f"{type(error).__name__}: {error}"
        log(f"{name} FAILED: {outcome.failures[name]}")
    finally:
        outcome.timings[name] = time.perf_counter() - began
        log(f"{name} took {outcome.timings[name]:.1f} s")
