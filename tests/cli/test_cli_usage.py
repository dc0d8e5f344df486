"""`marketbrief usage` over a real SQLite store: a table on a terminal, JSON with --json, and
each command's own store usage added to the store as it ends."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from marketbrief.calendar import utc_now
from marketbrief.cli.main import main
from marketbrief.cli.usage import human_bytes
from marketbrief.config import Settings
from marketbrief.models import ReportType
from marketbrief.results import Results
from marketbrief.store.sql import SQLStore
from tests.support.factories import standalone_completion


def _settings(sqlite_url: str, tmp_path: Path) -> Settings:
    store = SQLStore(sqlite_url)
    store.migrate()
    store.close()  # the migration's statements are not flushed: no usage recorded yet
    return Settings(database_url=sqlite_url, outbox_dir=tmp_path / "outbox")


def _publish_runs(settings: Settings, started: list[datetime]) -> None:
    async def run() -> None:
        results = Results.open(settings)
        try:
            for instant in started:
                await results.publish(
                    standalone_completion(ReportType.PRE_MARKET, started_at=instant)
                )
        finally:
            await results.close()

    asyncio.run(run())


def _usage(settings: Settings, *args: str) -> Any:
    env = {
        "MARKETBRIEF_DATABASE_URL": settings.database_url,
        "MARKETBRIEF_OUTBOX_DIR": str(settings.outbox_dir),
    }
    result = CliRunner().invoke(main, list(args), env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.output) if "--json" in args else result.output


def test_usage_json_gives_runs_per_day_and_each_commands_queries_add_up(
    sqlite_url: str, tmp_path: Path
) -> None:
    settings = _settings(sqlite_url, tmp_path)
    today = utc_now().date()
    midnight = datetime.combine(today, datetime.min.time(), UTC)
    yesterday = midnight - timedelta(hours=12)
    _publish_runs(settings, [yesterday, yesterday + timedelta(minutes=5), midnight])

    first = _usage(settings, "usage", "--days", "3", "--json")
    second = _usage(settings, "usage", "--days", "3", "--json")

    assert [d["day"] for d in first["per_day"]] == [
        (today - timedelta(days=2 - i)).isoformat() for i in range(3)
    ]
    assert [d["runs"] for d in first["per_day"]] == [0, 2, 1]
    assert [d["snapshots"] for d in first["per_day"]] == [0, 2, 1]
    # The publishing process's queries reached the store as it closed; the first `usage`
    # command's own reached it as that command ended, and the second reports both.
    published = first["per_day"][-1]["queries"]
    assert published > 0
    own = first["counters"]["unflushed_here"]["queries"]
    assert own > 0
    assert second["per_day"][-1]["queries"] == published + own
    assert first["bytes_method"].startswith("sqlite dbstat")
    assert first["growth"]["measured"] is True


def test_usage_prints_tables_per_day_and_the_growth_for_a_terminal(
    sqlite_url: str, tmp_path: Path
) -> None:
    settings = _settings(sqlite_url, tmp_path)
    _publish_runs(settings, [utc_now() - timedelta(minutes=1)])

    text = _usage(settings, "usage", "--days", "2")
    report = _usage(settings, "usage", "--days", "2", "--json")

    lines = text.splitlines()
    assert lines[0].startswith(f"store usage {report['from']} .. {report['to']} (2 UTC days)")
    run_row = next(line for line in lines if line.startswith("job_executions "))
    assert run_row.split()[1] == "1"
    total = next(line for line in lines if line.startswith("total "))
    assert total.split()[1] == str(report["total"]["rows"])
    today_row = next(line for line in lines if line.startswith(report["to"]))
    assert today_row.split()[1:3] == ["1", "1"]  # one run, one snapshot
    assert any(line.startswith("growth: ") and "rows/day" in line for line in lines)
    assert any(line.startswith("in a year: ") for line in lines)


def test_bytes_read_as_people_read_them() -> None:
    assert human_bytes(512) == "512 B"
    assert human_bytes(4096) == "4.0 KB"
    assert human_bytes(3 * 1024**3 // 2) == "1.5 GB"


def test_usage_refuses_a_window_of_no_days(sqlite_url: str, tmp_path: Path) -> None:
    settings = _settings(sqlite_url, tmp_path)
    result = CliRunner().invoke(
        main, ["usage", "--days", "0"], env={"MARKETBRIEF_DATABASE_URL": settings.database_url}
    )
    assert result.exit_code == 2
    assert "--days" in result.output
