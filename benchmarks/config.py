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
FIXED_RATE = (
    ("history_sqlite", "job history, embedded (SQLite + memory cache)"),
    ("history_pg", "job history, scaled out (PostgreSQL + Redis)"),
)


@dataclass(frozen=True, slots=True)
class Config:
    """Counts and durations of one run; `quick()` is the smoke run."""

    quick: bool = False
    history_runs: int = 1_000_000
    dashboard_runs: int = 100_000
    reps: int = 5
    throughput_seconds: float = 5.0
    warmup_seconds: float = 2.0
    fixed_rate: float = 1000.0
    fixed_seconds: float = 10.0
    fixed_reps: int = 5
    # One more open-loop run per mode at this fraction of the closed-loop maximum: the latency
    # of the endpoint when it is not overloaded.
    relaxed_fraction: float = 0.5
    relaxed_seconds: float = 10.0
    completion_seconds: float = 3.0
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
            fixed_rate=200.0,
            fixed_seconds=2.0,
            fixed_reps=1,
            relaxed_seconds=2.0,
            completion_seconds=0.5,
            dashboard_loads=3,
            profile_seconds=2.0,
            in_process_calls=200,
            cache_dir=cache_dir,
        )
