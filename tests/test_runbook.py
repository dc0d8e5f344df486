"""docs/runbook.md: every command in it exists with its flags, and some test runs it."""

from __future__ import annotations

import ast
import asyncio
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, date, datetime
from pathlib import Path

import click
import orjson
import pytest
from click.testing import CliRunner

from marketbrief.cache import from_url
from marketbrief.cli.main import main
from marketbrief.models import ReportType
from marketbrief.store.sql import SQLStore
from tests.support.factories import standalone_completion

ROOT = Path(__file__).resolve().parent.parent
RUNBOOK = ROOT / "docs" / "runbook.md"
MARKETBRIEF = Path(sys.executable).parent / "marketbrief"
_FENCE = re.compile(r"^```[a-z]*\n(.*?)^```", re.S | re.M)
_ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")


def runbook_commands() -> list[list[str]]:
    """Each `marketbrief ...` line of the runbook's code blocks, as argv after `marketbrief`."""
    commands = []
    for block in _FENCE.findall(RUNBOOK.read_text(encoding="utf-8")):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            while words and _ASSIGNMENT.match(words[0]):
                words.pop(0)  # VAR=value prefixes
            if words and words[0] == "marketbrief":
                commands.append(words[1:])
    return commands


def command_of(argv: list[str]) -> tuple[list[str], list[str]]:
    """(the subcommand path, the flags) of one command line."""
    path: list[str] = []
    command: click.Command = main
    for word in argv:
        if isinstance(command, click.Group) and word in command.commands:
            path.append(word)
            command = command.commands[word]
    return path, [word.split("=")[0] for word in argv if word.startswith("--")]


def _invocations(source: str) -> list[set[str]]:
    """The string constants of each list, tuple and call's arguments in a test module."""
    found = []
    for node in ast.walk(ast.parse(source)):
        parts: list[ast.expr] = []
        if isinstance(node, ast.List | ast.Tuple):
            parts = list(node.elts)
        elif isinstance(node, ast.Call):
            parts = list(node.args)
        strings = {
            p.value for p in parts if isinstance(p, ast.Constant) and isinstance(p.value, str)
        }
        if strings:
            found.append(strings)
    return found


def test_the_runbook_has_the_commands_an_operator_needs() -> None:
    paths = {" ".join(command_of(argv)[0]) for argv in runbook_commands()}
    assert {
        "backup",
        "restore",
        "verify",
        "rehydrate",
        "outbox status",
        "outbox replay",
        "serve",
        "scheduler",
        "migrate",
        "import-d1",
        "prune",
        "export",
        "import",
    } <= paths


@pytest.mark.parametrize("argv", runbook_commands(), ids=" ".join)
def test_every_runbook_command_exists_with_its_flags(argv: list[str]) -> None:
    path, flags = command_of(argv)
    assert path, f"`marketbrief {' '.join(argv)}` names no subcommand"
    shown = CliRunner().invoke(main, [*path, "--help"])
    assert shown.exit_code == 0, shown.output
    for flag in flags:
        assert flag in shown.output, f"`marketbrief {' '.join(path)}` has no {flag}"


def test_every_runbook_command_is_exercised_by_a_test() -> None:
    invocations = [
        strings
        for module in sorted(ROOT.glob("tests/**/test_*.py"))
        for strings in _invocations(module.read_text(encoding="utf-8"))
    ]
    for argv in runbook_commands():
        path, flags = command_of(argv)
        needed = {*path, *flags}
        assert any(needed <= strings for strings in invocations), (
            f"no test runs `marketbrief {' '.join(argv)}` (one call or list with {sorted(needed)})"
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path) -> bytes:
    deadline = time.monotonic() + 40
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
                body: bytes = response.read()
                return body
        except OSError:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)


def _stop(process: subprocess.Popen[bytes]) -> int | None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return None


def test_several_workers_and_a_scheduler_share_postgres_and_redis(
    pg_url: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    store = SQLStore(pg_url)
    store.migrate()
    day = date(2026, 11, 24)
    completion = standalone_completion(
        ReportType.PRE_MARKET, day, started_at=datetime(2026, 11, 24, 13, 30, tzinfo=UTC)
    )
    store.finish_run(completion)
    store.close()
    (tmp_path / "news").mkdir()
    (tmp_path / "prices").mkdir()
    env = {
        **os.environ,
        "MARKETBRIEF_DATABASE_URL": pg_url,
        "MARKETBRIEF_CACHE_URL": redis_url,
        "MARKETBRIEF_CACHE_PREFIX": redis_prefix,
        "MARKETBRIEF_OUTBOX_DIR": str(tmp_path / "outbox"),
        "MARKETBRIEF_NEWS": f"dir:{tmp_path / 'news'}",  # nothing reaches the internet
        "MARKETBRIEF_PRICES": f"dir:{tmp_path / 'prices'}",
        "MARKETBRIEF_CATCHUP_HOURS": "0",
    }
    port = _free_port()
    serve_log, scheduler_log = tmp_path / "serve.log", tmp_path / "scheduler.log"
    with serve_log.open("wb") as out:
        server = subprocess.Popen(
            [MARKETBRIEF, "serve", "--workers", "2", "--no-scheduler", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    with scheduler_log.open("wb") as out:
        scheduler = subprocess.Popen(
            [MARKETBRIEF, "scheduler"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        base = f"http://127.0.0.1:{port}"
        ready = orjson.loads(_wait_for(f"{base}/readyz", server, serve_log))
        assert ready["ready"] is True
        for _ in range(6):  # several requests, so both workers answer
            body = _wait_for(f"{base}/api/v1/reports/pre-market?date={day}", server, serve_log)
            assert orjson.loads(body)["meta"]["run_id"] == completion.run_id
        deadline = time.monotonic() + 40
        while b"scheduler running" not in scheduler_log.read_bytes():
            assert scheduler.poll() is None, scheduler_log.read_text()
            assert time.monotonic() < deadline, scheduler_log.read_text()
            time.sleep(0.2)
        purged = CliRunner().invoke(main, ["rehydrate", "--purge"], env=env)
        assert purged.exit_code == 0, purged.output
    finally:
        server_code, scheduler_code = _stop(server), _stop(scheduler)

        async def clean() -> None:
            cache = from_url(redis_url, prefix=redis_prefix)
            await cache.clear()
            await cache.close()

        asyncio.run(clean())
    assert server_code in (0, -signal.SIGTERM), serve_log.read_text()
    assert scheduler_code == 0, scheduler_log.read_text()
    assert "Started parent process" in serve_log.read_text()
