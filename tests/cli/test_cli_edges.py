"""Out-of-range options answer in one line with exit 2, never with a traceback."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from marketbrief.cli.main import main
from marketbrief.store.sql import SQLStore


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["prune", "--older-than", "99999999999999"], "--older-than"),
        (["serve", "--port", "70000"], "--port"),
        (["serve", "--workers", "0"], "--workers"),
        (["rehydrate", "--date", "2026-02-30"], "invalid date '2026-02-30'"),
        (["rehydrate", "--days", "99999999999"], "--days"),
        (["run", "pre-market", "--date", "2999-01-05"], "outside the calendar's coverage"),
    ],
)
def test_an_option_out_of_range_is_named_with_exit_two(
    sqlite_url: str, args: list[str], named: str
) -> None:
    store = SQLStore(sqlite_url)
    store.migrate()
    store.close()
    result = CliRunner().invoke(main, args, env={"MARKETBRIEF_DATABASE_URL": sqlite_url})
    assert result.exit_code == 2, result.output
    assert named in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
