"""`marketbrief demo`: a fresh SQLite store seeded offline from the shipped sample, and the
refusals that keep anybody's real data untouched.

The demo runs once per module (it takes a few seconds): every test reads what that one run made.
It runs at the real now, as a user's would, so the dates differ from day to day; what is checked
holds for any day.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest
from click.testing import CliRunner, Result

from marketbrief.calendar import parse_instant, utc_now
from marketbrief.cli.main import main
from marketbrief.config import Settings
from marketbrief.demo.sample import MARKER, headline_pool
from marketbrief.demo.seed import scored_calls
from marketbrief.models import Direction, ReportType
from marketbrief.pipeline.models import headline_model
from marketbrief.results import Results
from marketbrief.store.sql import SQLStore

T = TypeVar("T")


@dataclass(frozen=True)
class Demo:
    """One demo run: where it wrote, what it printed."""

    database: Path
    files: Path
    result: Result
    started: datetime

    @property
    def settings(self) -> Settings:
        return Settings(
            database_url=f"sqlite:///{self.database}", outbox_dir=self.files / "reader-outbox"
        )


def _demo(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, ["demo", *args], env=env or {})


def _read(settings: Settings, work: Callable[[Results], Awaitable[T]]) -> T:
    async def run() -> T:
        results = Results.open(settings)
        try:
            return await work(results)
        finally:
            await results.close()

    return asyncio.run(run())


def _run_count(database: Path) -> int:
    store = SQLStore(f"sqlite:///{database}")
    try:
        return sum(store.run_counts().values())
    finally:
        store.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    folder = tmp_path_factory.mktemp("demo")
    database, files = folder / "demo.db", folder / "sample"
    started = utc_now()
    result = _demo("--database", str(database), "--files", str(files))
    return Demo(database, files, result, started)


def _latest(demo: Demo) -> dict[ReportType, dict[str, Any]]:
    """Each report type's newest report, as the read path serves it."""

    async def work(results: Results) -> dict[ReportType, dict[str, Any]]:
        found: dict[ReportType, dict[str, Any]] = {}
        for kind in ReportType:
            run = await results.latest_run(kind)
            assert run is not None, kind
            response = await results.get_report(kind, run.scheduled_date)
            assert response.has_content, (kind, response.state)
            assert response.data is not None
            found[kind] = orjson.loads(response.data)
        return found

    return _read(demo.settings, work)


def test_the_demo_seeds_every_report_type_and_says_what_it_made(demo: Demo) -> None:
    assert demo.result.exit_code == 0, demo.result.output
    output = demo.result.output
    assert "sample data (not real news or prices)" in output
    assert "0 without a report" in output
    assert "make run" in output
    reports = _latest(demo)
    pre = reports[ReportType.PRE_MARKET]
    assert pre["symbols"]
    assert all(row["headlines"] for row in pre["symbols"])
    assert {row["news_source"] for row in pre["symbols"]} == {f"dir:{demo.files / 'news'}"}
    assert reports[ReportType.INTRADAY]["symbols"]
    end = reports[ReportType.END_OF_DAY]
    assert all(row["close"] is not None for row in end["symbols"])
    weekly = reports[ReportType.WEEKLY]
    assert weekly["sessions"]
    assert all(session["report"] for session in weekly["sessions"])


def test_the_demo_scores_end_of_day_calls_honestly(demo: Demo) -> None:
    async def work(results: Results) -> list[tuple[int, int]]:
        calls = []
        schedule = await results.schedule(14)
        for slot in schedule["slots"]:
            if slot["report_type"] == "end-of-day" and slot["status"] == "ok":
                day = date.fromisoformat(slot["date"])
                response = await results.get_report(ReportType.END_OF_DAY, day)
                assert response.data is not None
                calls.append(scored_calls(orjson.loads(response.data)))
        return calls

    calls = _read(demo.settings, work)
    scored = sum(n for n, _ in calls)
    right = sum(k for _, k in calls)
    assert scored >= 1
    assert 0 < right < scored  # some calls right, some wrong: never a made-up 100%


def test_the_demo_fills_the_schedule_grid_for_two_weeks(demo: Demo) -> None:
    schedule = _read(demo.settings, lambda results: results.schedule(14))
    statuses = {slot["status"] for slot in schedule["slots"]}
    assert statuses <= {"ok", "pending"}, schedule["counts"]
    due = [s for s in schedule["slots"] if parse_instant(s["scheduled_at"]) <= demo.started]
    assert {slot["status"] for slot in due} == {"ok"}
    sessions = {slot["date"] for slot in due if slot["report_type"] == "end-of-day"}
    assert len(sessions) >= 13  # 14 sessions, today's close perhaps still to come
    assert any(slot["report_type"] == "weekly" for slot in due)


def test_a_database_that_holds_runs_is_refused_and_left_as_it_was(demo: Demo) -> None:
    before = _run_count(demo.database)
    configured = _demo(
        "--files", str(demo.files), env={"MARKETBRIEF_DATABASE_URL": f"sqlite:///{demo.database}"}
    )
    assert configured.exit_code == 2
    assert "already holds" in configured.output
    assert "--database demo.db" in configured.output
    named = _demo("--database", str(demo.database), "--files", str(demo.files))
    assert named.exit_code == 2
    assert "--force" in named.output
    assert _run_count(demo.database) == before


def test_a_files_folder_the_demo_did_not_write_is_refused_before_the_database_is_touched(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    database = tmp_path / "fresh.db"
    result = _demo("--database", str(database), "--files", str(folder))
    assert result.exit_code == 2
    assert "did not write" in result.output
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
    store = SQLStore(f"sqlite:///{database}")
    try:
        assert store.verify().revision is None  # never migrated
    finally:
        store.close()


def test_database_takes_a_path_not_a_url(tmp_path: Path) -> None:
    result = _demo("--database", "sqlite:///elsewhere.db", "--files", str(tmp_path / "f"))
    assert result.exit_code == 2
    assert "MARKETBRIEF_DATABASE_URL" in result.output


def test_the_sample_files_are_marked_as_the_demo_s(demo: Demo) -> None:
    assert (demo.files / MARKER).is_file()
    news = (demo.files / "news" / "AAPL.json").read_text()
    assert '"source": "demo sample"' in news
    assert "not real news" in news
    assert (demo.files / "news" / "SPY.xml").read_text().startswith("<?xml")  # SPY as RSS
    header = (demo.files / "prices" / "AAPL.csv").read_text().splitlines()[0]
    assert header == "Date,Open,High,Low,Close,Volume"


def test_every_shipped_headline_reads_the_way_it_is_filed() -> None:
    model = headline_model()
    for group, tones in headline_pool().items():
        for tone, titles in tones.items():
            for title in titles:
                read = model.direction(title.format(symbol="AAPL"))
                assert read is Direction(tone), (group, tone, title)


@pytest.mark.slow
def test_a_lower_threshold_still_scores_calls_honestly(tmp_path: Path) -> None:
    database = tmp_path / "low.db"
    env = {"MARKETBRIEF_HIGH_CONFIDENCE": "0.5"}
    result = _demo("--database", str(database), "--files", str(tmp_path / "f"), env=env)
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if "calls scored" in x)
    right, scored = (int(n) for n in line.split(":")[1].split("right")[0].split(" of "))
    assert 0 < right < scored


@pytest.mark.slow
def test_force_seeds_a_database_that_holds_runs(demo: Demo, tmp_path: Path) -> None:
    database = tmp_path / "copy.db"
    database.write_bytes(demo.database.read_bytes())
    before = _run_count(database)
    result = _demo("--database", str(database), "--files", str(tmp_path / "f"), "--force")
    assert result.exit_code == 0, result.output
    assert _run_count(database) > before


@pytest.mark.postgres
@pytest.mark.slow
def test_the_configured_postgresql_database_is_seeded_then_refused(
    pg_url: str, tmp_path: Path
) -> None:
    env = {"MARKETBRIEF_DATABASE_URL": pg_url}
    first = _demo("--files", str(tmp_path / "f"), env=env)
    assert first.exit_code == 0, first.output
    assert "options=" not in first.output  # the URL is shown without its query
    store = SQLStore(pg_url)
    try:
        runs = sum(store.run_counts().values())
    finally:
        store.close()
    assert runs > 0
    again = _demo("--files", str(tmp_path / "f"), env=env)
    assert again.exit_code == 2
    assert f"already holds {runs} run(s)" in again.output
