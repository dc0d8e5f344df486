"""The finish statements are built once per dialect and column list: a second completion of
the same shape reuses every one of them and differs only in its parameters."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from marketbrief.models import Completion, DailyAnalysis, Stage, StageRecord, StageStatus
from marketbrief.store.finish import finish_steps
from marketbrief.store.guards import GUARD_PARAM, Guard
from tests.support.factories import standalone_completion

AT = datetime(2026, 11, 24, 13, 30, tzinfo=UTC)


def _whole(n: int) -> Completion:
    """A completion with every part: snapshot, predictions, stages and the day's analysis."""
    c = standalone_completion(started_at=AT, run_id=f"2026-11-24_pre-market_{n}")
    stages = tuple(
        StageRecord(c.run_id, stage, StageStatus.SUCCESS, AT, AT)
        for stage in (Stage.INIT, Stage.FINALIZE)
    )
    return dataclasses.replace(
        c, stages=stages, daily_analysis=DailyAnalysis({"analysed": 6}, {"pulse": 1})
    )


def test_two_completions_share_every_statement_and_differ_only_in_parameters() -> None:
    first, second = _whole(1), _whole(2)
    for dialect in ("sqlite", "postgresql"):
        a = finish_steps(dialect, first, Guard())
        b = finish_steps(dialect, second, Guard())
        assert len(a) == len(b) == 11  # guard, run, snapshot, predictions, stages, pointer,
        # note, analysis, counters, release, read-back
        assert all(x.statement is y.statement for x, y in zip(a, b, strict=True))
        predictions = a[3].params
        assert isinstance(predictions, list)
        assert len(predictions) == len(first.predictions)  # one executemany for all six
        assert a[0].params is not None
        assert b[0].params is not None
        assert a[0].params[GUARD_PARAM] != b[0].params[GUARD_PARAM]  # each batch its own guard


def test_a_completion_without_predictions_or_stages_has_no_step_for_them() -> None:
    bare = dataclasses.replace(_whole(3), predictions=(), stages=(), daily_analysis=None)
    assert len(finish_steps("sqlite", bare, Guard())) == 8
