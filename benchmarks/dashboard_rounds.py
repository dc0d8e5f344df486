"""The dashboard in Chromium beside a static copy of its own HTML on the same server stack."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from harness.process import HttpServer

from benchmarks import browser, servers, static_page
from benchmarks.config import Config
from benchmarks.memory import worker_rss_mb
from benchmarks.outcome import Outcome
from benchmarks.seed_history import SeedPlan
from benchmarks.seed_sqlite import seed_sqlite
from marketbrief.calendar import business_date, utc_now

_STYLESHEETS = re.compile(rb'<link rel="stylesheet" href="(/[^"]+)"')


def _get(url: str) -> bytes:
    status, body = servers.fetch(url, timeout=120)
    if status != 200:
        raise RuntimeError(f"{url} answered {status}")
    return body


def run(
    config: Config,
    outcome: Outcome,
    work: Path,
    logs: Path,
    start: Callable[[HttpServer], HttpServer],
) -> None:
    """Seed the dashboard's store, serve it and its static copy, load both in turn in Chromium."""
    absent = browser.missing()
    if absent:
        outcome.skipped["dashboard"] = absent
        return
    today = business_date(utc_now())
    path = work / "dashboard.db"
    outcome.seeds["dashboard"] = seed_sqlite(path, SeedPlan(config.dashboard_runs, end=today))
    dashboard = start(servers.marketbrief("dashboard", logs, database_url=f"sqlite:///{path}"))
    dashboard.wait_ready()
    outcome.rss_start_mb["dashboard"] = worker_rss_mb(dashboard.pid)
    html = _get(dashboard.url + "/")
    assets = {
        href.decode(): _get(dashboard.url + href.decode()) for href in _STYLESHEETS.findall(html)
    }
    outcome.static_page_bytes = len(html)
    copy = start(servers.static_page(static_page.save(work / "static-page", html, assets), logs))
    copy.wait_ready()
    static, page = browser.run_measure(
        [copy.url + "/", dashboard.url + "/"], config.dashboard_loads
    )
    outcome.static_page, outcome.dashboard = static, page
    outcome.rss_mb["dashboard"] = worker_rss_mb(dashboard.pid)
    outcome.dashboard_runs_in_window = _runs_in_last_days(path, today)
    copy.stop()
    dashboard.stop()


def _runs_in_last_days(path: Path, today: date, days: int = 14) -> int:
    connection = sqlite3.connect(path)
    try:
        row = connection.execute(
            "SELECT count(*) FROM job_executions WHERE scheduled_date >= ?",
            ((today - timedelta(days=days)).isoformat(),),
        ).fetchone()
        return int(row[0])
    finally:
        connection.close()
