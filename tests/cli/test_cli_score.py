"""`marketbrief score`: headlines on standard input, each read the way a run reads it."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import subprocess
import sys
import threading
from pathlib import Path

from click.testing import CliRunner

from marketbrief.calendar import utc_now
from marketbrief.cli.main import main
from marketbrief.config import Settings
from marketbrief.models import Direction
from marketbrief.pipeline.analysis import analyse_symbol
from marketbrief.pipeline.feeds import models_from
from marketbrief.pipeline.news import Article
from tests.support.loopback import Loopback
from tests.support.paths import ROOT

PROFIT = "Profit rose 20% and the company raised its outlook"
_COMMAND = "from marketbrief.cli.main import main; main()"


def _answers(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines()]


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARKETBRIEF_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    return env


def test_a_profit_rise_with_a_raised_outlook_reads_up() -> None:
    result = CliRunner().invoke(main, ["score", "--json"], input=PROFIT + "\n", env={})
    assert result.exit_code == 0, result.output
    [answer] = _answers(result.output)
    assert set(answer) == {"text", "direction", "score", "confidence", "model"}
    assert answer["direction"] == "up"
    assert answer["text"] == PROFIT


def test_each_model_option_answers_in_the_same_shape() -> None:
    for name in ("finance-rules", "tfns-linear", "vader", "lm"):
        result = CliRunner().invoke(main, ["score", "--json", "--model", name], input=PROFIT)
        assert result.exit_code == 0, result.output
        [answer] = _answers(result.output)
        assert answer["model"] == name
        assert answer["direction"] in ("up", "down", "neutral")
        assert 0 <= answer["confidence"] <= 1  # type: ignore[operator]


def test_the_answer_is_what_a_run_makes_of_a_symbol_with_that_one_headline() -> None:
    result = CliRunner().invoke(main, ["score", "--json"], input=PROFIT, env={})
    [answer] = _answers(result.output)
    article = Article(PROFIT, "", "stdin", None, utc_now())
    run = asyncio.run(analyse_symbol("", [article], models_from(Settings()))).prediction
    assert (answer["direction"], answer["score"], answer["confidence"], answer["model"]) == (
        run.direction.value,
        run.sentiment_score,
        run.confidence,
        run.model,
    )


def test_an_empty_line_gets_an_empty_answer_and_the_next_line_is_still_read() -> None:
    text = "\n   \nAcme missed analyst estimates\n"
    result = CliRunner().invoke(main, ["score", "--json"], input=text, env={})
    assert result.exit_code == 0, result.output
    empty, blank, missed = _answers(result.output)
    assert empty == {
        "text": "",
        "direction": None,
        "score": None,
        "confidence": None,
        "model": "tfns-linear+rules",
    }
    assert blank["direction"] is None
    assert blank["text"] == "   "
    assert missed["direction"] == "down"


def test_bad_utf8_and_a_nul_are_read_not_fatal() -> None:
    result = CliRunner().invoke(main, ["score", "--json"], input=b"Shares \xff up\x00 5%\n")
    assert result.exit_code == 0, result.output
    [answer] = _answers(result.output)
    assert answer["text"] == "Shares \ufffd up 5%"


def test_llm_model_asks_an_openai_compatible_endpoint(loopback: Loopback) -> None:
    content = '{"sentiment": "negative", "direction": "down", "confidence": 0.7, "score": -0.6}'
    body = {"choices": [{"message": {"role": "assistant", "content": content}}]}
    loopback.serve("/v1/chat/completions", json.dumps(body))
    env = {"MARKETBRIEF_LLM_URL": loopback.url("/v1"), "MARKETBRIEF_LLM_MODEL": "tiny"}
    result = CliRunner().invoke(
        main, ["score", "--json", "--model", "llm", "--symbol", "ACME"], input="Acme cuts", env=env
    )
    assert result.exit_code == 0, result.output
    [answer] = _answers(result.output)
    assert (answer["direction"], answer["score"], answer["model"]) == ("down", -0.6, "llm:tiny")
    sent = json.loads(loopback.seen[0].body)
    assert "sentiment" in sent["messages"][0]["content"]
    assert "Stock: ACME" in sent["messages"][1]["content"]


def test_a_failing_llm_says_why_on_that_line(loopback: Loopback) -> None:
    loopback.serve("/v1/chat/completions", "down for maintenance", status=503)
    env = {"MARKETBRIEF_LLM_URL": loopback.url("/v1"), "MARKETBRIEF_LLM_MODEL": "tiny"}
    result = CliRunner().invoke(main, ["score", "--json", "--model", "llm"], input="x", env=env)
    assert result.exit_code == 0, result.output
    [answer] = _answers(result.output)
    assert answer["direction"] is None
    assert answer["confidence"] is None
    assert "HTTP 503" in str(answer["error"])


def test_llm_without_an_endpoint_is_a_config_error_with_exit_two() -> None:
    result = CliRunner().invoke(main, ["score", "--model", "llm"], input="x", env={})
    assert result.exit_code == 2
    assert "MARKETBRIEF_LLM_URL" in result.output


def test_a_terminal_gets_a_table(tmp_path: Path) -> None:
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-c", _COMMAND, "score", "--model", "finance-rules"],
        stdin=subprocess.PIPE,
        stdout=follower,
        env=_environment(),
        cwd=tmp_path,
    )
    os.close(follower)
    process.communicate(b"Acme beat estimates\n")
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closes when the command ends
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    lines = b"".join(chunks).decode().splitlines()
    assert process.returncode == 0
    assert lines[0].split() == ["direction", "score", "confidence", "text"]
    assert lines[1].split()[0] == "up"
    assert lines[1].endswith("Acme beat estimates")


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_ten_thousand_lines_stream_through_in_bounded_memory(tmp_path: Path) -> None:
    lines, window = 10_000, 200
    process = subprocess.Popen(
        [sys.executable, "-c", _COMMAND, "score", "--json"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=_environment(),
        cwd=tmp_path,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    answered = threading.Semaphore(window)  # the writer stays at most `window` lines ahead

    def feed() -> None:
        assert process.stdin is not None
        for i in range(lines):
            answered.acquire()
            process.stdin.write(f"Acme quarterly revenue rose {i}% on demand\n".encode())
            process.stdin.flush()
        process.stdin.close()

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    rss: dict[int, int] = {}
    count = 0
    for raw in process.stdout:  # answers arrive while input is still being written
        answer = json.loads(raw)
        assert answer["direction"] == Direction.UP.value
        count += 1
        answered.release()
        if count in (1_000, 9_500):  # the writer is still feeding: the command is alive
            rss[count] = _rss_kib(process.pid)
    writer.join()
    process.stdout.close()
    assert process.wait() == 0
    assert count == lines
    assert rss[9_500] - rss[1_000] < 16 * 1024  # 8,500 more lines, less than 16 MiB more
