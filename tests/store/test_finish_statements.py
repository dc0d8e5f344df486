"""The finish statements are built once per dialect over fixed column lists: those lists are
exactly the columns the row functions give values for, and a second completion reuses them."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from marketbrief.models import DailyAnalysis, Stage, StageRecord, StageStatus
from marketbrief.store import rows
from marketbrief.store.finish import _statements, finish_steps
from marketbrief.store.guards import GUARD_PARAM, Guard
from tests.support.factories import standalone_completion

AT = datetime(2026, 11, 24, 13, 30, tzinfo=UTC)


def test_each_row_functions_columns_are_the_ones_the_statements_are_built_over() -> None:
    c = standalone_completion(started_at=AT)
    c = dataclasses.replace(c, daily_analysis=DailyAnalysis({"analysed": 6}, {"pulse": 1}))
    stage = StageRecord(c.run_id, Stage.FINALIZE, StageStatus.SUCCESS, AT, AT)
    assert tuple(rows.run_values(c)) == rows.RUN_FINISHED
    assert tuple(rows.snapshot_values(c)) == rows.SNAPSHOT_COLUMNS
    assert tuple(rows.prediction_values(c, c.predictions[0])) == rows.PREDICTION_COLUMNS
    assert tuple(rows.stage_values(stage)) == rows.STAGE_COLUMNS
    assert tuple(rows.daily_analysis_values(c, AT)) == rows.DAILY_ANALYSIS_COLUMNS


def test_two_completions_share_every_statement_and_differ_only_in_parameters() -> None:
    first, second = (
        standalone_completion(started_at=AT, run_id=f"2026-11-24_pre-market_{n}") for n in (1, 2)
    )
    for dialect in ("sqlite", "postgresql"):
        a = finish_steps(dialect, first, Guard())
        b = finish_steps(dialect, second, Guard())
        assert all(x.statement is y.statement for x, y in zip(a, b, strict=True))
        assert a[0].params is not None
        assert b[0].params is not None
        assert a[0].params[GUARD_PARAM] != b[0].params[GUARD_PARAM]  # each batch its own guard
    assert _statements("sqlite") is _statements("sqlite")
