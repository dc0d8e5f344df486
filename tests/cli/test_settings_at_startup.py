"""A bad setting stops every command at start-up: one line naming the variable, exit 2.

Provider lists, the headline model and the LLM pair are checked by building them once when the
command group starts, so a command that runs nothing (`history`, `migrate`) refuses them too,
instead of a later run failing on them, and no command prints a traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from marketbrief.cli.main import main

# (variable, value): each is wrong in its own way.
BAD_SETTINGS = [
    ("MARKETBRIEF_NEWS", "bogus"),
    ("MARKETBRIEF_PRICES", "bogus"),
    ("MARKETBRIEF_NEWS", "dir:/nonexistent/marketbrief-news"),
    ("MARKETBRIEF_NEWS", "rss:ftp://example.invalid/feed"),
    ("MARKETBRIEF_LEXICON", "bogus"),
    ("MARKETBRIEF_DELIVER_TYPES", "bogus"),
    ("MARKETBRIEF_LOG_FORMAT", "bogus"),
]

# Commands that read, write, serve or only inspect: every one stops before doing anything.
COMMANDS = [
    ["history"],
    ["report", "pre-market"],
    ["schedule"],
    ["migrate"],
    ["verify"],
    ["outbox", "status"],
    ["run", "pre-market"],
    ["backfill", "--from", "2026-11-02", "--to", "2026-11-03"],
    ["serve"],
    ["scheduler"],
    ["alerts"],
    ["rollback", "status"],
]


@pytest.mark.parametrize(("variable", "value"), BAD_SETTINGS)
def test_a_bad_setting_stops_every_command_naming_the_variable(
    variable: str, value: str, tmp_path: Path
) -> None:
    env = {
        "MARKETBRIEF_DATABASE_URL": f"sqlite:///{tmp_path / 'never.db'}",
        "MARKETBRIEF_OUTBOX_DIR": str(tmp_path / "outbox"),
        variable: value,
    }
    for command in COMMANDS:
        result = CliRunner().invoke(main, command, env=env)
        assert result.exit_code == 2, (command, result.output)
        assert variable in result.output, (command, result.output)
        assert "Traceback" not in result.output
    # Nothing was created: the check comes before any store or outbox is opened.
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_an_llm_endpoint_without_a_model_stops_a_command_that_runs_nothing(
    tmp_path: Path,
) -> None:
    env = {
        "MARKETBRIEF_DATABASE_URL": f"sqlite:///{tmp_path / 'never.db'}",
        "MARKETBRIEF_LLM_URL": "http://127.0.0.1:9/v1",
    }
    result = CliRunner().invoke(main, ["history"], env=env)
    assert result.exit_code == 2, result.output
    assert "MARKETBRIEF_LLM_MODEL" in result.output


def test_the_installed_command_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "MARKETBRIEF_DATABASE_URL": f"sqlite:///{tmp_path / 'never.db'}",
        "MARKETBRIEF_NEWS": "bogus",
    }
    program = "from marketbrief.cli.main import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", program, "history"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "error: MARKETBRIEF_NEWS: unknown news provider 'bogus'; "
        "expected dir:PATH, rss:URL, yahoo or finnhub"
    ]
