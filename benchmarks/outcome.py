"""Everything one run measured, as the report reads it: `Outcome`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from benchmarks.browser import DashboardResult
from benchmarks.completions import CompletionsResult
from benchmarks.completions_profile import CompletionProfile
from benchmarks.config import Config
from benchmarks.load import WrkResult
from benchmarks.near import NearResult
from benchmarks.openloop import FixedRateResult
from benchmarks.profiling import InProcess, ProfileSummary
from benchmarks.seed_history import SeedInfo


@dataclass
class Outcome:
    """Everything measured, for the report."""

    config: Config
    command: str
    started: float = field(default_factory=time.time)
    finished: float = 0.0
    machine: dict[str, str] = field(default_factory=dict)
    seeds: dict[str, SeedInfo] = field(default_factory=dict)
    throughput: dict[str, list[WrkResult]] = field(default_factory=dict)
    response_bytes: dict[str, int] = field(default_factory=dict)
    store_reads_per_request: dict[str, float] = field(default_factory=dict)
    # The open loop's offered rate (a share of the bare ceiling's closed-loop rate), the key of
    # the ceiling it was taken from, and every fixed-rate round by condition ("bare" included).
    fixed_rate: float = 0.0
    fixed_bare: str = ""
    fixed: dict[str, list[FixedRateResult]] = field(default_factory=dict)
    # "sqlite", "postgresql" (SQLStore.finish_run) and "sqlite_raw" (the same driver calls
    # replayed through plain sqlite3: the raw limit), round by round.
    completions: dict[str, list[CompletionsResult]] = field(default_factory=dict)
    completion_profile: CompletionProfile | None = None
    dashboard: DashboardResult | None = None
    # The dashboard's own HTML and stylesheet, saved and served as files by the same server.
    static_page: DashboardResult | None = None
    static_page_bytes: int = 0
    # MB resident of the largest process of each marketbrief server at the end of its rounds.
    rss_mb: dict[str, float] = field(default_factory=dict)
    near: NearResult | None = None  # the near cache: hit ratio and staleness (benchmarks/near.py)
    rss_start_mb: dict[str, float] = field(default_factory=dict)  # the same, once ready
    dashboard_runs_in_window: int = 0
    report_dates: int = 0
    fsync_floor_us: float = 0.0
    profiles: dict[str, ProfileSummary] = field(default_factory=dict)
    in_process: InProcess | None = None
    # req/s of the bare ceiling on each candidate server, round by round (benchmarks/candidates).
    candidates: dict[str, list[float]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    # CPU cores used by everything but the server under test and the load generator, per
    # measurement: the shared machine's noise (PostgreSQL and Redis count here too).
    other_cpu: dict[str, list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
