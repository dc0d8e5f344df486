"""The run-completion rounds: `finish_run` on each store beside its raw limit, and its profile."""

from __future__ import annotations

from pathlib import Path

from benchmarks import completions, completions_profile, completions_raw
from benchmarks.config import Config
from benchmarks.outcome import Outcome
from benchmarks.progress import log


def run(config: Config, outcome: Outcome, work: Path, postgres_url: str | None) -> None:
    """Interleaved rounds: SQLStore on SQLite, the raw sqlite3 replay, SQLStore on PostgreSQL.

    Each measurement writes to a fresh file (or schema) of its own, so none pays for another's
    growth; the profile runs last, on a file of its own.
    """
    if postgres_url is None:
        outcome.skipped["completions on PostgreSQL"] = "PostgreSQL does not answer"
    outcome.fsync_floor_us = completions.fsync_floor(work)
    for rep in range(config.reps):
        store = completions.run_measure(
            f"sqlite:///{work / f'completions-{rep}.db'}", config.completion_seconds
        )
        raw = completions_raw.run_measure(
            work / f"completions-raw-{rep}.db", config.completion_seconds
        )
        outcome.completions.setdefault("sqlite", []).append(store)
        outcome.completions.setdefault("sqlite_raw", []).append(raw)
        line = f"  round {rep + 1}: SQLite {store.per_second:,.0f}/s, raw {raw.per_second:,.0f}/s"
        if postgres_url is not None:
            pg = completions.run_measure(postgres_url, config.completion_seconds)
            outcome.completions.setdefault("postgresql", []).append(pg)
            line += f", PostgreSQL {pg.per_second:,.0f}/s"
        log(line)
    outcome.completion_profile = completions_profile.run_measure(
        f"sqlite:///{work / 'completions-profile.db'}", config.completion_profile_seconds
    )
