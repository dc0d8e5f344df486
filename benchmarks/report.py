"""docs/performance.md from one run's outcome: the heading and notes, then each section in order."""

from __future__ import annotations

import time
from pathlib import Path

from benchmarks import (
    report_completions,
    report_dashboard,
    report_housekeeping,
    report_memory,
    report_method,
    report_misses,
    report_near,
    report_openloop,
    report_profile,
    report_requests,
    report_servers,
    report_targets,
)
from benchmarks.outcome import Outcome


def render(outcome: Outcome) -> str:
    """The whole Markdown document."""
    c = outcome.config
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(outcome.started))
    minutes = (outcome.finished - outcome.started) / 60
    out: list[str] = []
    add = out.append
    add("# Performance")
    add("")
    add(
        f"Measured by `make bench` on {when}; the run took {minutes:.1f} minutes. "
        "This file is written by the benchmark: run it again to refresh every number."
    )
    add("")
    add("```sh")
    add("make bench")
    add(f"# which runs: {outcome.command}")
    add("```")
    add("")
    if c.quick:
        add("> **Quick smoke run** (`--quick`): small stores and short runs. These numbers only")
        add("> show that the benchmark works; they measure nothing precisely.")
        add("")
    if outcome.failures:
        add("> **Some measurements failed in this run** and are missing below:")
        for name, error in outcome.failures.items():
            add(f"> - {name}: `{error}`")
        add("")
    report_targets.section(outcome, add)
    report_misses.section(outcome, add)
    report_method.method(outcome, add)
    report_method.machine(outcome, add)
    report_requests.closed_loop(outcome, add)
    report_servers.section(outcome, add)
    report_openloop.section(outcome, add)
    report_completions.section(outcome, add)
    report_dashboard.section(outcome, add)
    report_memory.section(outcome, add)
    report_near.section(outcome, add)
    report_profile.section(outcome, add)
    report_housekeeping.section(outcome, add)
    return "\n".join(out).rstrip() + "\n"


def write(outcome: Outcome, path: Path) -> Path:
    """Write the report to `path` (creating its folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(outcome))
    return path
