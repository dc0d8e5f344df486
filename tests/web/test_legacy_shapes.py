"""Reports in the shapes an older system left them render their pages; they never 500."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import orjson
import pytest
from click.testing import CliRunner

from marketbrief.cli.main import main
from marketbrief.config import Settings
from marketbrief.models import ReportType
from tests.support.api_fixtures import Api, running
from tests.support.clock import DAY, LATE, Clock
from tests.support.factories import standalone_completion

EOD = ReportType.END_OF_DAY


@pytest.mark.parametrize(
    ("content", "shown"),
    [
        (
            b'{"accuracy": "75%", "symbols": {"AAPL": {"headlines": 7, "confidence": "high"}}}',
            "75%",
        ),
        (b'{"predictions": [{"symbol": "AAPL", "headlines": [1, null]}], "accuracy": 2.5}', "AAPL"),
        (b'{"accuracy": 0.75, "predictions": ["AAPL", 3, {"symbol": "MSFT"}]}', "75.0%"),
        (b"[1, 2, 3]", "The whole report"),
        (b'"just a string"', "The whole report"),
    ],
)
async def test_a_report_in_an_older_shape_renders_the_report_page_and_the_home_page(
    api: Api, content: bytes, shown: str
) -> None:
    completion = standalone_completion(EOD, DAY, started_at=LATE - timedelta(hours=5))
    await api.publish(dataclasses.replace(completion, content=content))
    page = await api.get(f"/reports/end-of-day?date={DAY.isoformat()}")
    assert page.status_code == 200, page.text
    assert shown in page.text
    home = await api.get("/")
    assert home.status_code == 200, home.text


# Rows in the shapes the old D1 database left them, all of which `import-d1` accepts (it keeps
# what it cannot map losslessly: lone values wrapped in a list, text wrapped in an object).
D1_DUMP = f"""\
PRAGMA defer_foreign_keys=TRUE;
CREATE TABLE job_run_results (run_id TEXT PRIMARY KEY, scheduled_date TEXT, report_type TEXT, status TEXT, current_stage TEXT, errors_json TEXT, warnings_json TEXT, started_at TEXT, executed_at TEXT, trigger_source TEXT, created_at TEXT);
INSERT INTO "job_run_results" VALUES('{DAY}_pre-market_old','{DAY}','pre-market','completed','teleporting','5','plain words','{DAY}T13:30:00Z','{DAY}T13:31:00Z','github-actions',NULL);
INSERT INTO "job_run_results" VALUES('{DAY}_end-of-day_old','{DAY}','end_of_day','partial','finalize','{{"not": "a list"}}','[1, null, ["x"]]','{DAY}T21:05:00Z','{DAY}T21:06:00Z',7,NULL);
CREATE TABLE job_stage_log (id INTEGER PRIMARY KEY, run_id TEXT, stage TEXT, status TEXT, errors_json TEXT, warnings_json TEXT, details_json TEXT, started_at TEXT, ended_at TEXT, created_at TEXT);
INSERT INTO "job_stage_log" VALUES(1,'{DAY}_pre-market_old','data_fetch','success','"timeout"','3','abc','{DAY}T13:30:01Z','{DAY}T13:30:40Z',NULL);
INSERT INTO "job_stage_log" VALUES(2,'{DAY}_pre-market_old','analysis','failed',NULL,NULL,'[1, 2]','{DAY}T13:30:41Z',NULL,NULL);
CREATE TABLE scheduled_job_results (id INTEGER PRIMARY KEY, scheduled_date TEXT, report_type TEXT, report_content TEXT, metadata TEXT, trigger_source TEXT, run_id TEXT, created_at TEXT);
INSERT INTO "scheduled_job_results" VALUES(1,'{DAY}','pre-market','[1, 2, 3]','not json','cron','{DAY}_pre-market_old','{DAY} 13:31:00');
INSERT INTO "scheduled_job_results" VALUES(2,'{DAY}','end-of-day','{{"accuracy": "75%", "symbols": {{"AAPL": {{"headlines": 7, "confidence": "high"}}}}}}','[]','cron','{DAY}_end-of-day_old','{DAY} 21:06:00');
INSERT INTO "scheduled_job_results" VALUES(3,'{DAY}','intraday','null',NULL,NULL,NULL,'{DAY} 17:00:00');
CREATE TABLE job_executions (id INTEGER PRIMARY KEY, job_type TEXT, status TEXT, executed_at TEXT, execution_time_ms INTEGER, symbols_processed INTEGER, symbols_successful INTEGER, symbols_fallback INTEGER, symbols_failed INTEGER, success_rate REAL, errors TEXT, created_at TEXT, scheduled_date TEXT);
INSERT INTO "job_executions" VALUES(1,'weekly','failed','{DAY}T15:00:00Z',NULL,NULL,'3',NULL,NULL,75,'"a string"',NULL,'{DAY}');
CREATE TABLE symbol_predictions (id INTEGER PRIMARY KEY, symbol TEXT, prediction_date TEXT, sentiment TEXT, confidence REAL, direction TEXT, model TEXT, status TEXT, error_message TEXT, news_source TEXT, articles_count INTEGER, articles_content TEXT, created_at TEXT);
INSERT INTO "symbol_predictions" VALUES(1,'AAPL','{DAY}','bullish',NULL,NULL,NULL,NULL,NULL,NULL,NULL,'7',NULL);
INSERT INTO "symbol_predictions" VALUES(2,'MSFT','{DAY}','-0.3',0.8,NULL,'gpt','error','rate limited',NULL,2,'[{{"title": 5}}, "text"]','{DAY} 13:20:00');
CREATE TABLE daily_analysis (id INTEGER PRIMARY KEY, analysis_date TEXT, total_symbols INTEGER, execution_time REAL, summary TEXT, created_at TEXT);
INSERT INTO "daily_analysis" VALUES(1,'{DAY}',2,NULL,'mostly up',NULL);
"""  # noqa: E501 - a dump's lines are as long as wrangler makes them


async def test_what_import_d1_accepts_renders_every_page_and_answer_without_a_500(
    api_settings: Settings, clock: Clock
) -> None:
    dump_path = api_settings.outbox_dir.parent / "d1-export.sql"
    dump_path.write_text(D1_DUMP, encoding="utf-8")
    env = {"MARKETBRIEF_DATABASE_URL": api_settings.database_url, "MARKETBRIEF_CACHE": "off"}
    imported = CliRunner().invoke(main, ["import-d1", str(dump_path), "--json"], env=env)
    assert imported.exit_code == 0, imported.output
    report = orjson.loads(imported.output)
    assert report["skipped"] == [], report["skipped"]
    async with running(api_settings, clock) as api:
        history = await api.get("/api/v1/jobs/history?limit=50")
        assert history.status_code == 200, history.text
        runs = [job["run_id"] for job in history.json()["jobs"]]
        assert len(runs) == 3  # the predictions hang on the day's old pre-market run
        paths = [
            "/",
            "/status",
            "/api/v1/jobs/latest",
            "/api/v1/schedule",
            *(f"/reports/{t.value}?date={DAY}" for t in ReportType),
            *(f"/api/v1/reports/{t.value}?date={DAY}" for t in ReportType),
            *(f"/jobs/{run_id}" for run_id in runs),
            *(f"/api/v1/jobs/{run_id}" for run_id in runs),
        ]
        for path in paths:
            answer = await api.get(path)
            assert answer.status_code < 500, (path, answer.text)
        for kind in ("pre-market", "end-of-day", "intraday"):
            page = await api.get(f"/reports/{kind}?date={DAY}")
            assert page.status_code == 200, (kind, page.text)
