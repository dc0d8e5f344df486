"""The finish batch at the driver sends exactly what SQLAlchemy sends: same SQL, same values.

`store/prepared.py` compiles each statement once and binds values with SQLAlchemy's own bind
processors. Here both lanes run the same steps of a whole completion (snapshot, predictions,
stages, the day's analysis, a run row to upsert) on a real SQLite file and a real PostgreSQL
database, each in a transaction that is rolled back, and every driver call is recorded: the
two recordings must be equal.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from marketbrief.models import Completion, DailyAnalysis, Stage, StageRecord, StageStatus
from marketbrief.store import prepared
from marketbrief.store.batch import Step, execute_steps
from marketbrief.store.finish import finish_steps
from marketbrief.store.guards import Guard
from marketbrief.store.sql import SQLStore
from tests.support.factories import completion_for, standalone_completion

AT = datetime(2026, 11, 24, 13, 30, tzinfo=UTC)


def _whole(n: int, base: Completion | None = None) -> Completion:
    """A completion with every part: snapshot, predictions, stages and the day's analysis."""
    c = base or standalone_completion(started_at=AT, run_id=f"2026-11-24_pre-market_{n}")
    stages = tuple(
        StageRecord(c.run_id, stage, StageStatus.SUCCESS, AT, AT)
        for stage in (Stage.INIT, Stage.FINALIZE)
    )
    return dataclasses.replace(
        c, stages=stages, daily_analysis=DailyAnalysis({"analysed": 6}, {"pulse": 1})
    )


@pytest.fixture
def store(database_url: str) -> Iterator[SQLStore]:
    """A migrated store: a SQLite file (qmark) or a PostgreSQL database (psycopg's pyformat)."""
    opened = SQLStore(database_url)
    opened.migrate()
    yield opened
    opened.close()


def _comparable(params: Any) -> Any:
    """Driver parameters as values that compare equal when equal (psycopg's `Json` wrapper
    compares by identity: its object is what is sent)."""
    if isinstance(params, dict):
        return {name: _comparable(value) for name, value in params.items()}
    if isinstance(params, list | tuple):
        return type(params)(_comparable(value) for value in params)
    if type(params).__name__ == "Json" and hasattr(params, "obj"):
        return ("json", params.obj)
    return params


def _recorded(store: SQLStore, steps: list[Step], *, at_driver: bool) -> Any:
    """Every driver call of the batch, and what it returned."""
    engine = store._engines.writer
    calls: list[tuple[str, Any, bool]] = []

    def listen(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, many: bool) -> None:
        calls.append((statement, _comparable(params), many))

    with engine.connect() as connection:
        sa.event.listen(engine, "before_cursor_execute", listen)
        try:
            with connection.begin() as transaction:
                done = execute_steps(connection, steps, at_driver=at_driver)
                transaction.rollback()
        finally:
            sa.event.remove(engine, "before_cursor_execute", listen)
    # A generated id is what its sequence gave (PostgreSQL's do not roll back): compared by kind.
    returned = [
        [tuple(int if isinstance(v, int) else v for v in row) for row in d.rows] for d in done
    ]
    return [c for c in calls if not c[0].startswith("BEGIN")], returned


def test_the_finish_statements_take_the_driver_lane(store: SQLStore) -> None:
    dialect = store._engines.writer.dialect
    lanes = [
        prepared.prepared(dialect, step.statement) is not None
        for step in finish_steps(store.dialect, _whole(1), Guard())
    ]
    if store.dialect == "sqlite":
        assert all(lanes)
    else:  # the run row's upsert RETURNs its key for SQLAlchemy: that one stays with it
        assert lanes.count(False) == 1
        assert lanes[1] is False


@pytest.mark.parametrize("claimed_first", [False, True])
def test_the_driver_lane_sends_what_sqlalchemy_sends(store: SQLStore, claimed_first: bool) -> None:
    completion = _whole(2)
    if claimed_first:  # the run row exists: the upsert's update branch
        claim = store.claim_run(
            completion.report_type, completion.scheduled_date, completion.trigger_source
        )
        completion = _whole(2, completion_for(claim.run))
    steps = finish_steps(store.dialect, completion, Guard())  # one `now`, one guard, for both
    by_sqlalchemy = _recorded(store, steps, at_driver=False)
    at_driver = _recorded(store, steps, at_driver=True)
    assert len(by_sqlalchemy[0]) >= 9
    assert at_driver[0] == by_sqlalchemy[0]
    assert at_driver[1] == by_sqlalchemy[1]  # the same rows come back (ids, run ids, tokens)


def test_an_expanding_parameter_stays_with_sqlalchemy() -> None:
    listed = sa.select(sa.literal(1)).where(sa.bindparam("ids", expanding=True) == 1)
    assert prepared.prepared(sqlite.dialect(), listed) is None
    assert prepared.prepared(postgresql.psycopg.dialect(), listed) is None


def test_a_missing_value_is_named_not_sent() -> None:
    statement = sa.select(sa.bindparam("wanted", type_=sa.Integer))
    ready = prepared.prepared(sqlite.dialect(), statement)
    assert ready is not None
    assert ready.bind({"wanted": 3}) == (3,)
    with pytest.raises(sa.exc.ArgumentError, match="wanted"):
        ready.bind({})


def test_a_completion_finished_at_the_driver_publishes_once(store: SQLStore) -> None:
    outcome = store.finish_run(_whole(4))  # the store's own batch: at the driver
    assert outcome.persisted
    assert outcome.published
    assert store.finish_run(_whole(4)).already_finished  # the guard held nothing the second time
