"""What one run measures and for how long: the conditions, the paths asked, and `Config`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchmarks.payloads import REPORT_DAY

REPORT_PATH = f"/api/v1/reports/pre-market?date={REPORT_DAY.isoformat()}"
HISTORY_PATH = "/api/v1/jobs/history?limit=50"

# (key, label) of every closed-loop measurement, in the order each round runs them.
THROUGHPUT = (
    ("ceiling", "ceiling: bare ASGI app on the shipped server, same pre-serialized body"),
    ("ceiling_fastest", "bare ASGI app on the fastest server measured (granian), same body"),
    ("baseline", "baseline: FastAPI + SQLAlchemy ORM query + json.loads, same SQLite store"),
    ("cached", "marketbrief cached report, embedded (SQLite + memory cache)"),
    ("cache_off", "marketbrief report with MARKETBRIEF_CACHE=off (SQLite)"),
    ("pg_cached", "marketbrief cached report, scaled out (PostgreSQL + Redis)"),
    ("history_sqlite", "marketbrief job history (limit=50), SQLite"),
    ("history_pg", "marketbrief job history (limit=50), PostgreSQL + Redis"),
)
# (key, label) of every fixed-rate measurement, in the order each round runs them; "bare" is
# the bare ASGI app on the fastest server measured, every other row's reference.
FIXED_RATE = (
    ("bare", "bare ASGI app, fastest server, same report body"),
    ("cached", "cached report, embedded (SQLite + memory cache)"),
    ("pg_cached", "cached report, scaled out (PostgreSQL + Redis)"),
    ("history_sqlite", "job history (limit=50), embedded (SQLite + memory cache)"),
    ("history_pg", "job history (limit=50), scaled out (PostgreSQL + Redis)"),
)
# The conditions whose server processes are marketbrief's, for the memory (RSS) figure.
MARKETBRIEF_SERVERS = ("cached", "cache_off", "pg_cached", "dashboard")


@dataclass(frozen=True, slots=True)
class Config:
    """Counts and durations of one run; `quick()` is the smoke run."""

    quick: bool = False
    history_runs: int = 1_000_000
    dashboard_runs: int = 100_000
    reps: int = 5
    throughput_seconds: float = 5.0
    warmup_seconds: float = 2.0
    # The open loop offers this share of the bare ceiling's closed-loop rate of the same run, so
    # it asks the same of a fast machine as of a slow one.
    fixed_fraction: float = 0.25
    fixed_seconds: float = 8.0
    fixed_reps: int = 3
    completion_seconds: float = 3.0
    completion_profile_seconds: float = 3.0
    dashboard_loads: int = 10
    profile_seconds: float = 6.0
    in_process_calls: int = 2000
    cache_dir: Path = Path(".bench-cache")

    @classmethod
    def smoke(cls, cache_dir: Path = Path(".bench-cache")) -> Config:
        """Small counts and short runs: proves every part works, measures nothing precisely."""
        return cls(
            quick=True,
            history_runs=20_000,
            dashboard_runs=5_000,
            reps=1,
            throughput_seconds=2.0,
            warmup_seconds=1.0,
            fixed_seconds=2.0,
            fixed_reps=1,
            completion_seconds=0.5,
            completion_profile_seconds=0.5,
            dashboard_loads=3,
            profile_seconds=2.0,
            in_process_calls=200,
            cache_dir=cache_dir,
        )
